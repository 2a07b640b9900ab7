//! The route policy (`POLICY`): which paths are public, denied, or need which scopes.
//!
//! Paths match segment by segment: `*` matches one non-empty segment, a trailing
//! `**` matches the rest (zero or more segments), anything else matches literally.
//! The first matching rule wins. A trailing slash is significant, and so is case,
//! unless `"case_insensitive": true` says that the origin routes paths the way
//! Express (by default), ASP.NET and IIS do: then paths and patterns are compared
//! folded ([`path::fold`]: lowercased, without trailing dots or a trailing slash),
//! so that a deny rule cannot be walked around by another spelling. Methods are
//! always compared without regard to case.

use crate::field::FieldError;
use crate::path;
use crate::scope;
use serde_json::{Map, Value};

/// What happens to a request that matches no route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unmatched {
    /// Refuse it with `ROUTE_NOT_ALLOWED` (the default).
    #[default]
    Deny,
    /// Let any valid key through, with no scope required.
    Authenticate,
}

/// A parsed route policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    public: Vec<Pattern>,
    unmatched: Unmatched,
    routes: Vec<Route>,
    case_insensitive: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    /// Upper-case method names; empty means any method (`"*"`).
    methods: Vec<String>,
    path: Pattern,
    rule: Rule,
    /// The credits an admitted request spends ([`crate::credits`]).
    cost: u64,
}

/// What a request spends of a key's credits where no route says otherwise.
pub const DEFAULT_COST: u64 = 1;

/// [`DEFAULT_COST`], the one default of every message's missing `cost` (a
/// writer from before costs, when every request cost this).
pub fn default_cost() -> u64 {
    DEFAULT_COST
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Deny,
    Require(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    segments: Vec<Seg>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Literal(String),
    One,
    Rest,
}

/// How the policy judges one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteDecision<'a> {
    /// A public path: no key needed.
    Public,
    /// A key is needed, holding all these (normalised) scopes; none for an empty list.
    Require(&'a [String]),
    /// No key opens this route.
    Deny,
}

impl Policy {
    /// Parses the `POLICY` value (already decoded from a JSON string if it was one).
    pub fn parse(value: &Value) -> Result<Policy, Vec<FieldError>> {
        let mut errors = Vec::new();
        let policy = parse_policy(value, &mut errors);
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(errors)
        }
    }

    /// Every scope that some route requires, sorted, once each: what a key may
    /// usefully be granted.
    pub fn scopes(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self
            .routes
            .iter()
            .filter_map(|r| match &r.rule {
                Rule::Require(scopes) => Some(scopes.iter().map(String::as_str)),
                Rule::Deny => None,
            })
            .flatten()
            .collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Whether the origin routes paths without regard to case: a path must then
    /// pass [`path::check_case`] before it is judged.
    pub fn case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Judges a request by its method and canonical path.
    pub fn judge(&self, method: &str, canonical_path: &str) -> RouteDecision<'_> {
        self.judge_priced(method, canonical_path).0
    }

    /// [`Policy::judge`], with the credits that an admitted request spends: its
    /// route's `cost` ([`DEFAULT_COST`] for unmatched requests).
    pub fn judge_priced(&self, method: &str, canonical_path: &str) -> (RouteDecision<'_>, u64) {
        let folded;
        let judged = if self.case_insensitive {
            folded = path::fold(canonical_path);
            &folded
        } else {
            canonical_path
        };
        let segs: Vec<&str> = path::segments(judged).collect();
        if self.public.iter().any(|p| p.matches(&segs)) {
            return (RouteDecision::Public, 0);
        }
        for route in &self.routes {
            // HEAD is GET without the body (RFC 9110): a GET rule covers it.
            let head = method.eq_ignore_ascii_case("HEAD");
            let method_ok = route.methods.is_empty()
                || route
                    .methods
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case(method) || (head && m == "GET"));
            if method_ok && route.path.matches(&segs) {
                let decision = match &route.rule {
                    Rule::Deny => RouteDecision::Deny,
                    Rule::Require(scopes) => RouteDecision::Require(scopes),
                };
                return (decision, route.cost);
            }
        }
        match self.unmatched {
            Unmatched::Deny => (RouteDecision::Deny, 0),
            Unmatched::Authenticate => (RouteDecision::Require(&[]), DEFAULT_COST),
        }
    }
}

impl Pattern {
    /// Parses a pattern, folded as a case-insensitive origin reads it when `fold`
    /// (a literal that such origins fold in different ways is refused).
    fn parse(s: &str, fold: bool) -> Result<Pattern, String> {
        let pattern = Pattern::parse_exact(s)?;
        if !fold {
            return Ok(pattern);
        }
        for seg in &pattern.segments {
            if let Seg::Literal(lit) = seg {
                path::check_case(&format!("/{lit}"))
                    .map_err(|_| format!("{s:?} holds a character that case-insensitive origins fold in different ways (such as {})", "\u{17f}, \u{212a}, \u{130} or \u{131}"))?;
            }
        }
        Ok(pattern.folded())
    }

    fn parse_exact(s: &str) -> Result<Pattern, String> {
        let rest = s
            .strip_prefix('/')
            .ok_or_else(|| format!("{s:?} must start with '/'"))?;
        if rest.is_empty() {
            return Ok(Pattern { segments: vec![] });
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len() - 1;
        let mut segments = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            segments.push(match *part {
                "**" if i == last => Seg::Rest,
                "**" => return Err(format!("{s:?}: '**' may only be the last segment")),
                "*" => Seg::One,
                "" if i == last => Seg::Literal(String::new()),
                "" => return Err(format!("{s:?} has an empty segment ('//')")),
                p if p.contains('*') => {
                    return Err(format!("{s:?}: '*' must be a whole segment"));
                }
                p => {
                    let canonical = path::canonicalize(&format!("/{p}"))
                        .map_err(|e| format!("{s:?}: {}", e.message()))?;
                    Seg::Literal(canonical[1..].to_string())
                }
            });
        }
        Ok(Pattern { segments })
    }

    /// The pattern as a case-insensitive origin reads it (see [`path::fold`]).
    fn folded(self) -> Pattern {
        let mut segments = Vec::with_capacity(self.segments.len());
        for seg in self.segments {
            segments.push(match seg {
                Seg::Literal(lit) => {
                    let f = path::fold(&format!("/{lit}"));
                    let f = &f[1..];
                    if f.is_empty() {
                        // A trailing slash, which the folded form drops.
                        continue;
                    }
                    Seg::Literal(f.to_string())
                }
                other => other,
            });
        }
        Pattern { segments }
    }

    fn matches(&self, segs: &[&str]) -> bool {
        let mut i = 0;
        for seg in &self.segments {
            match seg {
                Seg::Rest => return true,
                Seg::One => {
                    if segs.get(i).is_none_or(|s| s.is_empty()) {
                        return false;
                    }
                }
                Seg::Literal(lit) => {
                    if segs.get(i) != Some(&lit.as_str()) {
                        return false;
                    }
                }
            }
            i += 1;
        }
        i == segs.len()
    }
}

fn parse_policy(value: &Value, errors: &mut Vec<FieldError>) -> Policy {
    let mut policy = Policy::default();
    let Some(obj) = value.as_object() else {
        errors.push(FieldError::new("POLICY", "must be a JSON object"));
        return policy;
    };
    crate::field::unknown_fields(
        obj,
        "POLICY",
        &["public", "unmatched", "routes", "case_insensitive"],
        errors,
    );
    match obj.get("case_insensitive") {
        None => {}
        Some(Value::Bool(b)) => policy.case_insensitive = *b,
        Some(_) => errors.push(FieldError::new(
            "POLICY.case_insensitive",
            "must be true (the origin routes paths without regard to case, trailing dots or a trailing slash) or false",
        )),
    }
    if let Some(public) = obj.get("public") {
        match public.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    let field = format!("POLICY.public[{i}]");
                    match item
                        .as_str()
                        .map(|p| Pattern::parse(p, policy.case_insensitive))
                    {
                        Some(Ok(p)) => policy.public.push(p),
                        Some(Err(msg)) => errors.push(FieldError::new(field, msg)),
                        None => errors.push(FieldError::new(field, "must be a path string")),
                    }
                }
            }
            None => errors.push(FieldError::new(
                "POLICY.public",
                "must be an array of paths",
            )),
        }
    }
    match obj.get("unmatched").map(|v| v.as_str()) {
        None => {}
        Some(Some("deny")) => policy.unmatched = Unmatched::Deny,
        Some(Some("authenticate")) => policy.unmatched = Unmatched::Authenticate,
        Some(_) => errors.push(FieldError::new(
            "POLICY.unmatched",
            "must be \"deny\" or \"authenticate\"",
        )),
    }
    if let Some(routes) = obj.get("routes") {
        match routes.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(route) = parse_route(
                        item,
                        &format!("POLICY.routes[{i}]"),
                        policy.case_insensitive,
                        errors,
                    ) {
                        policy.routes.push(route);
                    }
                }
            }
            None => errors.push(FieldError::new(
                "POLICY.routes",
                "must be an array of routes",
            )),
        }
    }
    policy
}

/// One route of `POLICY.routes`, or `None` (with every error said) when any part
/// of it is invalid.
fn parse_route(
    value: &Value,
    field: &str,
    fold: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Route> {
    let Some(obj) = value.as_object() else {
        errors.push(FieldError::new(
            field,
            "must be an object with method, path and scopes or deny",
        ));
        return None;
    };
    let before = errors.len();
    crate::field::unknown_fields(
        obj,
        field,
        &["method", "path", "scopes", "deny", "cost"],
        errors,
    );
    let methods = route_methods(obj, field, errors);
    let path = route_path(obj, field, fold, errors);
    let deny = route_deny(obj, field, errors);
    let rule = route_rule(obj, deny, field, errors);
    let cost = route_cost(obj, &rule, field, errors);
    if errors.len() > before {
        return None;
    }
    Some(Route {
        methods,
        path: path?,
        rule,
        cost,
    })
}

/// A route's `method`: one name, several, or any (`"*"` or unset: empty).
fn route_methods(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    match obj.get("method") {
        None => vec![],
        Some(Value::String(m)) if m == "*" => vec![],
        Some(Value::String(m)) => parse_method(m, &format!("{field}.method"), errors)
            .into_iter()
            .collect(),
        Some(Value::Array(ms)) => ms
            .iter()
            .enumerate()
            .filter_map(|(j, m)| {
                let f = format!("{field}.method[{j}]");
                match m.as_str() {
                    Some(m) => parse_method(m, &f, errors),
                    None => {
                        errors.push(FieldError::new(f, "must be a method name"));
                        None
                    }
                }
            })
            .collect(),
        Some(_) => {
            errors.push(FieldError::new(
                format!("{field}.method"),
                "must be a method name, \"*\" or an array of method names",
            ));
            vec![]
        }
    }
}

/// A route's `path`, required, as a pattern (folded when the origin folds paths).
fn route_path(
    obj: &Map<String, Value>,
    field: &str,
    fold: bool,
    errors: &mut Vec<FieldError>,
) -> Option<Pattern> {
    match obj
        .get("path")
        .map(|p| p.as_str().map(|p| Pattern::parse(p, fold)))
    {
        Some(Some(Ok(p))) => Some(p),
        Some(Some(Err(msg))) => {
            errors.push(FieldError::new(format!("{field}.path"), msg));
            None
        }
        Some(None) => {
            errors.push(FieldError::new(
                format!("{field}.path"),
                "must be a path string",
            ));
            None
        }
        None => {
            errors.push(FieldError::new(format!("{field}.path"), "is required"));
            None
        }
    }
}

/// A route's `deny`: whether no key opens it (`false` when unset).
fn route_deny(obj: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> bool {
    match obj.get("deny") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errors.push(FieldError::new(
                format!("{field}.deny"),
                "must be true or false",
            ));
            false
        }
    }
}

/// A route's rule: `deny`, or the `scopes` a key needs; exactly one of them.
fn route_rule(
    obj: &Map<String, Value>,
    deny: bool,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Rule {
    match (deny, obj.get("scopes")) {
        (true, Some(_)) => {
            errors.push(FieldError::new(
                field,
                "has both \"deny\": true and \"scopes\"; choose one",
            ));
            Rule::Deny
        }
        (true, None) => Rule::Deny,
        (false, None) => {
            errors.push(FieldError::new(
                field,
                "needs \"scopes\" (an array, empty for any valid key) or \"deny\": true",
            ));
            Rule::Deny
        }
        (false, Some(Value::Array(items))) => {
            let mut scopes = Vec::with_capacity(items.len());
            for (j, item) in items.iter().enumerate() {
                let f = format!("{field}.scopes[{j}]");
                match item.as_str().map(scope::parse_required) {
                    Some(Ok(s)) => scopes.push(s),
                    Some(Err(e)) => errors.push(FieldError::new(f, e.to_string())),
                    None => errors.push(FieldError::new(f, "must be a scope string")),
                }
            }
            Rule::Require(scopes)
        }
        (false, Some(_)) => {
            errors.push(FieldError::new(
                format!("{field}.scopes"),
                "must be an array of scopes",
            ));
            Rule::Deny
        }
    }
}

/// A route's `cost` in credits: [`DEFAULT_COST`] when unset, and none for a
/// route that admits no key.
fn route_cost(
    obj: &Map<String, Value>,
    rule: &Rule,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> u64 {
    match obj.get("cost") {
        None if *rule == Rule::Deny => 0,
        None => DEFAULT_COST,
        Some(_) if *rule == Rule::Deny => {
            errors.push(FieldError::new(
                format!("{field}.cost"),
                "applies to routes that admit keys, not to \"deny\": true",
            ));
            0
        }
        Some(v) => match v.as_u64() {
            Some(n) if n <= crate::credits::MAX_AMOUNT => n,
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.cost"),
                    format!(
                        "must be a whole number from 0 (free) to {}",
                        crate::credits::MAX_AMOUNT
                    ),
                ));
                0
            }
        },
    }
}

fn parse_method(m: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()) {
        errors.push(FieldError::new(
            field,
            format!("{m:?} is not a method name"),
        ));
        return None;
    }
    Some(m.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn demo() -> Policy {
        Policy::parse(&json!({
            "public": ["/health", "/docs/**"],
            "routes": [
                {"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]},
                {"method": ["POST", "put"], "path": "/documents/*", "scopes": ["documents:write", "audit.log"]},
                {"method": "*", "path": "/internal/**", "deny": true},
                {"path": "/me", "scopes": []},
                {"method": "GET", "path": "/teams/*/members/", "scopes": ["teams.read"]}
            ]
        }))
        .unwrap()
    }

    #[track_caller]
    fn check(method: &str, path: &str, expected: RouteDecision<'_>) {
        assert_eq!(demo().judge(method, path), expected, "{method} {path}");
    }

    #[test]
    fn judging() {
        use RouteDecision::*;
        let read = ["documents.read".to_string()];
        let write = ["documents.write".to_string(), "audit.log".to_string()];
        check("GET", "/health", Public);
        check("POST", "/health", Public);
        check("GET", "/health/", Deny);
        check("GET", "/healthz", Deny);
        check("GET", "/docs", Public);
        check("GET", "/docs/a/b", Public);
        check("GET", "/documents", Require(&read));
        check("GET", "/documents/", Require(&read));
        check("GET", "/documents/1/pages", Require(&read));
        check("POST", "/documents/1", Require(&write));
        check("PUT", "/documents/1", Require(&write));
        check("POST", "/documents/", Deny);
        check("POST", "/documents/1/2", Deny);
        check("DELETE", "/documents/1", Deny);
        // HEAD is GET without the body: a GET rule covers it.
        check("HEAD", "/documents/1", Require(&read));
        check("head", "/documents/1", Require(&read));
        check("HEAD", "/documents/", Require(&read));
        // A method in another case is judged as the method it spells.
        check("get", "/documents/1", Require(&read));
        check("pOsT", "/documents/1", Require(&write));
        check("GET", "/internal", Deny);
        check("GET", "/internal/x", Deny);
        check("PATCH", "/me", Require(&[]));
        check(
            "GET",
            "/teams/acme/members/",
            Require(&["teams.read".to_string()]),
        );
        check("GET", "/teams/acme/members", Deny);
        check("GET", "/Documents/1", Deny);
        check("GET", "/", Deny);
    }

    #[test]
    fn routes_price_what_they_admit() {
        let p = Policy::parse(&json!({
            "public": ["/health"],
            "unmatched": "authenticate",
            "routes": [
                {"method": "POST", "path": "/render", "scopes": [], "cost": 10},
                {"method": "GET", "path": "/free", "scopes": [], "cost": 0},
                {"path": "/plain", "scopes": []},
                {"path": "/closed", "deny": true}
            ]
        }))
        .unwrap();
        for (method, path, cost) in [
            ("POST", "/render", 10),
            ("GET", "/render", DEFAULT_COST),
            ("GET", "/free", 0),
            ("GET", "/plain", DEFAULT_COST),
            ("GET", "/elsewhere", DEFAULT_COST),
            ("GET", "/health", 0),
            ("GET", "/closed", 0),
        ] {
            assert_eq!(p.judge_priced(method, path).1, cost, "{method} {path}");
            assert_eq!(p.judge_priced(method, path).0, p.judge(method, path));
        }
        assert!(p.scopes().is_empty());
        assert_eq!(
            demo().scopes(),
            [
                "audit.log",
                "documents.read",
                "documents.write",
                "teams.read"
            ]
        );
        for (route, message) in [
            (
                json!({"path": "/x", "scopes": [], "cost": -1}),
                "whole number",
            ),
            (
                json!({"path": "/x", "scopes": [], "cost": 1.5}),
                "whole number",
            ),
            (
                json!({"path": "/x", "scopes": [], "cost": "1"}),
                "whole number",
            ),
            (json!({"path": "/x", "deny": true, "cost": 1}), "not to"),
            (
                json!({"path": "/x", "scopes": [], "cost": crate::credits::MAX_AMOUNT + 1}),
                "whole number",
            ),
        ] {
            check_error(json!({"routes": [route]}), "POLICY.routes[0].cost", message);
        }
        let most =
            json!({"routes": [{"path": "/x", "scopes": [], "cost": crate::credits::MAX_AMOUNT}]});
        assert!(Policy::parse(&most).is_ok());
    }

    #[test]
    fn unmatched_authenticate_and_first_match_wins() {
        let p = Policy::parse(&json!({
            "unmatched": "authenticate",
            "routes": [
                {"method": "*", "path": "/a/**", "deny": true},
                {"method": "GET", "path": "/a/b", "scopes": ["x"]},
                {"path": "/", "scopes": ["root"]},
                {"method": "HEAD", "path": "/probe", "scopes": ["probe"]}
            ]
        }))
        .unwrap();
        // A rule may name HEAD alone; it does not cover GET.
        let probe = ["probe".to_string()];
        assert_eq!(p.judge("HEAD", "/probe"), RouteDecision::Require(&probe));
        assert_eq!(p.judge("GET", "/probe"), RouteDecision::Require(&[]));
        assert_eq!(p.judge("GET", "/a/b"), RouteDecision::Deny);
        assert_eq!(p.judge("GET", "/elsewhere"), RouteDecision::Require(&[]));
        assert_eq!(
            p.judge("GET", "/"),
            RouteDecision::Require(&["root".to_string()])
        );
        assert_eq!(
            Policy::parse(&json!({})).unwrap().judge("GET", "/x"),
            RouteDecision::Deny
        );
    }

    #[test]
    fn case_insensitive_origins_meet_the_rules_in_any_spelling() {
        let p = Policy::parse(&json!({
            "case_insensitive": true,
            "unmatched": "authenticate",
            "public": ["/Static/**", "/health/"],
            "routes": [
                {"method": "*", "path": "/internal/**", "deny": true},
                {"method": "*", "path": "/admin", "deny": true},
                {"method": "GET", "path": "/Caf%C3%A9/*", "scopes": ["cafe.read"]}
            ]
        }))
        .unwrap();
        let cafe = ["cafe.read".to_string()];
        #[track_caller]
        fn check(p: &Policy, path: &str, expected: RouteDecision<'_>) {
            assert_eq!(p.judge("GET", path), expected, "{path}");
        }
        use RouteDecision::*;
        for denied in [
            "/internal/x",
            "/INTERNAL/x",
            "/Internal./x",
            "/internal../x",
            "/admin",
            "/admin/",
            "/ADMIN.",
            "/aDmIn//",
        ] {
            check(&p, denied, Deny);
        }
        check(&p, "/static/a.css", Public);
        check(&p, "/STATIC/a.css", Public);
        check(&p, "/health", Public);
        check(&p, "/HEALTH/", Public);
        check(&p, "/caf%C3%A9/1", Require(&cafe));
        check(&p, "/CAF%C3%89/1", Require(&cafe));
        check(&p, "/administrator", Require(&[]));
        // Without the option, case and the trailing slash are significant.
        let exact = Policy::parse(&json!({
            "unmatched": "authenticate",
            "routes": [{"method": "*", "path": "/admin", "deny": true}]
        }))
        .unwrap();
        check(&exact, "/admin", Deny);
        check(&exact, "/ADMIN", Require(&[]));
        check(&exact, "/admin/", Require(&[]));
    }

    #[track_caller]
    fn check_error(value: Value, field: &str, message_part: &str) {
        let errors = Policy::parse(&value).expect_err("should be rejected");
        assert!(
            errors
                .iter()
                .any(|e| e.field == field && e.message.contains(message_part)),
            "{errors:?}"
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        check_error(json!([]), "POLICY", "JSON object");
        check_error(
            json!({"publik": []}),
            "POLICY.publik",
            "is not a known field",
        );
        check_error(json!({"public": "/health"}), "POLICY.public", "array");
        check_error(
            json!({"case_insensitive": "yes"}),
            "POLICY.case_insensitive",
            "must be true",
        );
        // Under case_insensitive, a literal that origins fold in different ways.
        check_error(
            json!({"case_insensitive": true, "public": ["/\u{17f}tatic/**"]}),
            "POLICY.public[0]",
            "fold in different ways",
        );
        check_error(
            json!({"case_insensitive": true, "routes": [
                {"method": "*", "path": "/adm%C4%B0n", "deny": true}
            ]}),
            "POLICY.routes[0].path",
            "fold in different ways",
        );
        assert!(Policy::parse(&json!({"public": ["/\u{17f}tatic/**"]})).is_ok());
        check_error(
            json!({"public": ["health"]}),
            "POLICY.public[0]",
            "start with '/'",
        );
        check_error(json!({"public": [3]}), "POLICY.public[0]", "path string");
        check_error(
            json!({"unmatched": "allow"}),
            "POLICY.unmatched",
            "\"deny\" or",
        );
        check_error(json!({"routes": {}}), "POLICY.routes", "array");
        check_error(json!({"routes": [1]}), "POLICY.routes[0]", "object");
        check_error(
            json!({"routes": [{"path": "/a"}]}),
            "POLICY.routes[0]",
            "needs \"scopes\"",
        );
        check_error(
            json!({"routes": [{"scopes": []}]}),
            "POLICY.routes[0].path",
            "required",
        );
        check_error(
            json!({"routes": [{"path": "/a/**/b", "scopes": []}]}),
            "POLICY.routes[0].path",
            "last segment",
        );
        check_error(
            json!({"routes": [{"path": "/a*", "scopes": []}]}),
            "POLICY.routes[0].path",
            "whole segment",
        );
        check_error(
            json!({"routes": [{"path": "/a//b", "scopes": []}]}),
            "POLICY.routes[0].path",
            "empty segment",
        );
        check_error(
            json!({"routes": [{"path": "/a", "scopes": ["docs.*"]}]}),
            "POLICY.routes[0].scopes[0]",
            "wildcard",
        );
        check_error(
            json!({"routes": [{"path": "/a", "scopes": ["Docs"]}]}),
            "POLICY.routes[0].scopes[0]",
            "not allowed",
        );
        check_error(
            json!({"routes": [{"path": "/a", "scopes": "docs"}]}),
            "POLICY.routes[0].scopes",
            "array",
        );
        check_error(
            json!({"routes": [{"path": "/a", "deny": true, "scopes": []}]}),
            "POLICY.routes[0]",
            "choose one",
        );
        check_error(
            json!({"routes": [{"path": "/a", "deny": "yes"}]}),
            "POLICY.routes[0].deny",
            "true or false",
        );
        check_error(
            json!({"routes": [{"path": "/a", "method": "G ET", "scopes": []}]}),
            "POLICY.routes[0].method",
            "not a method",
        );
        check_error(
            json!({"routes": [{"path": "/a", "method": 7, "scopes": []}]}),
            "POLICY.routes[0].method",
            "method name",
        );
        check_error(
            json!({"routes": [{"path": "/a", "scope": [], "deny": true}]}),
            "POLICY.routes[0].scope",
            "is not a known field (expected: method, path, scopes, deny, cost)",
        );
    }
}
