//! RFC 9457 problem details: every denial code in one enum, and the one place that maps it to HTTP.

use crate::field::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Every code keyward answers with. The string form is stable: clients may branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Code {
    /// No `Authorization: Bearer` credential.
    MissingKey,
    /// The key has the wrong prefix, length, alphabet or checksum.
    InvalidFormat,
    /// The key is well-formed but unknown.
    InvalidKey,
    /// The key was revoked.
    KeyRevoked,
    /// The key is disabled.
    KeyDisabled,
    /// The key is past its expiry.
    KeyExpired,
    /// The key lacks a scope the route requires.
    InsufficientScope,
    /// The request comes from an address outside the key's `ip_allow` list.
    IpNotAllowed,
    /// The route is denied, or matches no rule.
    RouteNotAllowed,
    /// A rate limit of the key is exhausted.
    RateLimited,
    /// The key's credits do not cover the route's cost.
    CreditsExhausted,
    /// The path uses an ambiguous encoding.
    InvalidPath,
    /// A browser's preflight from an origin that `CORS` does not list.
    OriginNotAllowed,
    /// Admin API input failed validation.
    ValidationFailed,
    /// The admin caller may not act on this team, or grant these scopes.
    Forbidden,
    /// The admin API has no such resource.
    NotFound,
    /// The admin API resource does not support the method.
    MethodNotAllowed,
    /// The request conflicts with the key's state (already imported, already revoked).
    Conflict,
    /// The team already holds `MAX_KEYS_PER_TEAM` live keys.
    TeamKeyLimit,
    /// The request body is larger than keyward accepts.
    PayloadTooLarge,
    /// The origin could not be reached.
    OriginUnavailable,
    /// A storage dependency failed; keyward fails closed.
    Unavailable,
    /// The worker's configuration is invalid.
    Misconfigured,
}

/// Everything the README and `/_keyward/problems/<slug>` say about each code.
pub struct CodeInfo {
    /// HTTP status.
    pub status: u16,
    /// Short, stable title.
    pub title: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// What to do about it.
    pub fix: &'static str,
}

/// All codes, in documentation order.
pub const ALL: &[Code] = &[
    Code::MissingKey,
    Code::InvalidFormat,
    Code::InvalidKey,
    Code::KeyRevoked,
    Code::KeyDisabled,
    Code::KeyExpired,
    Code::InsufficientScope,
    Code::IpNotAllowed,
    Code::RouteNotAllowed,
    Code::RateLimited,
    Code::CreditsExhausted,
    Code::InvalidPath,
    Code::OriginNotAllowed,
    Code::ValidationFailed,
    Code::Forbidden,
    Code::NotFound,
    Code::MethodNotAllowed,
    Code::Conflict,
    Code::TeamKeyLimit,
    Code::PayloadTooLarge,
    Code::OriginUnavailable,
    Code::Unavailable,
    Code::Misconfigured,
];

impl Code {
    /// The stable string form (`INVALID_KEY`).
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MissingKey => "MISSING_KEY",
            Code::InvalidFormat => "INVALID_FORMAT",
            Code::InvalidKey => "INVALID_KEY",
            Code::KeyRevoked => "KEY_REVOKED",
            Code::KeyDisabled => "KEY_DISABLED",
            Code::KeyExpired => "KEY_EXPIRED",
            Code::InsufficientScope => "INSUFFICIENT_SCOPE",
            Code::IpNotAllowed => "IP_NOT_ALLOWED",
            Code::RouteNotAllowed => "ROUTE_NOT_ALLOWED",
            Code::RateLimited => "RATE_LIMITED",
            Code::CreditsExhausted => "CREDITS_EXHAUSTED",
            Code::InvalidPath => "INVALID_PATH",
            Code::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            Code::ValidationFailed => "VALIDATION_FAILED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Conflict => "CONFLICT",
            Code::TeamKeyLimit => "TEAM_KEY_LIMIT",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::OriginUnavailable => "ORIGIN_UNAVAILABLE",
            Code::Unavailable => "UNAVAILABLE",
            Code::Misconfigured => "MISCONFIGURED",
        }
    }

    /// The lowercase, hyphenated form used in the problem `type` URI.
    pub fn slug(self) -> String {
        self.as_str().to_ascii_lowercase().replace('_', "-")
    }

    /// The code named `name` (`RATE_LIMITED`), if there is one.
    pub fn from_name(name: &str) -> Option<Code> {
        ALL.iter().copied().find(|c| c.as_str() == name)
    }

    /// The code of a problem type's slug (`rate-limited`), if there is one.
    pub fn from_slug(slug: &str) -> Option<Code> {
        ALL.iter().copied().find(|c| c.slug() == slug)
    }

    /// Status, title, cause and fix.
    pub fn info(self) -> CodeInfo {
        let (status, title, cause, fix) = match self {
            Code::MissingKey => (
                401,
                "API key missing",
                "The request has no Authorization header, or one with a scheme other than Bearer.",
                "Send the key as \"Authorization: Bearer <key>\". Keys in the query string are never read.",
            ),
            Code::InvalidFormat => (
                401,
                "API key malformed",
                "The presented key has the wrong prefix, length or characters, or its checksum does not match.",
                "Copy the whole key again, exactly as it was issued; it was probably truncated or mistyped.",
            ),
            Code::InvalidKey => (
                401,
                "API key not recognised",
                "The key is well-formed but no such key exists (or the admin token is wrong).",
                "Check that the key belongs to this environment, or ask your team admin for a new one.",
            ),
            Code::KeyRevoked => (
                401,
                "API key revoked",
                "The key was revoked, or replaced by rotation and its grace period is over.",
                "Use the key that replaced it, or ask your team admin for a new one.",
            ),
            Code::KeyDisabled => (
                401,
                "API key disabled",
                "The key exists but has been disabled by its team.",
                "Ask your team admin to enable it again.",
            ),
            Code::KeyExpired => (
                401,
                "API key expired",
                "The key is past its expiry time.",
                "Ask your team admin for a new key; expiry cannot be extended after the fact.",
            ),
            Code::InsufficientScope => (
                403,
                "Insufficient scope",
                "The key is valid but lacks a scope that this route requires.",
                "Use a key that holds every scope listed in required_scopes.",
            ),
            Code::IpNotAllowed => (
                403,
                "Address not allowed",
                "The key may only be used from the addresses in its ip_allow list, and this request came from elsewhere.",
                "Call from an allowed address, or ask your team admin to add yours to the key's ip_allow.",
            ),
            Code::RouteNotAllowed => (
                403,
                "Route not allowed",
                "The route is denied by the policy, or matches no rule and unmatched routes are denied.",
                "Check the method and the path; if the route should be open, add it to POLICY.",
            ),
            Code::RateLimited => (
                429,
                "Rate limit exceeded",
                "The key has used all the requests one of its rate-limit policies allows in the current window.",
                "Wait for the number of seconds in Retry-After, then retry; the RateLimit header shows what is left.",
            ),
            Code::CreditsExhausted => (
                429,
                "Credits exhausted",
                "The key's remaining credits are fewer than this route costs. Nothing was spent.",
                "Wait for the refill in Retry-After (none is sent when the key has no refill), or ask your team admin to add credits.",
            ),
            Code::InvalidPath => (
                400,
                "Ambiguous path",
                "The path has a spelling that origins read differently from keyward: an encoded slash or backslash, a ';' path parameter, a double encoding, a dot segment, escapes that are not UTF-8, an encoded control character or a segment padded with %20.",
                "Send the plain path: no %2F, %5C, ';', %25XX, dot segments, control characters or padded segments.",
            ),
            Code::OriginNotAllowed => (
                403,
                "Origin not allowed",
                "A browser asked (a CORS preflight) whether a page from this origin may call the API, and CORS does not list the origin.",
                "Call the API from a listed origin, or add the page's origin to CORS.origins.",
            ),
            Code::ValidationFailed => (
                400,
                "Validation failed",
                "The admin request body or parameters are invalid.",
                "Fix each field listed in errors and send the request again.",
            ),
            Code::Forbidden => (
                403,
                "Forbidden",
                "The caller is a key of another team, lacks keys:manage, or asked for a key more powerful than itself (scopes, subject, meta, networks or limits beyond its own).",
                "Manage your own team's keys only, within your key's own powers; the ADMIN_TOKEN may manage every team.",
            ),
            Code::NotFound => (
                404,
                "Not found",
                "The admin API has no such resource, or the path spells /_keyward in a way keyward does not serve (it is never forwarded).",
                "Check the team, the key id and the path.",
            ),
            Code::MethodNotAllowed => (
                405,
                "Method not allowed",
                "The admin API resource does not support this method.",
                "Use one of the methods listed in the Allow header.",
            ),
            Code::Conflict => (
                409,
                "Conflict",
                "The request conflicts with the current state: the key hash is already registered, or the key is already revoked.",
                "Read the key's current state, then decide whether the request is still needed.",
            ),
            Code::TeamKeyLimit => (
                409,
                "Team key limit reached",
                "The team already holds MAX_KEYS_PER_TEAM live (neither revoked nor expired) keys.",
                "Revoke keys the team no longer uses, or ask the operators to raise MAX_KEYS_PER_TEAM.",
            ),
            Code::PayloadTooLarge => (
                413,
                "Payload too large",
                "The admin request body is larger than keyward accepts.",
                "Send a smaller body.",
            ),
            Code::OriginUnavailable => (
                502,
                "Origin unavailable",
                "The request was authorized but the origin could not be reached.",
                "Retry later; if it persists, the operators should check ORIGIN_URL and the origin.",
            ),
            Code::Unavailable => (
                503,
                "Service unavailable",
                "A storage dependency failed; keyward fails closed rather than let unchecked traffic through.",
                "Retry later; operators should check the worker's logs and its KV binding.",
            ),
            Code::Misconfigured => (
                503,
                "Keyward is misconfigured",
                "A configuration var is invalid or missing; the detail names the field.",
                "Operators: fix the named var in wrangler.toml (or the --var) and redeploy.",
            ),
        };
        CodeInfo {
            status,
            title,
            cause,
            fix,
        }
    }
}

/// Reads a problem code leniently: a code this release does not know (a newer
/// release's, during a gradual deployment) reads as `None` instead of failing
/// the whole message. Each field that uses it says what `None` means there.
pub fn known_code<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Code>, D::Error> {
    let name: Option<String> = serde::Deserialize::deserialize(d)?;
    Ok(name.as_deref().and_then(Code::from_name))
}

/// A denial or failure, ready to be rendered as `application/problem+json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// The code.
    pub code: Code,
    /// A human explanation specific to this occurrence. Never holds a secret.
    pub detail: String,
    /// Extension members (`required_scopes`, `errors`, ...).
    pub extensions: Map<String, Value>,
    /// Whether the client presented a key (for `WWW-Authenticate`).
    pub key_presented: bool,
    /// Response headers beyond the standard ones (`Retry-After`, `RateLimit`, ...).
    pub headers: Vec<(&'static str, String)>,
    /// For the log alone, never a response: the dependency that failed and its
    /// error. It is logged once, where the problem leaves keyward.
    pub cause: Option<Box<(String, String)>>,
}

impl Problem {
    /// A problem with a detail and no extensions.
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        Problem {
            code,
            detail: detail.into(),
            extensions: Map::new(),
            key_presented: false,
            headers: Vec::new(),
            cause: None,
        }
    }

    /// Records what failed, for the log (see [`Problem::cause`]).
    pub fn caused_by(mut self, dependency: &str, error: impl std::fmt::Display) -> Self {
        self.cause = Some(Box::new((dependency.to_string(), error.to_string())));
        self
    }

    /// Adds an extension member.
    pub fn with(mut self, name: &str, value: Value) -> Self {
        self.extensions.insert(name.to_string(), value);
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    /// Marks that a key was presented.
    pub fn presented(mut self) -> Self {
        self.key_presented = true;
        self
    }

    /// A `VALIDATION_FAILED` problem listing every invalid field.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let n = errors.len();
        Problem::new(
            Code::ValidationFailed,
            format!(
                "{n} field{} failed validation",
                if n == 1 { "" } else { "s" }
            ),
        )
        .with(
            "errors",
            serde_json::to_value(errors).unwrap_or(Value::Null),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.code.info().status
    }

    /// The JSON body. `type_base` is the absolute URL under which keyward documents
    /// its codes (`https://host/_keyward/problems/`).
    pub fn body(&self, type_base: &str, request_id: &str) -> String {
        let info = self.code.info();
        let mut body = json!({
            "type": format!("{type_base}{}", self.code.slug()),
            "title": info.title,
            "status": info.status,
            "detail": self.detail,
            "code": self.code.as_str(),
            "request_id": request_id,
        });
        if let Value::Object(map) = &mut body {
            for (k, v) in &self.extensions {
                map.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        body.to_string()
    }

    /// The `WWW-Authenticate` value for a 401, or an `insufficient_scope` challenge
    /// (RFC 6750) for a missing scope.
    pub fn www_authenticate(&self) -> Option<String> {
        match self.code {
            Code::InsufficientScope => {
                let scopes = self
                    .extensions
                    .get("required_scopes")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(Value::as_str)
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .unwrap_or_default();
                Some(format!(
                    "Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"{scopes}\""
                ))
            }
            _ if self.status() == 401 && self.key_presented => {
                Some("Bearer realm=\"keyward\", error=\"invalid_token\"".to_string())
            }
            _ if self.status() == 401 => Some("Bearer realm=\"keyward\"".to_string()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(code: Code, status: u16, string: &str) {
        assert_eq!(code.info().status, status);
        assert_eq!(code.as_str(), string);
        assert_eq!(serde_json::to_value(code).unwrap(), json!(string));
        assert_eq!(Code::from_slug(&code.slug()), Some(code));
    }

    #[test]
    fn codes() {
        check(Code::MissingKey, 401, "MISSING_KEY");
        check(Code::InvalidFormat, 401, "INVALID_FORMAT");
        check(Code::InvalidKey, 401, "INVALID_KEY");
        check(Code::KeyRevoked, 401, "KEY_REVOKED");
        check(Code::KeyDisabled, 401, "KEY_DISABLED");
        check(Code::KeyExpired, 401, "KEY_EXPIRED");
        check(Code::InsufficientScope, 403, "INSUFFICIENT_SCOPE");
        check(Code::RouteNotAllowed, 403, "ROUTE_NOT_ALLOWED");
        check(Code::RateLimited, 429, "RATE_LIMITED");
        check(Code::CreditsExhausted, 429, "CREDITS_EXHAUSTED");
        check(Code::InvalidPath, 400, "INVALID_PATH");
        check(Code::OriginNotAllowed, 403, "ORIGIN_NOT_ALLOWED");
        check(Code::ValidationFailed, 400, "VALIDATION_FAILED");
        check(Code::IpNotAllowed, 403, "IP_NOT_ALLOWED");
        check(Code::Forbidden, 403, "FORBIDDEN");
        check(Code::NotFound, 404, "NOT_FOUND");
        check(Code::MethodNotAllowed, 405, "METHOD_NOT_ALLOWED");
        check(Code::Conflict, 409, "CONFLICT");
        check(Code::TeamKeyLimit, 409, "TEAM_KEY_LIMIT");
        check(Code::PayloadTooLarge, 413, "PAYLOAD_TOO_LARGE");
        check(Code::OriginUnavailable, 502, "ORIGIN_UNAVAILABLE");
        check(Code::Unavailable, 503, "UNAVAILABLE");
        check(Code::Misconfigured, 503, "MISCONFIGURED");
        assert_eq!(ALL.len(), 23);
        assert_eq!(Code::from_slug("nope"), None);
        assert_eq!(Code::from_name("RATE_LIMITED"), Some(Code::RateLimited));
        assert_eq!(Code::from_name("rate-limited"), None);
        for code in ALL.iter().copied() {
            assert_eq!(Code::from_name(code.as_str()), Some(code));
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), code);
        }
    }

    #[test]
    fn a_cause_is_for_the_log_alone() {
        let p = Problem::new(Code::Unavailable, "KV is unavailable; retry later")
            .caused_by("KV namespace KEYS", "quota exceeded: secret-ish detail");
        assert_eq!(
            p.cause.as_deref(),
            Some(&(
                "KV namespace KEYS".into(),
                "quota exceeded: secret-ish detail".into()
            ))
        );
        assert!(!p.body("/", "r").contains("quota exceeded"));
    }

    #[test]
    fn body_is_rfc9457() {
        let p = Problem::new(Code::InsufficientScope, "needs documents.read")
            .with("required_scopes", json!(["documents.read"]))
            .with("code", json!("SPOOFED"));
        let body: Value =
            serde_json::from_str(&p.body("https://h/_keyward/problems/", "r1")).unwrap();
        assert_eq!(
            body,
            json!({
                "type": "https://h/_keyward/problems/insufficient-scope",
                "title": "Insufficient scope",
                "status": 403,
                "detail": "needs documents.read",
                "code": "INSUFFICIENT_SCOPE",
                "request_id": "r1",
                "required_scopes": ["documents.read"],
            })
        );
    }

    #[track_caller]
    fn check_challenge(p: Problem, expected: Option<&str>) {
        assert_eq!(p.www_authenticate().as_deref(), expected);
    }

    #[test]
    fn challenges() {
        let realm = Some("Bearer realm=\"keyward\"");
        let invalid = Some("Bearer realm=\"keyward\", error=\"invalid_token\"");
        check_challenge(Problem::new(Code::MissingKey, ""), realm);
        check_challenge(Problem::new(Code::InvalidFormat, "").presented(), invalid);
        check_challenge(Problem::new(Code::KeyExpired, "").presented(), invalid);
        check_challenge(
            Problem::new(Code::InsufficientScope, "").with("required_scopes", json!(["a.b", "c"])),
            Some("Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"a.b c\""),
        );
        check_challenge(Problem::new(Code::RouteNotAllowed, ""), None);
        check_challenge(Problem::new(Code::Unavailable, ""), None);
    }

    #[test]
    fn validation_lists_fields() {
        let p = Problem::validation(vec![FieldError::new("name", "too short")]);
        assert_eq!(p.status(), 400);
        assert_eq!(p.detail, "1 field failed validation");
        assert_eq!(
            p.extensions["errors"],
            json!([{"field": "name", "message": "too short"}])
        );
    }
}
