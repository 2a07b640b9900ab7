//! Exact per-key rate limiting in the key's Durable Object, and the RateLimit fields.

use crate::harness::{assert_problem, now_s, send, TempDir, Worker};
use crate::{main_worker, no_limiter_worker, private_worker};
use serde_json::{json, Value};
use std::time::Duration;

/// Issues a key that may read documents, with `extra` fields; returns (key, reply).
fn issue_with(w: &Worker, extra: Value) -> (String, Value) {
    let mut body = json!({"name": "limited", "scopes": ["documents.read"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    w.issue("acme", body)
}

fn issue(w: &Worker, extra: Value) -> String {
    issue_with(w, extra).0
}

/// Parses `"name";r=1;t=2, ...` into (name, r, t).
fn parse_ratelimit(v: &str) -> Vec<(String, u64, u64)> {
    v.split(", ")
        .map(|item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap().trim_matches('"').to_string();
            let mut r = None;
            let mut t = None;
            for p in parts {
                match p.split_once('=') {
                    Some(("r", n)) => r = n.parse().ok(),
                    Some(("t", n)) => t = n.parse().ok(),
                    _ => {}
                }
            }
            (name, r.expect("r"), t.expect("t"))
        })
        .collect()
}

#[test]
fn concurrent_requests_admit_exactly_the_limit() {
    let w = main_worker();
    // A long window, so that no boundary falls inside the test.
    let key = issue(
        w,
        json!({"rate_limits": [{"name": "total", "limit": 10, "window": "366d"}]}),
    );
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64).map(|_| s.spawn(|| w.read(&key).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let limited = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((ok, limited), (10, 54), "{statuses:?}");
    assert_problem(&w.read(&key), 429, "RATE_LIMITED");
}

#[test]
fn denied_requests_consume_nothing() {
    let w = main_worker();
    let key = issue(
        w,
        json!({"rate_limits": [{"name": "total", "limit": 3, "window": "366d"}]}),
    );
    let auth = format!("Bearer {key}");
    for _ in 0..4 {
        // 403 for a missing scope and for a denied route: nothing counted.
        assert_eq!(
            send(w.req("POST", "/documents/1").set("authorization", &auth)).status,
            403
        );
        assert_eq!(
            send(w.req("GET", "/internal/x").set("authorization", &auth)).status,
            403
        );
    }
    for i in 0..3 {
        let r = w.read(&key);
        assert_eq!(r.status, 200, "request {i}: {}", r.text());
    }
    for _ in 0..3 {
        assert_problem(&w.read(&key), 429, "RATE_LIMITED");
    }
}

#[test]
fn headers_tell_the_truth() {
    let w = main_worker();
    let key = issue(w, json!({"plan": "two"}));
    let before = now_s();
    let r = w.read(&key);
    let after = now_s();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-origin"),
        Some("echo"),
        "the fields are added to the origin's answer"
    );
    assert_eq!(
        r.header("ratelimit-policy"),
        Some("\"burst\";q=5;w=60, \"daily\";q=100;w=86400")
    );
    let rl = parse_ratelimit(r.header("ratelimit").unwrap());
    assert_eq!(rl[0].0, "burst");
    assert_eq!(rl[0].1, 4);
    let burst_t = |now: i64| (60 - now.rem_euclid(60)) as u64;
    assert!(
        (burst_t(after)..=burst_t(before)).contains(&rl[0].2) || rl[0].2 == 60,
        "{rl:?}"
    );
    assert_eq!(rl[1].0, "daily");
    assert_eq!(rl[1].1, 99);
    let daily_t = |now: i64| (86_400 - now.rem_euclid(86_400)) as u64;
    assert!(
        (daily_t(after)..=daily_t(before) + 1).contains(&rl[1].2),
        "{rl:?}"
    );

    // Use up the burst policy (unless a minute boundary resets it on the way).
    let mut last = rl;
    for _ in 0..4 {
        let r = w.read(&key);
        assert_eq!(r.status, 200);
        let rl = parse_ratelimit(r.header("ratelimit").unwrap());
        assert_eq!(
            rl[1].1,
            last[1].1 - 1,
            "every admitted request counts against daily"
        );
        if rl[0].2 <= last[0].2 {
            assert_eq!(rl[0].1, last[0].1 - 1, "{rl:?} after {last:?}");
        }
        last = rl;
    }
    if last[0].1 == 0 {
        let r = w.read(&key);
        let p = assert_problem(&r, 429, "RATE_LIMITED");
        assert_eq!(p["violated-policies"], json!(["burst"]));
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        let rl = parse_ratelimit(r.header("ratelimit").unwrap());
        assert!((1..=60).contains(&retry));
        assert_eq!(rl[0].1, 0);
        assert_eq!(rl[0].2, retry, "Retry-After is the burst window's reset");
        assert_eq!(rl[1].1, last[1].1, "the refused request was not counted");
        assert!(r.header("x-origin").is_none(), "the origin was not called");
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"burst\";q=5;w=60, \"daily\";q=100;w=86400")
        );
    }
}

#[test]
fn waiting_retry_after_seconds_succeeds() {
    let w = main_worker();
    let key = issue(
        w,
        json!({"rate_limits": [{"name": "quick", "limit": 2, "window": "3s"}]}),
    );
    // Both requests in one window (a boundary may fall in between: then retry).
    let mut limited = None;
    for _ in 0..8 {
        let r = w.read(&key);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
        assert_eq!(r.status, 200);
    }
    let r = limited.expect("a 429 within 8 requests of a 2-per-3s key");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3).contains(&retry), "{retry}");
    std::thread::sleep(Duration::from_secs(retry));
    let r = w.read(&key);
    assert_eq!(r.status, 200, "after Retry-After: {}", r.text());
}

#[test]
fn plans_overrides_and_defaults() {
    let w = main_worker();
    let tiny = issue(w, json!({"plan": "tiny"}));
    for _ in 0..3 {
        assert_eq!(w.read(&tiny).status, 200);
    }
    let p = assert_problem(&w.read(&tiny), 429, "RATE_LIMITED");
    assert_eq!(p["violated-policies"], json!(["total"]));

    let unlimited = issue(w, json!({"rate_limits": []}));
    for _ in 0..20 {
        let r = w.read(&unlimited);
        assert_eq!(r.status, 200);
        assert!(r.header("ratelimit").is_none() && r.header("ratelimit-policy").is_none());
    }

    let default = issue(w, json!({}));
    let r = w.read(&default);
    assert_eq!(r.header("ratelimit-policy"), Some("\"burst\";q=1000;w=60"));

    let r = send(w.admin(
        "GET",
        &format!("/teams/acme/keys/{}", issue_id(w, json!({"plan": "tiny"}))),
    ));
    assert_eq!(r.json()["plan"], "tiny");
}

fn issue_id(w: &Worker, extra: Value) -> String {
    let mut body = json!({"name": "limited", "scopes": []});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    w.issue("acme", body).1["id"].as_str().unwrap().to_string()
}

#[test]
fn counts_survive_a_restart() {
    let state = TempDir::new("state");
    let w = private_worker(&state.0);
    let key = issue(
        &w,
        json!({"rate_limits": [{"name": "total", "limit": 3, "window": "366d"}]}),
    );
    assert_eq!(w.read(&key).status, 200);
    assert_eq!(w.read(&key).status, 200);
    drop(w);
    let w = private_worker(&state.0);
    assert_eq!(w.read(&key).status, 200, "the third request of three");
    assert_problem(&w.read(&key), 429, "RATE_LIMITED");
}

#[test]
fn a_failing_limiter_fails_closed() {
    let w = no_limiter_worker(false);
    let key = issue(w, json!({}));
    let r = w.read(&key);
    assert_problem(&r, 503, "UNAVAILABLE");
    assert!(r.header("x-origin").is_none(), "nothing reached the origin");
    // A key without limits still needs its object, which holds its revocation.
    let unlimited = issue(w, json!({"rate_limits": []}));
    assert_problem(&w.read(&unlimited), 503, "UNAVAILABLE");
}

#[test]
fn rate_limit_failure_open_lets_traffic_through_and_logs_it() {
    let w = no_limiter_worker(true);
    let key = issue(w, json!({}));
    let r = w.read(&key);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("ratelimit").is_none());
    assert!(w.logged("rate_limit_failure_open"));
}

/// Fail-open is bounded: with the key's object unreachable, the key's own limits
/// still hold in the isolate, so flooding the object buys nothing past them.
#[test]
fn rate_limit_failure_open_still_keeps_each_keys_limits() {
    let w = no_limiter_worker(true);
    let key = issue(
        w,
        json!({"rate_limits": [{"name": "burst", "limit": 3, "window": "1m"}]}),
    );
    let into_minute = now_s().rem_euclid(60);
    if into_minute > 50 {
        std::thread::sleep(Duration::from_secs((61 - into_minute) as u64));
    }
    for _ in 0..3 {
        let r = w.read(&key);
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = w.read(&key);
    let p = assert_problem(&r, 429, "RATE_LIMITED");
    assert_eq!(p["violated-policies"], json!(["burst"]));
    assert!(r.header("retry-after").is_some());
}

#[test]
fn usage_and_outcomes_are_written_within_a_second_and_survive_a_restart() {
    let state = TempDir::new("state");
    let w = private_worker(&state.0);
    let (key, reply) = issue_with(&w, json!({"rate_limits": []}));
    let id = reply["id"].as_str().unwrap().to_string();
    let team = reply["team"].as_str().unwrap().to_string();
    // More outcomes than are kept: of those made between two writes, only the newest
    // fifty are written, and the stored ones are the same last fifty.
    for i in 0..55 {
        let r = send(w.keyed("GET", &format!("/documents/{i}"), &key));
        assert_eq!(r.status, 200);
    }
    // The object's alarm writes usage and outcomes one second after they happen.
    std::thread::sleep(Duration::from_millis(2_500));
    drop(w);
    let w = private_worker(&state.0);
    let view = send(w.admin("GET", &format!("/teams/{team}/keys/{id}"))).json();
    assert_eq!(view["requests"], 55, "{view}");
    let paths: Vec<&str> = view["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (5..55).rev().map(|i| format!("/documents/{i}")).collect();
    assert_eq!(paths, expected, "newest first, the last fifty");
    assert!(view["last_used_at"].is_string());
}

/// A key without limits of a flaky worker (its objects reachable), used once so
/// that the isolate caches its record for `RECORD_CACHE_TTL`, then patched by the
/// admin with `patch`: the isolate's copy is now older than the key.
fn used_then_patched(w: &Worker, patch: Value) -> String {
    w.switch("objects/up");
    let (key, reply) = issue_with(w, json!({"rate_limits": []}));
    let id = reply["id"].as_str().unwrap();
    assert_eq!(w.read(&key).status, 200);
    let r = crate::harness::send_json(w.admin("PATCH", &format!("/teams/acme/keys/{id}")), &patch);
    assert_eq!(r.status, 200, "{}", r.text());
    key
}

/// Fail-open never lets through a key that the isolate saw its object refuse:
/// disabled while its record is still cached as enabled, the key's object says
/// so; with the object then unreachable, the request fails closed.
#[test]
fn fail_open_never_admits_a_key_its_object_refused() {
    let w = crate::flaky_open_worker();
    let switch = |state: &str| w.switch(&format!("objects/{state}"));
    let key = used_then_patched(w, json!({"enabled": false}));
    // The object refuses it: the cached record still said enabled, and the
    // object, told of the newer revision, had it judged again on the
    // directory's, which the isolate now holds.
    assert_problem(&w.read(&key), 401, "KEY_DISABLED");
    switch("down");
    let r = w.read(&key);
    switch("up");
    assert_problem(&r, 503, "UNAVAILABLE");
    // A key it never saw refused still fails open, as configured.
    let (other, _) = issue_with(w, json!({"rate_limits": []}));
    switch("down");
    let r = w.read(&other);
    switch("up");
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Fail-open never spends credits it cannot count: a key given credits while its
/// record is still cached without them is answered, with its credits, by its
/// object; with the object then unreachable, the request fails closed instead
/// of going through unspent.
#[test]
fn fail_open_never_admits_a_key_its_object_said_spends_credits() {
    let w = crate::flaky_open_credits_worker();
    let switch = |state: &str| w.switch(&format!("objects/{state}"));
    let key = used_then_patched(w, json!({"credits": {"remaining": 5}}));
    // The object spends one and says so (the cached record said none; the
    // request was judged again on the directory's, which the isolate now holds).
    let r = w.read(&key);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("x-keyward-credits-remaining"), Some("4"));
    switch("down");
    let r = w.read(&key);
    switch("up");
    assert_problem(&r, 503, "UNAVAILABLE");
    // The object counted every credit that went through: one, then one more now.
    let r = w.read(&key);
    assert_eq!(r.header("x-keyward-credits-remaining"), Some("3"));
}
