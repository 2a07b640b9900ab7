//! Configuration from the worker's vars and secrets, validated once, with errors that name the field.
//!
//! Vars arrive as JSON values: objects from `[vars]` tables in `wrangler.toml`,
//! strings from `--var NAME:VALUE`. Object-valued settings accept both.

use crate::expiry::ExpiresIn;
use crate::field::FieldError;
use crate::key::{LegacyFormat, MAX_PREFIX_LEN};
use crate::lease;
use crate::policy::Policy;
use crate::ratelimit::{self, LimitPolicy};
use crate::record::AdmissionMode;
use serde_json::Value;
use std::collections::BTreeMap;

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
    /// `CORS`: which browser origins may call the API; `None` leaves preflights to
    /// the policy like any request.
    pub cors: Option<crate::cors::Cors>,
    /// `FORWARDED_FOR`: `X-Forwarded-For` appends the client's address to what the
    /// client sent (`append`), or is the client's address alone (`replace`).
    pub forwarded_for_append: bool,
    /// `DEFAULT_EXPIRES_IN`: the expiry of keys issued without one.
    pub default_expires_in: ExpiresIn,
    /// `ADMIN_TOKEN` (a secret); `None` disables admin-token access.
    pub admin_token: Option<Secret>,
    /// `RATE_LIMITS`: the policies of keys with neither a plan nor their own.
    pub rate_limits: Vec<LimitPolicy>,
    /// `PLANS`: named lists of policies, chosen per key with `plan`.
    pub plans: BTreeMap<String, Vec<LimitPolicy>>,
    /// What plans choose besides their limits (`PLANS.<name>.admission`, `.region`).
    pub plan_settings: BTreeMap<String, PlanSettings>,
    /// `ADMISSION`: how keys' requests are admitted unless a plan or key says.
    pub admission: AdmissionMode,
    /// `LEASE_TTL`: milliseconds a lease lasts at most (leased admission).
    pub lease_ttl_ms: u32,
    /// `RATE_LIMIT_FAILURE`: let traffic through (`open`) when the key's Durable Object fails.
    pub rate_limit_fail_open: bool,
    /// `DECISION_LOG`: which requests get a decision line.
    pub decision_log: DecisionLog,
    /// `RECORD_CACHE_TTL`: seconds a key record read from KV is reused within an
    /// isolate (0 disables the cache). Revocation and disabling stay exact: they are
    /// checked in the key's Durable Object on every request.
    pub record_cache_ttl_s: u32,
    /// `LEGACY_KEY_FORMATS`: formats of keys issued elsewhere and imported by hash.
    pub legacy_formats: Vec<LegacyFormat>,
    /// `MAX_KEYS_PER_TEAM`: most live keys one team may hold.
    pub max_keys_per_team: u32,
    /// `EXPIRY_NOTICE_DAYS`: thresholds, in days before expiry, at which a notice is sent.
    pub expiry_notice_days: Vec<u32>,
    /// `EXPIRY_WEBHOOK_URL`: where expiry notices are POSTed; `None` sends none.
    pub expiry_webhook_url: Option<String>,
    /// `EXPIRY_WEBHOOK_SECRET` (a secret): the HMAC-SHA256 key of the notices' signature.
    pub expiry_webhook_secret: Option<Secret>,
    /// `CREDITS_LOW_PERCENT`: a low-credit notice goes to `EXPIRY_WEBHOOK_URL`
    /// once per period when a chain's credits fall below this percentage.
    pub credits_low_percent: Option<u8>,
    /// `IDENTITY_SIGNING_SECRET` (a secret): signs what the origin receives
    /// (`X-Keyward-Signature`); `None` sends no signature.
    pub identity_secret: Option<Secret>,
    /// `ORIGIN_TIMEOUT`: milliseconds to wait for the origin's response headers.
    pub origin_timeout_ms: u32,
    /// `AUTHORITY_TIMEOUT`: milliseconds to wait for a key's Durable Object.
    pub authority_timeout_ms: u32,
    /// `EXPIRY_WEBHOOK_TIMEOUT`: milliseconds to wait for the webhook's answer.
    pub expiry_webhook_timeout_ms: u32,
}

/// Which requests get a decision line (`DECISION_LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionLog {
    /// Every request (`all`, the default).
    All,
    /// Only the requests keyward answered with a problem (`problems`).
    Problems,
}

/// What a plan chooses besides its limits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanSettings {
    /// Its keys' admission mode.
    pub admission: Option<AdmissionMode>,
    /// Where its keys' Durable Objects are created.
    pub region: Option<String>,
    /// The credits its keys are issued with (unless they bring their own).
    pub credits: Option<crate::credits::Credits>,
}

/// Default `EXPIRY_WEBHOOK_TIMEOUT`, milliseconds.
pub const DEFAULT_EXPIRY_WEBHOOK_TIMEOUT_MS: u32 = 10_000;

/// Default `AUTHORITY_TIMEOUT`, milliseconds.
pub const DEFAULT_AUTHORITY_TIMEOUT_MS: u32 = 5_000;

/// Default `ORIGIN_TIMEOUT`, milliseconds.
pub const DEFAULT_ORIGIN_TIMEOUT_MS: u32 = 30_000;

/// Most live keys a team may hold by default.
pub const DEFAULT_MAX_KEYS_PER_TEAM: u32 = 100;
/// Longest legacy key accepted.
pub const MAX_LEGACY_KEY_LEN: usize = 256;

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
    pub fn from_vars(get: impl Fn(&str) -> Option<Value>) -> Result<Config, Vec<FieldError>> {
        let mut errors = Vec::new();
        let e = &mut errors;
        // Read in this order, which is the order of the errors.
        let key_prefix = key_prefix(get("KEY_PREFIX"), e);
        let policy = policy(get("POLICY"), e);
        let origin_url = origin_url(get("ORIGIN_URL"), e);
        let forward_authorization = flag(get("FORWARD_AUTHORIZATION"), "FORWARD_AUTHORIZATION", e);
        let default_expires_in = default_expires_in(get("DEFAULT_EXPIRES_IN"), e);
        let admin_token = optional_secret(get("ADMIN_TOKEN"), "ADMIN_TOKEN", e);
        let rate_limits = rate_limits(get("RATE_LIMITS"), e);
        let (plans, plan_settings) = plans(get("PLANS"), e);
        let admission = admission(get("ADMISSION"), e);
        let lease_ttl_ms = lease_ttl(get("LEASE_TTL"), e);
        let cors = cors(get("CORS"), e);
        let forwarded_for_append = forwarded_for_append(get("FORWARDED_FOR"), e);
        let rate_limit_fail_open = rate_limit_fail_open(get("RATE_LIMIT_FAILURE"), e);
        let decision_log = decision_log(get("DECISION_LOG"), e);
        let record_cache_ttl_s = record_cache_ttl(get("RECORD_CACHE_TTL"), e);
        let max_keys_per_team = max_keys_per_team(get("MAX_KEYS_PER_TEAM"), e);
        let legacy_formats = legacy_formats(get("LEGACY_KEY_FORMATS"), &key_prefix, e);
        let expiry_notice_days = expiry_notice_days(get("EXPIRY_NOTICE_DAYS"), e);
        let expiry_webhook_url = webhook_url(get("EXPIRY_WEBHOOK_URL"), e);
        let webhook = expiry_webhook_url.is_some();
        let expiry_webhook_secret = webhook_secret(get("EXPIRY_WEBHOOK_SECRET"), webhook, e);
        let credits_low_percent = credits_low_percent(get("CREDITS_LOW_PERCENT"), webhook, e);
        let identity_secret =
            optional_secret(get("IDENTITY_SIGNING_SECRET"), "IDENTITY_SIGNING_SECRET", e);
        let origin_timeout_ms = origin_timeout(get("ORIGIN_TIMEOUT"), e);
        let authority_timeout_ms = authority_timeout(get("AUTHORITY_TIMEOUT"), e);
        let expiry_webhook_timeout_ms = webhook_timeout(get("EXPIRY_WEBHOOK_TIMEOUT"), e);
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            authority_timeout_ms,
            expiry_webhook_timeout_ms,
            identity_secret,
            origin_timeout_ms,
            record_cache_ttl_s,
            legacy_formats,
            max_keys_per_team,
            expiry_notice_days,
            expiry_webhook_url,
            expiry_webhook_secret,
            credits_low_percent,
            rate_limits,
            plans,
            rate_limit_fail_open,
            admission,
            lease_ttl_ms,
            plan_settings,
            decision_log,
            key_prefix,
            policy,
            origin_url,
            forward_authorization,
            forwarded_for_append,
            cors,
            default_expires_in,
            admin_token,
        })
    }
}

/// `POLICY`, required: the route policy (`{}` denies every route).
fn policy(v: Option<Value>, errors: &mut Vec<FieldError>) -> Policy {
    let parsed = json_var(v, "POLICY", errors, |v, e| {
        Policy::parse(v).unwrap_or_else(|mut list| {
            e.append(&mut list);
            Policy::default()
        })
    });
    parsed.unwrap_or_else(|| {
        errors.push(FieldError::new(
            "POLICY",
            "is not set: give a route policy (\"{}\" denies every route)",
        ));
        Policy::default()
    })
}

/// `RATE_LIMITS`: the policies of keys with neither a plan nor their own (none
/// when unset).
fn rate_limits(v: Option<Value>, errors: &mut Vec<FieldError>) -> Vec<LimitPolicy> {
    json_var(v, "RATE_LIMITS", errors, |v, e| {
        policies(v, "RATE_LIMITS", e)
    })
    .unwrap_or_default()
}

/// `PLANS`: each plan's policies and its other settings (none when unset).
fn plans(
    v: Option<Value>,
    errors: &mut Vec<FieldError>,
) -> (
    BTreeMap<String, Vec<LimitPolicy>>,
    BTreeMap<String, PlanSettings>,
) {
    json_var(v, "PLANS", errors, parse_plans).unwrap_or_default()
}

/// `CORS`: the browser origins that may call the API; `None` when unset or invalid.
fn cors(v: Option<Value>, errors: &mut Vec<FieldError>) -> Option<crate::cors::Cors> {
    json_var(v, "CORS", errors, |v, e| {
        crate::cors::Cors::parse(v)
            .map_err(|mut list| e.append(&mut list))
            .ok()
    })
    .flatten()
}

/// `FORWARDED_FOR`: `append` the client's address, or `replace` (the default).
fn forwarded_for_append(v: Option<Value>, errors: &mut Vec<FieldError>) -> bool {
    either(v, "FORWARDED_FOR", ("replace", "append"), errors)
}

/// `RATE_LIMIT_FAILURE`: fail `open`, or `closed` (the default).
fn rate_limit_fail_open(v: Option<Value>, errors: &mut Vec<FieldError>) -> bool {
    either(v, "RATE_LIMIT_FAILURE", ("closed", "open"), errors)
}

/// `DECISION_LOG`: `all` (the default) or `problems`.
fn decision_log(v: Option<Value>, errors: &mut Vec<FieldError>) -> DecisionLog {
    match either(v, "DECISION_LOG", ("all", "problems"), errors) {
        false => DecisionLog::All,
        true => DecisionLog::Problems,
    }
}

/// `LEASE_TTL`: milliseconds within [`lease::TTL_RANGE_MS`] ([`lease::DEFAULT_TTL_MS`]).
fn lease_ttl(v: Option<Value>, errors: &mut Vec<FieldError>) -> u32 {
    let (range, default) = (lease::TTL_RANGE_MS, lease::DEFAULT_TTL_MS);
    whole_number(v, "LEASE_TTL", range, default, errors)
}

/// `RECORD_CACHE_TTL`: 0 to [`MAX_RECORD_CACHE_TTL_S`] seconds (30).
fn record_cache_ttl(v: Option<Value>, errors: &mut Vec<FieldError>) -> u32 {
    whole_number(
        v,
        "RECORD_CACHE_TTL",
        (0, MAX_RECORD_CACHE_TTL_S),
        30,
        errors,
    )
}

/// `MAX_KEYS_PER_TEAM`: 1 to 100000 ([`DEFAULT_MAX_KEYS_PER_TEAM`]).
fn max_keys_per_team(v: Option<Value>, errors: &mut Vec<FieldError>) -> u32 {
    let default = DEFAULT_MAX_KEYS_PER_TEAM;
    whole_number(v, "MAX_KEYS_PER_TEAM", (1, 100_000), default, errors)
}

/// `ORIGIN_TIMEOUT`: 100 to 600000 milliseconds ([`DEFAULT_ORIGIN_TIMEOUT_MS`]).
fn origin_timeout(v: Option<Value>, errors: &mut Vec<FieldError>) -> u32 {
    let default = DEFAULT_ORIGIN_TIMEOUT_MS;
    whole_number(v, "ORIGIN_TIMEOUT", (100, 600_000), default, errors)
}

/// `AUTHORITY_TIMEOUT`: 1 to 60000 milliseconds ([`DEFAULT_AUTHORITY_TIMEOUT_MS`]).
fn authority_timeout(v: Option<Value>, errors: &mut Vec<FieldError>) -> u32 {
    let default = DEFAULT_AUTHORITY_TIMEOUT_MS;
    whole_number(v, "AUTHORITY_TIMEOUT", (1, 60_000), default, errors)
}

/// `EXPIRY_WEBHOOK_TIMEOUT`: 100 to 60000 milliseconds
/// ([`DEFAULT_EXPIRY_WEBHOOK_TIMEOUT_MS`]).
fn webhook_timeout(v: Option<Value>, errors: &mut Vec<FieldError>) -> u32 {
    let default = DEFAULT_EXPIRY_WEBHOOK_TIMEOUT_MS;
    whole_number(v, "EXPIRY_WEBHOOK_TIMEOUT", (100, 60_000), default, errors)
}

/// `LEGACY_KEY_FORMATS`: formats of keys issued elsewhere, none overlapping
/// `key_prefix` (none when unset).
fn legacy_formats(
    v: Option<Value>,
    key_prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<LegacyFormat> {
    json_var(v, "LEGACY_KEY_FORMATS", errors, |v, e| {
        parse_legacy_formats(v, key_prefix, e)
    })
    .unwrap_or_default()
}

/// `EXPIRY_NOTICE_DAYS`: days before expiry at which notices go out (7 when unset).
fn expiry_notice_days(v: Option<Value>, errors: &mut Vec<FieldError>) -> Vec<u32> {
    match v {
        None => vec![7],
        Some(v) => parse_notice_days(&v).unwrap_or_else(|msg| {
            errors.push(FieldError::new("EXPIRY_NOTICE_DAYS", msg));
            vec![]
        }),
    }
}

/// An object-valued var (a JSON value, or a string holding JSON), read by
/// `parse`: `None` when unset; an error when it does not parse as JSON.
fn json_var<T: Default>(
    v: Option<Value>,
    name: &str,
    errors: &mut Vec<FieldError>,
    parse: impl FnOnce(&Value, &mut Vec<FieldError>) -> T,
) -> Option<T> {
    match json_value(v?) {
        Ok(v) => Some(parse(&v, errors)),
        Err(msg) => {
            errors.push(FieldError::new(name, msg));
            Some(T::default())
        }
    }
}

/// Rate-limit policies at `field`, each error named where it is.
fn policies(v: &Value, field: &str, errors: &mut Vec<FieldError>) -> Vec<LimitPolicy> {
    ratelimit::parse_policies(v, field).unwrap_or_else(|e| {
        errors.extend(e.into_iter().map(|(f, m)| FieldError::new(f, m)));
        vec![]
    })
}

/// `KEY_PREFIX`: 1 to [`MAX_PREFIX_LEN`] characters of `A-Za-z0-9_-` (`kw_`).
fn key_prefix(v: Option<Value>, errors: &mut Vec<FieldError>) -> String {
    match v {
        None => "kw_".to_string(),
        Some(Value::String(p)) if valid_prefix(&p) => p,
        Some(_) => {
            errors.push(FieldError::new("KEY_PREFIX", prefix_rule()));
            String::new()
        }
    }
}

/// Whether `p` may be a key's prefix, ours or a legacy format's: 1 to
/// [`MAX_PREFIX_LEN`] characters of `A-Za-z0-9_-`.
fn valid_prefix(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= MAX_PREFIX_LEN
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// What [`valid_prefix`] asks, as said to whoever configured one.
fn prefix_rule() -> String {
    format!("must be 1 to {MAX_PREFIX_LEN} characters of A-Z, a-z, 0-9, '_' or '-'")
}

/// `ORIGIN_URL`, required, without its trailing slash.
fn origin_url(v: Option<Value>, errors: &mut Vec<FieldError>) -> String {
    let checked = match v {
        None => Err("is not set: give the origin's base URL".to_string()),
        Some(Value::String(u)) => check_origin(&u),
        Some(_) => Err("must be a URL string".to_string()),
    };
    checked.unwrap_or_else(|msg| {
        errors.push(FieldError::new("ORIGIN_URL", msg));
        String::new()
    })
}

/// A `true` or `false` var (a JSON boolean, or the string); unset is `false`.
fn flag(v: Option<Value>, name: &str, errors: &mut Vec<FieldError>) -> bool {
    match v {
        None => false,
        Some(Value::Bool(b)) => b,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(_) => {
            errors.push(FieldError::new(name, "must be \"true\" or \"false\""));
            false
        }
    }
}

/// `DEFAULT_EXPIRES_IN`: one of the `expires_in` choices (90 days when unset).
fn default_expires_in(v: Option<Value>, errors: &mut Vec<FieldError>) -> ExpiresIn {
    let parsed = match v {
        None => return ExpiresIn::Days(90),
        Some(Value::String(s)) => ExpiresIn::parse(&s),
        Some(_) => Err("must be a string such as \"90d\"".to_string()),
    };
    parsed.unwrap_or_else(|msg| {
        errors.push(FieldError::new("DEFAULT_EXPIRES_IN", msg));
        ExpiresIn::Never
    })
}

/// `ADMISSION`: `exact` (the default) or `leased`.
fn admission(v: Option<Value>, errors: &mut Vec<FieldError>) -> AdmissionMode {
    let Some(v) = v else {
        return AdmissionMode::Exact;
    };
    v.as_str().and_then(AdmissionMode::parse).unwrap_or_else(|| {
        errors.push(FieldError::new(
            "ADMISSION",
            "must be \"exact\" (every request asks the key's object) or \"leased\" (isolates admit from leased quota)",
        ));
        AdmissionMode::Exact
    })
}

/// `PLANS`: plan names to a list of policies, or to `{"limits": [...],
/// "admission": ..., "region": ..., "credits": ...}`.
fn parse_plans(
    v: &Value,
    errors: &mut Vec<FieldError>,
) -> (
    BTreeMap<String, Vec<LimitPolicy>>,
    BTreeMap<String, PlanSettings>,
) {
    let (mut plans, mut settings) = (BTreeMap::new(), BTreeMap::new());
    let Some(map) = v.as_object() else {
        errors.push(FieldError::new(
            "PLANS",
            "must be an object of plan names to lists of policies (or {\"limits\": [...], \"admission\": ...})",
        ));
        return (plans, settings);
    };
    for (name, v) in map {
        let field = format!("PLANS.{name}");
        if !crate::ident::valid_name(name) {
            errors.push(FieldError::new(
                field,
                "a plan name is 1 to 32 characters of a-z, 0-9, '_' and '-'",
            ));
            continue;
        }
        let (limits, limits_field) = match v {
            Value::Object(obj) => {
                settings.insert(name.clone(), plan_settings(obj, &field, errors));
                let Some(l) = obj.get("limits") else {
                    errors.push(FieldError::new(
                        format!("{field}.limits"),
                        "is required: the plan's list of policies",
                    ));
                    continue;
                };
                (l, format!("{field}.limits"))
            }
            other => (other, field),
        };
        match ratelimit::parse_policies(limits, &limits_field) {
            Ok(list) => {
                plans.insert(name.clone(), list);
            }
            Err(e) => errors.extend(e.into_iter().map(|(f, m)| FieldError::new(f, m))),
        }
    }
    (plans, settings)
}

/// What an object-valued plan chooses besides its limits.
fn plan_settings(
    obj: &serde_json::Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> PlanSettings {
    crate::field::unknown_fields(
        obj,
        field,
        &["limits", "admission", "region", "credits"],
        errors,
    );
    let mut settings = PlanSettings::default();
    match obj
        .get("admission")
        .map(|m| m.as_str().and_then(AdmissionMode::parse))
    {
        None => {}
        Some(Some(m)) => settings.admission = Some(m),
        Some(None) => errors.push(FieldError::new(
            format!("{field}.admission"),
            "must be \"exact\" or \"leased\"",
        )),
    }
    match obj.get("region").map(Value::as_str) {
        None => {}
        Some(Some(r)) if crate::record::valid_region(r) => settings.region = Some(r.to_string()),
        Some(_) => errors.push(FieldError::new(
            format!("{field}.region"),
            crate::record::REGION_CHOICES,
        )),
    }
    if let Some(c) = obj.get("credits") {
        match crate::credits::Credits::parse(c, &format!("{field}.credits"), 0) {
            Ok(c) => settings.credits = Some(c),
            Err(e) => errors.extend(e),
        }
    }
    settings
}

/// `EXPIRY_WEBHOOK_URL`: an `http(s)` URL, or none (unset or empty).
fn webhook_url(v: Option<Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let checked = match v? {
        Value::String(u) if u.is_empty() => return None,
        Value::String(u) => check_origin(&u).map(|_| u),
        _ => Err("must be a URL string".to_string()),
    };
    checked
        .map_err(|msg| errors.push(FieldError::new("EXPIRY_WEBHOOK_URL", msg)))
        .ok()
}

/// `EXPIRY_WEBHOOK_SECRET`: required, as a secret, when there is a webhook.
fn webhook_secret(v: Option<Value>, webhook: bool, errors: &mut Vec<FieldError>) -> Option<Secret> {
    match v {
        Some(Value::String(t)) if t.len() >= MIN_ADMIN_TOKEN_LEN => Some(Secret(t)),
        None if !webhook => None,
        Some(Value::String(t)) if t.is_empty() && !webhook => None,
        _ => {
            errors.push(FieldError::new(
                "EXPIRY_WEBHOOK_SECRET",
                format!(
                    "must be a secret of at least {MIN_ADMIN_TOKEN_LEN} characters when EXPIRY_WEBHOOK_URL is set"
                ),
            ));
            None
        }
    }
}

/// `CREDITS_LOW_PERCENT`: 1 to 99, and only with a webhook to send notices to.
fn credits_low_percent(
    v: Option<Value>,
    webhook: bool,
    errors: &mut Vec<FieldError>,
) -> Option<u8> {
    match v? {
        Value::String(t) if t.is_empty() => None,
        v => {
            let percent = whole_number(Some(v), "CREDITS_LOW_PERCENT", (1, 99), 0, errors);
            if !webhook {
                errors.push(FieldError::new(
                    "CREDITS_LOW_PERCENT",
                    "needs EXPIRY_WEBHOOK_URL (and its secret): low-credit notices go to that webhook",
                ));
            }
            u8::try_from(percent).ok().filter(|p| *p > 0)
        }
    }
}

/// An optional secret: unset or empty is `None`; otherwise at least
/// `MIN_ADMIN_TOKEN_LEN` characters. Errors never echo the value.
fn optional_secret(v: Option<Value>, name: &str, errors: &mut Vec<FieldError>) -> Option<Secret> {
    match v {
        None => None,
        Some(Value::String(t)) if t.is_empty() => None,
        Some(Value::String(t)) if t.len() >= MIN_ADMIN_TOKEN_LEN => Some(Secret(t)),
        Some(_) => {
            errors.push(FieldError::new(
                name,
                format!("must be a secret of at least {MIN_ADMIN_TOKEN_LEN} characters"),
            ));
            None
        }
    }
}

/// One of two named choices: `false` for `choices.0` (also when unset), `true` for
/// `choices.1`; anything else is an error naming both, and counts as `choices.0`.
fn either(
    value: Option<Value>,
    field: &str,
    choices: (&str, &str),
    errors: &mut Vec<FieldError>,
) -> bool {
    match value {
        None => false,
        Some(Value::String(s)) if s == choices.0 => false,
        Some(Value::String(s)) if s == choices.1 => true,
        Some(_) => {
            errors.push(FieldError::new(
                field,
                format!("must be {:?} or {:?}", choices.0, choices.1),
            ));
            false
        }
    }
}

/// A whole number within `range`, given as a JSON number or a string.
fn whole_number(
    v: Option<Value>,
    name: &str,
    range: (u32, u32),
    default: u32,
    errors: &mut Vec<FieldError>,
) -> u32 {
    let Some(v) = v else { return default };
    match v
        .as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    {
        Some(n) if (u64::from(range.0)..=u64::from(range.1)).contains(&n) => n as u32,
        _ => {
            errors.push(FieldError::new(
                name,
                format!("must be a whole number from {} to {}", range.0, range.1),
            ));
            default
        }
    }
}

fn parse_legacy_formats(
    v: &Value,
    key_prefix: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<LegacyFormat> {
    let Some(items) = v.as_array() else {
        errors.push(FieldError::new(
            "LEGACY_KEY_FORMATS",
            "must be a list of {\"prefix\": \"api_\", \"length\": 20}",
        ));
        return vec![];
    };
    let mut formats: Vec<LegacyFormat> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = format!("LEGACY_KEY_FORMATS[{i}]");
        let Ok(f) = serde_json::from_value::<LegacyFormat>(item.clone()) else {
            errors.push(FieldError::new(
                field,
                "must be {\"prefix\": \"api_\", \"length\": 20}",
            ));
            continue;
        };
        if !valid_prefix(&f.prefix) {
            errors.push(FieldError::new(format!("{field}.prefix"), prefix_rule()));
        } else if f.prefix.starts_with(key_prefix) || key_prefix.starts_with(&f.prefix) {
            errors.push(FieldError::new(
                format!("{field}.prefix"),
                format!("overlaps KEY_PREFIX {key_prefix:?}"),
            ));
        } else if formats
            .iter()
            .any(|o| o.prefix.starts_with(&f.prefix) || f.prefix.starts_with(&o.prefix))
        {
            errors.push(FieldError::new(
                format!("{field}.prefix"),
                "overlaps the prefix of another legacy format",
            ));
        } else if f.length <= f.prefix.len() + 7 || f.length > MAX_LEGACY_KEY_LEN {
            errors.push(FieldError::new(
                format!("{field}.length"),
                format!(
                    "must be the total key length, at least 8 characters after the prefix and at most {MAX_LEGACY_KEY_LEN}"
                ),
            ));
        } else {
            formats.push(f);
        }
    }
    formats
}

fn parse_notice_days(v: &Value) -> Result<Vec<u32>, String> {
    let msg =
        || "must be a number of days (1 to 365), or a list of them such as \"7,1\"".to_string();
    let items: Vec<Value> = match v {
        Value::Array(a) => a.clone(),
        Value::Number(_) => vec![v.clone()],
        Value::String(s) => s
            .split(',')
            .map(|d| d.trim().parse::<u64>().map(Value::from).map_err(|_| msg()))
            .collect::<Result<_, _>>()?,
        _ => return Err(msg()),
    };
    let mut days = Vec::with_capacity(items.len());
    for item in items {
        match item.as_u64() {
            Some(d @ 1..=365) if !days.contains(&(d as u32)) => days.push(d as u32),
            _ => return Err(msg()),
        }
    }
    if days.is_empty() {
        return Err(msg());
    }
    days.sort_unstable_by(|a, b| b.cmp(a));
    Ok(days)
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

    fn vars(pairs: &[(&str, Value)]) -> Result<Config, Vec<FieldError>> {
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
        assert!(!c.forwarded_for_append);
        assert_eq!(c.cors, None);
        assert_eq!(c.default_expires_in, ExpiresIn::Days(90));
        assert_eq!(c.admin_token, None);
        assert_eq!(c.record_cache_ttl_s, 30);
        assert_eq!(c.max_keys_per_team, 100);
        assert!(c.legacy_formats.is_empty());
        assert_eq!(c.expiry_notice_days, vec![7]);
        assert_eq!(c.expiry_webhook_url, None);
        assert_eq!(c.identity_secret, None);
        assert_eq!(c.origin_timeout_ms, 30_000);
        assert_eq!(c.expiry_webhook_timeout_ms, 10_000);
        assert_eq!(c.authority_timeout_ms, 5_000);
        assert_eq!((c.admission, c.lease_ttl_ms), (AdmissionMode::Exact, 1_000));
    }

    #[test]
    fn admission_modes_and_plans_that_choose_one() {
        let mut v = base();
        v.push(("ADMISSION", json!("leased")));
        v.push(("LEASE_TTL", json!("250")));
        v.push((
            "PLANS",
            json!({
                "free": [{"name": "burst", "limit": 10, "window": "1m"}],
                "pro": {"limits": [{"name": "burst", "limit": 1000, "window": "1m"}], "admission": "exact", "region": "weur"},
                "bare": {"limits": []},
                "trial": {"limits": [], "credits": {"remaining": 1000, "refill": {"interval": "monthly", "amount": 1000}}}
            }),
        ));
        let c = vars(&v).unwrap();
        let trial = c.plan_settings["trial"].credits.unwrap();
        assert_eq!(trial.remaining, 1000);
        assert_eq!(trial.refill.map(|r| r.amount), Some(1000));
        assert_eq!(c.plan_settings["pro"].credits, None);
        assert_eq!((c.admission, c.lease_ttl_ms), (AdmissionMode::Leased, 250));
        assert_eq!(c.plans["pro"][0].limit, 1000);
        assert!(c.plans["bare"].is_empty());
        assert_eq!(c.plan_settings["pro"].admission, Some(AdmissionMode::Exact));
        assert_eq!(c.plan_settings["pro"].region.as_deref(), Some("weur"));
        assert_eq!(c.plan_settings.get("free"), None);
        check_error(
            ("PLANS", json!({"pro": {"limits": [], "region": "mars"}})),
            "PLANS.pro.region",
        );
        check_error(
            (
                "PLANS",
                json!({"pro": {"limits": [], "credits": {"remaining": -5}}}),
            ),
            "PLANS.pro.credits.remaining",
        );
        check_error(("ADMISSION", json!("fast")), "ADMISSION");
        check_error(("LEASE_TTL", json!("99")), "LEASE_TTL");
        check_error(("LEASE_TTL", json!(60_001)), "LEASE_TTL");
        check_error(
            ("PLANS", json!({"pro": {"admission": "leased"}})),
            "PLANS.pro.limits",
        );
        check_error(
            ("PLANS", json!({"pro": {"limits": [], "admission": "fast"}})),
            "PLANS.pro.admission",
        );
        check_error(
            ("PLANS", json!({"pro": {"limits": [], "mode": "leased"}})),
            "PLANS.pro.mode",
        );
        check_error(
            ("PLANS", json!({"pro": {"limits": [{"name": "x"}]}})),
            "PLANS.pro.limits[0].limit",
        );
    }

    #[test]
    fn lifecycle_settings() {
        let mut v = base();
        v.push(("MAX_KEYS_PER_TEAM", json!("3")));
        v.push((
            "LEGACY_KEY_FORMATS",
            json!(r#"[{"prefix": "api_", "length": 20}, {"prefix": "isk_", "length": 36}]"#),
        ));
        v.push(("EXPIRY_NOTICE_DAYS", json!("1, 7,30")));
        v.push(("EXPIRY_WEBHOOK_URL", json!("https://hooks.example/keys")));
        v.push(("EXPIRY_WEBHOOK_SECRET", json!("w".repeat(32))));
        v.push(("CREDITS_LOW_PERCENT", json!("10")));
        let c = vars(&v).unwrap();
        assert_eq!(c.credits_low_percent, Some(10));
        assert_eq!(c.max_keys_per_team, 3);
        assert_eq!(c.legacy_formats[0].prefix, "api_");
        assert_eq!(c.legacy_formats[1].length, 36);
        assert_eq!(c.expiry_notice_days, vec![30, 7, 1]);
        assert!(c.expiry_webhook_secret.is_some());
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
        check_error(("DECISION_LOG", json!("errors")), "DECISION_LOG");
        check_error(("DECISION_LOG", json!(false)), "DECISION_LOG");
        check_error(("MAX_KEYS_PER_TEAM", json!("0")), "MAX_KEYS_PER_TEAM");
        check_error(("MAX_KEYS_PER_TEAM", json!("lots")), "MAX_KEYS_PER_TEAM");
        check_error(("LEGACY_KEY_FORMATS", json!({})), "LEGACY_KEY_FORMATS");
        check_error(
            ("LEGACY_KEY_FORMATS", json!([{"prefix": "api_"}])),
            "LEGACY_KEY_FORMATS[0]",
        );
        check_error(
            (
                "LEGACY_KEY_FORMATS",
                json!([{"prefix": "kw_x", "length": 20}]),
            ),
            "LEGACY_KEY_FORMATS[0].prefix",
        );
        check_error(
            (
                "LEGACY_KEY_FORMATS",
                json!([{"prefix": "api_", "length": 20}, {"prefix": "api", "length": 20}]),
            ),
            "LEGACY_KEY_FORMATS[1].prefix",
        );
        check_error(
            (
                "LEGACY_KEY_FORMATS",
                json!([{"prefix": "api_", "length": 8}]),
            ),
            "LEGACY_KEY_FORMATS[0].length",
        );
        check_error(
            ("IDENTITY_SIGNING_SECRET", json!("short")),
            "IDENTITY_SIGNING_SECRET",
        );
        check_error(("ORIGIN_TIMEOUT", json!("5")), "ORIGIN_TIMEOUT");
        check_error(("FORWARDED_FOR", json!("prepend")), "FORWARDED_FOR");
        check_error(("CORS", json!("{not json")), "CORS");
        check_error(
            ("CORS", json!({"origins": "*", "credentials": true})),
            "CORS.credentials",
        );
        check_error(("AUTHORITY_TIMEOUT", json!("0")), "AUTHORITY_TIMEOUT");
        check_error(("ORIGIN_TIMEOUT", json!("soon")), "ORIGIN_TIMEOUT");
        check_error(
            ("EXPIRY_WEBHOOK_TIMEOUT", json!("60001")),
            "EXPIRY_WEBHOOK_TIMEOUT",
        );
        check_error(("EXPIRY_NOTICE_DAYS", json!("0")), "EXPIRY_NOTICE_DAYS");
        check_error(("EXPIRY_NOTICE_DAYS", json!("7,7")), "EXPIRY_NOTICE_DAYS");
        check_error(("EXPIRY_NOTICE_DAYS", json!("soon")), "EXPIRY_NOTICE_DAYS");
        check_error(("EXPIRY_WEBHOOK_URL", json!("hooks")), "EXPIRY_WEBHOOK_URL");
        check_error(
            ("EXPIRY_WEBHOOK_URL", json!("http://127.0.0.1:1/h")),
            "EXPIRY_WEBHOOK_SECRET",
        );
        // Low-credit notices need the webhook, and a percentage from 1 to 99.
        check_error(("CREDITS_LOW_PERCENT", json!("10")), "CREDITS_LOW_PERCENT");
        let mut v = base();
        v.push(("EXPIRY_WEBHOOK_URL", json!("https://hooks.example/keys")));
        v.push(("EXPIRY_WEBHOOK_SECRET", json!("w".repeat(32))));
        for bad in ["0", "100", "ten"] {
            let mut v = v.clone();
            v.push(("CREDITS_LOW_PERCENT", json!(bad)));
            let errors = vars(&v).unwrap_err();
            let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["CREDITS_LOW_PERCENT"], "{bad}");
        }
        assert_eq!(vars(&v).unwrap().credits_low_percent, None);
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
    fn decision_log() {
        #[track_caller]
        fn check(value: Option<&str>, expected: DecisionLog) {
            let mut v = base();
            if let Some(value) = value {
                v.push(("DECISION_LOG", json!(value)));
            }
            assert_eq!(vars(&v).unwrap().decision_log, expected, "{value:?}");
        }
        check(None, DecisionLog::All);
        check(Some("all"), DecisionLog::All);
        check(Some("problems"), DecisionLog::Problems);
    }

    #[test]
    fn errors_never_echo_the_admin_token() {
        let mut v = base();
        v.push(("ADMIN_TOKEN", json!("s3cr3t-but-short")));
        let errors = vars(&v).unwrap_err();
        assert!(!format!("{errors:?}").contains("s3cr3t"));
    }
}
