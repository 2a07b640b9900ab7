//! Cross-origin requests from browsers (`CORS`): which origins may call the API, and
//! the `Access-Control-*` fields of preflights and responses, as plain data.
//!
//! With `CORS` set, keyward answers a preflight (`OPTIONS` with `Origin` and
//! `Access-Control-Request-Method`) itself, without a key and without calling the
//! origin: an allowed origin gets `204` with the `Access-Control-Allow-*` fields; any
//! other gets `403 ORIGIN_NOT_ALLOWED` without them, so the browser refuses. Every
//! response to an allowed origin (keyward's own problems and the origin's answers
//! alike) carries `Access-Control-Allow-Origin` and `Access-Control-Expose-Headers`,
//! and `Vary: Origin` wherever the answer depends on the origin. Without `CORS`,
//! nothing changes: a preflight is a request like any other.

use crate::field::FieldError;
use serde_json::{Map, Value};

/// The settings of `CORS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cors {
    /// Exact origins (`scheme://host[:port]`, lowercase), or `None` for any (`"*"`).
    origins: Option<Vec<String>>,
    /// `Access-Control-Allow-Methods`, or `None` for the policy's: the requested
    /// method, where the policy has a route for it on the path.
    methods: Option<String>,
    /// `Access-Control-Allow-Headers`.
    headers: String,
    /// `Access-Control-Expose-Headers`.
    expose: String,
    /// `Access-Control-Max-Age`, seconds.
    max_age: u32,
    /// `Access-Control-Allow-Credentials: true`.
    credentials: bool,
}

/// The request-id header that keyward's own problems carry.
pub const REQUEST_ID_HEADER: &str = "x-keyward-request-id";

/// Longest `max_age` accepted (a day; browsers cap it lower anyway).
pub const MAX_AGE_LIMIT: u32 = 86_400;

/// A header field keyward adds to a response.
pub type Field = (&'static str, String);

/// What keyward answers a preflight with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preflight {
    /// `204` with these fields.
    Allowed(Vec<Field>),
    /// The origin may not call the API: `403 ORIGIN_NOT_ALLOWED` with these fields
    /// (`Vary` only).
    Refused(Vec<Field>),
}

impl Cors {
    /// Parses `CORS` (already decoded from a JSON string if it was one).
    pub fn parse(value: &Value) -> Result<Cors, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(obj) = value.as_object() else {
            return Err(vec![FieldError::new("CORS", "must be a JSON object")]);
        };
        crate::field::unknown_fields(
            obj,
            "CORS",
            &[
                "origins",
                "methods",
                "headers",
                "expose",
                "max_age",
                "credentials",
            ],
            &mut errors,
        );
        let e = &mut errors;
        let origins = origins(obj, e);
        let methods = methods(obj, e);
        let headers = names(obj, "headers", DEFAULT_HEADERS, e).join(", ");
        let expose = names(obj, "expose", DEFAULT_EXPOSE, e).join(", ");
        let max_age = max_age(obj, e);
        let credentials = credentials(obj, e);
        if credentials && origins.is_none() {
            errors.push(FieldError::new(
                "CORS.credentials",
                "cannot be true with \"origins\": \"*\" (the Fetch standard forbids it): list the origins",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Cors {
            origins,
            methods,
            headers,
            expose,
            max_age,
            credentials,
        })
    }

    /// Whether a request is a preflight: `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`.
    pub fn is_preflight(method: &str, origin: Option<&str>, request_method: Option<&str>) -> bool {
        method.eq_ignore_ascii_case("OPTIONS") && origin.is_some() && request_method.is_some()
    }

    /// Whether `origin` (the request's `Origin`) may call the API.
    fn allows(&self, origin: &str) -> bool {
        match &self.origins {
            None => true,
            Some(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// `Access-Control-Allow-Origin` for an allowed `origin`.
    fn allow_origin(&self, origin: &str) -> String {
        match (&self.origins, self.credentials) {
            (None, false) => "*".to_string(),
            _ => origin.to_string(),
        }
    }

    /// Whether the answer depends on the request's `Origin` (then `Vary: Origin`).
    fn varies(&self) -> bool {
        self.origins.is_some() || self.credentials
    }

    /// The answer to a preflight from `origin` asking for `request_method`, which
    /// the policy has a route for on the path (`routed`) or not.
    pub fn preflight(&self, origin: &str, request_method: &str, routed: bool) -> Preflight {
        let vary = || ("vary", "Origin".to_string());
        if !self.allows(origin) {
            return Preflight::Refused(vec![vary()]);
        }
        let mut fields = vec![("access-control-allow-origin", self.allow_origin(origin))];
        let methods = match &self.methods {
            Some(list) => Some(list.clone()),
            None => routed.then(|| request_method.trim().to_ascii_uppercase()),
        };
        if let Some(methods) = methods {
            fields.push(("access-control-allow-methods", methods));
        }
        fields.push(("access-control-allow-headers", self.headers.clone()));
        fields.push(("access-control-max-age", self.max_age.to_string()));
        if self.credentials {
            fields.push(("access-control-allow-credentials", "true".into()));
        }
        if self.varies() {
            fields.push(vary());
        }
        Preflight::Allowed(fields)
    }

    /// The fields of any other response to a request from `origin` (none without
    /// an `Origin`, or for an origin that is not allowed, but `Vary`).
    pub fn response_fields(&self, origin: Option<&str>) -> Vec<Field> {
        let mut fields = Vec::with_capacity(4);
        if let Some(origin) = origin.filter(|o| self.allows(o)) {
            fields.push(("access-control-allow-origin", self.allow_origin(origin)));
            fields.push(("access-control-expose-headers", self.expose.clone()));
            if self.credentials {
                fields.push(("access-control-allow-credentials", "true".into()));
            }
        }
        if self.varies() {
            fields.push(("vary", "Origin".into()));
        }
        fields
    }
}

/// `Access-Control-Allow-Headers` when `CORS.headers` is unset.
const DEFAULT_HEADERS: &[&str] = &["authorization", "content-type"];

/// `Access-Control-Expose-Headers` when `CORS.expose` is unset: the fields of
/// keyward's own that a page may want to read.
const DEFAULT_EXPOSE: &[&str] = &[
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
    "X-Keyward-Credits-Remaining",
    "X-Keyward-Request-Id",
];

/// `CORS.origins`, required: the exact origins that may call the API, or `None`
/// for any (`"*"`).
fn origins(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    match obj.get("origins") {
        Some(Value::String(s)) if s == "*" => None,
        Some(Value::Array(items)) if items.len() == 1 && items[0] == "*" => None,
        Some(Value::Array(items)) if !items.is_empty() => {
            let mut list = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item.as_str().map(origin_of) {
                    Some(Ok(o)) => list.push(o),
                    Some(Err(m)) => errors.push(FieldError::new(format!("CORS.origins[{i}]"), m)),
                    None => errors.push(FieldError::new(
                        format!("CORS.origins[{i}]"),
                        "must be an origin string (\"https://app.example.com\")",
                    )),
                }
            }
            Some(list)
        }
        _ => {
            errors.push(FieldError::new(
                "CORS.origins",
                "is required: a list of origins (\"https://app.example.com\"), or \"*\" for any",
            ));
            Some(vec![])
        }
    }
}

/// `CORS.methods`, upper-case and with `HEAD` wherever `GET` is; `None` when
/// unset, for the policy's.
fn methods(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    obj.get("methods")?;
    let mut m: Vec<String> = names(obj, "methods", &[], errors)
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    // A browser sends HEAD like GET; OPTIONS is the preflight itself.
    if m.iter().any(|m| m == "GET") && !m.iter().any(|m| m == "HEAD") {
        m.push("HEAD".into());
    }
    Some(m.join(", "))
}

/// A list of header or method names at `CORS.<field>`, or `default` when unset.
fn names(
    obj: &Map<String, Value>,
    field: &str,
    default: &[&str],
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    match obj.get(field) {
        None => default.iter().map(|s| s.to_string()).collect(),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item.as_str().filter(|s| is_token(s)) {
                    Some(s) => out.push(s.to_string()),
                    None => errors.push(FieldError::new(
                        format!("CORS.{field}[{i}]"),
                        "must be a header or method name (letters, digits and !#$%&'*+-.^_`|~)",
                    )),
                }
            }
            out
        }
        Some(_) => {
            errors.push(FieldError::new(
                format!("CORS.{field}"),
                "must be a list of names",
            ));
            vec![]
        }
    }
}

/// `CORS.max_age`: seconds from 0 to [`MAX_AGE_LIMIT`] (600 when unset).
fn max_age(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> u32 {
    match obj.get("max_age") {
        None => 600,
        Some(v) => match v.as_u64() {
            Some(n) if n <= u64::from(MAX_AGE_LIMIT) => n as u32,
            _ => {
                errors.push(FieldError::new(
                    "CORS.max_age",
                    format!("must be a whole number of seconds from 0 to {MAX_AGE_LIMIT}"),
                ));
                0
            }
        },
    }
}

/// `CORS.credentials`: whether to send `Access-Control-Allow-Credentials: true`
/// (`false` when unset).
fn credentials(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> bool {
    match obj.get("credentials") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new("CORS.credentials", "must be true or false"));
            false
        }
    }
}

/// A configured origin, normalised: `scheme://host[:port]`, lowercase.
fn origin_of(s: &str) -> Result<String, String> {
    let lower = s.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(|| format!("{s:?} must start with https:// or http://"))?;
    if rest.is_empty()
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'))
    {
        return Err(format!(
            "{s:?} is not an origin: scheme and host (and port), without a path (\"https://app.example.com\")"
        ));
    }
    Ok(lower)
}

/// Whether `s` is an HTTP token (a header or method name).
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cors(v: Value) -> Cors {
        Cors::parse(&v).unwrap()
    }

    #[track_caller]
    fn check_error(v: Value, field: &str) {
        let errors = Cors::parse(&v).expect_err("should be refused");
        assert!(
            errors.iter().any(|e| e.field == field),
            "{field}: {errors:?}"
        );
    }

    fn field<'a>(fields: &'a [Field], name: &str) -> Option<&'a str> {
        fields
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn preflights() {
        let c = cors(json!({"origins": ["https://App.example.com", "http://localhost:5173"]}));
        let Preflight::Allowed(f) = c.preflight("https://app.example.com", "post", true) else {
            panic!("allowed");
        };
        assert_eq!(
            field(&f, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(field(&f, "access-control-allow-methods"), Some("POST"));
        assert_eq!(
            field(&f, "access-control-allow-headers"),
            Some("authorization, content-type")
        );
        assert_eq!(field(&f, "access-control-max-age"), Some("600"));
        assert_eq!(field(&f, "access-control-allow-credentials"), None);
        assert_eq!(field(&f, "vary"), Some("Origin"));
        assert!(matches!(
            c.preflight("http://localhost:5173", "GET", true),
            Preflight::Allowed(_)
        ));
        // A method the policy has no route for on the path: no methods allowed.
        let Preflight::Allowed(f) = c.preflight("http://localhost:5173", "DELETE", false) else {
            panic!("allowed");
        };
        assert_eq!(field(&f, "access-control-allow-methods"), None);
        // Another origin, another port, another scheme, `null`: refused, with Vary.
        for other in [
            "https://evil.example",
            "http://localhost:5174",
            "http://app.example.com",
            "null",
        ] {
            assert_eq!(
                c.preflight(other, "GET", true),
                Preflight::Refused(vec![("vary", "Origin".into())]),
                "{other}"
            );
        }
        // Any origin: "*", and no Vary; a policy allowing any method echoes it.
        let any = cors(json!({"origins": "*", "max_age": 0}));
        let Preflight::Allowed(f) = any.preflight("https://x.example", "propfind", true) else {
            panic!("allowed");
        };
        assert_eq!(field(&f, "access-control-allow-origin"), Some("*"));
        assert_eq!(field(&f, "access-control-allow-methods"), Some("PROPFIND"));
        assert_eq!(field(&f, "access-control-max-age"), Some("0"));
        assert_eq!(field(&f, "vary"), None);
        // Credentials: the origin itself, never "*".
        let creds = cors(
            json!({"origins": ["https://app.example.com"], "credentials": true,
                                "methods": ["get", "delete"], "headers": ["authorization", "x-trace"]}),
        );
        let Preflight::Allowed(f) = creds.preflight("https://app.example.com", "PATCH", false)
        else {
            panic!("allowed");
        };
        assert_eq!(field(&f, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            field(&f, "access-control-allow-methods"),
            Some("GET, DELETE, HEAD")
        );
        assert_eq!(
            field(&f, "access-control-allow-headers"),
            Some("authorization, x-trace")
        );
        // HEAD comes with GET only, and once.
        for (methods, allowed) in [
            (json!(["post"]), "POST"),
            (json!(["post", "put"]), "POST, PUT"),
            (json!(["get", "head"]), "GET, HEAD"),
            (json!(["head"]), "HEAD"),
        ] {
            let c = cors(json!({"origins": ["https://app.example.com"], "methods": methods}));
            let Preflight::Allowed(f) = c.preflight("https://app.example.com", "POST", false)
            else {
                panic!("allowed");
            };
            assert_eq!(field(&f, "access-control-allow-methods"), Some(allowed));
        }
    }

    #[test]
    fn responses_to_allowed_origins_expose_the_limits() {
        let c = cors(json!({"origins": ["https://app.example.com"]}));
        let f = c.response_fields(Some("https://app.example.com"));
        assert_eq!(
            field(&f, "access-control-allow-origin"),
            Some("https://app.example.com")
        );
        assert_eq!(
            field(&f, "access-control-expose-headers"),
            Some("RateLimit, RateLimit-Policy, Retry-After, X-Keyward-Credits-Remaining, X-Keyward-Request-Id")
        );
        assert_eq!(field(&f, "vary"), Some("Origin"));
        assert_eq!(
            c.response_fields(Some("https://evil.example")),
            vec![("vary", "Origin".into())]
        );
        assert_eq!(c.response_fields(None), vec![("vary", "Origin".into())]);
        let any = cors(json!({"origins": ["*"], "expose": ["x-total"]}));
        assert_eq!(
            any.response_fields(Some("https://x.example")),
            vec![
                ("access-control-allow-origin", "*".into()),
                ("access-control-expose-headers", "x-total".into())
            ]
        );
        assert!(any.response_fields(None).is_empty());
    }

    #[test]
    fn what_a_preflight_is() {
        assert!(Cors::is_preflight(
            "OPTIONS",
            Some("https://a"),
            Some("GET")
        ));
        assert!(!Cors::is_preflight("OPTIONS", None, Some("GET")));
        assert!(!Cors::is_preflight("OPTIONS", Some("https://a"), None));
        assert!(!Cors::is_preflight("GET", Some("https://a"), Some("GET")));
    }

    #[test]
    fn errors_name_the_field() {
        check_error(json!([]), "CORS");
        check_error(json!({}), "CORS.origins");
        check_error(json!({"origins": []}), "CORS.origins");
        check_error(
            json!({"origins": "https://app.example.com"}),
            "CORS.origins",
        );
        check_error(json!({"origins": ["app.example.com"]}), "CORS.origins[0]");
        check_error(
            json!({"origins": ["https://a.example/path"]}),
            "CORS.origins[0]",
        );
        check_error(json!({"origins": [7]}), "CORS.origins[0]");
        check_error(
            json!({"origins": "*", "credentials": true}),
            "CORS.credentials",
        );
        check_error(
            json!({"origins": "*", "credentials": "yes"}),
            "CORS.credentials",
        );
        check_error(json!({"origins": "*", "max_age": -1}), "CORS.max_age");
        check_error(json!({"origins": "*", "max_age": 86_401}), "CORS.max_age");
        check_error(
            json!({"origins": "*", "headers": ["bad header"]}),
            "CORS.headers[0]",
        );
        check_error(json!({"origins": "*", "methods": "GET"}), "CORS.methods");
        check_error(json!({"origins": "*", "origin": "*"}), "CORS.origin");
    }
}
