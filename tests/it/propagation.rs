//! A change of a key applies on the next request, in exact admission, although
//! the isolate serving it still holds the record it read before the change
//! (`RECORD_CACHE_TTL`, and KV copies still on their way elsewhere): the key's
//! object knows the record's newest revision, and a request judged on an older
//! one is judged again on the team directory's.

use crate::harness::{assert_problem, send, send_json, Worker};
use crate::main_worker;
use serde_json::{json, Value};

/// A key that has been used once, so that the isolate holds its record, then
/// changed by the admin with `patch`.
fn used_then_changed(w: &Worker, name: &str, patch: Value) -> String {
    let (key, reply) = w.issue("acme", json!({"name": name, "scopes": ["documents.read"]}));
    let id = reply["id"].as_str().unwrap();
    assert_eq!(w.read(&key).status, 200);
    let r = send_json(w.admin("PATCH", &format!("/teams/acme/keys/{id}")), &patch);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["warnings"].is_null(), "{}", r.text());
    key
}

#[test]
fn a_scope_removed_is_refused_on_the_next_request() {
    let w = main_worker();
    let key = used_then_changed(w, "narrowed", json!({"scopes": []}));
    assert_problem(&w.read(&key), 403, "INSUFFICIENT_SCOPE");
}

#[test]
fn a_scope_added_is_admitted_on_the_next_request() {
    let w = main_worker();
    let (key, reply) = w.issue("acme", json!({"name": "widened", "scopes": []}));
    let id = reply["id"].as_str().unwrap();
    assert_problem(&w.read(&key), 403, "INSUFFICIENT_SCOPE");
    let r = send_json(
        w.admin("PATCH", &format!("/teams/acme/keys/{id}")),
        &json!({"scopes": ["documents.read"]}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = w.read(&key);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn an_address_list_added_holds_on_the_next_request() {
    let w = main_worker();
    let key = used_then_changed(w, "fenced", json!({"ip_allow": ["203.0.113.0/24"]}));
    assert_problem(&w.read(&key), 403, "IP_NOT_ALLOWED");
}

#[test]
fn new_meta_reaches_the_origin_on_the_next_request() {
    let w = main_worker();
    let key = used_then_changed(w, "tagged", json!({"meta": {"tier": "gold"}}));
    let r = send(w.keyed("GET", "/documents/1", &key));
    assert_eq!(r.status, 200, "{}", r.text());
    let meta = r.json()["headers"]["x-keyward-meta"].clone();
    assert_eq!(meta, json!(r#"{"tier":"gold"}"#), "{}", r.text());
}

/// Leased admission: the isolate's lease admits on the record it holds until
/// the lease runs out; then the object grants no lease on the older revision,
/// and the request, asked exactly, is judged again on the directory's record.
/// So a change holds within `LEASE_TTL` (1 s here).
#[test]
fn in_leased_admission_a_scope_removed_is_refused_within_the_lease_ttl() {
    let w = crate::leased_worker(true);
    let team = crate::harness::fresh_team("leasedscope");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "narrowed", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    assert_eq!(w.read(&key).status, 200);
    let patched = std::time::Instant::now();
    let r = send_json(
        w.admin("PATCH", &format!("/teams/{team}/keys/{id}")),
        &json!({"scopes": []}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let refused = loop {
        let r = w.read(&key);
        if r.status != 200 {
            break r;
        }
        assert!(
            patched.elapsed() < std::time::Duration::from_millis(2_500),
            "still admitted long after LEASE_TTL"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_problem(&refused, 403, "INSUFFICIENT_SCOPE");
    assert_problem(&w.read(&key), 403, "INSUFFICIENT_SCOPE");
}
