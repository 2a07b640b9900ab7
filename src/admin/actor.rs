//! Who calls the admin API, and what it may do: the admin token acts on every
//! team; a key holding `keys:manage` acts on its own team, and never obtains a key
//! more powerful than itself.
//!
//! A key's powers are its scopes, its subject and meta (what the origin trusts),
//! the addresses it may be used from, its rate limits and its expiry. A key that a
//! manager issues, imports or receives by rotation has each of them within the
//! manager's own: the same subject and meta, networks inside its networks, limits
//! no looser ([`ratelimit::within`]) and an expiry no later than its own end
//! ([`Actor::not_after`]: its expiry, or the end of a rotation's grace). Meta is
//! the manager's exactly, absence included. A manager with credits issues no keys
//! at all (each would bring a budget of its own), and rotates only keys of its own
//! rotation chain (a rotation keeps the chain's budget, so another chain's would
//! be a budget beyond its own). A manager changes only [`MANAGER_FIELDS`].

use crate::admin::NewKey;
use crate::change::KeyUpdate;
use crate::config::Config;
use crate::decide;
use crate::expiry;
use crate::problem::{Code, Problem};
use crate::ratelimit;
use crate::record::KeyRecord;
use crate::scope;
use ipnet::IpNet;
use serde_json::json;

/// The scope that lets a key manage its own team's keys.
pub const MANAGE_SCOPE: &str = "keys.manage";

/// The fields of a `PATCH` that a `keys:manage` key may set (scopes within its
/// own); every other field is the admin token's.
pub const MANAGER_FIELDS: [&str; 3] = ["name", "scopes", "enabled"];

/// Who calls the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// The `ADMIN_TOKEN`: every team.
    Admin,
    /// A key holding `keys:manage`, with its record: its own team, and powers
    /// within its own.
    Key(Box<KeyRecord>),
}

/// The powers of a key, as a manager compares them with its own.
struct Powers<'a> {
    scopes: &'a [String],
    subject: Option<&'a str>,
    meta: Option<&'a serde_json::Map<String, serde_json::Value>>,
    ip_allow: Option<&'a [IpNet]>,
    plan: Option<&'a str>,
    rate_limits: Option<&'a [ratelimit::LimitPolicy]>,
    /// The chain whose credits the key's requests spend (`None`: a new key, or
    /// none to spend).
    budget: Option<&'a str>,
}

impl<'a> Powers<'a> {
    fn of(r: &'a KeyRecord) -> Powers<'a> {
        Powers {
            scopes: &r.scopes,
            subject: r.subject.as_deref(),
            meta: r.meta.as_ref(),
            ip_allow: r.ip_allow.as_deref(),
            plan: r.plan.as_deref(),
            rate_limits: r.rate_limits.as_deref(),
            budget: r.credits.is_some().then(|| r.chain()),
        }
    }

    fn of_new(n: &'a NewKey) -> Powers<'a> {
        Powers {
            scopes: &n.scopes,
            subject: n.subject.as_deref(),
            meta: n.meta.as_ref(),
            ip_allow: n.ip_allow.as_deref(),
            plan: n.plan.as_deref(),
            rate_limits: n.rate_limits.as_deref(),
            // A new key's credits are a budget of its own, beside its issuer's.
            budget: None,
        }
    }
}

/// Whether every network of `inner` lies inside one of `outer` (`None`: anywhere).
fn networks_within(inner: Option<&[IpNet]>, outer: Option<&[IpNet]>) -> bool {
    match (inner, outer) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(inner), Some(outer)) => inner.iter().all(|n| outer.iter().any(|o| o.contains(n))),
    }
}

impl Actor {
    /// The actor for a `keys:manage` key.
    pub fn key(record: KeyRecord) -> Actor {
        Actor::Key(Box::new(record))
    }

    /// The name kept in `created_by` and the audit log.
    pub fn name(&self) -> &str {
        match self {
            Actor::Admin => crate::record::ADMIN_ACTOR,
            Actor::Key(k) => &k.id,
        }
    }

    /// The latest time (Unix seconds) at which a key that this actor issues or
    /// rotates may still work: when the actor itself stops working, the earlier
    /// of its expiry and its revocation (a rotation's grace ends with one)
    /// (`None`: no bound).
    pub fn not_after(&self) -> Option<i64> {
        match self {
            Actor::Admin => None,
            Actor::Key(k) => match (k.expires_at, k.revoked_at) {
                (Some(e), Some(r)) => Some(e.min(r)),
                (e, r) => e.or(r),
            },
        }
    }

    /// A key may only manage its own team.
    pub fn may_manage(&self, team: &str) -> Result<(), Problem> {
        match self {
            Actor::Key(k) if k.team != team => Err(Problem::new(
                Code::Forbidden,
                "this key may manage only its own team's keys",
            )),
            _ => Ok(()),
        }
    }

    /// The powers of `p` beyond this actor's, by name (none for the admin token).
    fn beyond(&self, p: &Powers<'_>, config: &Config) -> Result<Vec<&'static str>, Problem> {
        let Actor::Key(own) = self else {
            return Ok(vec![]);
        };
        let mut beyond = Vec::new();
        if !scope::not_granted(&own.scopes, p.scopes).is_empty() {
            beyond.push("scopes");
        }
        if p.subject != own.subject.as_deref() {
            beyond.push("subject");
        }
        // Exactly the manager's, absence included: the origin trusts meta, and
        // "no meta" may mean more to it than the manager's.
        if p.meta != own.meta.as_ref() {
            beyond.push("meta");
        }
        if !networks_within(p.ip_allow, own.ip_allow.as_deref()) {
            beyond.push("ip_allow");
        }
        let theirs = decide::limits_of(p.plan, p.rate_limits, config)?;
        let mine = decide::limits(own, config)?;
        if !ratelimit::within(theirs, mine) {
            beyond.push("rate_limits");
        }
        // A manager with credits spends only its own chain's: a new key would be a
        // budget of its own, and another chain's key another budget.
        if own.credits.is_some() && p.budget != Some(own.chain()) {
            beyond.push("credits");
        }
        Ok(beyond)
    }

    /// Shapes a key that this actor issues or imports. A key actor's key acts for
    /// its subject and meta, inherits its networks and limits unless it asks for
    /// narrower ones, and never outlives it: a later expiry is cut to the actor's,
    /// with a warning. Anything beyond its own powers is refused.
    pub fn restrict_new(&self, new: &mut NewKey, config: &Config) -> Result<Vec<String>, Problem> {
        let Actor::Key(own) = self else {
            return Ok(vec![]);
        };
        self.may_grant(&new.scopes)?;
        new.subject = new.subject.take().or_else(|| own.subject.clone());
        new.meta = new.meta.take().or_else(|| own.meta.clone());
        new.ip_allow = new.ip_allow.take().or_else(|| own.ip_allow.clone());
        if new.plan.is_none() && new.rate_limits.is_none() {
            new.plan = own.plan.clone();
            new.rate_limits = own.rate_limits.clone();
        }
        let beyond = self.beyond(&Powers::of_new(new), config)?;
        refuse_beyond(&beyond, "issue")?;
        let mut warnings = Vec::new();
        if let Some(cap) = self.not_after() {
            if new.expires_at.is_none_or(|e| e > cap) {
                new.expires_at = Some(cap);
                warnings.push(format!(
                    "the key expires at {}, when the key that issued it stops working; a key never outlives its issuer",
                    expiry::rfc3339(cap)
                ));
            }
        }
        Ok(warnings)
    }

    /// A key may rotate only a key no more powerful than itself: the new key's
    /// plaintext carries the old key's powers. Expiry is not refused but bounded
    /// ([`Actor::not_after`]).
    pub fn may_rotate(&self, target: &KeyRecord, config: &Config) -> Result<(), Problem> {
        self.may_grant(&target.scopes)?;
        let beyond = self.beyond(&Powers::of(target), config)?;
        refuse_beyond(&beyond, "rotate")
    }

    /// A key may change only [`MANAGER_FIELDS`] (scopes within its own): every
    /// other field, present or added later, is the admin token's.
    pub fn may_update(&self, update: &KeyUpdate) -> Result<(), Problem> {
        if let Actor::Key(_) = self {
            let fields: Vec<&str> = update
                .fields()
                .into_iter()
                .filter(|f| !MANAGER_FIELDS.contains(f))
                .collect();
            if !fields.is_empty() {
                return Err(Problem::new(
                    Code::Forbidden,
                    format!("only the admin token may change {}", fields.join(", ")),
                )
                .with("admin_only_fields", json!(fields)));
            }
            if let Some(scopes) = &update.scopes {
                self.may_grant(scopes)?;
            }
        }
        Ok(())
    }

    /// A key may only grant scopes that its own scopes cover (a wildcard grant
    /// only if it holds that wildcard or a wider one).
    pub fn may_grant(&self, scopes: &[String]) -> Result<(), Problem> {
        let Actor::Key(own) = self else {
            return Ok(());
        };
        let beyond = scope::not_granted(&own.scopes, scopes);
        if beyond.is_empty() {
            Ok(())
        } else {
            Err(Problem::new(
                Code::Forbidden,
                format!(
                    "a key may grant only scopes it holds; this one lacks {}",
                    beyond
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with("beyond_scopes", json!(beyond)))
        }
    }
}

fn refuse_beyond(beyond: &[&str], what: &str) -> Result<(), Problem> {
    if beyond.is_empty() {
        return Ok(());
    }
    Err(Problem::new(
        Code::Forbidden,
        format!(
            "a key may {what} only keys no more powerful than itself; this one would exceed it in {}",
            beyond.join(", ")
        ),
    )
    .with("beyond_powers", json!(beyond)))
}

/// Whether `presented` is the admin token: compared in constant time over
/// SHA-256 digests, so that neither its bytes nor its length are revealed.
pub fn is_admin_token(presented: &str, token: Option<&str>) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    token.is_some_and(|token| {
        let a = Sha256::digest(presented.as_bytes());
        let b = Sha256::digest(token.as_bytes());
        bool::from(a.ct_eq(&b))
    })
}

/// A key's refusal on the admin API: one without `keys:manage` is `FORBIDDEN`
/// there (it is a key, but not a manager), not the request path's
/// `INSUFFICIENT_SCOPE`; every other refusal stands.
pub fn manager_refusal(p: Problem) -> Problem {
    match p.code {
        Code::InsufficientScope => Problem::new(
            Code::Forbidden,
            "this key does not hold keys:manage, which the admin API requires",
        ),
        _ => p,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{validate_create, validate_update};
    use serde_json::{json, Value};

    #[test]
    fn the_admin_token_is_the_token_exactly() {
        let token = Some("a-long-admin-token-of-32-characters");
        assert!(is_admin_token("a-long-admin-token-of-32-characters", token));
        for other in [
            "",
            "a-long-admin-token-of-32-characterS",
            "a-long-admin-token-of-32-characters ",
            "a-long-admin-token-of-32-character",
        ] {
            assert!(!is_admin_token(other, token), "{other:?}");
        }
        // No token configured: nothing is the admin token, not even "".
        assert!(!is_admin_token("", None));
    }

    #[test]
    fn a_key_without_manage_is_forbidden_and_other_refusals_stand() {
        let scope = Problem::new(Code::InsufficientScope, "needs keys:manage");
        assert_eq!(manager_refusal(scope).code, Code::Forbidden);
        for code in [Code::KeyRevoked, Code::IpNotAllowed, Code::RateLimited] {
            assert_eq!(manager_refusal(Problem::new(code, "x")).code, code);
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn config() -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "RATE_LIMITS" => Some(json!([{"name": "default", "limit": 100, "window": "1m"}])),
            "PLANS" => Some(json!({
                "free": [{"name": "burst", "limit": 10, "window": "1m"}],
                "hourly": [{"name": "hourly", "limit": 10, "window": "1h"}],
                "pro": [{"name": "burst", "limit": 1000, "window": "1m"}]
            })),
            _ => None,
        })
        .unwrap()
    }

    /// A manager on plan `free`, acting for `bob`, from one network, until NOW + 30 d.
    fn manager() -> KeyRecord {
        KeyRecord {
            id: "key_m".into(),
            team: "acme".into(),
            subject: Some("bob".into()),
            scopes: vec!["keys.manage".into(), "documents.*".into()],
            expires_at: Some(NOW + 30 * 86_400),
            plan: Some("free".into()),
            ip_allow: Some(vec!["203.0.113.0/24".parse().unwrap()]),
            enabled: true,
            ..Default::default()
        }
    }

    #[track_caller]
    fn check_grant(actor: &Actor, team: &str, grants: &[&str], expected: Result<(), Code>) {
        let grants: Vec<String> = grants.iter().map(|s| s.to_string()).collect();
        let got = actor
            .may_manage(team)
            .and_then(|_| actor.may_grant(&grants));
        assert_eq!(got.map_err(|p| p.code), expected, "{team} {grants:?}");
    }

    #[test]
    fn who_may_manage_what() {
        let key = |scopes: &[&str]| {
            Actor::key(KeyRecord {
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                ..manager()
            })
        };
        let m = key(&["keys.manage", "documents.*"]);
        check_grant(&Actor::Admin, "other", &["*"], Ok(()));
        check_grant(&m, "acme", &["documents.read", "documents.*"], Ok(()));
        check_grant(&m, "acme", &["keys.manage"], Ok(()));
        check_grant(&m, "acme", &[], Ok(()));
        check_grant(&m, "acme", &["*"], Err(Code::Forbidden));
        check_grant(&m, "acme", &["billing.read"], Err(Code::Forbidden));
        check_grant(&m, "other", &[], Err(Code::Forbidden));
        check_grant(&key(&["*"]), "acme", &["*", "billing.read"], Ok(()));
        check_grant(
            &key(&["keys.manage", "documents.read.*"]),
            "acme",
            &["documents.*"],
            Err(Code::Forbidden),
        );
        assert_eq!(m.name(), "key_m");
        assert_eq!(Actor::Admin.name(), "admin");
        assert_eq!(m.not_after(), Some(NOW + 30 * 86_400));
        assert_eq!(Actor::Admin.not_after(), None);
        // A manager in a rotation's grace stops working when the grace ends.
        let ending = |expires_at, revoked_at| {
            Actor::key(KeyRecord {
                expires_at,
                revoked_at,
                ..manager()
            })
            .not_after()
        };
        assert_eq!(ending(Some(NOW + 30), Some(NOW + 10)), Some(NOW + 10));
        assert_eq!(ending(Some(NOW + 10), Some(NOW + 30)), Some(NOW + 10));
        assert_eq!(ending(None, Some(NOW + 10)), Some(NOW + 10));
        assert_eq!(ending(Some(NOW + 10), None), Some(NOW + 10));
        assert_eq!(ending(None, None), None);
    }

    /// What a key issued with `body` by `actor` ends up with, or the refusal and
    /// the powers it names.
    fn issue(actor: &Actor, body: Value) -> Result<(NewKey, usize), (Code, Value)> {
        let mut new = validate_create(body.to_string().as_bytes(), NOW, &config()).unwrap();
        match actor.restrict_new(&mut new, &config()) {
            Ok(w) => Ok((new, w.len())),
            Err(p) => Err((
                p.code,
                p.extensions
                    .get("beyond_powers")
                    .or(p.extensions.get("beyond_scopes"))
                    .cloned()
                    .unwrap_or(Value::Null),
            )),
        }
    }

    #[track_caller]
    fn check_refused(body: Value, powers: Value) {
        let got = issue(&Actor::key(manager()), body.clone()).map(|_| ());
        assert_eq!(got, Err((Code::Forbidden, powers)), "{body}");
    }

    #[test]
    fn keys_issued_by_a_key_inherit_its_powers_and_never_exceed_them() {
        let m = Actor::key(manager());
        let (new, warnings) =
            issue(&m, json!({"name": "abc", "scopes": ["documents.read"]})).unwrap();
        assert_eq!(new.subject.as_deref(), Some("bob"));
        assert_eq!(new.ip_allow, manager().ip_allow);
        assert_eq!((new.plan.as_deref(), new.rate_limits), (Some("free"), None));
        // The default expiry (90 d here) is cut to the manager's own.
        assert_eq!(new.expires_at, Some(NOW + 30 * 86_400));
        assert_eq!(warnings, 1);
        // Narrower is allowed: a shorter expiry, a smaller network, stricter limits.
        let (new, warnings) = issue(
            &m,
            json!({"name": "abc", "scopes": [], "expires_at": expiry::rfc3339(NOW + 7 * 86_400),
                   "ip_allow": ["203.0.113.7"], "plan": "hourly", "subject": "bob"}),
        )
        .unwrap();
        assert_eq!(warnings, 0);
        assert_eq!(new.expires_at, Some(NOW + 7 * 86_400));
        assert_eq!(new.plan.as_deref(), Some("hourly"));
        let (new, _) = issue(
            &m,
            json!({"name": "abc", "scopes": [], "rate_limits": [{"name": "b", "limit": 5, "window": "1m"}]}),
        )
        .unwrap();
        assert_eq!(new.plan, None);
        // An expiry equal to the manager's is kept as asked, without a warning.
        let (new, warnings) = issue(
            &m,
            json!({"name": "abc", "scopes": [], "expires_at": expiry::rfc3339(NOW + 30 * 86_400)}),
        )
        .unwrap();
        assert_eq!((new.expires_at, warnings), (Some(NOW + 30 * 86_400), 0));
        // A key never outlives its issuer, even when it asks to.
        let (new, warnings) = issue(
            &m,
            json!({"name": "abc", "scopes": [], "expires_in": "never"}),
        )
        .unwrap();
        assert_eq!((new.expires_at, warnings), (Some(NOW + 30 * 86_400), 1));
        // A manager in a rotation's grace (it stops in an hour) issues keys that
        // stop with it.
        let leaving = Actor::key(KeyRecord {
            revoked_at: Some(NOW + 3600),
            ..manager()
        });
        let (new, warnings) = issue(
            &leaving,
            json!({"name": "abc", "scopes": [], "expires_in": "365d"}),
        )
        .unwrap();
        assert_eq!((new.expires_at, warnings), (Some(NOW + 3600), 1));
        // Beyond the manager in each power.
        check_refused(json!({"name": "abc", "scopes": ["*"]}), json!(["*"]));
        check_refused(
            json!({"name": "abc", "scopes": [], "subject": "alice"}),
            json!(["subject"]),
        );
        check_refused(
            json!({"name": "abc", "scopes": [], "meta": {"role": "owner"}}),
            json!(["meta"]),
        );
        check_refused(
            json!({"name": "abc", "scopes": [], "ip_allow": ["0.0.0.0/0"]}),
            json!(["ip_allow"]),
        );
        check_refused(
            json!({"name": "abc", "scopes": [], "plan": "pro"}),
            json!(["rate_limits"]),
        );
        check_refused(
            json!({"name": "abc", "scopes": [], "rate_limits": []}),
            json!(["rate_limits"]),
        );
        check_refused(
            json!({"name": "abc", "scopes": [], "plan": "pro", "subject": "eve"}),
            json!(["subject", "rate_limits"]),
        );
    }

    #[test]
    fn a_manager_without_limits_or_networks_hands_out_its_own() {
        let open = Actor::key(KeyRecord {
            subject: None,
            ip_allow: None,
            plan: None,
            rate_limits: Some(vec![]),
            expires_at: None,
            meta: json!({"tier": "gold"}).as_object().cloned(),
            ..manager()
        });
        let (new, warnings) = issue(
            &open,
            json!({"name": "abc", "scopes": [], "expires_in": "never", "plan": "pro", "ip_allow": ["10.0.0.0/8"]}),
        )
        .unwrap();
        assert_eq!((new.expires_at, warnings), (None, 0));
        assert_eq!(new.subject, None);
        assert_eq!(new.meta, json!({"tier": "gold"}).as_object().cloned());
        let (new, _) = issue(&open, json!({"name": "abc", "scopes": []})).unwrap();
        assert_eq!(new.rate_limits, Some(vec![]));
        // The admin token's keys are as asked.
        let (new, _) = issue(
            &Actor::Admin,
            json!({"name": "abc", "scopes": ["*"], "subject": "u", "expires_in": "never"}),
        )
        .unwrap();
        assert_eq!((new.subject.as_deref(), new.expires_at), (Some("u"), None));
    }

    #[test]
    fn credits_are_never_multiplied_or_shed() {
        let some = Some(crate::credits::Credits {
            remaining: 10,
            refill: None,
            since: NOW,
        });
        // A manager without credits may hand out a key with credits: a narrower one.
        let (new, _) = issue(
            &Actor::key(manager()),
            json!({"name": "abc", "scopes": [], "credits": {"remaining": 5}}),
        )
        .unwrap();
        assert_eq!(new.credits.map(|c| c.remaining), Some(5));
        // A manager with credits issues no key, with credits or without: each
        // would be a budget of its own.
        let credited = Actor::key(KeyRecord {
            credits: some,
            ..manager()
        });
        for body in [
            json!({"name": "abc", "scopes": []}),
            json!({"name": "abc", "scopes": [], "credits": {"remaining": 1}}),
        ] {
            let got = issue(&credited, body.clone()).map(|_| ());
            assert_eq!(got, Err((Code::Forbidden, json!(["credits"]))), "{body}");
        }
        // It rotates keys of its own chain (the chain's budget stays one), never
        // another chain's, however few or many credits that one holds, nor a
        // key without credits.
        let target = |credits, lineage: Option<&str>| KeyRecord {
            id: "key_v".into(),
            credits,
            lineage: lineage.map(String::from),
            ..manager()
        };
        assert!(credited
            .may_rotate(&target(some, Some("key_m")), &config())
            .is_ok());
        let myself = KeyRecord {
            credits: some,
            ..manager()
        };
        assert!(credited.may_rotate(&myself, &config()).is_ok());
        for other in [
            target(some, None),
            target(some, Some("key_x")),
            target(None, Some("key_m")),
            target(None, None),
        ] {
            let p = credited.may_rotate(&other, &config()).unwrap_err();
            assert_eq!(
                p.extensions["beyond_powers"],
                json!(["credits"]),
                "{other:?}"
            );
        }
        // A manager whose own chain is older rotates its chain's keys too.
        let heir = Actor::key(KeyRecord {
            id: "key_m2".into(),
            lineage: Some("key_m".into()),
            credits: some,
            ..manager()
        });
        assert!(heir
            .may_rotate(&target(some, Some("key_m")), &config())
            .is_ok());
        // A manager without credits rotates a key with them: unlimited covers it.
        assert!(Actor::key(manager())
            .may_rotate(&target(some, None), &config())
            .is_ok());
        // Credits are the admin token's to change.
        let update = validate_update(br#"{"credits": {"add": 5}}"#, &config()).unwrap();
        assert_eq!(
            Actor::key(manager())
                .may_update(&update)
                .map_err(|p| p.code),
            Err(Code::Forbidden)
        );
        assert!(Actor::Admin.may_update(&update).is_ok());
    }

    #[track_caller]
    fn check_rotate(edit: fn(&mut KeyRecord), expected: Result<(), Value>) {
        let mut target = KeyRecord {
            id: "key_v".into(),
            ..manager()
        };
        edit(&mut target);
        let got = Actor::key(manager())
            .may_rotate(&target, &config())
            .map_err(|p| {
                p.extensions
                    .get("beyond_powers")
                    .or(p.extensions.get("beyond_scopes"))
                    .cloned()
                    .unwrap()
            });
        assert_eq!(got, expected, "{target:?}");
    }

    #[test]
    fn a_key_rotates_only_keys_no_more_powerful_than_itself() {
        check_rotate(|_| {}, Ok(()));
        check_rotate(|t| t.scopes = vec!["documents.read".into()], Ok(()));
        check_rotate(|t| t.plan = Some("hourly".into()), Ok(()));
        check_rotate(
            |t| t.ip_allow = Some(vec!["203.0.113.7/32".parse().unwrap()]),
            Ok(()),
        );
        // Its expiry is bounded, not refused (see not_after).
        check_rotate(|t| t.expires_at = None, Ok(()));
        check_rotate(
            |t| t.subject = Some("alice".into()),
            Err(json!(["subject"])),
        );
        check_rotate(|t| t.subject = None, Err(json!(["subject"])));
        check_rotate(
            |t| t.meta = json!({"role": "owner"}).as_object().cloned(),
            Err(json!(["meta"])),
        );
        // Meta is the manager's exactly: a manager with meta rotates no key
        // without it (its successor would carry none), nor one with other meta.
        let with_meta = || KeyRecord {
            meta: json!({"role": "viewer"}).as_object().cloned(),
            ..manager()
        };
        let m = Actor::key(with_meta());
        for meta in [None, json!({"role": "owner"}).as_object().cloned()] {
            let target = KeyRecord {
                id: "key_v".into(),
                meta,
                ..with_meta()
            };
            let p = m.may_rotate(&target, &config()).unwrap_err();
            assert_eq!(p.extensions["beyond_powers"], json!(["meta"]));
        }
        assert!(m
            .may_rotate(
                &KeyRecord {
                    id: "key_v".into(),
                    ..with_meta()
                },
                &config()
            )
            .is_ok());
        check_rotate(|t| t.ip_allow = None, Err(json!(["ip_allow"])));
        check_rotate(
            |t| (t.plan, t.rate_limits) = (None, None),
            Err(json!(["rate_limits"])),
        );
        check_rotate(
            |t| t.rate_limits = Some(vec![]),
            Err(json!(["rate_limits"])),
        );
        check_rotate(
            |t| t.scopes = vec!["billing.read".into()],
            Err(json!(["billing.read"])),
        );
        // The reviewer's case: an owner key with no limits, no networks, another subject.
        check_rotate(
            |t| {
                t.subject = Some("alice".into());
                t.meta = json!({"role": "owner"}).as_object().cloned();
                (t.plan, t.ip_allow, t.expires_at) = (None, None, None);
                t.scopes = vec!["documents.read".into()];
            },
            Err(json!(["subject", "meta", "ip_allow", "rate_limits"])),
        );
        assert!(Actor::Admin
            .may_rotate(&KeyRecord::default(), &config())
            .is_ok());
    }

    #[test]
    fn a_key_changes_only_names_scopes_and_enabled() {
        let m = Actor::key(manager());
        let update = |b: &str| validate_update(b.as_bytes(), &config()).unwrap();
        assert!(m
            .may_update(&update(
                r#"{"name":"abc","enabled":false,"scopes":["documents.read"]}"#
            ))
            .is_ok());
        for body in [
            r#"{"ip_allow":null}"#,
            r#"{"rate_limits":[]}"#,
            r#"{"meta":null}"#,
            r#"{"scopes":["*"]}"#,
            r#"{"admission":"leased"}"#,
            r#"{"admission":null}"#,
            r#"{"plan":"pro"}"#,
            r#"{"credits":{"add":1}}"#,
        ] {
            assert_eq!(
                m.may_update(&update(body)).map_err(|p| p.code),
                Err(Code::Forbidden),
                "{body}"
            );
        }
        let p = m
            .may_update(&update(r#"{"name":"abc","admission":"exact","meta":null}"#))
            .unwrap_err();
        assert_eq!(
            p.extensions["admin_only_fields"],
            json!(["meta", "admission"])
        );
        assert_eq!(MANAGER_FIELDS, ["name", "scopes", "enabled"]);
        assert!(Actor::Admin.may_update(&update(r#"{"meta":null}"#)).is_ok());
    }
}
