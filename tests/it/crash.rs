//! Crashes: `wrangler dev` killed with SIGKILL under load, then started again on
//! the same state. What a key's object and its team directory answered before
//! the crash holds after it; keys work on the first request after it.

use crate::harness::{assert_problem, send, send_json, TempDir, Worker};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const TEAM: &str = "crash";
const LOADERS: u64 = 4;

fn issue(w: &Worker, name: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": name, "scopes": ["api.read"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (key, reply) = w.issue(TEAM, body);
    (key, reply["id"].as_str().unwrap().to_string())
}

/// Sends `key`'s requests from [`LOADERS`] threads until the worker dies under
/// them, killing it once `before_crash` were answered 200 (or 20 s passed):
/// how many were answered 200.
fn load_then_crash(w: &Worker, key: &str, before_crash: u64) -> u64 {
    let (ok, dead) = (AtomicU64::new(0), AtomicBool::new(false));
    std::thread::scope(|s| {
        for _ in 0..LOADERS {
            s.spawn(|| {
                while !dead.load(Ordering::Relaxed) {
                    match Worker::try_send(w.keyed("GET", "/cheap/1", key)) {
                        Some(r) if r.status == 200 => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(_) => {}
                        None => return,
                    }
                }
            });
        }
        let started = std::time::Instant::now();
        while ok.load(Ordering::Relaxed) < before_crash && started.elapsed().as_secs() < 20 {
            std::thread::sleep(Duration::from_millis(20));
        }
        w.crash();
        dead.store(true, Ordering::Relaxed);
    });
    ok.into_inner()
}

fn credits_left(w: &Worker, id: &str) -> u64 {
    w.view(TEAM, id)["credits"]["remaining"].as_u64().unwrap()
}

/// Exact admission: revocations, renames, counters, credits and the audit log
/// are as the worker answered them before the crash, and keys work at once.
#[test]
fn a_crash_under_load_loses_nothing_that_was_answered() {
    let state = TempDir::new("crash-exact");
    let w = crate::crash_worker(&state.0, "exact");
    let (spender, spender_id) = issue(
        &w,
        "spender",
        json!({"credits": {"remaining": 100_000},
               "rate_limits": [{"name": "hour", "limit": 100000, "window": "1h"}]}),
    );
    let (revoked, revoked_id) = issue(&w, "to revoke", json!({}));
    let (renamed, renamed_id) = issue(&w, "old name", json!({}));
    let r = send(w.admin("DELETE", &format!("/teams/{TEAM}/keys/{revoked_id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send_json(
        w.admin("PATCH", &format!("/teams/{TEAM}/keys/{renamed_id}")),
        &json!({"name": "new name"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let ok = load_then_crash(&w, &spender, 40);
    assert!(ok >= 40, "the load ran: {ok}");
    drop(w);

    let w = crate::crash_worker(&state.0, "exact");
    // Keys work at once, and what changed before the crash holds.
    assert_eq!(send(w.keyed("GET", "/cheap/2", &renamed)).status, 200);
    assert_problem(
        &send(w.keyed("GET", "/cheap/2", &revoked)),
        401,
        "KEY_REVOKED",
    );
    assert_eq!(w.view(TEAM, &renamed_id)["name"], "new name");
    // Every admitted request was paid for; at most the requests in flight at
    // the crash were paid for and never answered.
    let spent = 100_000 - credits_left(&w, &spender_id);
    assert!(
        (ok..=ok + LOADERS).contains(&spent),
        "{ok} admitted, {spent} spent"
    );
    // The counters too: the hour's limit counts each of them.
    let r = send(w.keyed("GET", "/cheap/3", &spender));
    assert_eq!(r.status, 200, "{}", r.text());
    let remaining: u64 = r.header("ratelimit").map_or(0, |v| {
        v.split("r=")
            .nth(1)
            .and_then(|t| t.split(';').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    });
    let counted = 100_000 - 1 - remaining;
    assert!(
        (ok..=ok + LOADERS).contains(&counted),
        "{ok} admitted, {counted} counted: {:?}",
        r.header("ratelimit")
    );
    // The audit log is whole: three keys, a revocation and a rename.
    let audit = send(w.admin("GET", &format!("/teams/{TEAM}/audit?limit=100"))).json();
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "key.update",
            "key.revoke",
            "key.create",
            "key.create",
            "key.create"
        ],
        "{audit}"
    );
}

/// Leased admission: a crash loses the isolate's leases. Their credits lapse
/// and are not given back: a crash never gives back credits of admitted
/// requests, and costs the customer at most what the isolate held on lease:
/// a lease holds twice what the isolate spent in the last `LEASE_TTL`, and is
/// renewed once half of it is spent, so at most three times that.
#[test]
fn a_crash_in_leased_admission_gives_back_no_spent_credits_and_loses_at_most_the_leases() {
    let state = TempDir::new("crash-leased");
    let w = crate::crash_worker(&state.0, "leased");
    let start = 100_000;
    let (key, id) = issue(&w, "leased", json!({"credits": {"remaining": start}}));
    let ok = load_then_crash(&w, &key, 40);
    assert!(ok >= 40, "the load ran: {ok}");
    drop(w);

    let w = crate::crash_worker(&state.0, "leased");
    assert_eq!(send(w.keyed("GET", "/cheap/2", &key)).status, 200);
    // Once the crashed isolate's leases lapse (LEASE_TTL, then the grace for a
    // late return), their credits count as spent.
    std::thread::sleep(Duration::from_millis(1_000 + 5_000 + 500));
    assert_eq!(send(w.keyed("GET", "/cheap/3", &key)).status, 200);
    let left = credits_left(&w, &id);
    let admitted = ok + 2;
    assert!(
        left <= start - admitted,
        "credits given back: {admitted} admitted, {left} left of {start}"
    );
    let lost = start - admitted - left;
    // What it spent in the last LEASE_TTL is at most every request answered
    // before the crash, and those in flight.
    assert!(
        lost <= 3 * (ok + LOADERS),
        "{lost} lost for {ok} admitted before the crash"
    );
    eprintln!("a crash under load cost {lost} credits on lease ({ok} admitted before it)");
}
