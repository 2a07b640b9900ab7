//! Notices on the signed webhook: expiry notices (which thresholds are due for
//! a key, the notice's JSON) and low-credit notices (`CreditsLow`), with their
//! HMAC-SHA256 signature (`X-Keyward-Signature: t=<unix seconds>,v1=<hex>`) and
//! the verifier a receiver runs.

use crate::record::KeyRecord;
use crate::signature;
pub use crate::signature::SignatureError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-keyward-signature";

/// Seconds in a day.
const DAY: i64 = 86_400;

/// The thresholds due for a key expiring at `expires_at` (Unix seconds) at `now`:
/// every threshold (in days) already crossed and not yet `sent`. The notice names
/// the smallest; all of them are marked, so that a key issued close to its expiry
/// gets one notice, not a burst. Empty when nothing is due or it already expired.
pub fn due(expires_at: i64, now: i64, thresholds: &[u32], sent: &[u32]) -> Vec<u32> {
    if expires_at <= now {
        return vec![];
    }
    let mut crossed: Vec<u32> = thresholds
        .iter()
        .copied()
        .filter(|d| expires_at - now <= i64::from(*d) * DAY && !sent.contains(d))
        .collect();
    crossed.sort_unstable();
    crossed
}

/// One notice, ready to send: the key, the threshold it announces, and the
/// thresholds it settles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The key (no secret is ever in a record).
    pub record: KeyRecord,
    /// The threshold announced (the smallest due), in days.
    pub days: u32,
    /// Every threshold this notice settles.
    pub settles: Vec<u32>,
}

impl Notice {
    /// A stable id per key and threshold, so that a receiver can de-duplicate.
    pub fn id(&self) -> String {
        format!("ntc_{}_{}d", self.record.id, self.days)
    }

    /// The JSON body POSTed to `EXPIRY_WEBHOOK_URL`.
    pub fn body(&self, now: i64) -> Value {
        let r = &self.record;
        json!({
            "type": "key.expiring",
            "id": self.id(),
            "team": r.team,
            "key_id": r.id,
            "name": r.name,
            "hint": r.hint,
            "subject": r.subject,
            "expires_at": r.expires_at.map(crate::expiry::rfc3339),
            "threshold_days": self.days,
            "sent_at": crate::expiry::rfc3339(now),
        })
    }
}

/// A low-credit notice: a chain's credits fell below `CREDITS_LOW_PERCENT` of
/// what their period began with (see [`crate::credits::LowWatch`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditsLow {
    /// The team.
    pub team: String,
    /// The key whose request (or change) found them low.
    pub key_id: String,
    /// What is left.
    pub remaining: u64,
    /// What the percentage is of: the refill's amount, or the most the period held.
    pub of: u64,
    /// `CREDITS_LOW_PERCENT`.
    pub percent: u8,
    /// The period (the credits' `since`, Unix seconds): one notice per period.
    pub since: i64,
    /// When the next refill comes, if there is one (Unix seconds).
    pub next_refill: Option<i64>,
}

impl CreditsLow {
    /// A stable id per chain and period, so that a receiver can de-duplicate.
    pub fn id(&self) -> String {
        format!("ntc_{}_credits_{}", self.key_id, self.since)
    }

    /// The JSON body POSTed to `EXPIRY_WEBHOOK_URL`.
    pub fn body(&self, now: i64) -> Value {
        json!({
            "type": "key.credits_low",
            "id": self.id(),
            "team": self.team,
            "key_id": self.key_id,
            "remaining": self.remaining,
            "threshold_percent": self.percent,
            "of": self.of,
            "next_refill_at": self.next_refill.map(crate::expiry::rfc3339),
            "sent_at": crate::expiry::rfc3339(now),
        })
    }
}

/// The signature header's value for `body` sent at `t` (Unix seconds): an
/// HMAC-SHA256, keyed with the secret, over `"<t>.<body>"`.
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    signature::sign(secret, t, &[body])
}

/// Verifies a notice's signature header at `now` (Unix seconds), accepting a
/// timestamp at most `tolerance_s` away. The tag is compared in constant time.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now: i64,
    tolerance_s: i64,
) -> Result<(), SignatureError> {
    signature::verify(secret, header, &[body], now, tolerance_s).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[track_caller]
    fn check(expires_in_s: i64, sent: &[u32], expected: &[u32]) {
        assert_eq!(
            due(NOW + expires_in_s, NOW, &[30, 7, 1], sent),
            expected,
            "expires in {expires_in_s} s, sent {sent:?}"
        );
    }

    #[test]
    fn thresholds() {
        check(31 * DAY, &[], &[]);
        check(30 * DAY, &[], &[30]);
        check(10 * DAY, &[], &[30]);
        check(10 * DAY, &[30], &[]);
        check(5 * DAY, &[30], &[7]);
        check(5 * DAY, &[], &[7, 30]);
        check(3_600, &[], &[1, 7, 30]);
        check(3_600, &[30, 7], &[1]);
        check(3_600, &[30, 7, 1], &[]);
        check(0, &[], &[]);
        check(-5, &[], &[]);
    }

    #[test]
    fn a_low_credit_notice_names_its_period_and_no_secret() {
        let n = CreditsLow {
            team: "acme".into(),
            key_id: "key_a".into(),
            remaining: 93,
            of: 1000,
            percent: 10,
            since: 1_764_547_200,
            next_refill: Some(1_767_225_600),
        };
        assert_eq!(n.id(), "ntc_key_a_credits_1764547200");
        assert_eq!(
            n.body(NOW),
            json!({
                "type": "key.credits_low",
                "id": "ntc_key_a_credits_1764547200",
                "team": "acme",
                "key_id": "key_a",
                "remaining": 93,
                "threshold_percent": 10,
                "of": 1000,
                "next_refill_at": "2026-01-01T00:00:00Z",
                "sent_at": "2027-01-15T08:00:00Z",
            })
        );
    }

    #[track_caller]
    fn check_verify(header: &str, body: &[u8], now: i64, expected: Result<(), SignatureError>) {
        assert_eq!(
            verify(b"secret", header, body, now, 300),
            expected,
            "{header}"
        );
    }

    #[test]
    fn signatures() {
        use SignatureError::*;
        let body = br#"{"type":"key.expiring"}"#;
        let good = sign(b"secret", NOW, body);
        let head = format!("t={NOW},v1=");
        assert!(
            good.starts_with(&head) && good.len() == head.len() + 64,
            "{good}"
        );
        check_verify(&good, body, NOW, Ok(()));
        check_verify(&good, body, NOW + 300, Ok(()));
        check_verify(&good, body, NOW + 301, Err(Stale));
        check_verify(&good, body, NOW - 301, Err(Stale));
        check_verify(&good, br#"{"type":"key.expired"}"#, NOW, Err(Mismatch));
        check_verify(&sign(b"other", NOW, body), body, NOW, Err(Mismatch));
        let moved = good.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        check_verify(&moved, body, NOW, Err(Mismatch));
        check_verify("", body, NOW, Err(Malformed));
        check_verify("t=1,v1=zz", body, NOW, Err(Malformed));
        check_verify("v1=00,t=1", body, NOW, Err(Malformed));
        check_verify("t=-1,v1=00", body, NOW, Err(Malformed));
    }

    #[test]
    fn notices_carry_no_secret_and_a_stable_id() {
        let n = Notice {
            record: KeyRecord {
                id: "key_a".into(),
                team: "acme".into(),
                name: "ci".into(),
                hint: "kw_…abcd".into(),
                expires_at: Some(NOW + DAY),
                ..Default::default()
            },
            days: 1,
            settles: vec![1, 7],
        };
        assert_eq!(n.id(), "ntc_key_a_1d");
        let body = n.body(NOW);
        assert_eq!(body["threshold_days"], 1);
        assert_eq!(body["expires_at"], "2027-01-16T08:00:00Z");
        assert!(body.get("hash").is_none() && body.get("key").is_none());
    }
}
