//! Leased admission end to end (`ADMISSION = "leased"`, `LEASE_TTL` 1 s): limits
//! stay exact under concurrency, revocation and disabling take effect at once in
//! the isolate that made them (and within `LEASE_TTL` everywhere), usage settles
//! to what clients saw, and without the key's object no quota means no request.

use crate::harness::{assert_problem, fresh_team, send, Resp, Worker};
use crate::leased_worker;
use serde_json::{json, Value};
use std::time::Duration;

fn issue(w: &Worker, team: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": "leased", "scopes": ["documents.read"]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (key, reply) = w.issue(team, body);
    (key, reply["id"].as_str().unwrap().to_string())
}

/// Waits until the key's usage shows `requests` and `denied` (leases returned,
/// reports written), at most 10 s.
fn settled(w: &Worker, team: &str, id: &str, requests: u64, denied: u64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let v = w.view(team, id);
        let done = v["requests"] == requests && v["denied"] == denied;
        if done || std::time::Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn leased_admission_is_exact_under_concurrency_and_settles_usage() {
    let w = leased_worker(true);
    let team = fresh_team("leased");
    let (key, id) = issue(
        w,
        &team,
        json!({"rate_limits": [{"name": "hour", "limit": 50, "window": "1h"}]}),
    );
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..64).map(|_| s.spawn(|| w.read(&key).status)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let limited = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((ok, limited), (50, 14), "{statuses:?}");
    // Exhausted: refused locally, with a true Retry-After.
    let r = w.read(&key);
    let p = assert_problem(&r, 429, "RATE_LIMITED");
    assert_eq!(p["violated-policies"], json!(["hour"]));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Once the leases are back, the key's usage is what the clients saw.
    let v = settled(w, &team, &id, 50, 15);
    assert_eq!(
        (v["requests"].clone(), v["denied"].clone()),
        (json!(50), json!(15))
    );
    assert!(v["last_used_at"].is_string());
    let recent = v["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 50);
    assert!(recent.iter().any(|o| o["code"] == "RATE_LIMITED"));
}

#[test]
fn rate_limit_headers_never_promise_more_than_is_left() {
    let w = leased_worker(true);
    let team = fresh_team("headers");
    let (key, _) = issue(
        w,
        &team,
        json!({"rate_limits": [{"name": "burst", "limit": 12, "window": "1h"}]}),
    );
    for i in 1..=12u64 {
        let r = w.read(&key);
        assert_eq!(r.status, 200, "{}", r.text());
        let field = r.header("ratelimit").unwrap().to_string();
        let remaining: u64 = field
            .split(";r=")
            .nth(1)
            .and_then(|t| t.split(';').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        assert!(remaining <= 12 - i, "after {i}: {field}");
        assert_eq!(r.header("ratelimit-policy"), Some("\"burst\";q=12;w=3600"));
    }
    assert_problem(&w.read(&key), 429, "RATE_LIMITED");
}

#[test]
fn revocation_and_disabling_take_effect_at_once_here() {
    let w = leased_worker(true);
    let team = fresh_team("revoke");
    let (key, id) = issue(w, &team, json!({"rate_limits": []}));
    for _ in 0..5 {
        assert_eq!(w.read(&key).status, 200);
    }
    let patch = |enabled: bool| {
        let r = crate::harness::send_json(
            w.admin("PATCH", &format!("/teams/{team}/keys/{id}")),
            &json!({"enabled": enabled}),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    };
    patch(false);
    assert_problem(&w.read(&key), 401, "KEY_DISABLED");
    patch(true);
    // Enabling goes through KV and the record cache, like in exact mode.
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while w.read(&key).status != 200 {
        assert!(std::time::Instant::now() < deadline, "never enabled again");
        std::thread::sleep(Duration::from_millis(500));
    }
    let r = send(w.admin("DELETE", &format!("/teams/{team}/keys/{id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_problem(&w.read(&key), 401, "KEY_REVOKED");
}

#[test]
fn without_the_object_no_held_quota_means_no_request() {
    let w = leased_worker(false);
    let team = fresh_team("noobject");
    let (key, _) = issue(w, &team, json!({}));
    assert_problem(&w.read(&key), 503, "UNAVAILABLE");
    assert!(w.logged("KEY_AUTHORITY"));
}

/// A key's object is created by its first request, near its caller: issuing,
/// listing, reading, renaming, disabling and enabling an unused key never reach
/// it, and its view says so (no usage). Its first request creates it; from then
/// on admin calls reach it.
#[test]
fn admin_calls_never_create_a_keys_object() {
    let w = crate::main_worker();
    let team = fresh_team("placement");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "unused", "scopes": ["documents.read"], "region": "weur"}),
    );
    let id = reply["id"].as_str().unwrap().to_string();
    assert_eq!(reply["region"], "weur");
    let started = format!("\"object\":\"{id}\"");
    let admin = |method: &str, path: String, body: Option<Value>| {
        let req = w.admin(method, &path);
        let r = match body {
            Some(b) => crate::harness::send_json(req, &b),
            None => send(req),
        };
        assert!(r.status < 300, "{method} {path}: {}", r.text());
        r
    };
    let one = format!("/teams/{team}/keys/{id}");
    let v = admin("GET", one.clone(), None).json();
    assert_eq!(
        (v["requests"].clone(), v["last_used_at"].clone()),
        (json!(0), Value::Null)
    );
    admin("GET", format!("/teams/{team}/keys"), None);
    admin("PATCH", one.clone(), Some(json!({"name": "renamed"})));
    admin("PATCH", one.clone(), Some(json!({"enabled": false})));
    admin("PATCH", one.clone(), Some(json!({"enabled": true})));
    admin("GET", format!("/teams/{team}/audit"), None);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !w.logs().contains(&started),
        "an admin call created the key's object"
    );
    // The first request creates it.
    let r = send(w.keyed("GET", "/documents/1", &key));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(w.logged(&started), "the first request created the object");
    // From now on the admin reaches it: usage, and a revocation on the next request.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while admin("GET", one.clone(), None).json()["requests"] != 1 {
        assert!(std::time::Instant::now() < deadline, "usage never showed");
        std::thread::sleep(Duration::from_millis(200));
    }
    admin("DELETE", one, None);
    let r = send(w.keyed("GET", "/documents/1", &key));
    assert_problem(&r, 401, "KEY_REVOKED");
}

/// Makes the key objects of a flaky worker reachable (`up`) or not (`down`).
fn switch(w: &Worker, state: &str) {
    w.switch(&format!("objects/{state}"));
}

/// Sends the key's requests until one is refused: how many were admitted in
/// all, counting from `admitted`, and the refusal.
fn until_refused(w: &Worker, key: &str, mut admitted: u64) -> (u64, Resp) {
    loop {
        let r = w.read(key);
        if r.status != 200 {
            return (admitted, r);
        }
        admitted += 1;
        assert!(admitted < 1000, "admitted without end");
    }
}

/// With the key's object unreachable, an isolate keeps admitting from the quota
/// it already holds, and no more: then `RATE_LIMIT_FAILURE` (closed) refuses.
#[test]
fn an_unreachable_object_leaves_the_held_quota_and_then_fails_closed() {
    let w = crate::flaky_leased_worker();
    let team = fresh_team("flaky");
    let (key, _) = issue(
        w,
        &team,
        json!({"rate_limits": [{"name": "hour", "limit": 1000, "window": "1h"}]}),
    );
    switch(w, "up");
    // Demand grows the leases: after a burst, the isolate holds quota to spare.
    for _ in 0..20 {
        assert_eq!(w.read(&key).status, 200);
    }
    switch(w, "down");
    let (admitted, status) = until_refused(w, &key, 0);
    switch(w, "up");
    assert!(admitted > 0, "the held quota was not used");
    assert_problem(&status, 503, "UNAVAILABLE");
}

/// Credits are leased like quota: with the key's object unreachable, an isolate
/// spends only the credits it holds, then fails closed; once the object is back,
/// what the isolate spent is settled and the rest is free again, none lost.
#[test]
fn credits_on_lease_are_spent_without_the_object_and_none_are_lost() {
    let w = crate::flaky_credits_worker();
    let team = fresh_team("flakycredits");
    let (key, id) = issue(
        w,
        &team,
        json!({"rate_limits": [], "credits": {"remaining": 1000}}),
    );
    switch(w, "up");
    let mut admitted = 0u64;
    for _ in 0..20 {
        let r = w.read(&key);
        assert_eq!(r.status, 200, "{}", r.text());
        let left: u64 = r
            .header("x-keyward-credits-remaining")
            .unwrap()
            .parse()
            .unwrap();
        assert!(left < 1000 - admitted, "{left} left after {admitted}");
        admitted += 1;
    }
    switch(w, "down");
    let (mut admitted, status) = until_refused(w, &key, admitted);
    assert!(admitted > 20, "the held credits were not used");
    assert_problem(&status, 503, "UNAVAILABLE");
    switch(w, "up");
    // The next request carries the returns that failed; the key then goes idle
    // and gives back what it holds.
    assert_eq!(w.read(&key).status, 200);
    admitted += 1;
    let settled = (0..40).any(|_| {
        std::thread::sleep(Duration::from_millis(250));
        w.view(&team, &id)["credits"]["remaining"] == json!(1000 - admitted)
    });
    let v = w.view(&team, &id);
    assert!(settled, "{admitted} admitted: {}", v["credits"]);
}
