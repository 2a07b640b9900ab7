//! The functional core of the request path: from request facts and a key record to a decision.
//!
//! The shell calls [`before_lookup`] with what the request says, looks the key's
//! hash up in KV only if told to, then calls [`after_lookup`] with the record it
//! found (if any) and the time. Neither function performs I/O or reads a clock.

use crate::config::Config;
use crate::credential::{self, CredentialError};
use crate::credits::{Balance, Exhausted};
use crate::key::{self, ApiKey};
use crate::keystate::Answer;
use crate::path;
use crate::policy::RouteDecision;
use crate::problem::{Code, Problem};
use crate::ratelimit::{self, LimitPolicy, Verdict};
use crate::record::{KeyRecord, KeyStatus};
use crate::scope;
use serde_json::json;
use std::net::IpAddr;

/// What to do with a request before any lookup.
#[derive(Debug)]
pub enum Gate<'a> {
    /// A public path: forward it, no key needed.
    Public {
        /// The canonical path, which is also what the origin receives.
        path: String,
    },
    /// A well-formed key: look its hash up, then call [`after_lookup`].
    Lookup {
        /// The canonical path.
        path: String,
        /// The presented key (redacting `Debug`).
        key: ApiKey,
        /// What the policy requires of this route.
        route: RouteDecision<'a>,
        /// What an admitted request spends of a key's credits.
        cost: u64,
    },
}

/// Judges everything that needs no lookup: the path, the policy's public list,
/// the credential and the key's format. A malformed key never reaches KV.
pub fn before_lookup<'a>(
    config: &'a Config,
    method: &str,
    raw_path: &str,
    authorization: Option<&str>,
) -> Result<Gate<'a>, Problem> {
    before_lookup_with_subprotocol(config, method, raw_path, authorization, None)
}

/// [`before_lookup`] for a WebSocket upgrade, whose key may come in its
/// subprotocols (`keyward.bearer.<key>`, [`credential::subprotocols`]) instead of
/// `Authorization`. A key in both is refused: the two could differ.
pub fn before_lookup_with_subprotocol<'a>(
    config: &'a Config,
    method: &str,
    raw_path: &str,
    authorization: Option<&str>,
    subprotocol_key: Option<&str>,
) -> Result<Gate<'a>, Problem> {
    let invalid = |e: path::PathError| Problem::new(Code::InvalidPath, e.message());
    let path = path::canonicalize(raw_path).map_err(invalid)?;
    if config.policy.case_insensitive() {
        path::check_case(&path).map_err(invalid)?;
    }
    if is_reserved(&path) {
        return Err(Problem::new(
            Code::NotFound,
            "keyward's own paths are served only under /_keyward/, spelled exactly, and are never forwarded",
        ));
    }
    let (route, cost) = config.policy.judge_priced(method, &path);
    if route == RouteDecision::Public {
        return Ok(Gate::Public { path });
    }
    let presented = match (authorization, subprotocol_key) {
        (None, Some(key)) => key,
        (Some(_), Some(_)) => {
            return Err(Problem::new(
                Code::InvalidFormat,
                "a key both in Authorization and in the WebSocket subprotocols; send one",
            )
            .presented())
        }
        (authorization, None) => credential::bearer(authorization).map_err(credential_problem)?,
    };
    let key = key::parse_any(&config.key_prefix, &config.legacy_formats, presented)
        .map_err(|(_, message)| Problem::new(Code::InvalidFormat, message).presented())?;
    Ok(Gate::Lookup {
        path,
        key,
        route,
        cost,
    })
}

/// Whether a canonical path is under keyward's reserved `/_keyward` in a spelling
/// that the shell did not take as reserved (another case, a trailing dot, a
/// look-alike letter): such a path is never forwarded either.
pub fn is_reserved(canonical: &str) -> bool {
    let first = path::segments(canonical).next().unwrap_or("");
    // Only a segment starting with '_' can fold to "_keyward".
    first.starts_with('_') && path::fold(&format!("/{first}")) == "/_keyward"
}

/// The problem for a credential that could not be read.
pub fn credential_problem(e: CredentialError) -> Problem {
    if e.key_presented() {
        Problem::new(Code::InvalidFormat, e.message()).presented()
    } else {
        Problem::new(Code::MissingKey, e.message())
    }
}

/// The refusal of a well-formed key that no record matches.
pub fn unknown_key() -> Problem {
    Problem::new(Code::InvalidKey, "no key matches the one presented").presented()
}

/// The refusal of a key in `status` (none when active): one wording, whether the
/// record or the key's object says so.
pub fn status_refusal(record: &KeyRecord, status: KeyStatus) -> Option<Problem> {
    let (code, detail) = match status {
        KeyStatus::Active => return None,
        KeyStatus::Revoked => (Code::KeyRevoked, "this key was revoked".to_string()),
        KeyStatus::Disabled => (Code::KeyDisabled, "this key is disabled".to_string()),
        // A newer release's object during a gradual deployment: never admitted.
        KeyStatus::Unknown => (
            Code::Unavailable,
            "the key's object answered with a status this release does not know; \
             try again shortly"
                .to_string(),
        ),
        KeyStatus::Expired => (
            Code::KeyExpired,
            match record.expires_at {
                Some(at) => format!("this key expired at {}", crate::expiry::rfc3339(at)),
                None => "this key expired".to_string(),
            },
        ),
    };
    Some(
        Problem::new(code, detail)
            .presented()
            .with("key_id", json!(record.id)),
    )
}

/// Judges the record found for the key (or its absence) against the client's
/// address (`CF-Connecting-IP`) and the route at `now_ms`. Authentication is judged
/// before authorization: an unknown key gets 401 even on a denied route.
pub fn after_lookup(
    record: Option<&KeyRecord>,
    route: RouteDecision<'_>,
    client_ip: Option<IpAddr>,
    now_ms: i64,
) -> Result<(), Problem> {
    let record = record.ok_or_else(unknown_key)?;
    if let Some(refusal) = status_refusal(record, record.status(now_ms)) {
        return Err(refusal);
    }
    if !record.ip_allowed(client_ip) {
        let from = client_ip.map_or("an unknown address".to_string(), |ip| ip.to_string());
        return Err(Problem::new(
            Code::IpNotAllowed,
            format!("this key may not be used from {from}"),
        )
        .with("key_id", json!(record.id)));
    }
    match route {
        RouteDecision::Public => Ok(()),
        RouteDecision::Deny => Err(Problem::new(
            Code::RouteNotAllowed,
            "no key may use this method on this path",
        )),
        RouteDecision::Require(required) => {
            let missing = scope::not_granted(&record.scopes, required);
            if missing.is_empty() {
                Ok(())
            } else {
                Err(Problem::new(
                    Code::InsufficientScope,
                    format!(
                        "this route requires the scopes {}; the key lacks {}",
                        required.join(", "),
                        missing
                            .iter()
                            .map(|s| s.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with("required_scopes", json!(required))
                .with("missing_scopes", json!(missing)))
            }
        }
    }
}

/// The rate-limit policies of a key: its own, else its plan's, else `RATE_LIMITS`.
/// A plan that is no longer configured is a configuration error, not "unlimited".
pub fn limits<'a>(record: &'a KeyRecord, config: &'a Config) -> Result<&'a [LimitPolicy], Problem> {
    limits_of(
        record.plan.as_deref(),
        record.rate_limits.as_deref(),
        config,
    )
}

/// The policies that a key with this `plan` and these `own` limits gets (see [`limits`]).
pub fn limits_of<'a>(
    plan: Option<&'a str>,
    own: Option<&'a [LimitPolicy]>,
    config: &'a Config,
) -> Result<&'a [LimitPolicy], Problem> {
    if let Some(own) = own {
        return Ok(own);
    }
    match plan {
        None => Ok(&config.rate_limits),
        Some(plan) => config.plans.get(plan).map(Vec::as_slice).ok_or_else(|| {
            Problem::new(
                Code::Misconfigured,
                format!("the key's plan {plan:?} is not in PLANS"),
            )
            .with("fields", json!(["PLANS"]))
        }),
    }
}

/// How a key's requests are admitted: its own mode, else its plan's, else
/// `ADMISSION` (credits are leased like quota).
pub fn admission_mode(record: &KeyRecord, config: &Config) -> crate::record::AdmissionMode {
    record
        .admission
        .or_else(|| {
            let plan = record.plan.as_ref()?;
            config.plan_settings.get(plan)?.admission
        })
        .unwrap_or(config.admission)
}

/// Where a key's Durable Object is created: its own region, else its plan's.
pub fn region<'a>(record: &'a KeyRecord, config: &'a Config) -> Option<&'a str> {
    record.region.as_deref().or_else(|| {
        let plan = record.plan.as_ref()?;
        config.plan_settings.get(plan)?.region.as_deref()
    })
}

/// Whether an isolate may admit the key's requests alone while its object cannot
/// answer (`RATE_LIMIT_FAILURE = "open"`): never a key with credits, which only
/// its object can spend exactly.
pub fn may_fail_open(record: &KeyRecord) -> bool {
    record.credits.is_none()
}

/// What an admitted request's response reports: the rate-limit verdict (none
/// without policies) and what is left of the key's credits (none without).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Admitted {
    /// The verdict, for the RateLimit fields.
    pub verdict: Option<Verdict>,
    /// The credits left, for `X-Keyward-Credits-Remaining`.
    pub credits: Option<Balance>,
}

/// The header that tells what is left of a key's credits.
pub const CREDITS_HEADER: &str = "x-keyward-credits-remaining";

impl Admitted {
    /// The fields added to the origin's response: the RateLimit fields and
    /// [`CREDITS_HEADER`].
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = self
            .verdict
            .as_ref()
            .map(ratelimit_headers)
            .unwrap_or_default();
        if let Some(b) = &self.credits {
            h.push((CREDITS_HEADER, b.remaining.to_string()));
        }
        h
    }
}

/// The 429 for a request that every other check admitted and that costs more
/// credits than are left at `now` (Unix seconds): `Retry-After` points at the
/// next refill, and is absent without one.
pub fn credits_exhausted(e: &Exhausted, now: i64) -> Problem {
    let mut detail = format!(
        "this request costs {} credits and the key has {} left",
        e.cost, e.remaining
    );
    if e.on_lease > 0 {
        detail.push_str(&format!(
            "; {} more are on lease to other isolates and may come back",
            e.on_lease
        ));
    }
    let mut p = Problem::new(Code::CreditsExhausted, detail)
        .with("remaining", json!(e.remaining))
        .with("cost", json!(e.cost))
        .with(
            "next_refill_at",
            json!(e.next_refill.map(crate::expiry::rfc3339)),
        )
        .header(CREDITS_HEADER, e.remaining.to_string());
    if e.on_lease > 0 {
        p = p.with("on_lease", json!(e.on_lease));
    }
    let back = e.back_by.filter(|_| e.on_lease > 0);
    let retry = [e.next_refill, back].into_iter().flatten().min();
    if let Some(at) = retry {
        p = p.header("retry-after", (at - now).max(1).to_string());
    }
    p
}

/// Turns the key's Durable Object's answer at `now_ms` into a denial or what the
/// response reports. The object's view of revocation and disabling is
/// authoritative.
pub fn object_answer(record: &KeyRecord, answer: Answer, now_ms: i64) -> Result<Admitted, Problem> {
    if let Some(refusal) = status_refusal(record, answer.status) {
        return Err(refusal);
    }
    match (answer.verdict, answer.exhausted) {
        (Some(v), _) if !v.admitted => Err(rate_limited(&v)),
        (_, Some(e)) => Err(credits_exhausted(&e, now_ms.div_euclid(1000))),
        (verdict, None) => Ok(Admitted {
            verdict: verdict.filter(|v| !v.policies.is_empty()),
            credits: answer.credits,
        }),
    }
}

/// The `RateLimit-Policy` and `RateLimit` fields of a verdict (none for no policy).
pub fn ratelimit_headers(verdict: &Verdict) -> Vec<(&'static str, String)> {
    if verdict.policies.is_empty() {
        return vec![];
    }
    vec![
        (
            "ratelimit-policy",
            ratelimit::policy_header(&verdict.policies),
        ),
        ("ratelimit", ratelimit::ratelimit_header(&verdict.policies)),
    ]
}

/// The 429 for a refused verdict: the violated policies, a true `Retry-After`
/// (a retry after that many seconds is admitted) and the RateLimit fields.
pub fn rate_limited(verdict: &Verdict) -> Problem {
    let retry = verdict.retry_after_s.unwrap_or(1).max(1);
    let mut p = Problem::new(
        Code::RateLimited,
        format!(
            "the rate limit {} is exhausted; retry in {retry} s",
            verdict.violated.join(", ")
        ),
    )
    .with("violated-policies", json!(verdict.violated))
    .with("retry_after", json!(retry))
    .header("retry-after", retry.to_string());
    for (name, value) in ratelimit_headers(verdict) {
        p = p.header(name, value);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::{json, Value};

    fn config() -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(json!({
                "public": ["/health"],
                "routes": [
                    {"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]},
                    {"method": "POST", "path": "/documents/**", "scopes": ["documents.write", "audit.log"]},
                    {"method": "*", "path": "/internal/**", "deny": true}
                ]
            })),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            _ => None,
        })
        .unwrap()
    }

    fn a_key() -> String {
        key::generate("kw_", |b: &mut [u8]| {
            b.iter_mut().enumerate().for_each(|(i, x)| *x = i as u8)
        })
        .expose()
        .to_string()
    }

    #[track_caller]
    fn check_before(path: &str, auth: Option<&str>, expected: Result<&str, Code>) {
        let c = config();
        let got = match before_lookup(&c, "GET", path, auth) {
            Ok(Gate::Public { .. }) => Ok("public"),
            Ok(Gate::Lookup { .. }) => Ok("lookup"),
            Err(p) => Err(p.code),
        };
        assert_eq!(got, expected, "{path} {auth:?}");
    }

    #[test]
    fn before_any_lookup() {
        let key = a_key();
        let bearer = format!("Bearer {key}");
        let mut flipped = key.clone().into_bytes();
        flipped[5] = if flipped[5] == b'x' { b'y' } else { b'x' };
        let flipped = format!("Bearer {}", String::from_utf8(flipped).unwrap());
        check_before("/health", None, Ok("public"));
        check_before("/health", Some("Basic x"), Ok("public"));
        check_before("/documents/1", Some(&bearer), Ok("lookup"));
        check_before("/internal/x", Some(&bearer), Ok("lookup"));
        check_before("/documents/1", None, Err(Code::MissingKey));
        check_before("/documents/1", Some("Basic abc"), Err(Code::MissingKey));
        check_before("/documents/1", Some("Bearer"), Err(Code::MissingKey));
        check_before("/documents/1", Some("Bearer a b"), Err(Code::InvalidFormat));
        check_before(
            "/documents/1",
            Some("Bearer api_123"),
            Err(Code::InvalidFormat),
        );
        check_before("/documents/1", Some(&flipped), Err(Code::InvalidFormat));
        check_before("/documents/%2F", Some(&bearer), Err(Code::InvalidPath));
        check_before("/internal/x", None, Err(Code::MissingKey));
        // keyward's own prefix, spelled so that the shell did not take it.
        for reserved in [
            "/_keyward",
            "/_keyward/health",
            "//_keyward/health",
            "/%5Fkeyward/health",
            "/_KEYWARD/health",
            "/_keyward./v1",
            "/_%E2%84%AAeyward/health",
        ] {
            check_before(reserved, Some(&bearer), Err(Code::NotFound));
            check_before(reserved, None, Err(Code::NotFound));
        }
        check_before("/_keywardx/health", None, Err(Code::MissingKey));
        // A WebSocket's key in its subprotocols; never in both places.
        let c = config();
        let sub = |auth: Option<&str>, key: Option<&str>| match before_lookup_with_subprotocol(
            &c,
            "GET",
            "/documents/1",
            auth,
            key,
        ) {
            Ok(Gate::Lookup { .. }) => Ok("lookup"),
            Ok(Gate::Public { .. }) => Ok("public"),
            Err(p) => Err(p.code),
        };
        assert_eq!(sub(None, Some(&key)), Ok("lookup"));
        assert_eq!(sub(Some(&bearer), Some(&key)), Err(Code::InvalidFormat));
        assert_eq!(sub(None, Some("e2e_bad")), Err(Code::InvalidFormat));
        assert_eq!(sub(None, None), Err(Code::MissingKey));
        check_before("/keyward/health", None, Err(Code::MissingKey));
        // Under case_insensitive, a character origins fold in different ways is
        // refused before anything else; the same path is judged as it is otherwise.
        let folding = Config::from_vars(|name| match name {
            "POLICY" => Some(json!({"case_insensitive": true, "public": ["/admin"]})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            _ => None,
        })
        .unwrap();
        assert!(folding.policy.case_insensitive() && !config().policy.case_insensitive());
        let code = |c: &Config, path| {
            before_lookup(c, "GET", path, None)
                .map(|_| ())
                .map_err(|p| p.code)
        };
        assert_eq!(code(&folding, "/adm%C4%B1n"), Err(Code::InvalidPath));
        assert_eq!(code(&folding, "/ADMIN"), Ok(()));
        assert_eq!(code(&config(), "/adm%C4%B1n"), Err(Code::MissingKey));
    }

    fn record(scopes: &[&str]) -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            subject: Some("user_9".into()),
            name: "ci".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            hint: "kw_…abcd".into(),
            created_at: 0,
            expires_at: Some(1_000),
            enabled: true,
            ..Default::default()
        }
    }

    #[track_caller]
    fn check_after(
        record: Option<KeyRecord>,
        method: &str,
        path: &str,
        now_s: i64,
        expected: Result<(), Code>,
    ) {
        let c = config();
        let route = c.policy.judge(method, path);
        let ip = Some("203.0.113.9".parse().unwrap());
        let got = after_lookup(record.as_ref(), route, ip, now_s * 1000).map_err(|p| p.code);
        assert_eq!(got, expected, "{method} {path}");
    }

    #[test]
    fn after_the_lookup() {
        let read = record(&["documents.read"]);
        let all = record(&["documents.*", "audit.log"]);
        let revoked = KeyRecord {
            revoked_at: Some(10),
            ..read.clone()
        };
        let disabled = KeyRecord {
            enabled: false,
            ..read.clone()
        };
        check_after(Some(read.clone()), "GET", "/documents/1", 5, Ok(()));
        check_after(
            Some(read.clone()),
            "POST",
            "/documents/1",
            5,
            Err(Code::InsufficientScope),
        );
        check_after(Some(all.clone()), "POST", "/documents/1", 5, Ok(()));
        check_after(Some(record(&["*"])), "POST", "/documents/1", 5, Ok(()));
        check_after(
            Some(record(&["documents.write"])),
            "POST",
            "/documents/1",
            5,
            Err(Code::InsufficientScope),
        );
        check_after(
            Some(all.clone()),
            "GET",
            "/internal/x",
            5,
            Err(Code::RouteNotAllowed),
        );
        check_after(
            Some(all.clone()),
            "GET",
            "/unlisted",
            5,
            Err(Code::RouteNotAllowed),
        );
        check_after(
            Some(read.clone()),
            "GET",
            "/documents/1",
            1_000,
            Err(Code::KeyExpired),
        );
        check_after(
            Some(revoked.clone()),
            "GET",
            "/documents/1",
            20,
            Err(Code::KeyRevoked),
        );
        check_after(
            Some(disabled),
            "GET",
            "/documents/1",
            5,
            Err(Code::KeyDisabled),
        );
        check_after(None, "GET", "/documents/1", 5, Err(Code::InvalidKey));
        // 401 before 403: a bad key on a denied route learns nothing about the route.
        check_after(None, "GET", "/internal/x", 5, Err(Code::InvalidKey));
        check_after(
            Some(revoked),
            "GET",
            "/internal/x",
            20,
            Err(Code::KeyRevoked),
        );
    }

    #[track_caller]
    fn check_ip(allow: &[&str], ip: Option<&str>, now_s: i64, expected: Result<(), Code>) {
        let c = config();
        let r = KeyRecord {
            ip_allow: Some(allow.iter().map(|n| n.parse().unwrap()).collect()),
            ..record(&["documents.read"])
        };
        let ip = ip.map(|i| i.parse().unwrap());
        let route = c.policy.judge("GET", "/documents/1");
        let got = after_lookup(Some(&r), route, ip, now_s * 1000).map_err(|p| p.code);
        assert_eq!(got, expected, "{allow:?} {ip:?}");
    }

    #[test]
    fn ip_allow_is_judged_after_the_status_and_before_the_route() {
        let net = &["198.51.100.0/24"];
        check_ip(net, Some("198.51.100.7"), 5, Ok(()));
        check_ip(net, Some("192.0.2.1"), 5, Err(Code::IpNotAllowed));
        check_ip(net, None, 5, Err(Code::IpNotAllowed));
        check_ip(net, Some("192.0.2.1"), 1_000, Err(Code::KeyExpired));
        let c = config();
        let r = KeyRecord {
            ip_allow: Some(vec!["198.51.100.0/24".parse().unwrap()]),
            ..record(&[])
        };
        let ip = Some("192.0.2.1".parse().unwrap());
        let p = after_lookup(Some(&r), c.policy.judge("GET", "/internal/x"), ip, 5).unwrap_err();
        assert_eq!(p.code, Code::IpNotAllowed);
        assert!(p.detail.contains("192.0.2.1"));
    }

    #[test]
    fn insufficient_scope_names_the_scopes() {
        let c = config();
        let route = c.policy.judge("POST", "/documents/1");
        let p = after_lookup(Some(&record(&["audit.log"])), route, None, 0).unwrap_err();
        assert_eq!(
            p.extensions["required_scopes"],
            json!(["documents.write", "audit.log"])
        );
        assert_eq!(p.extensions["missing_scopes"], json!(["documents.write"]));
        assert!(!p.key_presented || p.www_authenticate().unwrap().contains("insufficient_scope"));
        let body: Value = serde_json::from_str(&p.body("/", "r")).unwrap();
        assert_eq!(body["status"], 403);
    }

    #[test]
    fn limits_come_from_the_key_its_plan_or_the_default() {
        let c = Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "RATE_LIMITS" => Some(json!([{"name": "default", "limit": 100, "window": "1m"}])),
            "PLANS" => Some(json!({"free": [{"name": "daily", "limit": 10, "window": "1d"}]})),
            _ => None,
        })
        .unwrap();
        let names = |r: &KeyRecord| {
            limits(r, &c).map(|l| l.iter().map(|p| p.name.clone()).collect::<Vec<_>>())
        };
        let mut r = record(&[]);
        assert_eq!(names(&r), Ok(vec!["default".to_string()]));
        r.plan = Some("free".into());
        assert_eq!(names(&r), Ok(vec!["daily".to_string()]));
        r.rate_limits = Some(vec![]);
        assert_eq!(names(&r), Ok(vec![]));
        r.rate_limits = None;
        r.plan = Some("gone".into());
        assert_eq!(limits(&r, &c).unwrap_err().code, Code::Misconfigured);
    }

    #[test]
    fn the_admission_mode_is_the_keys_then_its_plans_then_the_var() {
        use crate::record::AdmissionMode;
        let c = Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "ADMISSION" => Some(json!("leased")),
            "PLANS" => Some(json!({
                "exact": {"limits": [], "admission": "exact"},
                "plain": []
            })),
            _ => None,
        })
        .unwrap();
        let mut r = record(&[]);
        assert_eq!(admission_mode(&r, &c), AdmissionMode::Leased);
        r.plan = Some("plain".into());
        assert_eq!(admission_mode(&r, &c), AdmissionMode::Leased);
        r.plan = Some("exact".into());
        assert_eq!(admission_mode(&r, &c), AdmissionMode::Exact);
        r.admission = Some(AdmissionMode::Leased);
        assert_eq!(admission_mode(&r, &c), AdmissionMode::Leased);
        // Credits are leased like quota.
        r.credits = Some(crate::credits::Credits {
            remaining: 1,
            refill: None,
            since: 0,
        });
        assert_eq!(admission_mode(&r, &c), AdmissionMode::Leased);
    }

    #[test]
    fn the_region_is_the_keys_then_its_plans() {
        let c = Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "PLANS" => Some(json!({"eu": {"limits": [], "region": "weur"}, "plain": []})),
            _ => None,
        })
        .unwrap();
        let mut r = record(&[]);
        assert_eq!(region(&r, &c), None);
        r.plan = Some("plain".into());
        assert_eq!(region(&r, &c), None);
        r.plan = Some("eu".into());
        assert_eq!(region(&r, &c), Some("weur"));
        r.region = Some("apac".into());
        assert_eq!(region(&r, &c), Some("apac"));
    }

    #[test]
    fn rate_limited_problem() {
        let policies = [ratelimit::LimitPolicy {
            name: "burst".into(),
            limit: 1,
            window_s: 60,
        }];
        let mut counters = ratelimit::Counters::new();
        assert!(ratelimit::admit(&policies, &mut counters, 0).admitted);
        let v = ratelimit::admit(&policies, &mut counters, 43_000);
        let p = rate_limited(&v);
        assert_eq!(p.status(), 429);
        assert_eq!(p.extensions["violated-policies"], json!(["burst"]));
        assert_eq!(
            p.headers,
            vec![
                ("retry-after", "17".to_string()),
                ("ratelimit-policy", "\"burst\";q=1;w=60".to_string()),
                ("ratelimit", "\"burst\";r=0;t=17".to_string()),
            ]
        );
        assert!(ratelimit_headers(&ratelimit::admit(&[], &mut counters, 0)).is_empty());
    }

    #[test]
    fn the_object_answer_is_final() {
        let r = record(&[]);
        let answer = |status, verdict| Answer {
            status,
            verdict,
            credits: None,
            exhausted: None,
            stale: false,
        };
        let code = |a| {
            object_answer(&r, a, 0)
                .map(|v| v.verdict.is_some())
                .map_err(|p| p.code)
        };
        assert_eq!(
            code(answer(KeyStatus::Revoked, None)),
            Err(Code::KeyRevoked)
        );
        assert_eq!(
            code(answer(KeyStatus::Disabled, None)),
            Err(Code::KeyDisabled)
        );
        let unlimited = ratelimit::admit(&[], &mut ratelimit::Counters::new(), 0);
        assert_eq!(
            code(answer(KeyStatus::Active, Some(unlimited.clone()))),
            Ok(false)
        );
        let policies = [ratelimit::LimitPolicy {
            name: "a".into(),
            limit: 1,
            window_s: 60,
        }];
        let mut counters = ratelimit::Counters::new();
        let first = ratelimit::admit(&policies, &mut counters, 0);
        assert_eq!(code(answer(KeyStatus::Active, Some(first))), Ok(true));
        let second = ratelimit::admit(&policies, &mut counters, 0);
        assert_eq!(
            code(answer(KeyStatus::Active, Some(second.clone()))),
            Err(Code::RateLimited)
        );
        // Rate limited and out of credits: the limit is said first (credits are
        // the last check, and nothing was spent).
        let exhausted = Exhausted {
            remaining: 1,
            cost: 3,
            next_refill: Some(1_000),
            on_lease: 0,
            back_by: None,
        };
        let both = Answer {
            exhausted: Some(exhausted),
            ..answer(KeyStatus::Active, Some(second))
        };
        assert_eq!(code(both), Err(Code::RateLimited));
        let out = Answer {
            exhausted: Some(exhausted),
            ..answer(KeyStatus::Active, Some(unlimited.clone()))
        };
        let p = object_answer(&r, out, 400_500).unwrap_err();
        assert_eq!(p.code, Code::CreditsExhausted);
        assert_eq!(
            (&p.extensions["remaining"], &p.extensions["cost"]),
            (&json!(1), &json!(3))
        );
        assert_eq!(
            p.extensions["next_refill_at"],
            json!("1970-01-01T00:16:40Z")
        );
        assert_eq!(
            p.headers,
            vec![
                (CREDITS_HEADER, "1".to_string()),
                ("retry-after", "600".to_string())
            ]
        );
        // Without a refill: no Retry-After, and null for the next refill.
        let never = Exhausted {
            next_refill: None,
            ..exhausted
        };
        let p = credits_exhausted(&never, 400);
        assert_eq!(p.headers, vec![(CREDITS_HEADER, "1".to_string())]);
        assert_eq!(p.extensions["next_refill_at"], json!(null));
        assert!(!p.extensions.contains_key("on_lease"));
        assert!(!p.detail.contains("on lease"), "{}", p.detail);
        // Nothing on lease: when leases would be back says nothing.
        let none_held = Exhausted {
            back_by: Some(402),
            ..never
        };
        let p = credits_exhausted(&none_held, 400);
        assert_eq!(p.headers, vec![(CREDITS_HEADER, "1".to_string())]);
        // Credits on lease to isolates may come back: retry by then.
        let held = Exhausted {
            on_lease: 4,
            back_by: Some(402),
            ..never
        };
        let p = credits_exhausted(&held, 400);
        assert_eq!(p.extensions["on_lease"], json!(4));
        assert!(p.detail.contains("4 more are on lease"), "{}", p.detail);
        assert_eq!(
            p.headers,
            vec![
                (CREDITS_HEADER, "1".to_string()),
                ("retry-after", "2".to_string())
            ]
        );
        let p = credits_exhausted(
            &Exhausted {
                next_refill: Some(401),
                ..held
            },
            400,
        );
        assert_eq!(p.headers[1], ("retry-after", "1".to_string()), "the sooner");
        // Admitted: what is left goes with the RateLimit fields.
        let paid = Answer {
            credits: Some(Balance {
                remaining: 4,
                next_refill: None,
            }),
            ..answer(KeyStatus::Active, Some(first_verdict(&policies)))
        };
        let admitted = object_answer(&r, paid, 0).unwrap();
        let names: Vec<&str> = admitted.headers().iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["ratelimit-policy", "ratelimit", CREDITS_HEADER]);
        assert_eq!(admitted.headers()[2].1, "4");
        assert!(Admitted::default().headers().is_empty());
    }

    fn first_verdict(policies: &[ratelimit::LimitPolicy]) -> Verdict {
        ratelimit::admit(policies, &mut ratelimit::Counters::new(), 0)
    }
}
