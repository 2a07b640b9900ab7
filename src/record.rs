//! The stored key record (KV value under the key's hash) and its status at a given time.

use crate::ratelimit::LimitPolicy;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Who issued a key, or acted in the admin API: the admin token, or a key.
pub const ADMIN_ACTOR: &str = "admin";

fn admin_actor() -> String {
    ADMIN_ACTOR.to_string()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What keyward knows of one key. Never holds the plaintext or the hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Stable identifier (`key_…`), safe to show and log.
    pub id: String,
    /// The team that owns the key.
    pub team: String,
    /// The member the key acts for, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// A human name, for lists.
    pub name: String,
    /// Granted scopes, normalised to the `.` form.
    pub scopes: Vec<String>,
    /// Display hint: the prefix and the last 4 characters.
    pub hint: String,
    /// Unix seconds.
    pub created_at: i64,
    /// `admin`, or the id of the `keys:manage` key that issued it.
    #[serde(default = "admin_actor")]
    pub created_by: String,
    /// Unix seconds; `None` means never.
    pub expires_at: Option<i64>,
    /// A disabled key is refused until enabled again.
    pub enabled: bool,
    /// Unix seconds; set once the key is revoked, for good.
    pub revoked_at: Option<i64>,
    /// The plan (a name in `PLANS`) whose limits apply, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The key's own limits, overriding any plan; an empty list means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<Vec<LimitPolicy>>,
    /// The networks the key may be used from; `None` means anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_allow: Option<Vec<IpNet>>,
    /// A small JSON object forwarded to the origin as `X-Keyward-Meta`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Map<String, Value>>,
    /// The id of the key whose Durable Object counts this key's requests: the
    /// first key of a rotation chain, so that a rotated key keeps its counters.
    /// `None` means the key's own id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lineage: Option<String>,
    /// The key this one replaced by rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The key that replaced this one by rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Whether the key's Durable Object was reached by one of its requests:
    /// `Some(false)` until then (admin calls leave the object alone, so that it
    /// is created near the key's callers), `Some(true)` after; `None` for keys
    /// issued before this was kept, whose objects are taken to exist.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed: Option<bool>,
    /// Where the key's Durable Object is created (a `locationHint`), if chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The key's own admission mode, over its plan's and `ADMISSION`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission: Option<AdmissionMode>,
    /// The key's credits as last set by an admin (issued, patched), if it has
    /// any; what is left now is its Durable Object's to know.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credits: Option<crate::credits::Credits>,
    /// Registered by its hash (`import`), issued elsewhere.
    #[serde(default, skip_serializing_if = "is_false")]
    pub imported: bool,
    /// The record's revision: 0 as issued, one more with each change its team
    /// directory applies. The key's object knows the newest, so that a request
    /// judged on an older copy (an isolate's cache, a KV copy still on its way)
    /// is judged again on the directory's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rev: u64,
}

/// How a key's requests are admitted: `ADMISSION`, a plan's `admission` or the
/// key's own.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdmissionMode {
    /// Every request asks the key's Durable Object.
    #[default]
    Exact,
    /// Isolates admit from leases of quota (`crate::lease`).
    Leased,
}

impl AdmissionMode {
    /// Reads `"exact"` or `"leased"`.
    pub fn parse(s: &str) -> Option<AdmissionMode> {
        match s {
            "exact" => Some(AdmissionMode::Exact),
            "leased" => Some(AdmissionMode::Leased),
            _ => None,
        }
    }
}

/// Cloudflare's `locationHint` values: where a Durable Object may be created.
pub const REGIONS: [&str; 9] = [
    "wnam", "enam", "sam", "weur", "eeur", "apac", "oc", "afr", "me",
];

/// What a region must be, for error messages.
pub const REGION_CHOICES: &str =
    "must be one of wnam, enam, sam, weur, eeur, apac, oc, afr, me (Cloudflare's location hints)";

/// Whether `r` is one of [`REGIONS`].
pub fn valid_region(r: &str) -> bool {
    REGIONS.contains(&r)
}

/// The state of a key at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Usable.
    Active,
    /// Past `expires_at`.
    Expired,
    /// Revoked, for good.
    Revoked,
    /// Disabled until enabled again.
    Disabled,
    /// A status a newer release's key object answered, which this release does
    /// not know (during a gradual deployment): refused as `UNAVAILABLE`, never
    /// admitted. A record's own status is never this.
    #[serde(other)]
    Unknown,
}

impl KeyRecord {
    /// The key's rotation chain: the name of the Durable Object that decides for
    /// it (its first key's id).
    pub fn chain(&self) -> &str {
        self.lineage.as_deref().unwrap_or(&self.id)
    }

    /// Whether a request from `ip` may use the key. No list allows every address
    /// (and a missing address); with a list, an unknown address is refused.
    /// IPv4-mapped IPv6 addresses match IPv4 networks.
    pub fn ip_allowed(&self, ip: Option<IpAddr>) -> bool {
        match (&self.ip_allow, ip) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(nets), Some(ip)) => {
                let ip = ip.to_canonical();
                nets.iter().any(|n| n.contains(&ip))
            }
        }
    }

    /// Whether the key counts against `MAX_KEYS_PER_TEAM` at `now_ms`: it still
    /// works (a key in a rotation's grace does), or may work again (disabled).
    pub fn is_live(&self, now_ms: i64) -> bool {
        self.revoked_at
            .is_none_or(|r| now_ms < r.saturating_mul(1000))
            && self
                .expires_at
                .is_none_or(|e| now_ms < e.saturating_mul(1000))
    }

    /// The status at `now_ms` (Unix milliseconds). Revocation outranks disabling,
    /// which outranks expiry: the answer names the most permanent reason.
    pub fn status(&self, now_ms: i64) -> KeyStatus {
        if self
            .revoked_at
            .is_some_and(|r| now_ms >= r.saturating_mul(1000))
        {
            KeyStatus::Revoked
        } else if !self.enabled {
            KeyStatus::Disabled
        } else if self
            .expires_at
            .is_some_and(|e| now_ms >= e.saturating_mul(1000))
        {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            subject: None,
            name: "ci".into(),
            scopes: vec!["documents.read".into()],
            hint: "kw_…abcd".into(),
            created_at: 100,
            expires_at: Some(200),
            enabled: true,
            ..Default::default()
        }
    }

    #[track_caller]
    fn check(edit: impl FnOnce(&mut KeyRecord), now_ms: i64, expected: KeyStatus) {
        let mut r = record();
        edit(&mut r);
        assert_eq!(r.status(now_ms), expected);
    }

    #[test]
    fn status() {
        use KeyStatus::*;
        check(|_| {}, 100_000, Active);
        check(|_| {}, 199_999, Active);
        check(|_| {}, 200_000, Expired);
        check(|r| r.expires_at = None, i64::MAX, Active);
        check(|r| r.enabled = false, 150_000, Disabled);
        check(|r| r.enabled = false, 250_000, Disabled);
        check(|r| r.revoked_at = Some(150), 150_000, Revoked);
        check(|r| r.revoked_at = Some(150), 149_999, Active);
        check(
            |r| (r.revoked_at, r.enabled) = (Some(150), false),
            300_000,
            Revoked,
        );
    }

    #[track_caller]
    fn check_ip(allow: Option<&[&str]>, ip: Option<&str>, expected: bool) {
        let r = KeyRecord {
            ip_allow: allow.map(|a| a.iter().map(|n| n.parse().unwrap()).collect()),
            ..record()
        };
        let ip = ip.map(|i| i.parse().unwrap());
        assert_eq!(r.ip_allowed(ip), expected, "{allow:?} {ip:?}");
    }

    #[test]
    fn ip_allow() {
        check_ip(None, None, true);
        check_ip(None, Some("203.0.113.9"), true);
        check_ip(Some(&[]), Some("203.0.113.9"), false);
        check_ip(Some(&["203.0.113.0/24"]), None, false);
        check_ip(Some(&["203.0.113.0/24"]), Some("203.0.113.9"), true);
        check_ip(Some(&["203.0.113.0/24"]), Some("203.0.114.9"), false);
        check_ip(Some(&["203.0.113.9/32"]), Some("203.0.113.9"), true);
        check_ip(Some(&["203.0.113.0/24"]), Some("::ffff:203.0.113.9"), true);
        check_ip(Some(&["2001:db8::/32"]), Some("2001:db8:1::7"), true);
        check_ip(Some(&["2001:db8::/32"]), Some("2001:db9::7"), false);
        check_ip(
            Some(&["2001:db8::/32", "10.0.0.0/8"]),
            Some("10.1.2.3"),
            true,
        );
        check_ip(Some(&["0.0.0.0/0"]), Some("::1"), false);
        check_ip(Some(&["::/0"]), Some("::1"), true);
    }

    #[test]
    fn liveness() {
        let r = record();
        assert!(r.is_live(199_999));
        assert!(!r.is_live(200_000));
        let in_grace = KeyRecord {
            revoked_at: Some(150),
            ..record()
        };
        assert!(in_grace.is_live(149_999), "a key in its grace still works");
        assert!(!in_grace.is_live(150_000));
        assert_eq!(r.chain(), "key_1");
        let rotated = KeyRecord {
            lineage: Some("key_0".into()),
            ..record()
        };
        assert_eq!(rotated.chain(), "key_0");
    }

    #[test]
    fn json_round_trip_and_optional_subject() {
        let r = record();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("subject") && !json.contains("imported"));
        // Records written before `created_by` existed read as issued by the admin.
        let old = r#"{"id":"key_1","team":"t","name":"n","scopes":[],"hint":"h","created_at":1,"expires_at":null,"enabled":true,"revoked_at":null}"#;
        assert_eq!(
            serde_json::from_str::<KeyRecord>(old).unwrap().created_by,
            "admin"
        );
        assert_eq!(serde_json::from_str::<KeyRecord>(&json).unwrap(), r);
        let with = KeyRecord {
            subject: Some("user_7".into()),
            ..r
        };
        let json = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<KeyRecord>(&json).unwrap(), with);
    }
}
