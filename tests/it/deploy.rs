//! Gradual deployments: a worker and its key objects of different releases read
//! each other. `tests/it/flaky.mjs` makes one side look like a later release's
//! (a higher wire version, fields and values this release does not know).

use crate::harness::{assert_problem, fresh_team, send, Worker};
use serde_json::{json, Value};

/// Exact admission behind the switches of `tests/it/flaky.mjs`, its own, and
/// held by one test at a time (the switches hold for the whole worker).
fn worker() -> (&'static Worker, std::sync::MutexGuard<'static, ()>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let held = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    (crate::newer_worker(), held)
}

/// The key's requests and refusals, and its newest outcome, once the object
/// has them.
fn usage(w: &Worker, team: &str, id: &str, requests: u64, denied: u64) -> Value {
    for _ in 0..50 {
        let v = w.view(team, id);
        if v["requests"] == requests && v["denied"] == denied {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("{id}: not {requests} requests and {denied} refusals");
}

/// A later release's worker: its calls carry version 3, fields this release
/// does not know, and a refusal's code it does not know. The object reads
/// them: an admission is admitted, and a refusal stays a refusal, recorded with
/// its status.
#[test]
fn a_later_workers_calls_are_read_and_its_refusals_stay_refusals() {
    let (w, _held) = worker();
    let team = fresh_team("newerworker");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "rolling", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    w.switch("newer/worker/on");
    let read = w.read(&key);
    let write = send(w.keyed("POST", "/documents/1", &key));
    w.switch("newer/worker/off");
    assert_eq!(read.status, 200, "{}", read.text());
    assert_problem(&write, 403, "INSUFFICIENT_SCOPE");
    let v = usage(w, &team, id, 1, 1);
    let newest = &v["recent"][0];
    assert_eq!(
        (&newest["status"], &newest["code"], &newest["forwarded"]),
        (&json!(403), &Value::Null, &json!(false)),
        "{v}"
    );
}

/// A later release's object: its answers carry a field this release does not
/// know, and a status it does not know. The worker refuses with 503
/// UNAVAILABLE, never admits, and admits again once the answers are its own.
#[test]
fn a_later_objects_unknown_status_is_refused_never_admitted() {
    let (w, _held) = worker();
    let team = fresh_team("newerobject");
    let (key, _) = w.issue(
        &team,
        json!({"name": "rolling", "scopes": ["documents.read"]}),
    );
    assert_eq!(w.read(&key).status, 200);
    w.switch("newer/object/on");
    let refused = w.read(&key);
    w.switch("newer/object/off");
    assert_problem(&refused, 503, "UNAVAILABLE");
    assert!(
        refused.text().contains("does not know"),
        "{}",
        refused.text()
    );
    assert_eq!(w.read(&key).status, 200);
}
