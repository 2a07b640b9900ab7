//! Validating the admin API's request bodies: every invalid field is reported at
//! once, named (`scopes[2]`), never just the first.

use crate::change::{CreditsEdit, KeyUpdate, Limits, NewExpiry, Patch, Rotate};
use crate::config::Config;
use crate::credits::{Credits, CreditsChange};
use crate::expiry::{self, ExpiresIn};
use crate::field::{unknown_fields, FieldError};
use crate::problem::{Code, Problem};
use crate::ratelimit::{self, LimitPolicy};
use crate::record::{AdmissionMode, KeyRecord};
use crate::scope;
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// Largest admin request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Most scopes one key may hold.
pub const MAX_SCOPES: usize = 64;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 100;
/// The fewest characters a key's name may have.
pub const MIN_NAME_LEN: usize = 3;
/// Longest subject.
pub const MAX_SUBJECT_LEN: usize = 128;

/// A validated request to issue (or import) a key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewKey {
    /// Name, trimmed.
    pub name: String,
    /// Normalised, de-duplicated scopes.
    pub scopes: Vec<String>,
    /// Optional subject.
    pub subject: Option<String>,
    /// Unix seconds, or `None` for never.
    pub expires_at: Option<i64>,
    /// A plan from `PLANS`.
    pub plan: Option<String>,
    /// The key's own limits.
    pub rate_limits: Option<Vec<LimitPolicy>>,
    /// Networks the key may be used from.
    pub ip_allow: Option<Vec<IpNet>>,
    /// Forwarded to the origin as `X-Keyward-Meta`.
    pub meta: Option<Map<String, Value>>,
    /// The key's own admission mode.
    pub admission: Option<AdmissionMode>,
    /// Where its Durable Object is to be created.
    pub region: Option<String>,
    /// Its credits (else its plan's, if the plan has some).
    pub credits: Option<Credits>,
}

impl NewKey {
    /// Gives a key that brings no credits its plan's, if the plan has some,
    /// counted from `now`.
    pub fn with_plan_credits(mut self, config: &Config, now: i64) -> NewKey {
        if self.credits.is_none() {
            let plan = self.plan.as_ref().and_then(|p| config.plan_settings.get(p));
            self.credits = plan
                .and_then(|p| p.credits)
                .map(|c| Credits { since: now, ..c });
        }
        self
    }

    /// The record of a new key, active from `now` (Unix seconds).
    pub fn into_record(
        self,
        id: String,
        team: String,
        hint: String,
        now: i64,
        created_by: &str,
    ) -> KeyRecord {
        KeyRecord {
            id,
            team,
            subject: self.subject,
            name: self.name,
            scopes: self.scopes,
            hint,
            created_at: now,
            created_by: created_by.to_string(),
            expires_at: self.expires_at,
            enabled: true,
            plan: self.plan,
            rate_limits: self.rate_limits,
            ip_allow: self.ip_allow,
            meta: self.meta,
            admission: self.admission,
            region: self.region,
            credits: self.credits,
            // Its object is created by its first request, near its caller.
            placed: Some(false),
            ..Default::default()
        }
    }
}

/// The fields of `POST /teams/{team}/keys`.
const CREATE_FIELDS: &[&str] = &[
    "name",
    "scopes",
    "subject",
    "expires_in",
    "expires_at",
    "plan",
    "rate_limits",
    "ip_allow",
    "meta",
    "admission",
    "region",
    "credits",
];

/// Parses a JSON object body, or explains why it is not one.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Problem> {
    if body.len() > MAX_BODY {
        return Err(Problem::new(
            Code::PayloadTooLarge,
            format!("the body is larger than {MAX_BODY} bytes"),
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Problem::validation(vec![FieldError::new(
            "body",
            "must be a JSON object",
        )])),
        Err(e) => Err(Problem::validation(vec![FieldError::new(
            "body",
            format!("is not valid JSON: {e}"),
        )])),
    }
}

/// Validates the body of `POST /teams/{team}/keys` at `now` (Unix seconds).
pub fn validate_create(body: &[u8], now: i64, config: &Config) -> Result<NewKey, Problem> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    unknown_fields(&obj, "", CREATE_FIELDS, &mut errors);
    let new = new_key_fields(&obj, now, config, &mut errors);
    finish(errors, new)
}

/// A validated `POST /teams/{team}/keys/import`: a key issued elsewhere, known by
/// its SHA-256 hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportKey {
    /// Lowercase hex SHA-256 of the key.
    pub hash: String,
    /// The key's prefix (`KEY_PREFIX` or a `LEGACY_KEY_FORMATS` prefix), for the hint.
    pub prefix: String,
    /// The key's last 4 characters, for the hint, if the issuer shares them.
    pub last4: Option<String>,
    /// Everything else, as for a new key.
    pub key: NewKey,
}

/// Validates the body of `POST /teams/{team}/keys/import` at `now`.
pub fn validate_import(body: &[u8], now: i64, config: &Config) -> Result<ImportKey, Problem> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    let mut known = CREATE_FIELDS.to_vec();
    known.extend(["hash", "prefix", "last4"]);
    unknown_fields(&obj, "", &known, &mut errors);
    let hash = match obj.get("hash").and_then(Value::as_str) {
        Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            h.to_ascii_lowercase()
        }
        _ => {
            errors.push(FieldError::new(
                "hash",
                "is required: the key's SHA-256 digest as 64 hexadecimal characters",
            ));
            String::new()
        }
    };
    let prefixes: Vec<&str> = std::iter::once(config.key_prefix.as_str())
        .chain(config.legacy_formats.iter().map(|f| f.prefix.as_str()))
        .collect();
    let prefix = match obj.get("prefix").and_then(Value::as_str) {
        Some(p) if prefixes.contains(&p) => p.to_string(),
        _ => {
            errors.push(FieldError::new(
                "prefix",
                format!(
                    "is required: one of the accepted key prefixes ({}); declare others in LEGACY_KEY_FORMATS",
                    prefixes.join(", ")
                ),
            ));
            String::new()
        }
    };
    let last4 = match obj.get("last4") {
        None | Some(Value::Null) => None,
        Some(Value::String(l)) if l.len() == 4 && l.bytes().all(|b| b.is_ascii_graphic()) => {
            Some(l.clone())
        }
        Some(_) => {
            errors.push(FieldError::new(
                "last4",
                "must be the key's last 4 characters (printable ASCII)",
            ));
            None
        }
    };
    let key = new_key_fields(&obj, now, config, &mut errors);
    finish(
        errors,
        ImportKey {
            hash,
            prefix,
            last4,
            key,
        },
    )
}

/// Validates the body of a rotation at `now`.
pub fn validate_rotate(body: &[u8], now: i64) -> Result<Rotate, Problem> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    unknown_fields(
        &obj,
        "",
        &["grace", "expires_in", "expires_at"],
        &mut errors,
    );
    let grace_s = match obj.get("grace").and_then(Value::as_str).map(parse_grace) {
        Some(Ok(g)) => g,
        Some(Err(m)) => {
            errors.push(FieldError::new("grace", m));
            0
        }
        None => {
            errors.push(FieldError::new(
                "grace",
                "is required: how long the old key keeps working (\"0s\" for a leaked key, \"1h\", \"7d\")",
            ));
            0
        }
    };
    let expiry = if obj.contains_key("expires_in") || obj.contains_key("expires_at") {
        match expires_fields(&obj, now, None, &mut errors) {
            Some(t) => NewExpiry::At(t),
            None => NewExpiry::Never,
        }
    } else {
        NewExpiry::Keep
    };
    finish(errors, Rotate { grace_s, expiry })
}

/// A grace period: `0s`, or a window such as `1h` or `7d` (at most 366 days).
pub fn parse_grace(s: &str) -> Result<u32, String> {
    let zero = s
        .strip_suffix(['s', 'm', 'h', 'd'])
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b == b'0'));
    if zero {
        return Ok(0);
    }
    ratelimit::parse_window(s).map_err(|e| e.replace("a window", "a grace"))
}

fn finish<T>(errors: Vec<FieldError>, value: T) -> Result<T, Problem> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(Problem::validation(errors))
    }
}

/// The fields shared by issue and import.
fn new_key_fields(
    obj: &Map<String, Value>,
    now: i64,
    config: &Config,
    errors: &mut Vec<FieldError>,
) -> NewKey {
    let (plan, rate_limits) = match validate_limits(obj, config, errors) {
        Some(Limits::Plan(p)) => (Some(p), None),
        Some(Limits::Own(l)) => (None, Some(l)),
        Some(Limits::Default) | None => (None, None),
    };
    let name = match obj.get("name") {
        None => {
            errors.push(FieldError::new("name", "is required"));
            String::new()
        }
        Some(v) => validate_name(v, errors),
    };
    let scopes = match obj.get("scopes") {
        None => {
            errors.push(FieldError::new(
                "scopes",
                "is required (an array of scopes)",
            ));
            vec![]
        }
        Some(v) => validate_scopes(v, errors),
    };
    let subject = match obj.get("subject") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if valid_subject(s) => Some(s.clone()),
        Some(_) => {
            errors.push(FieldError::new(
                "subject",
                format!("must be 1 to {MAX_SUBJECT_LEN} printable characters without spaces"),
            ));
            None
        }
    };
    let expires_at = expires_fields(obj, now, Some(config.default_expires_in), errors);
    let ip_allow = match obj.get("ip_allow") {
        None | Some(Value::Null) => None,
        Some(v) => Some(validate_ip_allow(v, errors)),
    };
    let meta = match obj.get("meta") {
        None | Some(Value::Null) => None,
        Some(v) => validate_meta(v, errors),
    };
    let admission = match obj.get("admission") {
        None | Some(Value::Null) => None,
        Some(v) => validate_admission(v, errors),
    };
    let region = match obj.get("region") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if crate::record::valid_region(r) => Some(r.clone()),
        Some(_) => {
            errors.push(FieldError::new("region", crate::record::REGION_CHOICES));
            None
        }
    };
    let credits = obj.get("credits").and_then(|v| {
        Credits::parse(v, "credits", now)
            .map_err(|e| errors.extend(e))
            .ok()
    });
    NewKey {
        name,
        scopes,
        subject,
        expires_at,
        plan,
        rate_limits,
        ip_allow,
        meta,
        admission,
        region,
        credits,
    }
}

fn validate_admission(v: &Value, errors: &mut Vec<FieldError>) -> Option<AdmissionMode> {
    let mode = v.as_str().and_then(AdmissionMode::parse);
    if mode.is_none() {
        errors.push(FieldError::new(
            "admission",
            "must be \"exact\" or \"leased\" (or null for the plan's or ADMISSION)",
        ));
    }
    mode
}

/// `expires_in` or `expires_at` (not both); neither gives `default` (or never).
fn expires_fields(
    obj: &Map<String, Value>,
    now: i64,
    default: Option<ExpiresIn>,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    match (obj.get("expires_in"), obj.get("expires_at")) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "expires_at",
                "give expires_in or expires_at, not both",
            ));
            None
        }
        (Some(v), None) => match v.as_str().map(ExpiresIn::parse) {
            Some(Ok(e)) => e.at(now),
            Some(Err(msg)) => {
                errors.push(FieldError::new("expires_in", msg));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "expires_in",
                    format!("must be one of {}", expiry::CHOICES.join(", ")),
                ));
                None
            }
        },
        (None, Some(v)) => match v.as_str().map(expiry::parse_rfc3339) {
            Some(Ok(t)) if t > now => Some(t),
            Some(Ok(_)) => {
                errors.push(FieldError::new("expires_at", "must be in the future"));
                None
            }
            Some(Err(msg)) => {
                errors.push(FieldError::new("expires_at", msg));
                None
            }
            None => {
                errors.push(FieldError::new(
                    "expires_at",
                    "must be an RFC 3339 timestamp string",
                ));
                None
            }
        },
        (None, None) => default.and_then(|d| d.at(now)),
    }
}

/// Most networks in one `ip_allow` list.
pub const MAX_IP_ALLOW: usize = 64;
/// Largest `meta`, as compact JSON.
pub const MAX_META_BYTES: usize = 1024;

fn validate_ip_allow(v: &Value, errors: &mut Vec<FieldError>) -> Vec<IpNet> {
    let Some(items) = v.as_array() else {
        errors.push(FieldError::new(
            "ip_allow",
            "must be an array of IPv4 or IPv6 networks (\"203.0.113.0/24\", \"2001:db8::/32\", or a single address)",
        ));
        return vec![];
    };
    if items.is_empty() || items.len() > MAX_IP_ALLOW {
        errors.push(FieldError::new(
            "ip_allow",
            format!("must list 1 to {MAX_IP_ALLOW} networks (null allows every address)"),
        ));
        return vec![];
    }
    let mut nets = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("ip_allow[{i}]");
        let Some(text) = item.as_str() else {
            errors.push(FieldError::new(field, "must be a network string"));
            continue;
        };
        let net = text
            .parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from));
        match net {
            Ok(n) if n.trunc() == n => nets.push(n),
            Ok(n) => errors.push(FieldError::new(
                field,
                format!("{text:?} has host bits set; did you mean {}?", n.trunc()),
            )),
            Err(_) => errors.push(FieldError::new(
                field,
                format!("{text:?} is not an IPv4 or IPv6 network (\"203.0.113.0/24\", \"2001:db8::/32\")"),
            )),
        }
    }
    nets
}

fn validate_meta(v: &Value, errors: &mut Vec<FieldError>) -> Option<Map<String, Value>> {
    match v {
        Value::Object(map) if v.to_string().len() <= MAX_META_BYTES => Some(map.clone()),
        Value::Object(_) => {
            errors.push(FieldError::new(
                "meta",
                format!("is larger than {MAX_META_BYTES} bytes as JSON"),
            ));
            None
        }
        _ => {
            errors.push(FieldError::new("meta", "must be a JSON object (or null)"));
            None
        }
    }
}

/// The fields a `PATCH` may change.
pub const UPDATE_FIELDS: &[&str] = &[
    "name",
    "scopes",
    "enabled",
    "plan",
    "rate_limits",
    "ip_allow",
    "meta",
    "admission",
    "credits",
];

/// Validates the body of `PATCH /teams/{team}/keys/{id}`.
pub fn validate_update(body: &[u8], config: &Config) -> Result<KeyUpdate, Problem> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    unknown_fields(&obj, "", UPDATE_FIELDS, &mut errors);
    let mut update = KeyUpdate {
        name: obj.get("name").map(|v| validate_name(v, &mut errors)),
        scopes: obj.get("scopes").map(|v| validate_scopes(v, &mut errors)),
        limits: validate_limits(&obj, config, &mut errors),
        ip_allow: obj.get("ip_allow").map(|v| match v {
            Value::Null => Patch::Clear,
            v => Patch::Set(validate_ip_allow(v, &mut errors)),
        }),
        meta: obj.get("meta").map(|v| match v {
            Value::Null => Patch::Clear,
            v => validate_meta(v, &mut errors).map_or(Patch::Clear, Patch::Set),
        }),
        admission: obj.get("admission").map(|v| match v {
            Value::Null => Patch::Clear,
            v => validate_admission(v, &mut errors).map_or(Patch::Clear, Patch::Set),
        }),
        credits: obj.get("credits").and_then(|v| {
            CreditsChange::parse(v, "credits")
                .map_err(|e| errors.extend(e))
                .ok()
                .map(CreditsEdit::Asked)
        }),
        ..Default::default()
    };
    match obj.get("enabled") {
        None => {}
        Some(Value::Bool(b)) => update.enabled = Some(*b),
        Some(_) => errors.push(FieldError::new("enabled", "must be true or false")),
    }
    if errors.is_empty() && update == KeyUpdate::default() {
        errors.push(FieldError::new(
            "body",
            format!("names no field to change ({})", UPDATE_FIELDS.join(", ")),
        ));
    }
    finish(errors, update)
}

/// `plan` (a name in `PLANS`) or `rate_limits` (a list of policies), not both;
/// `null` for either returns the key to `RATE_LIMITS`. `None` when both are absent.
fn validate_limits(
    obj: &Map<String, Value>,
    config: &Config,
    errors: &mut Vec<FieldError>,
) -> Option<Limits> {
    match (obj.get("plan"), obj.get("rate_limits")) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "rate_limits",
                "give plan or rate_limits, not both",
            ));
            None
        }
        (Some(Value::Null), None) | (None, Some(Value::Null)) => Some(Limits::Default),
        (Some(v), None) => match v.as_str() {
            Some(p) if config.plans.contains_key(p) => Some(Limits::Plan(p.to_string())),
            _ => {
                let known: Vec<&str> = config.plans.keys().map(String::as_str).collect();
                errors.push(FieldError::new(
                    "plan",
                    if known.is_empty() {
                        "no plans are configured (PLANS)".to_string()
                    } else {
                        format!("must be one of: {}", known.join(", "))
                    },
                ));
                None
            }
        },
        (None, Some(v)) => match ratelimit::parse_policies(v, "rate_limits") {
            Ok(list) => Some(Limits::Own(list)),
            Err(e) => {
                errors.extend(e.into_iter().map(|(f, m)| FieldError::new(f, m)));
                None
            }
        },
        (None, None) => None,
    }
}

fn validate_name(v: &Value, errors: &mut Vec<FieldError>) -> String {
    let msg = format!("must be a string of {MIN_NAME_LEN} to {MAX_NAME_LEN} characters");
    match v.as_str().map(str::trim) {
        Some(n)
            if (MIN_NAME_LEN..=MAX_NAME_LEN).contains(&n.chars().count())
                && !n.chars().any(char::is_control) =>
        {
            n.to_string()
        }
        _ => {
            errors.push(FieldError::new("name", msg));
            String::new()
        }
    }
}

fn validate_scopes(v: &Value, errors: &mut Vec<FieldError>) -> Vec<String> {
    let Some(items) = v.as_array() else {
        errors.push(FieldError::new("scopes", "must be an array of scopes"));
        return vec![];
    };
    if items.len() > MAX_SCOPES {
        errors.push(FieldError::new(
            "scopes",
            format!("at most {MAX_SCOPES} scopes"),
        ));
        return vec![];
    }
    let mut scopes: Vec<String> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match item.as_str().map(scope::parse_grant) {
            Some(Ok(s)) => {
                if !scopes.contains(&s) {
                    scopes.push(s);
                }
            }
            Some(Err(e)) => errors.push(FieldError::new(format!("scopes[{i}]"), e.to_string())),
            None => errors.push(FieldError::new(
                format!("scopes[{i}]"),
                "must be a scope string",
            )),
        }
    }
    scopes
}

fn valid_subject(s: &str) -> bool {
    (1..=MAX_SUBJECT_LEN).contains(&s.chars().count())
        && s.chars().all(|c| !c.is_control() && !c.is_whitespace())
        && s.is_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::key_view;
    use serde_json::json;

    const NOW: i64 = 1_800_000_000;

    fn config() -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "PLANS" => Some(json!({"free": [{"name": "daily", "limit": 10, "window": "1d"}]})),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn a_new_keys_object_waits_for_its_first_request() {
        let new = NewKey {
            region: Some("apac".into()),
            ..Default::default()
        };
        let r = new.into_record("key_a".into(), "acme".into(), "h".into(), NOW, "admin");
        assert_eq!((r.placed, r.region.as_deref()), (Some(false), Some("apac")));
        let view = key_view(&r, NOW * 1000, None, None);
        assert_eq!(view["region"], "apac");
    }

    #[track_caller]
    fn check_create(body: &str, expected: Result<NewKey, &[&str]>) {
        let got = validate_create(body.as_bytes(), NOW, &config());
        match (got, expected) {
            (Ok(g), Ok(e)) => assert_eq!(g, e, "{body}"),
            (Err(p), Err(fields)) => {
                let errors = p.extensions.get("errors").cloned().unwrap_or_default();
                let got: Vec<&str> = errors
                    .as_array()
                    .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
                    .unwrap_or_default();
                assert_eq!(got, fields, "{body}: {}", p.detail);
            }
            (g, e) => panic!("{body}: got {g:?}, expected {e:?}"),
        }
    }

    fn new_key(
        name: &str,
        scopes: &[&str],
        subject: Option<&str>,
        expires_at: Option<i64>,
    ) -> NewKey {
        NewKey {
            name: name.into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            subject: subject.map(Into::into),
            expires_at,
            ..Default::default()
        }
    }

    #[test]
    fn create_validation() {
        let d90 = Some(NOW + 90 * 86_400);
        check_create(r#"{"name":"ci","scopes":[]}"#, Err(&["name"]));
        check_create(
            r#"{"name":"abc","scopes":[],"admission":"leased"}"#,
            Ok(NewKey {
                admission: Some(AdmissionMode::Leased),
                ..new_key("abc", &[], None, d90)
            }),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"admission":"later"}"#,
            Err(&["admission"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"region":"weur"}"#,
            Ok(NewKey {
                region: Some("weur".into()),
                ..new_key("abc", &[], None, d90)
            }),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"region":"mars"}"#,
            Err(&["region"]),
        );
        check_create(
            r#"{"name":"CI bot","scopes":["documents:read","documents.read"]}"#,
            Ok(new_key("CI bot", &["documents.read"], None, d90)),
        );
        check_create(
            r#"{"name":"  pad  ","scopes":["*"],"subject":"user_1","expires_in":"never"}"#,
            Ok(new_key("pad", &["*"], Some("user_1"), None)),
        );
        check_create(
            r#"{"name":"Zoë's key","scopes":[],"expires_in":"30d"}"#,
            Ok(new_key("Zoë's key", &[], None, Some(NOW + 30 * 86_400))),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"expires_at":"2030-01-01T00:00:00Z"}"#,
            Ok(new_key("abc", &[], None, Some(1_893_456_000))),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"expires_at":"2020-01-01T00:00:00Z"}"#,
            Err(&["expires_at"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"expires_at":"soon"}"#,
            Err(&["expires_at"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"expires_in":"7d"}"#,
            Err(&["expires_in"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"expires_in":30}"#,
            Err(&["expires_in"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"expires_in":"30d","expires_at":"2030-01-01T00:00:00Z"}"#,
            Err(&["expires_at"]),
        );
        check_create(r#"{"scopes":[]}"#, Err(&["name"]));
        check_create(r#"{"name":"abc"}"#, Err(&["scopes"]));
        check_create(r#"{"name":7,"scopes":"x"}"#, Err(&["name", "scopes"]));
        check_create(
            r#"{"name":"abc","scopes":["ok","Bad","x;y",3]}"#,
            Err(&["scopes[1]", "scopes[2]", "scopes[3]"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"subject":"has space"}"#,
            Err(&["subject"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"admin":true}"#,
            Err(&["admin"]),
        );
        check_create(r#"{"name":"a\u0000bc","scopes":[]}"#, Err(&["name"]));
        check_create(
            &format!(r#"{{"name":"{}","scopes":[]}}"#, "x".repeat(101)),
            Err(&["name"]),
        );
        let with_plan = NewKey {
            plan: Some("free".into()),
            ..new_key("abc", &[], None, d90)
        };
        check_create(r#"{"name":"abc","scopes":[],"plan":"free"}"#, Ok(with_plan));
        let own = NewKey {
            rate_limits: Some(vec![LimitPolicy {
                name: "x".into(),
                limit: 5,
                window_s: 10,
            }]),
            ..new_key("abc", &[], None, d90)
        };
        check_create(
            r#"{"name":"abc","scopes":[],"rate_limits":[{"name":"x","limit":5,"window":"10s"}]}"#,
            Ok(own),
        );
        let unlimited = NewKey {
            rate_limits: Some(vec![]),
            ..new_key("abc", &[], None, d90)
        };
        check_create(
            r#"{"name":"abc","scopes":[],"rate_limits":[]}"#,
            Ok(unlimited),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"plan":"gold"}"#,
            Err(&["plan"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"plan":"free","rate_limits":[]}"#,
            Err(&["rate_limits"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"rate_limits":[{"name":"x","limit":0,"window":"10s"}]}"#,
            Err(&["rate_limits[0].limit"]),
        );
        let guarded = NewKey {
            ip_allow: Some(vec![
                "203.0.113.0/24".parse().unwrap(),
                "2001:db8::1/128".parse().unwrap(),
            ]),
            meta: json!({"tier": "gold"}).as_object().cloned(),
            ..new_key("abc", &[], None, d90)
        };
        check_create(
            r#"{"name":"abc","scopes":[],"ip_allow":["203.0.113.0/24","2001:db8::1"],"meta":{"tier":"gold"}}"#,
            Ok(guarded),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"ip_allow":null,"meta":null}"#,
            Ok(new_key("abc", &[], None, d90)),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"ip_allow":["203.0.113.7/24","nope",7]}"#,
            Err(&["ip_allow[0]", "ip_allow[1]", "ip_allow[2]"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"ip_allow":[]}"#,
            Err(&["ip_allow"]),
        );
        check_create(
            r#"{"name":"abc","scopes":[],"ip_allow":"10.0.0.0/8"}"#,
            Err(&["ip_allow"]),
        );
        check_create(r#"{"name":"abc","scopes":[],"meta":[1]}"#, Err(&["meta"]));
        check_create(
            &format!(
                r#"{{"name":"abc","scopes":[],"meta":{{"x":"{}"}}}}"#,
                "y".repeat(1100)
            ),
            Err(&["meta"]),
        );
        check_create("[]", Err(&["body"]));
        check_create("{nope", Err(&["body"]));
        check_create("", Err(&["body"]));
    }

    #[test]
    fn too_large() {
        let body = format!(r#"{{"name":"{}","scopes":[]}}"#, "x".repeat(MAX_BODY));
        let p = validate_create(body.as_bytes(), NOW, &config()).unwrap_err();
        assert_eq!(p.code, Code::PayloadTooLarge);
    }

    #[track_caller]
    fn check_update(body: &str, expected: Result<KeyUpdate, Code>) {
        assert_eq!(
            validate_update(body.as_bytes(), &config()).map_err(|p| p.code),
            expected,
            "{body}"
        );
    }

    #[test]
    fn update_validation() {
        check_update(
            r#"{"enabled":false}"#,
            Ok(KeyUpdate {
                enabled: Some(false),
                ..Default::default()
            }),
        );
        check_update(
            r#"{"name":"renamed","scopes":["a:b"]}"#,
            Ok(KeyUpdate {
                name: Some("renamed".into()),
                scopes: Some(vec!["a.b".into()]),
                ..Default::default()
            }),
        );
        let update = |f: fn(&mut KeyUpdate)| {
            let mut u = KeyUpdate::default();
            f(&mut u);
            Ok(u)
        };
        check_update(
            r#"{"plan":"free"}"#,
            update(|u| u.limits = Some(Limits::Plan("free".into()))),
        );
        check_update(
            r#"{"plan":null}"#,
            update(|u| u.limits = Some(Limits::Default)),
        );
        check_update(
            r#"{"rate_limits":[]}"#,
            update(|u| u.limits = Some(Limits::Own(vec![]))),
        );
        check_update(
            r#"{"ip_allow":null}"#,
            update(|u| u.ip_allow = Some(Patch::Clear)),
        );
        check_update(
            r#"{"ip_allow":["10.0.0.0/8"]}"#,
            update(|u| u.ip_allow = Some(Patch::Set(vec!["10.0.0.0/8".parse().unwrap()]))),
        );
        check_update(r#"{"meta":null}"#, update(|u| u.meta = Some(Patch::Clear)));
        check_update(
            r#"{"admission":"leased"}"#,
            update(|u| u.admission = Some(Patch::Set(AdmissionMode::Leased))),
        );
        check_update(
            r#"{"admission":null}"#,
            update(|u| u.admission = Some(Patch::Clear)),
        );
        check_update(r#"{"admission":"fast"}"#, Err(Code::ValidationFailed));
        check_update(r#"{"plan":"gold"}"#, Err(Code::ValidationFailed));
        check_update(r#"{"ip_allow":["x"]}"#, Err(Code::ValidationFailed));
        check_update(r#"{"meta":"x"}"#, Err(Code::ValidationFailed));
        check_update(r#"{"enabled":"no"}"#, Err(Code::ValidationFailed));
        check_update(r#"{}"#, Err(Code::ValidationFailed));
        check_update(r#"{"team":"other"}"#, Err(Code::ValidationFailed));
    }

    #[test]
    fn update_applies_each_field() {
        let mut r = KeyRecord {
            plan: Some("free".into()),
            meta: json!({"a": 1}).as_object().cloned(),
            ..Default::default()
        };
        let u = validate_update(
            br#"{"rate_limits":[],"ip_allow":["10.0.0.0/8"],"meta":null,"enabled":true}"#,
            &config(),
        )
        .unwrap();
        u.apply(&mut r);
        assert_eq!(
            (r.plan.clone(), r.rate_limits.clone()),
            (None, Some(vec![]))
        );
        assert_eq!(r.ip_allow.as_ref().map(Vec::len), Some(1));
        assert_eq!(r.meta, None);
        assert!(r.enabled);
        assert_eq!(u.fields(), ["enabled", "limits", "ip_allow", "meta"]);
        // The update survives its trip to the team directory.
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(serde_json::from_str::<KeyUpdate>(&json).unwrap(), u);
    }

    fn legacy_config() -> Config {
        Config::from_vars(|name| match name {
            "POLICY" => Some(json!({})),
            "ORIGIN_URL" => Some(json!("http://127.0.0.1:1")),
            "LEGACY_KEY_FORMATS" => Some(json!([{"prefix": "api_", "length": 20}])),
            _ => None,
        })
        .unwrap()
    }

    #[track_caller]
    fn check_import(body: &str, expected: Result<(&str, &str, Option<&str>), &[&str]>) {
        let got = validate_import(body.as_bytes(), NOW, &legacy_config());
        match (got, expected) {
            (Ok(i), Ok((hash, prefix, last4))) => {
                assert_eq!(
                    (i.hash.as_str(), i.prefix.as_str(), i.last4.as_deref()),
                    (hash, prefix, last4)
                )
            }
            (Err(p), Err(fields)) => {
                let errors = p.extensions["errors"].as_array().unwrap().clone();
                let got: Vec<&str> = errors.iter().filter_map(|e| e["field"].as_str()).collect();
                assert_eq!(got, fields, "{body}");
            }
            (g, e) => panic!("{body}: got {g:?}, expected {e:?}"),
        }
    }

    #[test]
    fn import_validation() {
        let h = "ab".repeat(32);
        let upper = "AB".repeat(32);
        check_import(
            &format!(r#"{{"hash":"{h}","prefix":"api_","last4":"x9Zq","name":"old","scopes":[]}}"#),
            Ok((&h, "api_", Some("x9Zq"))),
        );
        check_import(
            &format!(r#"{{"hash":"{upper}","prefix":"kw_","name":"old","scopes":[]}}"#),
            Ok((&h, "kw_", None)),
        );
        check_import(
            r#"{"hash":"abc","prefix":"isk_","last4":"toolong","name":"old","scopes":[]}"#,
            Err(&["hash", "prefix", "last4"]),
        );
        check_import(
            &format!(r#"{{"hash":"{h}","prefix":"api_","name":"old","scopes":[],"key":"api_x"}}"#),
            Err(&["key"]),
        );
    }

    #[track_caller]
    fn check_rotate(body: &str, expected: Result<Rotate, Code>) {
        assert_eq!(
            validate_rotate(body.as_bytes(), NOW).map_err(|p| p.code),
            expected,
            "{body}"
        );
    }

    #[test]
    fn rotate_validation() {
        let grace = |grace_s, expiry| Ok(Rotate { grace_s, expiry });
        check_rotate(r#"{"grace":"0s"}"#, grace(0, NewExpiry::Keep));
        check_rotate(r#"{"grace":"0h"}"#, grace(0, NewExpiry::Keep));
        check_rotate(r#"{"grace":"1h"}"#, grace(3_600, NewExpiry::Keep));
        check_rotate(
            r#"{"grace":"7d","expires_in":"never"}"#,
            grace(7 * 86_400, NewExpiry::Never),
        );
        check_rotate(
            r#"{"grace":"90s","expires_in":"30d"}"#,
            grace(90, NewExpiry::At(NOW + 30 * 86_400)),
        );
        check_rotate(r#"{}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":"forever"}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":"400d"}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":3600}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":"é"}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":"0é"}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":"s"}"#, Err(Code::ValidationFailed));
        check_rotate(r#"{"grace":"1h","scopes":[]}"#, Err(Code::ValidationFailed));
    }
}
