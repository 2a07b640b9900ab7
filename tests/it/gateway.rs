//! What real gateways pass on and accept: `HEAD` on a `GET` route, and the
//! forwarded headers the origin receives (a client's own never pass as they are).

use crate::harness::{fresh_team, send};
use crate::{main_worker, shipped_worker};
use serde_json::json;

#[test]
fn head_is_get_without_the_body() {
    let w = main_worker();
    let (key, _) = w.issue(
        &fresh_team("head"),
        json!({"name": "reader", "scopes": ["documents.read"]}),
    );
    let r = send(w.keyed("HEAD", "/documents/1", &key));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-origin"), Some("echo"));
    assert!(r.body.is_empty());
    // Without the scope the GET rule needs, HEAD is refused like GET.
    let (other, _) = w.issue(
        &fresh_team("head"),
        json!({"name": "writer", "scopes": ["documents.write"]}),
    );
    let r = send(w.keyed("HEAD", "/documents/1", &other));
    assert_eq!(r.status, 403);
    assert_ne!(r.header("x-origin"), Some("echo"));
}

#[test]
fn the_origin_learns_the_client_address_scheme_and_host_from_keyward() {
    let w = main_worker();
    let (key, _) = w.issue(
        &fresh_team("fwd"),
        json!({"name": "reader", "scopes": ["documents.read"]}),
    );
    let host = w.url.trim_start_matches("http://").to_string();
    let r = send(
        w.keyed("GET", "/documents/1", &key)
            .set("cf-connecting-ip", "203.0.113.9")
            .set("x-forwarded-for", "6.6.6.6")
            .set("x-forwarded-host", "evil.example")
            .set("x-forwarded-proto", "gopher")
            .set("x_forwarded_for", "7.7.7.7")
            .set("x-real-ip", "6.6.6.6")
            .set("true-client-ip", "6.6.6.6")
            .set("x-forwarded-port", "6666"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let h = &r.json()["headers"];
    // FORWARDED_FOR = "replace" (the default): only the address Cloudflare saw.
    assert_eq!(h["x-forwarded-for"], "203.0.113.9");
    assert_eq!(h["x-forwarded-host"], host.as_str());
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h.get("x_forwarded_for").is_none(), "{h}");
    // X-Real-IP and True-Client-IP are the address Cloudflare saw, and what else
    // the client says of where it is goes nowhere.
    assert_eq!(h["x-real-ip"], "203.0.113.9");
    assert_eq!(h["true-client-ip"], "203.0.113.9");
    assert!(h.get("x-forwarded-port").is_none(), "{h}");
    // On a public path too, and with "append" the client's chain comes first.
    let s = shipped_worker();
    let r = send(
        s.req("GET", "/health")
            .set("cf-connecting-ip", "203.0.113.9")
            .set("x-forwarded-for", "10.0.0.1, 10.0.0.2"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let h = &r.json()["headers"];
    assert_eq!(h["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 203.0.113.9");
}

const APP: &str = "https://app.example.com";

fn cors_fields(r: &crate::harness::Resp) -> (Option<String>, Option<String>, Option<String>) {
    let get = |n: &str| r.header(n).map(str::to_string);
    (
        get("access-control-allow-origin"),
        get("access-control-expose-headers"),
        get("vary"),
    )
}

#[test]
fn browsers_get_preflights_answered_at_the_edge() {
    let w = crate::cors_worker();
    let preflight = |origin: &str, method: &str, path: &str| {
        send(
            w.req("OPTIONS", path)
                .set("origin", origin)
                .set("access-control-request-method", method)
                .set("access-control-request-headers", "authorization"),
        )
    };
    // An allowed origin: 204, no key, the origin never called.
    let r = preflight(APP, "GET", "/documents/1");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_ne!(r.header("x-origin"), Some("echo"));
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("authorization, content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("300"));
    assert_eq!(r.header("vary"), Some("Origin"));
    // A method the policy has no route for there: no method allowed.
    let r = preflight(APP, "DELETE", "/documents/1");
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-methods"), None);
    // Another origin, and `null` (a sandboxed page, a file): refused, no CORS fields.
    for other in [
        "https://evil.example",
        "null",
        "https://app.example.com.evil.example",
    ] {
        let r = preflight(other, "GET", "/documents/1");
        let p = crate::harness::assert_problem(&r, 403, "ORIGIN_NOT_ALLOWED");
        assert!(p["detail"].as_str().unwrap().contains("CORS"));
        assert_eq!(r.header("access-control-allow-origin"), None);
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    // Two Origin headers arrive joined: no origin matches that.
    let head = format!(
        "OPTIONS /documents/1 HTTP/1.1\r\nOrigin: {APP}\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n"
    );
    let r = crate::harness::raw_request(&w.url, head.as_bytes(), b"");
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn every_answer_to_an_allowed_origin_says_so() {
    let w = crate::cors_worker();
    let (key, _) = w.issue(
        &fresh_team("cors"),
        json!({"name": "browser", "scopes": ["documents.read"]}),
    );
    let call = |path: &str, key: Option<&str>, origin: &str| {
        let mut req = w.req("GET", path).set("origin", origin);
        if let Some(k) = key {
            req = req.set("authorization", &format!("Bearer {k}"));
        }
        send(req)
    };
    let expose = "RateLimit, RateLimit-Policy, Retry-After, X-Keyward-Credits-Remaining, X-Keyward-Request-Id";
    // 200 from the origin, 401, 403 and 429 from keyward: the same fields.
    let ok = call("/documents/1", Some(&key), APP);
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.header("x-origin"), Some("echo"));
    let denied = call("/documents/1", None, APP);
    assert_eq!(denied.status, 401);
    assert!(denied.header("x-keyward-request-id").is_some());
    let scope = call("/internal/x", Some(&key), APP);
    assert_eq!(scope.status, 403);
    call("/documents/1", Some(&key), APP);
    call("/documents/1", Some(&key), APP);
    let limited = call("/documents/1", Some(&key), APP);
    assert_eq!(limited.status, 429, "{}", limited.text());
    for r in [&ok, &denied, &scope, &limited] {
        let (acao, aceh, vary) = cors_fields(r);
        assert_eq!(acao.as_deref(), Some(APP), "{}", r.status);
        assert_eq!(aceh.as_deref(), Some(expose), "{}", r.status);
        assert!(vary.is_some_and(|v| v.contains("Origin")), "{}", r.status);
    }
    // Another origin learns nothing it may read.
    let other = call("/documents/1", None, "https://evil.example");
    assert_eq!(other.status, 401);
    assert_eq!(other.header("access-control-allow-origin"), None);
}

#[test]
fn without_cors_a_preflight_is_a_request_like_any_other() {
    let r = send(
        crate::main_worker()
            .req("OPTIONS", "/documents/1")
            .set("origin", APP)
            .set("access-control-request-method", "GET"),
    );
    crate::harness::assert_problem(&r, 401, "MISSING_KEY");
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn a_malformed_cors_var_is_misconfigured() {
    let r = send(crate::bad_cors_worker().req("GET", "/documents/1"));
    let p = crate::harness::assert_problem(&r, 503, "MISCONFIGURED");
    assert!(
        p["detail"].as_str().unwrap().contains("CORS.credentials"),
        "{p}"
    );
}
