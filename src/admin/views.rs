//! The JSON views of a key and its outcomes: metadata only, never the plaintext
//! or the hash (but once, in the reply that issues it).

use crate::expiry;
use crate::record::KeyRecord;
use crate::usage::{Outcome, Usage};
use serde_json::{json, Value};

/// The JSON view of a key: metadata only, never the plaintext or the hash.
/// `usage` comes from the key's Durable Object (`null` when it could not be read).
pub fn key_view(record: &KeyRecord, now_ms: i64, usage: Option<&Usage>) -> Value {
    json!({
        "id": record.id,
        "team": record.team,
        "name": record.name,
        "hint": record.hint,
        "scopes": record.scopes,
        "subject": record.subject,
        "status": record.status(now_ms),
        "enabled": record.enabled,
        "created_at": expiry::rfc3339(record.created_at),
        "created_by": record.created_by,
        "expires_at": record.expires_at.map(expiry::rfc3339),
        "revoked_at": record.revoked_at.map(expiry::rfc3339),
        "plan": record.plan,
        "rate_limits": record.rate_limits,
        "ip_allow": record.ip_allow,
        "meta": record.meta,
        "admission": record.admission,
        "region": record.region,
        "imported": record.imported,
        "replaces": record.replaces,
        "replaced_by": record.replaced_by,
        "last_used_at": usage.and_then(|u| u.last_used_at).map(expiry::rfc3339),
        "requests": usage.map(|u| u.requests),
        "denied": usage.map(|u| u.denied),
    })
}

/// The JSON view of recent outcomes, newest first.
pub fn outcomes_view(outcomes: &[Outcome]) -> Value {
    Value::Array(
        outcomes
            .iter()
            .rev()
            .map(|o| {
                json!({
                    "at": expiry::rfc3339_ms(o.at_ms),
                    "method": o.method,
                    "path": o.path,
                    "status": o.status,
                    "code": o.code,
                    "forwarded": o.status.is_none(),
                })
            })
            .collect(),
    )
}

/// The reply to a successful issue or rotation: the only time the plaintext is
/// ever returned.
pub fn created_view(record: &KeyRecord, plaintext: &str, now_ms: i64) -> Value {
    let mut v = key_view(record, now_ms, None);
    if let Value::Object(map) = &mut v {
        map.insert("key".into(), json!(plaintext));
        for usage_field in ["last_used_at", "requests", "denied"] {
            map.remove(usage_field);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn views_never_hold_secrets() {
        let r = KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            name: "ci".into(),
            hint: "kw_…abcd".into(),
            created_at: NOW,
            created_by: "admin".into(),
            enabled: true,
            ..Default::default()
        };
        let v = key_view(&r, NOW * 1000, None);
        assert_eq!(v["status"], "active");
        assert_eq!(v["expires_at"], Value::Null);
        assert_eq!(v["created_at"], "2027-01-15T08:00:00Z");
        assert_eq!(v["created_by"], "admin");
        assert_eq!(v["last_used_at"], Value::Null);
        assert!(v.get("key").is_none() && v.get("hash").is_none());
        let usage = Usage {
            last_used_at: Some(NOW + 5),
            requests: 3,
            denied: 1,
        };
        let v = key_view(&r, NOW * 1000, Some(&usage));
        assert_eq!(v["last_used_at"], "2027-01-15T08:00:05Z");
        assert_eq!(
            (v["requests"].as_u64(), v["denied"].as_u64()),
            (Some(3), Some(1))
        );
        let created = created_view(&r, "kw_x", NOW * 1000);
        assert_eq!(created["key"], "kw_x");
        assert!(created.get("requests").is_none());
    }
}
