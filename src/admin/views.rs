//! The JSON views of a key and its outcomes: metadata only, never the plaintext
//! or the hash (but once, in the reply that issues it).

use super::actor::Actor;
use crate::config::Config;
use crate::credits::{Credits, CreditsView};
use crate::expiry;
use crate::ratelimit::LimitPolicy;
use crate::record::{AdmissionMode, KeyRecord, KeyStatus};
use crate::usage::{Bucket, Outcome, Series, Usage};
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{Map, Value};

/// What every view of a key shows: metadata only, never the plaintext or the hash.
#[derive(Serialize)]
struct KeyFields<'a> {
    id: &'a str,
    team: &'a str,
    name: &'a str,
    hint: &'a str,
    scopes: &'a [String],
    subject: Option<&'a str>,
    status: KeyStatus,
    enabled: bool,
    created_at: String,
    created_by: &'a str,
    expires_at: Option<String>,
    revoked_at: Option<String>,
    plan: Option<&'a str>,
    rate_limits: Option<&'a [LimitPolicy]>,
    ip_allow: Option<&'a [IpNet]>,
    meta: Option<&'a Map<String, Value>>,
    admission: Option<AdmissionMode>,
    region: Option<&'a str>,
    imported: bool,
    replaces: Option<&'a str>,
    replaced_by: Option<&'a str>,
    credits: Option<CreditsView>,
}

impl<'a> KeyFields<'a> {
    /// The fields of `r`, with `credits` as they stand (its object's, or the
    /// record's copy).
    fn of(r: &'a KeyRecord, now_ms: i64, credits: Option<&Credits>) -> KeyFields<'a> {
        KeyFields {
            id: &r.id,
            team: &r.team,
            name: &r.name,
            hint: &r.hint,
            scopes: &r.scopes,
            subject: r.subject.as_deref(),
            status: r.status(now_ms),
            enabled: r.enabled,
            created_at: expiry::rfc3339(r.created_at),
            created_by: &r.created_by,
            expires_at: r.expires_at.map(expiry::rfc3339),
            revoked_at: r.revoked_at.map(expiry::rfc3339),
            plan: r.plan.as_deref(),
            rate_limits: r.rate_limits.as_deref(),
            ip_allow: r.ip_allow.as_deref(),
            meta: r.meta.as_ref(),
            admission: r.admission,
            region: r.region.as_deref(),
            imported: r.imported,
            replaces: r.replaces.as_deref(),
            replaced_by: r.replaced_by.as_deref(),
            credits: credits.map(|c| c.view(now_ms.div_euclid(1000))),
        }
    }
}

/// A key with its usage (`null` figures when they could not be read).
#[derive(Serialize)]
struct KeyView<'a> {
    #[serde(flatten)]
    fields: KeyFields<'a>,
    last_used_at: Option<String>,
    requests: Option<u64>,
    requests_today: Option<u64>,
    denied: Option<u64>,
}

/// A key just issued or rotated, with its plaintext.
#[derive(Serialize)]
struct CreatedView<'a> {
    #[serde(flatten)]
    fields: KeyFields<'a>,
    #[serde(rename = "key")]
    plaintext: &'a str,
}

/// One request as its key's owner sees it.
#[derive(Serialize)]
struct OutcomeView<'a> {
    at: String,
    method: &'a str,
    path: &'a str,
    status: Option<u16>,
    code: Option<crate::problem::Code>,
    forwarded: bool,
}

/// Who calls the admin API, and what it may choose from when it issues a key.
#[derive(Serialize)]
struct MeView<'a> {
    /// `admin`, or `key`.
    actor: &'static str,
    key_id: Option<&'a str>,
    team: Option<&'a str>,
    key_scopes: Option<&'a [String]>,
    expires_at: Option<String>,
    /// The scopes the policy's routes require.
    scopes: Vec<&'a str>,
    /// The plans of `PLANS`.
    plans: Vec<&'a str>,
    /// What the server allows, so that forms need not restate it.
    rules: Rules<'a>,
}

/// The rules a caller's forms follow: the server's, never restated.
#[derive(Serialize)]
struct Rules<'a> {
    /// The `expires_in` choices, and the one a key gets without one.
    expires_in: ExpiryRule<'a>,
    /// A key's name: its fewest and most characters.
    name: Bounds,
    /// A subject: its most characters (printable, no spaces).
    subject: Bounds,
    /// The ids' grammars, as regular expressions.
    grammars: Grammars,
    /// The fields of a `PATCH` this caller may set.
    patchable: Vec<&'static str>,
    /// When the keys this caller issues or rotates stop working at the latest
    /// (a key actor's expiry or the end of its rotation's grace).
    not_after: Option<String>,
}

#[derive(Serialize)]
struct ExpiryRule<'a> {
    choices: &'a [&'a str],
    default: &'static str,
}

#[derive(Serialize)]
struct Bounds {
    min: usize,
    max: usize,
}

#[derive(Serialize)]
struct Grammars {
    team: &'static str,
    key_id: &'static str,
    plan: &'static str,
}

/// The view of `GET /me`: the caller (the admin token, or a `keys:manage` key
/// with its team and scopes; never a secret) and the policy's scopes and plans.
pub fn me_view(actor: &Actor, config: &Config) -> Value {
    let key = match actor {
        Actor::Admin => None,
        Actor::Key(k) => Some(k),
    };
    value(MeView {
        actor: if key.is_some() { "key" } else { "admin" },
        key_id: key.map(|k| k.id.as_str()),
        team: key.map(|k| k.team.as_str()),
        key_scopes: key.map(|k| k.scopes.as_slice()),
        expires_at: key.and_then(|k| k.expires_at).map(expiry::rfc3339),
        scopes: config.policy.scopes(),
        plans: config.plans.keys().map(String::as_str).collect(),
        rules: Rules {
            expires_in: ExpiryRule {
                choices: expiry::CHOICES,
                default: config.default_expires_in.as_str(),
            },
            name: Bounds {
                min: super::validate::MIN_NAME_LEN,
                max: super::validate::MAX_NAME_LEN,
            },
            subject: Bounds {
                min: 1,
                max: super::validate::MAX_SUBJECT_LEN,
            },
            grammars: Grammars {
                team: "^[a-z0-9_-]{1,64}$",
                key_id: "^key_[A-Za-z0-9]{1,64}$",
                plan: "^[a-z0-9_-]{1,32}$",
            },
            patchable: match actor {
                Actor::Admin => super::validate::UPDATE_FIELDS.to_vec(),
                Actor::Key(_) => super::actor::MANAGER_FIELDS.to_vec(),
            },
            not_after: actor.not_after().map(expiry::rfc3339),
        },
    })
}

/// A key's requests per hour over the last day and per day over the last 30,
/// oldest first (`series` from its object, already a window; none: all zeros).
pub fn series_view(series: Option<&Series>, now_ms: i64) -> Value {
    let empty;
    let s = match series {
        Some(s) => s,
        None => {
            empty = Series::default().window(now_ms);
            &empty
        }
    };
    let buckets = |b: &[Bucket]| -> Value {
        b.iter()
            .map(|b| {
                serde_json::json!({
                    "start": expiry::rfc3339(b.start),
                    "admitted": b.admitted,
                    "limited": b.limited,
                    "refused": b.refused,
                })
            })
            .collect()
    };
    serde_json::json!({"hours": buckets(&s.hours), "days": buckets(&s.days)})
}

/// As JSON (these views hold only strings, numbers and maps with string keys).
fn value(view: impl Serialize) -> Value {
    serde_json::to_value(view).unwrap_or(Value::Null)
}

/// The JSON view of a key: metadata only, never the plaintext or the hash.
/// `usage` comes from the key's Durable Object (`null` when it could not be
/// read); `credits` as they stand, from the object when it could be asked, else
/// the record's copy.
pub fn key_view(
    record: &KeyRecord,
    now_ms: i64,
    usage: Option<&Usage>,
    credits: Option<&Credits>,
) -> Value {
    value(KeyView {
        fields: KeyFields::of(record, now_ms, credits),
        last_used_at: usage.and_then(|u| u.last_used_at).map(expiry::rfc3339),
        requests: usage.map(|u| u.requests),
        requests_today: usage.map(|u| u.today),
        denied: usage.map(|u| u.denied),
    })
}

/// The JSON view of recent outcomes, newest first.
pub fn outcomes_view(outcomes: &[Outcome]) -> Value {
    let views: Vec<OutcomeView<'_>> = outcomes
        .iter()
        .rev()
        .map(|o| OutcomeView {
            at: expiry::rfc3339_ms(o.at_ms),
            method: &o.method,
            path: &o.path,
            status: o.status,
            code: o.code,
            forwarded: o.status.is_none(),
        })
        .collect();
    value(views)
}

/// The reply to a successful issue or rotation: the only time the plaintext is
/// ever returned.
pub fn created_view(record: &KeyRecord, plaintext: &str, now_ms: i64) -> Value {
    value(CreatedView {
        fields: KeyFields::of(record, now_ms, record.credits.as_ref()),
        plaintext,
    })
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
        let v = key_view(&r, NOW * 1000, None, None);
        assert_eq!(v["status"], "active");
        assert_eq!(v["credits"], Value::Null);
        assert_eq!(v["expires_at"], Value::Null);
        assert_eq!(v["created_at"], "2027-01-15T08:00:00Z");
        assert_eq!(v["created_by"], "admin");
        assert_eq!(v["last_used_at"], Value::Null);
        assert!(v.get("key").is_none() && v.get("hash").is_none());
        let usage = Usage {
            last_used_at: Some(NOW + 5),
            requests: 3,
            denied: 1,
            today: 2,
        };
        let credits = Credits {
            remaining: 4,
            refill: Some(crate::credits::Refill {
                interval: crate::credits::Interval::Daily,
                amount: 9,
            }),
            since: NOW,
        };
        let v = key_view(&r, NOW * 1000, Some(&usage), Some(&credits));
        assert_eq!(
            v["credits"],
            serde_json::json!({
                "remaining": 4,
                "refill": {"interval": "daily", "amount": 9},
                "next_refill_at": "2027-01-16T00:00:00Z"
            })
        );
        assert_eq!(v["last_used_at"], "2027-01-15T08:00:05Z");
        assert_eq!(
            (
                v["requests"].as_u64(),
                v["denied"].as_u64(),
                v["requests_today"].as_u64()
            ),
            (Some(3), Some(1), Some(2))
        );
        let config = Config::from_vars(|name| match name {
            "POLICY" => Some(
                serde_json::json!({"routes": [{"path": "/a", "scopes": ["b.read", "a.read"]}]}),
            ),
            "ORIGIN_URL" => Some(serde_json::json!("http://127.0.0.1:1")),
            "PLANS" => Some(serde_json::json!({"free": [], "pro": []})),
            _ => None,
        })
        .unwrap();
        let me = me_view(&Actor::Admin, &config);
        let rules = me["rules"].clone();
        let mut me = me;
        me.as_object_mut().unwrap().remove("rules");
        assert_eq!(
            me,
            serde_json::json!({"actor": "admin", "key_id": null, "team": null, "key_scopes": null,
                               "expires_at": null, "scopes": ["a.read", "b.read"], "plans": ["free", "pro"]})
        );
        assert_eq!(
            rules,
            serde_json::json!({
                "expires_in": {"choices": ["30d", "90d", "180d", "365d", "never"], "default": "90d"},
                "name": {"min": 3, "max": 100},
                "subject": {"min": 1, "max": 128},
                "grammars": {"team": "^[a-z0-9_-]{1,64}$", "key_id": "^key_[A-Za-z0-9]{1,64}$",
                             "plan": "^[a-z0-9_-]{1,32}$"},
                "patchable": super::super::validate::UPDATE_FIELDS,
                "not_after": null,
            })
        );
        // The grammars are the ones the server checks.
        let grammar = |s: &str| rules["grammars"][s].as_str().unwrap().to_string();
        assert_eq!(grammar("team"), "^[a-z0-9_-]{1,64}$");
        assert!(
            crate::ident::valid_team(&"a".repeat(64)) && !crate::ident::valid_team(&"a".repeat(65))
        );
        assert!(crate::ident::valid_key_id(&format!(
            "key_{}",
            "A".repeat(64)
        )));
        assert!(!crate::ident::valid_key_id(&format!(
            "key_{}",
            "A".repeat(65)
        )));
        assert!(
            crate::ident::valid_name(&"a".repeat(32)) && !crate::ident::valid_name(&"a".repeat(33))
        );
        // A manager may set only its own fields, until it stops working.
        let manager = KeyRecord {
            revoked_at: Some(NOW + 60),
            ..r.clone()
        };
        let me = me_view(&Actor::key(manager), &config);
        assert_eq!(
            me["rules"]["patchable"],
            serde_json::json!(["name", "scopes", "enabled"])
        );
        assert_eq!(
            me["rules"]["not_after"],
            serde_json::json!(expiry::rfc3339(NOW + 60))
        );
        let me = me_view(&Actor::key(r.clone()), &config);
        assert_eq!(
            (&me["actor"], &me["team"], &me["key_id"]),
            (
                &serde_json::json!("key"),
                &serde_json::json!("acme"),
                &serde_json::json!("key_1")
            )
        );
        let mut series = Series::default();
        series.add(NOW * 1000, crate::usage::Kind::Limited, 3);
        let v = series_view(Some(&series.window(NOW * 1000)), NOW * 1000);
        assert_eq!(v["hours"].as_array().map(Vec::len), Some(24));
        assert_eq!(v["days"].as_array().map(Vec::len), Some(30));
        assert_eq!(
            v["hours"][23],
            serde_json::json!({"start": "2027-01-15T08:00:00Z", "admitted": 0, "limited": 3, "refused": 0})
        );
        assert_eq!(series_view(None, NOW * 1000)["hours"][23]["limited"], 0);
        let created = created_view(&r, "kw_x", NOW * 1000);
        assert_eq!(created["key"], "kw_x");
        assert!(created.get("requests").is_none());
    }
}
