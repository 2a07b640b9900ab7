//! keyward as deployed, where KV takes up to 60 s to carry a write to another
//! location: two isolates (`tests/it/pair.mjs`) whose KV hides every write for
//! 30 s (`tests/it/lagging.mjs`). A key issued through one works at once
//! through the other (its locator shard), changes hold on the next request, and
//! made-up keys cost no more object calls than the stated bound.

use crate::harness::{assert_problem, fresh_team, send, send_json, Worker};
use crate::{var, POLICY};
use keyward::locator::{MISS_BURST, MISS_INTERVAL_MS};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Instant;

/// How long KV hides a write: longer than any of these tests runs.
const LAG_MS: u64 = 30_000;

fn lagging_pair() -> (Worker, Worker) {
    Worker::pair_with(
        "tests/it/lagging.mjs",
        &[
            var("ORIGIN_URL", &crate::origin().url),
            var("POLICY", POLICY),
            var("KEY_PREFIX", "kw_"),
            var("TEST_KV_LAG_MS", &LAG_MS.to_string()),
        ],
    )
}

fn pair() -> &'static (Worker, Worker) {
    static P: OnceLock<(Worker, Worker)> = OnceLock::new();
    P.get_or_init(lagging_pair)
}

/// A key issued through the first isolate and used once through the second.
fn issued_and_used(name: &str) -> (String, String, String) {
    let (a, b) = pair();
    let team = fresh_team("lag");
    let (key, reply) = a.issue(&team, json!({"name": name, "scopes": ["documents.read"]}));
    let id = reply["id"].as_str().unwrap().to_string();
    let r = b.read(&key);
    assert_eq!(
        r.status,
        200,
        "a new key, through another isolate: {}",
        r.text()
    );
    (team, id, key)
}

fn patch(team: &str, id: &str, body: Value) {
    let (a, _) = pair();
    let r = send_json(a.admin("PATCH", &format!("/teams/{team}/keys/{id}")), &body);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_new_key_works_at_once_through_a_second_isolate() {
    let (a, _) = pair();
    let (_, _, key) = issued_and_used("fresh");
    // And where it was issued, whose KV hides it as well.
    assert_eq!(a.read(&key).status, 200);
    // A rotation's new key too.
    let (team, id, old) = issued_and_used("rotated");
    let r = send_json(
        a.admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({"grace": "1h"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let new = r.json()["key"].as_str().unwrap().to_string();
    let (_, b) = pair();
    assert_eq!(b.read(&new).status, 200);
    assert_eq!(b.read(&old).status, 200, "the old key, in its grace");
}

#[test]
fn under_the_lag_a_scope_removed_is_refused_on_the_next_request() {
    let (team, id, key) = issued_and_used("narrowed");
    patch(&team, &id, json!({"scopes": []}));
    let (a, b) = pair();
    assert_problem(&b.read(&key), 403, "INSUFFICIENT_SCOPE");
    assert_problem(&a.read(&key), 403, "INSUFFICIENT_SCOPE");
}

#[test]
fn under_the_lag_an_address_list_added_holds_on_the_next_request() {
    let (team, id, key) = issued_and_used("fenced");
    patch(&team, &id, json!({"ip_allow": ["203.0.113.0/24"]}));
    let (_, b) = pair();
    assert_problem(&b.read(&key), 403, "IP_NOT_ALLOWED");
}

#[test]
fn a_revoked_new_key_is_refused_through_the_second_isolate() {
    let (team, id, key) = issued_and_used("revoked");
    let (a, b) = pair();
    let r = send(a.admin("DELETE", &format!("/teams/{team}/keys/{id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_problem(&b.read(&key), 401, "KEY_REVOKED");
}

/// 1,000 well-formed keys that exist nowhere, through one isolate: each is a
/// KV miss, and at most `MISS_BURST + d / MISS_INTERVAL_MS` of them ask a
/// locator shard in `d` milliseconds; the others are refused without a call.
#[test]
fn a_thousand_unknown_keys_cost_at_most_the_bound_in_object_calls() {
    // A pair of its own: only the flood reaches its second isolate.
    static P: OnceLock<(Worker, Worker)> = OnceLock::new();
    let (_, b) = P.get_or_init(lagging_pair);
    let calls = |w: &Worker| w.object_calls().values().sum::<u64>();
    let before = calls(b);
    let started = Instant::now();
    for _ in 0..1_000 {
        let key = keyward::key::generate("kw_", crate::harness::getrandom);
        assert_problem(&b.read(key.expose()), 401, "INVALID_KEY");
    }
    let elapsed_ms = started.elapsed().as_millis() as i64;
    let asked = (calls(b) - before) as i64;
    let bound = MISS_BURST + elapsed_ms / MISS_INTERVAL_MS;
    eprintln!("1,000 unknown keys in {elapsed_ms} ms: {asked} object calls (bound {bound})");
    assert!(asked >= 1, "a miss asks its shard");
    assert!(asked <= bound, "{asked} object calls in {elapsed_ms} ms");
    assert!(asked < 1_000, "the bound refused some without asking");
}
