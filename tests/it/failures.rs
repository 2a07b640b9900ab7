//! Failing closed: a missing KV namespace, an unreachable origin, an invalid configuration.

use crate::harness::{assert_problem, getrandom, send, send_json};
use crate::{broken_worker, misconfigured_worker};
use serde_json::json;

#[test]
fn malformed_keys_are_refused_without_any_kv_read() {
    // This worker has no KV namespace: reaching KV would answer 503, so a 401
    // proves that the format check needs no lookup.
    let w = broken_worker();
    let r = send(
        w.req("GET", "/documents/1")
            .set("authorization", "Bearer kw_tooshort"),
    );
    assert_problem(&r, 401, "INVALID_FORMAT");
    let r = send(w.req("GET", "/documents/1"));
    assert_problem(&r, 401, "MISSING_KEY");
}

#[test]
fn a_failing_kv_namespace_fails_closed() {
    let w = broken_worker();
    let key = keyward::key::generate("kw_", getrandom);
    let r = send(
        w.req("GET", "/documents/1")
            .set("authorization", &format!("Bearer {}", key.expose())),
    );
    let p = assert_problem(&r, 503, "UNAVAILABLE");
    assert!(r.header("x-origin").is_none(), "nothing reached the origin");
    assert!(p["detail"].as_str().unwrap().contains("unavailable"));
    let r = send_json(
        w.admin("POST", "/teams/acme/keys"),
        &json!({"name": "abc", "scopes": []}),
    );
    assert_problem(&r, 503, "UNAVAILABLE");
    assert!(w.logged("dependency_error"), "the cause is logged");
}

#[test]
fn an_unreachable_origin_is_a_502() {
    let r = send(broken_worker().req("GET", "/health"));
    assert_problem(&r, 502, "ORIGIN_UNAVAILABLE");
}

#[test]
fn an_invalid_configuration_names_the_field() {
    let w = misconfigured_worker();
    for path in [
        "/documents/1",
        "/health",
        "/_keyward/health",
        "/_keyward/v1/teams/acme/keys",
    ] {
        let r = send(w.req("GET", path));
        let p = assert_problem(&r, 503, "MISCONFIGURED");
        assert_eq!(p["fields"], json!(["POLICY.routes[0].path"]), "{path}");
        assert!(p["detail"]
            .as_str()
            .unwrap()
            .contains("must start with '/'"));
    }
    assert!(w.logged("POLICY.routes[0].path"), "the error is logged");
}

#[test]
fn a_malformed_record_in_kv_fails_closed_and_says_why() {
    let state = crate::harness::TempDir::new("state");
    let w = crate::private_worker(&state.0);
    let key = keyward::key::generate("kw_", crate::harness::getrandom);
    w.kv_put(&format!("key:{}", key.hash().as_str()), "{not a record");
    let r = crate::harness::send(
        w.req("GET", "/documents/1")
            .set("authorization", &format!("Bearer {}", key.expose())),
    );
    let p = crate::harness::assert_problem(&r, 503, "UNAVAILABLE");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("malformed key record"),
        "{p}"
    );
    assert!(r.header("x-origin").is_none(), "nothing reached the origin");
    assert!(w.logged("dependency_error"));
}
