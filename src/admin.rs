//! The admin API's pure half: routes, input validation and the JSON views of a key.
//!
//! Every handler follows the same order: authorize (the shell, before anything
//! is parsed), route, validate the whole body (reporting every invalid field at
//! once), then act.

use crate::config::Config;
use crate::expiry::{self, ExpiresIn};
use crate::problem::{Code, FieldError, Problem};
use crate::ratelimit::{self, LimitPolicy};
use crate::record::KeyRecord;
use crate::scope;
use serde_json::{json, Map, Value};

/// Path prefix of the admin API.
pub const PREFIX: &str = "/_keyward/v1";
/// Largest admin request body accepted.
pub const MAX_BODY: usize = 64 * 1024;
/// Most scopes one key may hold.
pub const MAX_SCOPES: usize = 64;
/// Longest key name.
pub const MAX_NAME_LEN: usize = 100;
/// Longest subject.
pub const MAX_SUBJECT_LEN: usize = 128;

/// An admin API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `POST /teams/{team}/keys`
    CreateKey {
        /// Team id.
        team: String,
    },
    /// `GET /teams/{team}/keys/{id}`
    GetKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
    /// `PATCH /teams/{team}/keys/{id}`
    UpdateKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
    /// `DELETE /teams/{team}/keys/{id}`: revoke.
    RevokeKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
}

/// Whether `team` is a valid team id: `[a-z0-9_-]{1,64}`.
pub fn valid_team(team: &str) -> bool {
    (1..=64).contains(&team.len())
        && team
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// Whether `name` is a valid plan name: `[a-z0-9_-]{1,32}`.
pub fn valid_plan_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// Whether `id` looks like a key id (`key_` and base62).
pub fn valid_key_id(id: &str) -> bool {
    id.strip_prefix("key_").is_some_and(|r| {
        (1..=64).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// Routes an admin request by method and path (the path after the host, as received).
pub fn route(method: &str, path: &str) -> Result<Route, Problem> {
    let rest = path
        .strip_prefix(PREFIX)
        .ok_or_else(|| not_found("no such admin endpoint"))?;
    let parts: Vec<&str> = rest.split('/').collect();
    let (team, id) = match parts.as_slice() {
        ["", "teams", team, "keys"] => (*team, None),
        ["", "teams", team, "keys", id] => (*team, Some(*id)),
        _ => return Err(not_found("no such admin endpoint")),
    };
    if !valid_team(team) {
        return Err(Problem::validation(vec![FieldError::new(
            "team",
            "a team id is 1 to 64 characters of a-z, 0-9, '_' and '-'",
        )]));
    }
    let team = team.to_string();
    match (method, id) {
        ("POST", None) => Ok(Route::CreateKey { team }),
        (_, None) => Err(method_not_allowed("POST")),
        (_, Some(id)) if !valid_key_id(id) => Err(not_found("no such key")),
        ("GET", Some(id)) => Ok(Route::GetKey {
            team,
            id: id.into(),
        }),
        ("PATCH", Some(id)) => Ok(Route::UpdateKey {
            team,
            id: id.into(),
        }),
        ("DELETE", Some(id)) => Ok(Route::RevokeKey {
            team,
            id: id.into(),
        }),
        (_, Some(_)) => Err(method_not_allowed("GET, PATCH, DELETE")),
    }
}

/// A 404 with a detail.
pub fn not_found(detail: &str) -> Problem {
    Problem::new(Code::NotFound, detail)
}

fn method_not_allowed(allow: &str) -> Problem {
    Problem::new(Code::MethodNotAllowed, format!("allowed methods: {allow}"))
        .with("allow", json!(allow))
}

/// A validated request to issue a key.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

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
    unknown_fields(
        &obj,
        &[
            "name",
            "scopes",
            "subject",
            "expires_in",
            "expires_at",
            "plan",
            "rate_limits",
        ],
        &mut errors,
    );
    let (plan, rate_limits) = validate_limits(&obj, config, &mut errors);
    let name = match obj.get("name") {
        None => {
            errors.push(FieldError::new("name", "is required"));
            String::new()
        }
        Some(v) => validate_name(v, &mut errors),
    };
    let scopes = match obj.get("scopes") {
        None => {
            errors.push(FieldError::new(
                "scopes",
                "is required (an array of scopes)",
            ));
            vec![]
        }
        Some(v) => validate_scopes(v, &mut errors),
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
    let expires_at = match (obj.get("expires_in"), obj.get("expires_at")) {
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
        (None, None) => config.default_expires_in.at(now),
    };
    if errors.is_empty() {
        Ok(NewKey {
            name,
            scopes,
            subject,
            expires_at,
            plan,
            rate_limits,
        })
    } else {
        Err(Problem::validation(errors))
    }
}

/// A validated `PATCH` body: each field is `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyUpdate {
    /// New name.
    pub name: Option<String>,
    /// New scopes.
    pub scopes: Option<Vec<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

impl KeyUpdate {
    /// Applies the update to a record.
    pub fn apply(&self, record: &mut KeyRecord) {
        if let Some(name) = &self.name {
            record.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            record.scopes = scopes.clone();
        }
        if let Some(enabled) = self.enabled {
            record.enabled = enabled;
        }
    }
}

/// Validates the body of `PATCH /teams/{team}/keys/{id}`.
pub fn validate_update(body: &[u8]) -> Result<KeyUpdate, Problem> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    unknown_fields(&obj, &["name", "scopes", "enabled"], &mut errors);
    let mut update = KeyUpdate {
        name: obj.get("name").map(|v| validate_name(v, &mut errors)),
        scopes: obj.get("scopes").map(|v| validate_scopes(v, &mut errors)),
        enabled: None,
    };
    match obj.get("enabled") {
        None => {}
        Some(Value::Bool(b)) => update.enabled = Some(*b),
        Some(_) => errors.push(FieldError::new("enabled", "must be true or false")),
    }
    if errors.is_empty() && update == KeyUpdate::default() {
        errors.push(FieldError::new(
            "body",
            "names no field to change (name, scopes, enabled)",
        ));
    }
    if errors.is_empty() {
        Ok(update)
    } else {
        Err(Problem::validation(errors))
    }
}

/// `plan` (a name in `PLANS`) or `rate_limits` (a list of policies), not both.
fn validate_limits(
    obj: &Map<String, Value>,
    config: &Config,
    errors: &mut Vec<FieldError>,
) -> (Option<String>, Option<Vec<LimitPolicy>>) {
    match (obj.get("plan"), obj.get("rate_limits")) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new(
                "rate_limits",
                "give plan or rate_limits, not both",
            ));
            (None, None)
        }
        (Some(v), None) => match v.as_str() {
            Some(p) if config.plans.contains_key(p) => (Some(p.to_string()), None),
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
                (None, None)
            }
        },
        (None, Some(v)) => match ratelimit::parse_policies(v, "rate_limits") {
            Ok(list) => (None, Some(list)),
            Err(e) => {
                errors.extend(e.into_iter().map(|(f, m)| FieldError::new(f, m)));
                (None, None)
            }
        },
        (None, None) => (None, None),
    }
}

fn unknown_fields(obj: &Map<String, Value>, known: &[&str], errors: &mut Vec<FieldError>) {
    for key in obj.keys() {
        if !known.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key.clone(),
                format!("is not a known field (expected: {})", known.join(", ")),
            ));
        }
    }
}

fn validate_name(v: &Value, errors: &mut Vec<FieldError>) -> String {
    let msg = format!("must be a string of 3 to {MAX_NAME_LEN} characters");
    match v.as_str().map(str::trim) {
        Some(n)
            if (3..=MAX_NAME_LEN).contains(&n.chars().count())
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

/// The JSON view of a key: metadata only, never the plaintext or the hash.
pub fn key_view(record: &KeyRecord, now_ms: i64) -> Value {
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
        "expires_at": record.expires_at.map(expiry::rfc3339),
        "revoked_at": record.revoked_at.map(expiry::rfc3339),
        "plan": record.plan,
        "rate_limits": record.rate_limits,
    })
}

/// The reply to a successful issue: the only time the plaintext is ever returned.
pub fn created_view(record: &KeyRecord, plaintext: &str) -> Value {
    json!({
        "id": record.id,
        "key": plaintext,
        "team": record.team,
        "name": record.name,
        "scopes": record.scopes,
        "subject": record.subject,
        "created_at": expiry::rfc3339(record.created_at),
        "expires_at": record.expires_at.map(expiry::rfc3339),
        "plan": record.plan,
        "rate_limits": record.rate_limits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_route(method: &str, path: &str, expected: Result<Route, Code>) {
        assert_eq!(
            route(method, path).map_err(|p| p.code),
            expected,
            "{method} {path}"
        );
    }

    #[test]
    fn routes() {
        let team = || "acme".to_string();
        let id = || "key_abc123".to_string();
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/keys",
            Ok(Route::CreateKey { team: team() }),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Ok(Route::GetKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "PATCH",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Ok(Route::UpdateKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "DELETE",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Ok(Route::RevokeKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "PUT",
            "/_keyward/v1/teams/acme/keys",
            Err(Code::MethodNotAllowed),
        );
        check_route(
            "PUT",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Err(Code::MethodNotAllowed),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys/nope",
            Err(Code::NotFound),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/ACME/keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/a%2fb/keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/../keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            &format!("/_keyward/v1/teams/{}/keys", "a".repeat(65)),
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams//keys",
            Err(Code::ValidationFailed),
        );
        check_route("POST", "/_keyward/v1/teams/acme/keys/", Err(Code::NotFound));
        check_route("POST", "/_keyward/v1/teams/acme", Err(Code::NotFound));
        check_route("GET", "/_keyward/v1", Err(Code::NotFound));
        check_route("GET", "/elsewhere", Err(Code::NotFound));
    }

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
            plan: None,
            rate_limits: None,
        }
    }

    #[test]
    fn create_validation() {
        let d90 = Some(NOW + 90 * 86_400);
        check_create(r#"{"name":"ci","scopes":[]}"#, Err(&["name"]));
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
            validate_update(body.as_bytes()).map_err(|p| p.code),
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
                enabled: None,
            }),
        );
        check_update(r#"{"enabled":"no"}"#, Err(Code::ValidationFailed));
        check_update(r#"{}"#, Err(Code::ValidationFailed));
        check_update(r#"{"team":"other"}"#, Err(Code::ValidationFailed));
    }

    #[test]
    fn views_never_hold_secrets() {
        let r = KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            subject: None,
            name: "ci".into(),
            scopes: vec![],
            hint: "kw_…abcd".into(),
            created_at: NOW,
            expires_at: None,
            enabled: true,
            revoked_at: None,
            plan: None,
            rate_limits: None,
        };
        let v = key_view(&r, NOW * 1000);
        assert_eq!(v["status"], "active");
        assert_eq!(v["expires_at"], Value::Null);
        assert_eq!(v["created_at"], "2027-01-15T08:00:00Z");
        assert!(v.get("key").is_none() && v.get("hash").is_none());
        assert_eq!(created_view(&r, "kw_x")["key"], "kw_x");
    }
}
