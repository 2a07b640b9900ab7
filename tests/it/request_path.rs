//! The request path end to end: credential, format, lookup, record, scopes, routes, forwarding.

use crate::harness::{
    assert_problem, getrandom, now_s, send, send_bytes, send_json, send_reader, Resp,
};
use crate::{main_worker, shipped_worker, PREFIX};
use keyward::key;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Read;

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn get(path: &str, authorization: Option<&str>) -> Resp {
    let mut req = main_worker().req("GET", path);
    if let Some(a) = authorization {
        req = req.set("authorization", a);
    }
    send(req)
}

fn issue(scopes: &[&str]) -> String {
    main_worker()
        .issue(
            "acme",
            json!({"name": "e2e key", "scopes": scopes, "expires_in": "30d"}),
        )
        .0
}

/// A well-formed key (valid checksum) that was never issued.
fn unknown_key(prefix: &str) -> String {
    key::generate(prefix, getrandom).expose().to_string()
}

#[track_caller]
fn check_missing(authorization: Option<&str>) {
    let r = get("/documents/1", authorization);
    assert_problem(&r, 401, "MISSING_KEY");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keyward\"")
    );
}

#[test]
fn missing_key() {
    check_missing(None);
    check_missing(Some(""));
    check_missing(Some("Bearer"));
    check_missing(Some("Basic dXNlcjpwYXNz"));
    check_missing(Some("Token abc"));
    check_missing(Some("Digest username=\"x\""));
}

#[test]
fn a_key_in_the_query_string_is_never_read() {
    let key = issue(&["documents.read"]);
    for name in ["key", "api_key", "access_token", "token", "authorization"] {
        let r = get(&format!("/documents/1?{name}={key}"), None);
        assert_problem(&r, 401, "MISSING_KEY");
    }
}

#[track_caller]
fn check_format(authorization: &str) {
    let r = get("/documents/1", Some(authorization));
    assert_problem(&r, 401, "INVALID_FORMAT");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keyward\", error=\"invalid_token\"")
    );
}

#[test]
fn invalid_format() {
    let good = unknown_key(PREFIX);
    let body = &good[PREFIX.len()..];
    let mut flipped = good.clone().into_bytes();
    let i = PREFIX.len() + 3;
    flipped[i] = if flipped[i] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    check_format(&bearer(&unknown_key("kw_")));
    check_format(&bearer(&format!("api_{body}")));
    check_format(&bearer(&good[..good.len() - 1]));
    check_format(&bearer(&format!("{good}x")));
    check_format(&bearer(&format!("{PREFIX}{}-{}", &body[..10], &body[11..])));
    check_format(&bearer(&flipped));
    check_format(&format!("Bearer {good} {good}"));
    check_format(&bearer(&"x".repeat(200)));
}

#[test]
fn unknown_key_is_invalid_key() {
    let r = get("/documents/1", Some(&bearer(&unknown_key(PREFIX))));
    assert_problem(&r, 401, "INVALID_KEY");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keyward\", error=\"invalid_token\"")
    );
}

#[test]
fn the_scheme_is_case_insensitive() {
    let key = issue(&["documents.read"]);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let r = get("/documents/1", Some(&format!("{scheme} {key}")));
        assert_eq!(r.status, 200, "{scheme}: {}", r.text());
    }
}

#[test]
fn revoked_disabled_and_expired_keys() {
    let w = main_worker();
    let (key, reply) = w.issue(
        "acme",
        json!({"name": "short lived", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    let auth = bearer(&key);
    assert_eq!(get("/documents/1", Some(&auth)).status, 200);

    let r = send_json(
        w.admin("PATCH", &format!("/teams/acme/keys/{id}")),
        &json!({"enabled": false}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "disabled");
    let p = assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_DISABLED");
    assert_eq!(p["key_id"], id);

    send_json(
        w.admin("PATCH", &format!("/teams/acme/keys/{id}")),
        &json!({"enabled": true}),
    );
    assert_eq!(get("/documents/1", Some(&auth)).status, 200);

    let r = send(w.admin("DELETE", &format!("/teams/acme/keys/{id}")));
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (200, json!("revoked"))
    );
    assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_REVOKED");
    // Revocation is for good: enabling again does not bring the key back.
    send_json(
        w.admin("PATCH", &format!("/teams/acme/keys/{id}")),
        &json!({"enabled": true}),
    );
    assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_REVOKED");

    // Enabling is immediate too, where the isolate holds the disabled record: a
    // key disabled before its first request, refused once (its record is now
    // cached), then enabled, works on the next request.
    let (key, reply) = w.issue(
        "acme",
        json!({"name": "re-enabled", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    let auth = bearer(&key);
    let path = format!("/teams/acme/keys/{id}");
    assert_eq!(
        send_json(w.admin("PATCH", &path), &json!({"enabled": false})).status,
        200
    );
    assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_DISABLED");
    assert_eq!(
        send_json(w.admin("PATCH", &path), &json!({"enabled": true})).status,
        200
    );
    let r = get("/documents/1", Some(&auth));
    assert_eq!(r.status, 200, "{}", r.text());
    // Disabled again: refused again, at once; on a route it may not use too, as
    // disabled first (disabling is judged before the route).
    assert_eq!(
        send_json(w.admin("PATCH", &path), &json!({"enabled": false})).status,
        200
    );
    assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_DISABLED");
    assert_problem(&get("/unlisted", Some(&auth)), 401, "KEY_DISABLED");

    let expires_at = keyward::expiry::rfc3339(now_s() + 2);
    let (key, reply) = w.issue(
        "acme",
        json!({"name": "expiring", "scopes": ["documents.read"], "expires_at": expires_at}),
    );
    assert_eq!(reply["expires_at"], expires_at.as_str());
    let auth = bearer(&key);
    assert_eq!(get("/documents/1", Some(&auth)).status, 200);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let p = assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_EXPIRED");
    assert!(p["detail"].as_str().unwrap().contains(&expires_at));
}

#[test]
fn revocation_takes_effect_on_the_very_next_request() {
    // The worker caches the KV record (RECORD_CACHE_TTL, 30 s here), so only the
    // key's Durable Object can refuse these next requests.
    let w = main_worker();
    for limits in [
        json!([]),
        json!([{"name": "total", "limit": 1000, "window": "1d"}]),
    ] {
        let (key, reply) = w.issue(
            "acme",
            json!({"name": "hot key", "scopes": ["documents.read"], "rate_limits": limits}),
        );
        let id = reply["id"].as_str().unwrap();
        let auth = bearer(&key);
        for _ in 0..3 {
            assert_eq!(get("/documents/1", Some(&auth)).status, 200);
        }
        let r = send_json(
            w.admin("PATCH", &format!("/teams/acme/keys/{id}")),
            &json!({"enabled": false}),
        );
        assert_eq!(r.status, 200);
        assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_DISABLED");
        let r = send(w.admin("DELETE", &format!("/teams/acme/keys/{id}")));
        assert_eq!(r.status, 200);
        assert_problem(&get("/documents/1", Some(&auth)), 401, "KEY_REVOKED");
    }
}

#[track_caller]
fn check_access(scopes: &[&str], method: &str, path: &str, expected: Result<(), &str>) {
    let key = issue(scopes);
    let r = send_bytes(
        main_worker()
            .req(method, path)
            .set("authorization", &bearer(&key)),
        b"",
    );
    match expected {
        Ok(()) => assert_eq!(r.status, 200, "{scopes:?} {method} {path}: {}", r.text()),
        Err(code) => {
            let status = if code == "INSUFFICIENT_SCOPE" || code == "ROUTE_NOT_ALLOWED" {
                403
            } else {
                401
            };
            assert_problem(&r, status, code);
        }
    }
}

#[test]
fn scopes_and_routes() {
    check_access(&["documents.read"], "GET", "/documents/1", Ok(()));
    check_access(&["documents:read"], "GET", "/documents", Ok(()));
    check_access(&["documents.read"], "GET", "/documents/a/b/c", Ok(()));
    check_access(
        &["documents.read"],
        "POST",
        "/documents/1",
        Err("INSUFFICIENT_SCOPE"),
    );
    check_access(
        &["documents.write"],
        "GET",
        "/documents/1",
        Err("INSUFFICIENT_SCOPE"),
    );
    check_access(&["documents.*"], "PUT", "/documents/1", Ok(()));
    check_access(&["documents:*"], "GET", "/documents/1", Ok(()));
    check_access(&["*"], "POST", "/documents/1", Ok(()));
    check_access(
        &["reports.write"],
        "POST",
        "/reports/q3",
        Err("INSUFFICIENT_SCOPE"),
    );
    check_access(
        &["reports.write", "audit.log"],
        "POST",
        "/reports/q3",
        Ok(()),
    );
    check_access(&["reports:*", "audit:*"], "POST", "/reports/q3", Ok(()));
    check_access(
        &["reports.write", "audit.log"],
        "POST",
        "/reports/q3/x",
        Err("ROUTE_NOT_ALLOWED"),
    );
    check_access(&["*"], "GET", "/internal/metrics", Err("ROUTE_NOT_ALLOWED"));
    check_access(&["*"], "DELETE", "/internal", Err("ROUTE_NOT_ALLOWED"));
    check_access(&["*"], "GET", "/unlisted", Err("ROUTE_NOT_ALLOWED"));
    check_access(&["*"], "DELETE", "/documents/1", Err("ROUTE_NOT_ALLOWED"));
    check_access(&[], "PATCH", "/me", Ok(()));
    check_access(&[], "GET", "/documents/1", Err("INSUFFICIENT_SCOPE"));
}

#[test]
fn insufficient_scope_names_the_required_scopes() {
    let key = issue(&["reports.write"]);
    let r = send_bytes(
        main_worker()
            .req("POST", "/reports/q3")
            .set("authorization", &bearer(&key)),
        b"",
    );
    let p = assert_problem(&r, 403, "INSUFFICIENT_SCOPE");
    assert_eq!(p["required_scopes"], json!(["reports.write", "audit.log"]));
    assert_eq!(p["missing_scopes"], json!(["audit.log"]));
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keyward\", error=\"insufficient_scope\", scope=\"reports.write audit.log\"")
    );
}

#[test]
fn authentication_comes_before_route_denial() {
    // A bad key on a denied route learns nothing about the route.
    assert_problem(&get("/internal/x", None), 401, "MISSING_KEY");
    assert_problem(
        &get("/internal/x", Some(&bearer(&unknown_key(PREFIX)))),
        401,
        "INVALID_KEY",
    );
}

#[test]
fn public_paths_need_no_key_and_carry_no_identity() {
    for path in ["/health", "/open", "/open/a/b?x=1"] {
        let r = send(
            main_worker()
                .req("GET", path)
                .set("x-keyward-team", "spoofed")
                .set("x-keyward-key-id", "spoofed"),
        );
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let echo = r.json();
        assert!(echo["headers"].get("x-keyward-team").is_none(), "{echo}");
        assert!(echo["headers"].get("x-keyward-key-id").is_none(), "{echo}");
    }
    // A garbage credential does not matter on a public path.
    assert_eq!(get("/health", Some("Bearer nonsense")).status, 200);
}

#[test]
fn forwarding_preserves_the_request_and_adds_identity() {
    let w = main_worker();
    let (key, reply) = w.issue(
        "acme",
        json!({"name": "forwarding", "scopes": ["documents.write", "documents.read"], "subject": "user_42"}),
    );
    let r = send_bytes(
        w.req("PUT", "/documents/7/pages?b=2&a=1&a=%20x&empty=")
            .set("authorization", &bearer(&key))
            .set("content-type", "text/plain; charset=utf-8")
            .set("x-custom", "kept")
            .set("accept-language", "fr")
            .set("x-keyward-team", "evil")
            .set("x-keyward-scopes", "*")
            .set("X-Keyward-Admin", "true"),
        "hello, origin".as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    let h = &echo["headers"];
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["path"], "/documents/7/pages");
    assert_eq!(echo["query"], "b=2&a=1&a=%20x&empty=");
    assert_eq!(h["content-type"], "text/plain; charset=utf-8");
    assert_eq!(h["x-custom"], "kept");
    assert_eq!(h["accept-language"], "fr");
    assert_eq!(h["x-keyward-key-id"], reply["id"]);
    assert_eq!(h["x-keyward-team"], "acme");
    assert_eq!(h["x-keyward-subject"], "user_42");
    assert_eq!(h["x-keyward-scopes"], "documents.write documents.read");
    assert!(h.get("x-keyward-admin").is_none(), "{h}");
    assert!(
        h.get("authorization").is_none(),
        "Authorization must not be forwarded"
    );
    assert_eq!(echo["body"]["bytes"], 13);
    assert_eq!(
        echo["body"]["sha256"],
        hex::encode(Sha256::digest(b"hello, origin"))
    );

    // Without a subject there is no subject header.
    let key = issue(&["documents.read"]);
    let echo = get("/documents/1", Some(&bearer(&key))).json();
    assert!(echo["headers"].get("x-keyward-subject").is_none());
}

#[test]
fn the_origin_answer_comes_back_as_it_is() {
    let key = issue(&["documents.read"]);
    let r = get(
        "/documents/1?status=418&header=x-origin-thing:yes&header=cache-control:max-age%3D5",
        Some(&bearer(&key)),
    );
    assert_eq!(r.status, 418);
    assert_eq!(r.header("x-origin-thing"), Some("yes"));
    assert_eq!(r.header("cache-control"), Some("max-age=5"));
    assert_eq!(r.header("x-origin"), Some("echo"));
    assert_eq!(r.json()["path"], "/documents/1");
    // Redirects are passed back to the client, not followed.
    let r = get(
        "/documents/1?status=302&header=location:/elsewhere",
        Some(&bearer(&key)),
    );
    assert_eq!((r.status, r.header("location")), (302, Some("/elsewhere")));
}

const BIG: usize = 20 * 1024 * 1024;

/// The echo origin's download pattern: byte i is (i * 31 + 7) mod 251.
fn pattern_byte(i: usize) -> u8 {
    ((i * 31 + 7) % 251) as u8
}

struct Pattern(usize);

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(BIG - self.0);
        for (k, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern_byte(self.0 + k);
        }
        self.0 += n;
        Ok(n)
    }
}

#[test]
fn twenty_megabytes_each_way() {
    let key = issue(&["documents.read", "documents.write"]);
    let mut expected = Sha256::new();
    let mut all = Pattern(0);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = all.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        expected.update(&buf[..n]);
    }
    let r = send_reader(
        main_worker()
            .req("POST", "/documents/upload")
            .set("authorization", &bearer(&key)),
        Pattern(0),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!(echo["body"]["bytes"], BIG);
    assert_eq!(echo["body"]["sha256"], hex::encode(expected.finalize()));

    let r = get(
        &format!("/documents/download?download={BIG}"),
        Some(&bearer(&key)),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), BIG);
    assert!(
        r.body
            .iter()
            .enumerate()
            .all(|(i, &b)| b == pattern_byte(i)),
        "download corrupted"
    );
}

#[test]
fn no_response_contains_the_key_or_its_hash() {
    let w = main_worker();
    let (key, reply) = w.issue(
        "acme",
        json!({"name": "leak check", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let auth = bearer(&key);
    let mut replies = vec![
        send_bytes(
            w.req("POST", "/documents/1").set("authorization", &auth),
            b"",
        ),
        get("/internal/x", Some(&auth)),
        send(w.admin("GET", &format!("/teams/acme/keys/{id}"))),
    ];
    send(w.admin("DELETE", &format!("/teams/acme/keys/{id}")));
    replies.push(get("/documents/1", Some(&auth)));
    for r in &replies {
        let text = format!("{:?} {}", r.headers, r.text());
        assert!(
            !text.contains(&key[PREFIX.len()..]),
            "a reply holds the key"
        );
        assert!(!text.contains(&hash), "a reply holds the hash");
    }
    let logs = w.logs();
    assert!(!logs.contains(&key[PREFIX.len()..]), "the logs hold a key");
    assert!(!logs.contains(&hash), "the logs hold a hash");
    assert!(
        !logs.contains(&w.admin_token),
        "the logs hold the admin token"
    );
}

#[test]
fn the_shipped_config_with_forwarded_authorization() {
    let w = shipped_worker();
    let (key, _) = w.issue(
        "acme",
        json!({"name": "shipped", "scopes": ["documents.read"]}),
    );
    assert!(key.starts_with("kw_"));
    let r = send(
        w.req("GET", "/documents/1")
            .set("authorization", &bearer(&key)),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["headers"]["authorization"], bearer(&key).as_str());
    let r = send_bytes(
        w.req("POST", "/documents/1")
            .set("authorization", &bearer(&key)),
        b"",
    );
    assert_problem(&r, 403, "INSUFFICIENT_SCOPE");
    assert_eq!(send(w.req("GET", "/health")).status, 200);
    assert_problem(
        &send(
            w.req("GET", "/internal/x")
                .set("authorization", &bearer(&key)),
        ),
        403,
        "ROUTE_NOT_ALLOWED",
    );
}

#[test]
fn problem_types_are_documented_at_their_uri() {
    let p = get("/documents/1", None).json();
    let type_uri = p["type"].as_str().unwrap();
    let path = type_uri
        .split_once("/_keyward/")
        .map(|(_, p)| format!("/_keyward/{p}"))
        .unwrap();
    let doc: Value = get(&path, None).json();
    assert_eq!(doc["code"], "MISSING_KEY");
    assert_eq!(doc["status"], 401);
    assert!(doc["fix"].as_str().unwrap().contains("Bearer"));
    assert_problem(&get("/_keyward/problems/nonsense", None), 404, "NOT_FOUND");
    assert_problem(&get("/_keyward/elsewhere", None), 404, "NOT_FOUND");
}
