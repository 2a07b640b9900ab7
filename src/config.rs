//! Configuration from the worker's vars and secrets, validated once, with errors that name the field.
//!
//! Vars arrive as JSON values: objects from `[vars]` tables in `wrangler.toml`,
//! strings from `--var NAME:VALUE`. Object-valued settings accept both.

use crate::expiry::ExpiresIn;
use crate::key::MAX_PREFIX_LEN;
use crate::policy::Policy;
use crate::ratelimit::{self, LimitPolicy};
use serde_json::Value;
use std::collections::BTreeMap;

/// A configuration problem, naming the field (`POLICY.routes[2].path`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The var and the path inside it.
    pub field: String,
    /// What is wrong, never including a secret's value.
    pub message: String,
}

impl ConfigError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Shortest accepted `ADMIN_TOKEN`.
pub const MIN_ADMIN_TOKEN_LEN: usize = 32;

/// The validated configuration of one worker.
#[derive(Debug, Clone)]
pub struct Config {
    /// `KEY_PREFIX`: the prefix of keys this worker issues and accepts.
    pub key_prefix: String,
    /// `POLICY`: the route policy.
    pub policy: Policy,
    /// `ORIGIN_URL` without a trailing slash.
    pub origin_url: String,
    /// `FORWARD_AUTHORIZATION`: pass the client's `Authorization` header to the origin.
    pub forward_authorization: bool,
    /// `DEFAULT_EXPIRES_IN`: the expiry of keys issued without one.
    pub default_expires_in: ExpiresIn,
    /// `ADMIN_TOKEN` (a secret); `None` disables admin-token access.
    pub admin_token: Option<Secret>,
    /// `RATE_LIMITS`: the policies of keys with neither a plan nor their own.
    pub rate_limits: Vec<LimitPolicy>,
    /// `PLANS`: named lists of policies, chosen per key with `plan`.
    pub plans: BTreeMap<String, Vec<LimitPolicy>>,
    /// `RATE_LIMIT_FAILURE`: let traffic through (`open`) when the key's Durable Object fails.
    pub rate_limit_fail_open: bool,
    /// `RECORD_CACHE_TTL`: seconds a key record read from KV is reused within an
    /// isolate (0 disables the cache). Revocation and disabling stay exact: they are
    /// checked in the key's Durable Object on every request.
    pub record_cache_ttl_s: u32,
}

/// Longest accepted `RECORD_CACHE_TTL`, seconds.
pub const MAX_RECORD_CACHE_TTL_S: u32 = 300;

/// A secret string whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Config {
    /// Reads and validates every setting; reports every error, not just the first.
    pub fn from_vars(get: impl Fn(&str) -> Option<Value>) -> Result<Config, Vec<ConfigError>> {
        let mut errors = Vec::new();

        let key_prefix = match get("KEY_PREFIX") {
            None => "kw_".to_string(),
            Some(Value::String(p))
                if !p.is_empty()
                    && p.len() <= MAX_PREFIX_LEN
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') =>
            {
                p
            }
            Some(_) => {
                errors.push(ConfigError::new(
                    "KEY_PREFIX",
                    format!(
                        "must be 1 to {MAX_PREFIX_LEN} characters of A-Z, a-z, 0-9, '_' or '-'"
                    ),
                ));
                String::new()
            }
        };

        let policy = match get("POLICY").map(json_value) {
            None => {
                errors.push(ConfigError::new(
                    "POLICY",
                    "is not set: give a route policy (\"{}\" denies every route)",
                ));
                Policy::default()
            }
            Some(Err(e)) => {
                errors.push(ConfigError::new("POLICY", e));
                Policy::default()
            }
            Some(Ok(v)) => Policy::parse(&v).unwrap_or_else(|mut e| {
                errors.append(&mut e);
                Policy::default()
            }),
        };

        let origin_url = match get("ORIGIN_URL") {
            None => {
                errors.push(ConfigError::new(
                    "ORIGIN_URL",
                    "is not set: give the origin's base URL",
                ));
                String::new()
            }
            Some(Value::String(u)) => match check_origin(&u) {
                Ok(u) => u,
                Err(msg) => {
                    errors.push(ConfigError::new("ORIGIN_URL", msg));
                    String::new()
                }
            },
            Some(_) => {
                errors.push(ConfigError::new("ORIGIN_URL", "must be a URL string"));
                String::new()
            }
        };

        let forward_authorization = match get("FORWARD_AUTHORIZATION") {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(Value::String(s)) if s == "true" => true,
            Some(Value::String(s)) if s == "false" => false,
            Some(_) => {
                errors.push(ConfigError::new(
                    "FORWARD_AUTHORIZATION",
                    "must be \"true\" or \"false\"",
                ));
                false
            }
        };

        let default_expires_in = match get("DEFAULT_EXPIRES_IN") {
            None => ExpiresIn::Days(90),
            Some(Value::String(s)) => ExpiresIn::parse(&s).unwrap_or_else(|msg| {
                errors.push(ConfigError::new("DEFAULT_EXPIRES_IN", msg));
                ExpiresIn::Never
            }),
            Some(_) => {
                errors.push(ConfigError::new(
                    "DEFAULT_EXPIRES_IN",
                    "must be a string such as \"90d\"",
                ));
                ExpiresIn::Never
            }
        };

        let admin_token = match get("ADMIN_TOKEN") {
            None => None,
            Some(Value::String(t)) if t.is_empty() => None,
            Some(Value::String(t)) if t.len() >= MIN_ADMIN_TOKEN_LEN => Some(Secret(t)),
            Some(_) => {
                errors.push(ConfigError::new(
                    "ADMIN_TOKEN",
                    format!("must be a string of at least {MIN_ADMIN_TOKEN_LEN} characters"),
                ));
                None
            }
        };

        let rate_limits = match get("RATE_LIMITS").map(json_value) {
            None => vec![],
            Some(Err(e)) => {
                errors.push(ConfigError::new("RATE_LIMITS", e));
                vec![]
            }
            Some(Ok(v)) => ratelimit::parse_policies(&v, "RATE_LIMITS").unwrap_or_else(|e| {
                errors.extend(e.into_iter().map(|(f, m)| ConfigError::new(f, m)));
                vec![]
            }),
        };

        let mut plans = BTreeMap::new();
        match get("PLANS").map(json_value) {
            None => {}
            Some(Err(e)) => errors.push(ConfigError::new("PLANS", e)),
            Some(Ok(Value::Object(map))) => {
                for (name, v) in map {
                    if !crate::admin::valid_plan_name(&name) {
                        errors.push(ConfigError::new(
                            format!("PLANS.{name}"),
                            "a plan name is 1 to 32 characters of a-z, 0-9, '_' and '-'",
                        ));
                        continue;
                    }
                    match ratelimit::parse_policies(&v, &format!("PLANS.{name}")) {
                        Ok(list) => {
                            plans.insert(name, list);
                        }
                        Err(e) => errors.extend(e.into_iter().map(|(f, m)| ConfigError::new(f, m))),
                    }
                }
            }
            Some(Ok(_)) => errors.push(ConfigError::new(
                "PLANS",
                "must be an object of plan names to lists of policies",
            )),
        }

        let rate_limit_fail_open = match get("RATE_LIMIT_FAILURE") {
            None => false,
            Some(Value::String(s)) if s == "closed" => false,
            Some(Value::String(s)) if s == "open" => true,
            Some(_) => {
                errors.push(ConfigError::new(
                    "RATE_LIMIT_FAILURE",
                    "must be \"closed\" or \"open\"",
                ));
                false
            }
        };

        let record_cache_ttl_s = match get("RECORD_CACHE_TTL") {
            None => 30,
            Some(v) => {
                match v
                    .as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                {
                    Some(n) if n <= u64::from(MAX_RECORD_CACHE_TTL_S) => n as u32,
                    _ => {
                        errors.push(ConfigError::new(
                        "RECORD_CACHE_TTL",
                        format!("must be a whole number of seconds from 0 to {MAX_RECORD_CACHE_TTL_S}"),
                    ));
                        0
                    }
                }
            }
        };

        if errors.is_empty() {
            Ok(Config {
                record_cache_ttl_s,
                rate_limits,
                plans,
                rate_limit_fail_open,
                key_prefix,
                policy,
                origin_url,
                forward_authorization,
                default_expires_in,
                admin_token,
            })
        } else {
            Err(errors)
        }
    }
}

/// An object-valued var: a JSON value, or a string holding JSON (from `--var`).
fn json_value(v: Value) -> Result<Value, String> {
    match v {
        Value::String(s) => {
            serde_json::from_str(&s).map_err(|e| format!("is a string but not valid JSON: {e}"))
        }
        other => Ok(other),
    }
}

fn check_origin(u: &str) -> Result<String, String> {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err("has no host".to_string());
    }
    if u.contains(['?', '#']) || u.contains(char::is_whitespace) {
        return Err("must not contain a query, a fragment or whitespace".to_string());
    }
    Ok(u.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, Value)]) -> Result<Config, Vec<ConfigError>> {
        let map: HashMap<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        Config::from_vars(|name| map.get(name).cloned())
    }

    fn base() -> Vec<(&'static str, Value)> {
        vec![
            ("POLICY", json!({"routes": []})),
            ("ORIGIN_URL", json!("http://127.0.0.1:9000/")),
        ]
    }

    #[track_caller]
    fn check_error(extra: (&'static str, Value), field: &str) {
        let mut v = base();
        v.retain(|(k, _)| *k != extra.0);
        if !extra.1.is_null() {
            v.push(extra);
        }
        let errors = vars(&v).expect_err("should be rejected");
        assert!(
            errors.iter().any(|e| e.field == field),
            "{field}: {errors:?}"
        );
    }

    #[test]
    fn defaults() {
        let c = vars(&base()).unwrap();
        assert_eq!(c.key_prefix, "kw_");
        assert_eq!(c.origin_url, "http://127.0.0.1:9000");
        assert!(!c.forward_authorization);
        assert_eq!(c.default_expires_in, ExpiresIn::Days(90));
        assert_eq!(c.admin_token, None);
        assert_eq!(c.record_cache_ttl_s, 30);
    }

    #[test]
    fn policy_as_json_string_for_var_overrides() {
        let mut v = base();
        v[0].1 = json!(r#"{"public": ["/health"]}"#);
        v.push(("KEY_PREFIX", json!("acme_")));
        v.push(("FORWARD_AUTHORIZATION", json!("true")));
        v.push(("DEFAULT_EXPIRES_IN", json!("never")));
        v.push(("ADMIN_TOKEN", json!("x".repeat(32))));
        let c = vars(&v).unwrap();
        assert_eq!(
            c.policy.judge("GET", "/health"),
            crate::policy::RouteDecision::Public
        );
        assert_eq!(c.key_prefix, "acme_");
        assert!(c.forward_authorization);
        assert_eq!(c.default_expires_in, ExpiresIn::Never);
        assert_eq!(format!("{:?}", c.admin_token), "Some(Secret(<redacted>))");
    }

    #[test]
    fn errors_name_the_field() {
        check_error(("POLICY", Value::Null), "POLICY");
        check_error(("POLICY", json!("{not json")), "POLICY");
        check_error(
            ("POLICY", json!({"routes": [{"path": "x", "scopes": []}]})),
            "POLICY.routes[0].path",
        );
        check_error(("ORIGIN_URL", Value::Null), "ORIGIN_URL");
        check_error(("ORIGIN_URL", json!("ftp://x")), "ORIGIN_URL");
        check_error(("ORIGIN_URL", json!("http://")), "ORIGIN_URL");
        check_error(("ORIGIN_URL", json!("http://a/?q=1")), "ORIGIN_URL");
        check_error(("ORIGIN_URL", json!(7)), "ORIGIN_URL");
        check_error(("KEY_PREFIX", json!("")), "KEY_PREFIX");
        check_error(("KEY_PREFIX", json!("a b")), "KEY_PREFIX");
        check_error(("KEY_PREFIX", json!("x".repeat(17))), "KEY_PREFIX");
        check_error(
            ("FORWARD_AUTHORIZATION", json!("yes")),
            "FORWARD_AUTHORIZATION",
        );
        check_error(
            ("DEFAULT_EXPIRES_IN", json!("2 weeks")),
            "DEFAULT_EXPIRES_IN",
        );
        check_error(("ADMIN_TOKEN", json!("short")), "ADMIN_TOKEN");
        check_error(("RATE_LIMITS", json!("[oops")), "RATE_LIMITS");
        check_error(
            (
                "RATE_LIMITS",
                json!([{"name": "a", "limit": 1, "window": "1y"}]),
            ),
            "RATE_LIMITS[0].window",
        );
        check_error(("PLANS", json!([])), "PLANS");
        check_error(("PLANS", json!({"Free": []})), "PLANS.Free");
        check_error(
            (
                "PLANS",
                json!({"free": [{"name": "a", "limit": 0, "window": "1m"}]}),
            ),
            "PLANS.free[0].limit",
        );
        check_error(
            ("RATE_LIMIT_FAILURE", json!("sometimes")),
            "RATE_LIMIT_FAILURE",
        );
    }

    #[test]
    fn rate_limits_plans_and_failure_mode() {
        let mut v = base();
        v.push((
            "RATE_LIMITS",
            json!(r#"[{"name": "burst", "limit": 100, "window": "1m"}]"#),
        ));
        v.push((
            "PLANS",
            json!({"free": [{"name": "daily", "limit": 10, "window": "1d"}], "unlimited": []}),
        ));
        v.push(("RATE_LIMIT_FAILURE", json!("open")));
        let c = vars(&v).unwrap();
        assert_eq!(c.rate_limits.len(), 1);
        assert_eq!(c.plans["free"][0].window_s, 86_400);
        assert!(c.plans["unlimited"].is_empty());
        assert!(c.rate_limit_fail_open);
        let d = vars(&base()).unwrap();
        assert!(d.rate_limits.is_empty() && d.plans.is_empty() && !d.rate_limit_fail_open);
    }

    #[test]
    fn errors_never_echo_the_admin_token() {
        let mut v = base();
        v.push(("ADMIN_TOKEN", json!("s3cr3t-but-short")));
        let errors = vars(&v).unwrap_err();
        assert!(!format!("{errors:?}").contains("s3cr3t"));
    }
}
