//! The stored key record (KV value under the key's hash) and its status at a given time.

use crate::ratelimit::LimitPolicy;
use serde::{Deserialize, Serialize};

/// What keyward knows of one key. Never holds the plaintext or the hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
}

impl KeyRecord {
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
            revoked_at: None,
            plan: None,
            rate_limits: None,
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

    #[test]
    fn json_round_trip_and_optional_subject() {
        let r = record();
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("subject"));
        assert_eq!(serde_json::from_str::<KeyRecord>(&json).unwrap(), r);
        let with = KeyRecord {
            subject: Some("user_7".into()),
            ..r
        };
        let json = serde_json::to_string(&with).unwrap();
        assert_eq!(serde_json::from_str::<KeyRecord>(&json).unwrap(), with);
    }
}
