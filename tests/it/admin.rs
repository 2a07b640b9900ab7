//! The admin API end to end: issuing keys, validation, authorization of the caller.

use crate::harness::{assert_problem, now_s, send, send_bytes, send_json};
use crate::{main_worker, PREFIX};
use serde_json::{json, Value};

#[test]
fn issuing_returns_the_key_once() {
    let w = main_worker();
    let (key, reply) = w.issue(
        "acme",
        json!({"name": "CI deploy", "scopes": ["documents:read", "reports.*"], "subject": "user_1", "expires_in": "180d"}),
    );
    assert!(key.starts_with(PREFIX) && key.len() == PREFIX.len() + 38);
    assert!(keyward::key::parse(PREFIX, &key).is_ok());
    let id = reply["id"].as_str().unwrap();
    assert!(id.starts_with("key_"));
    assert_eq!(reply["team"], "acme");
    assert_eq!(reply["name"], "CI deploy");
    assert_eq!(reply["subject"], "user_1");
    assert_eq!(reply["scopes"], json!(["documents.read", "reports.*"]));
    let created = keyward::expiry::parse_rfc3339(reply["created_at"].as_str().unwrap()).unwrap();
    let expires = keyward::expiry::parse_rfc3339(reply["expires_at"].as_str().unwrap()).unwrap();
    assert!((created - now_s()).abs() < 60);
    assert_eq!(expires - created, 180 * 86_400);

    let view = send(w.admin("GET", &format!("/teams/acme/keys/{id}"))).json();
    assert!(
        view.get("key").is_none(),
        "the plaintext is returned only once"
    );
    assert_eq!(view["status"], "active");
    assert_eq!(view["hint"], format!("{PREFIX}…{}", &key[key.len() - 4..]));
    assert!(!view.to_string().contains(&key[PREFIX.len()..]));
}

#[test]
fn expiry_choices_and_default() {
    let w = main_worker();
    let expiry = |body: Value| {
        let (_, r) = w.issue("acme", body);
        let c = keyward::expiry::parse_rfc3339(r["created_at"].as_str().unwrap()).unwrap();
        r["expires_at"]
            .as_str()
            .map(|e| keyward::expiry::parse_rfc3339(e).unwrap() - c)
    };
    for (choice, days) in [
        ("30d", Some(30)),
        ("90d", Some(90)),
        ("365d", Some(365)),
        ("never", None),
    ] {
        let got = expiry(json!({"name": "exp", "scopes": [], "expires_in": choice}));
        assert_eq!(got, days.map(|d: i64| d * 86_400), "{choice}");
    }
    // DEFAULT_EXPIRES_IN in the shipped wrangler.toml is 90d.
    assert_eq!(
        expiry(json!({"name": "exp", "scopes": []})),
        Some(90 * 86_400)
    );
}

#[track_caller]
fn check_invalid(body: &str, fields: &[&str]) {
    let r = send_bytes(
        main_worker()
            .admin("POST", "/teams/acme/keys")
            .set("content-type", "application/json"),
        body.as_bytes(),
    );
    let p = assert_problem(&r, 400, "VALIDATION_FAILED");
    let got: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
            e["field"].as_str().unwrap()
        })
        .collect();
    assert_eq!(got, fields, "{body}");
}

#[test]
fn validation_failures_list_every_field() {
    check_invalid(r#"{"name":"ab","scopes":[]}"#, &["name"]);
    check_invalid(r#"{"scopes":[]}"#, &["name"]);
    check_invalid(r#"{"name":"abc"}"#, &["scopes"]);
    check_invalid(r#"{"name":"abc","scopes":"documents.read"}"#, &["scopes"]);
    check_invalid(
        r#"{"name":"abc","scopes":["Documents.Read","a..b","ok","x y"]}"#,
        &["scopes[0]", "scopes[1]", "scopes[3]"],
    );
    check_invalid(
        r#"{"name":"abc","scopes":[],"expires_in":"7d"}"#,
        &["expires_in"],
    );
    check_invalid(
        r#"{"name":"abc","scopes":[],"expires_at":"2001-01-01T00:00:00Z"}"#,
        &["expires_at"],
    );
    check_invalid(
        r#"{"name":"abc","scopes":[],"expires_at":"next week"}"#,
        &["expires_at"],
    );
    check_invalid(
        r#"{"name":"abc","scopes":[],"expires_in":"30d","expires_at":"2099-01-01T00:00:00Z"}"#,
        &["expires_at"],
    );
    check_invalid(r#"{"name":"abc","scopes":[],"subject":""}"#, &["subject"]);
    check_invalid(r#"{"name":"abc","scopes":[],"team":"other"}"#, &["team"]);
    check_invalid(
        r#"{"name":1,"scopes":1,"expires_in":1}"#,
        &["name", "scopes", "expires_in"],
    );
    check_invalid("not json", &["body"]);
    check_invalid("[1,2]", &["body"]);
    check_invalid("", &["body"]);
}

#[test]
fn bad_team_ids_are_refused() {
    let w = main_worker();
    for team in ["ACME", "a.b", "a%2Fb", &"t".repeat(65), "caf%C3%A9"] {
        let r = send_json(
            w.admin("POST", &format!("/teams/{team}/keys")),
            &json!({"name": "abc", "scopes": []}),
        );
        let p = assert_problem(&r, 400, "VALIDATION_FAILED");
        assert_eq!(p["errors"][0]["field"], "team", "{team}");
    }
}

#[test]
fn the_admin_token_is_required() {
    let w = main_worker();
    let body = json!({"name": "abc", "scopes": []});
    let path = "/_keyward/v1/teams/acme/keys";
    let r = send_json(w.req("POST", path), &body);
    assert_problem(&r, 401, "MISSING_KEY");
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"keyward\"")
    );
    let wrong = format!("Bearer {}x", &w.admin_token[1..]);
    let r = send_json(w.req("POST", path).set("authorization", &wrong), &body);
    assert_problem(&r, 401, "INVALID_KEY");
    // A key without keys:manage is not an admin.
    let (key, _) = w.issue(
        "acme",
        json!({"name": "not admin", "scopes": ["documents.*"]}),
    );
    let r = send_json(w.keyed("POST", path, &key), &body);
    assert_problem(&r, 403, "FORBIDDEN");
    // Authorization comes before parsing: garbage from an unknown caller is a 401, not a 400.
    let r = send_bytes(
        w.req("POST", path).set("authorization", &wrong),
        b"{not json",
    );
    assert_problem(&r, 401, "INVALID_KEY");
}

#[test]
fn unknown_keys_methods_and_large_bodies() {
    let w = main_worker();
    assert_problem(
        &send(w.admin("GET", "/teams/acme/keys/key_doesnotexist")),
        404,
        "NOT_FOUND",
    );
    assert_problem(
        &send(w.admin("GET", "/teams/acme/keys/not-a-key-id")),
        404,
        "NOT_FOUND",
    );
    assert_problem(&send(w.admin("GET", "/nothing/here")), 404, "NOT_FOUND");
    let r = send(w.admin("PUT", "/teams/acme/keys"));
    assert_problem(&r, 405, "METHOD_NOT_ALLOWED");
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let big = format!(r#"{{"name":"{}","scopes":[]}}"#, "x".repeat(100 * 1024));
    let r = send_bytes(
        w.admin("POST", "/teams/acme/keys")
            .set("content-type", "application/json"),
        big.as_bytes(),
    );
    assert_problem(&r, 413, "PAYLOAD_TOO_LARGE");
}

#[test]
fn teams_are_isolated_by_id() {
    let w = main_worker();
    let (_, reply) = w.issue("team-a", json!({"name": "team a key", "scopes": []}));
    let id = reply["id"].as_str().unwrap();
    assert_eq!(
        send(w.admin("GET", &format!("/teams/team-a/keys/{id}"))).status,
        200
    );
    // The same id under another team is not found, and cannot be revoked there.
    assert_problem(
        &send(w.admin("GET", &format!("/teams/team-b/keys/{id}"))),
        404,
        "NOT_FOUND",
    );
    assert_problem(
        &send(w.admin("DELETE", &format!("/teams/team-b/keys/{id}"))),
        404,
        "NOT_FOUND",
    );
    assert_eq!(
        send(w.admin("GET", &format!("/teams/team-a/keys/{id}"))).json()["status"],
        "active"
    );
}
