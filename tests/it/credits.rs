//! Credits: spent exactly by admitted requests at their route's cost, refused
//! with `CREDITS_EXHAUSTED` when they do not cover it, changed by admins, kept
//! across restarts.

use crate::harness::{assert_problem, send, send_json, Resp, TempDir, Worker};
use crate::{credits_worker, low_credits_worker, private_credits_worker};
use serde_json::{json, Value};

const TEAM: &str = "credits";

/// Issues a key that may use the priced routes, with `credits`.
fn issue(w: &Worker, credits: Value) -> (String, String) {
    let (key, reply) = w.issue(
        TEAM,
        json!({"name": "credited", "scopes": ["api.read"], "credits": credits}),
    );
    (key, reply["id"].as_str().unwrap().to_string())
}

fn call(w: &Worker, key: &str, method: &str, path: &str) -> Resp {
    send(w.keyed(method, path, key))
}

/// What an admitted response says is left.
fn left(r: &Resp) -> Option<u64> {
    r.header("x-keyward-credits-remaining")
        .map(|v| v.parse().unwrap())
}

fn patch(w: &Worker, id: &str, body: Value) -> Resp {
    send_json(w.admin("PATCH", &format!("/teams/{TEAM}/keys/{id}")), &body)
}

#[test]
fn credits_are_spent_exactly_down_to_zero_at_each_routes_cost() {
    let w = credits_worker();
    let (key, id) = issue(w, json!({"remaining": 5}));
    for (method, path, after) in [
        ("GET", "/cheap/1", 4),
        ("POST", "/render/1", 2),
        ("POST", "/render/2", 0),
        // A free route costs nothing, even at 0.
        ("GET", "/free/1", 0),
    ] {
        let r = call(w, &key, method, path);
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
        assert!(r.header("x-origin").is_some(), "the origin answered");
        assert_eq!(left(&r), Some(after), "{method} {path}");
    }
    let r = call(w, &key, "GET", "/cheap/2");
    let p = assert_problem(&r, 429, "CREDITS_EXHAUSTED");
    assert_eq!((&p["remaining"], &p["cost"]), (&json!(0), &json!(1)));
    assert_eq!(p["next_refill_at"], Value::Null);
    assert!(
        r.header("retry-after").is_none(),
        "no refill, no Retry-After"
    );
    assert!(r.header("x-origin").is_none(), "nothing reached the origin");
    let v = w.view(TEAM, &id);
    assert_eq!(v["credits"]["remaining"], json!(0));
    assert_eq!(v["recent"][0]["code"], json!("CREDITS_EXHAUSTED"));
}

#[test]
fn refused_requests_spend_nothing() {
    let w = credits_worker();
    let (key, id) = issue(w, json!({"remaining": 2}));
    // 403: a route the key's scopes do not open.
    assert_problem(&call(w, &key, "GET", "/admin/x"), 403, "INSUFFICIENT_SCOPE");
    // 401: the key disabled, then enabled again.
    assert_eq!(patch(w, &id, json!({"enabled": false})).status, 200);
    assert_problem(&call(w, &key, "GET", "/cheap/1"), 401, "KEY_DISABLED");
    assert_eq!(patch(w, &id, json!({"enabled": true})).status, 200);
    // A route that matches nothing: 403, nothing spent either.
    assert_problem(&call(w, &key, "GET", "/nowhere"), 403, "ROUTE_NOT_ALLOWED");
    assert_eq!(left(&call(w, &key, "GET", "/cheap/1")), Some(1));
    assert_eq!(left(&call(w, &key, "GET", "/cheap/2")), Some(0));
    // Too little for a route of cost 2: refused, and the 1 is not spent.
    let (key, _) = issue(w, json!({"remaining": 1}));
    let p = assert_problem(
        &call(w, &key, "POST", "/render/1"),
        429,
        "CREDITS_EXHAUSTED",
    );
    assert_eq!((&p["remaining"], &p["cost"]), (&json!(1), &json!(2)));
    assert_eq!(left(&call(w, &key, "GET", "/cheap/1")), Some(0));
}

#[test]
fn concurrent_requests_spend_exactly_the_credits() {
    let w = credits_worker();
    let (key, id) = issue(w, json!({"remaining": 20}));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..40)
            .map(|i| {
                let key = &key;
                s.spawn(move || call(w, key, "GET", &format!("/cheap/{i}")).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    let exhausted = statuses.iter().filter(|&&s| s == 429).count();
    assert_eq!((ok, exhausted), (20, 20), "{statuses:?}");
    assert_eq!(w.view(TEAM, &id)["credits"]["remaining"], json!(0));
}

#[test]
fn admins_add_set_and_remove_credits_with_an_audit_trail() {
    let w = credits_worker();
    let (key, id) = issue(w, json!({"remaining": 1}));
    assert_eq!(left(&call(w, &key, "GET", "/cheap/1")), Some(0));
    assert_problem(&call(w, &key, "GET", "/cheap/2"), 429, "CREDITS_EXHAUSTED");
    // Listing finds it exhausted.
    let list = send(w.admin(
        "GET",
        &format!("/teams/{TEAM}/keys?credits=exhausted&limit=100"),
    ));
    assert_eq!(list.status, 200, "{}", list.text());
    let items = list.json()["items"].clone();
    let found = items
        .as_array()
        .unwrap()
        .iter()
        .any(|k| k["id"] == json!(id));
    assert!(found, "{items}");
    // Keys with credits left are not exhausted.
    assert!(items
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k["credits"]["remaining"] == json!(0)));

    // Adding 3 admits exactly 3 more.
    let r = patch(w, &id, json!({"credits": {"add": 3}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["credits"]["remaining"], json!(3));
    for expected in [2, 1, 0] {
        assert_eq!(left(&call(w, &key, "GET", "/cheap/3")), Some(expected));
    }
    assert_problem(&call(w, &key, "GET", "/cheap/4"), 429, "CREDITS_EXHAUSTED");

    // Set, with a daily refill: a refused request is told when it comes.
    let r = patch(
        w,
        &id,
        json!({"credits": {"remaining": 0, "refill": {"interval": "daily", "amount": 10}}}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let next = r.json()["credits"]["next_refill_at"].clone();
    assert!(next.is_string(), "{next}");
    let r = call(w, &key, "GET", "/cheap/5");
    let p = assert_problem(&r, 429, "CREDITS_EXHAUSTED");
    assert_eq!(p["next_refill_at"], next);
    let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=86_400).contains(&retry), "{retry}");

    // Removed: unlimited in credits, and no header.
    assert_eq!(patch(w, &id, json!({"credits": null})).status, 200);
    let r = call(w, &key, "GET", "/cheap/6");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(left(&r), None);
    assert_eq!(w.view(TEAM, &id)["credits"], Value::Null);
    // With none, there is nothing to add to.
    assert_problem(
        &patch(w, &id, json!({"credits": {"add": 1}})),
        409,
        "CONFLICT",
    );

    // Every change is in the audit log, old and new.
    let audit = send(w.admin("GET", &format!("/teams/{TEAM}/audit?limit=100"))).json();
    let changes: Vec<&Value> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["key_id"] == json!(id) && e["details"]["credits"].is_object())
        .collect();
    assert_eq!(changes.len(), 3, "{audit}");
    // Newest first: removed, set, added.
    assert_eq!(changes[0]["details"]["credits"]["new"], Value::Null);
    assert_eq!(
        changes[1]["details"]["credits"]["new"]["remaining"],
        json!(0)
    );
    assert_eq!(
        changes[2]["details"]["credits"]["old"]["remaining"],
        json!(0)
    );
    assert_eq!(
        changes[2]["details"]["credits"]["new"]["remaining"],
        json!(3)
    );
}

#[test]
fn credits_of_a_key_never_used_are_changed_before_its_first_request() {
    let w = credits_worker();
    let (key, id) = issue(w, json!({"remaining": 1}));
    let r = patch(w, &id, json!({"credits": {"add": 1}}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(left(&call(w, &key, "GET", "/cheap/1")), Some(1));
    assert_eq!(left(&call(w, &key, "GET", "/cheap/2")), Some(0));
    assert_problem(&call(w, &key, "GET", "/cheap/3"), 429, "CREDITS_EXHAUSTED");
}

#[test]
fn a_plan_brings_its_credits_and_bad_credits_are_named() {
    let w = credits_worker();
    let (key, reply) = w.issue(
        TEAM,
        json!({"name": "on trial", "scopes": ["api.read"], "plan": "trial"}),
    );
    assert_eq!(reply["credits"]["remaining"], json!(3));
    assert!(reply["credits"]["next_refill_at"].is_string());
    assert_eq!(left(&call(w, &key, "GET", "/cheap/1")), Some(2));
    let r = send_json(
        w.admin("POST", &format!("/teams/{TEAM}/keys")),
        &json!({"name": "bad", "scopes": [], "credits": {"remaining": -1, "refill": {"interval": "weekly", "amount": 1}}}),
    );
    let p = assert_problem(&r, 400, "VALIDATION_FAILED");
    let fields: Vec<&str> = p["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["credits.remaining", "credits.refill.interval"]);
}

#[test]
fn credits_survive_a_restart() {
    let state = TempDir::new("credits-state");
    let w = private_credits_worker(&state.0);
    let (key, _) = issue(&w, json!({"remaining": 3}));
    assert_eq!(left(&call(&w, &key, "GET", "/cheap/1")), Some(2));
    assert_eq!(left(&call(&w, &key, "GET", "/cheap/2")), Some(1));
    drop(w);
    let w = private_credits_worker(&state.0);
    assert_eq!(left(&call(&w, &key, "GET", "/cheap/3")), Some(0));
    assert_problem(&call(&w, &key, "GET", "/cheap/4"), 429, "CREDITS_EXHAUSTED");
}

/// A request to the admin API with `key` as the credential.
fn as_manager(w: &Worker, key: &str, method: &str, path: &str, body: Value) -> Resp {
    send_json(w.keyed(method, &format!("/_keyward/v1{path}"), key), &body)
}

#[test]
fn managers_never_multiply_or_shed_credits() {
    let w = credits_worker();
    let manage = |credits: Value| {
        let mut body = json!({"name": "manager", "scopes": ["keys.manage", "api.read"]});
        if !credits.is_null() {
            body["credits"] = credits;
        }
        w.issue(TEAM, body)
    };
    // A manager with credits, even none left, still manages (the admin API
    // spends nothing), but issues no key: each would be a budget of its own.
    let (metered, reply) = manage(json!({"remaining": 0}));
    let metered_id = reply["id"].as_str().unwrap().to_string();
    let list = as_manager(
        w,
        &metered,
        "GET",
        &format!("/teams/{TEAM}/keys"),
        Value::Null,
    );
    assert_eq!(list.status, 200, "{}", list.text());
    for body in [
        json!({"name": "free ride", "scopes": []}),
        json!({"name": "free ride", "scopes": [], "credits": {"remaining": 1000}}),
    ] {
        let r = as_manager(w, &metered, "POST", &format!("/teams/{TEAM}/keys"), body);
        let p = assert_problem(&r, 403, "FORBIDDEN");
        assert_eq!(p["beyond_powers"], json!(["credits"]));
    }
    // Nor may it rotate a key without credits into its hands.
    let (_, plain) = w.issue(TEAM, json!({"name": "unmetered", "scopes": ["api.read"]}));
    let plain_id = plain["id"].as_str().unwrap();
    let path = format!("/teams/{TEAM}/keys/{plain_id}/rotate");
    let r = as_manager(w, &metered, "POST", &path, json!({"grace": "0s"}));
    assert_eq!(
        assert_problem(&r, 403, "FORBIDDEN")["beyond_powers"],
        json!(["credits"])
    );

    // A manager without credits may not give or remove credits, its own included.
    let (open, _) = manage(Value::Null);
    for (id, body) in [
        (&metered_id, json!({"credits": {"add": 1000}})),
        (&metered_id, json!({"credits": null})),
    ] {
        let r = as_manager(w, &open, "PATCH", &format!("/teams/{TEAM}/keys/{id}"), body);
        let p = assert_problem(&r, 403, "FORBIDDEN");
        assert_eq!(p["admin_only_fields"], json!(["credits"]));
    }
    assert_eq!(w.view(TEAM, &metered_id)["credits"]["remaining"], json!(0));
}

#[test]
fn a_low_credit_notice_is_signed_and_sent_once_per_period() {
    use crate::harness::{now_s, Receiver};
    use keyward::notice;
    use std::time::Duration;
    let hook = Receiver::start();
    let secret = "whsec-credits-0123456789abcdef0123456789";
    let w = low_credits_worker(&hook.url, secret);
    let (key, id) = issue(&w, json!({"remaining": 10}));
    // 5 left of 10 is not below 50%.
    for _ in 0..5 {
        assert_eq!(call(&w, &key, "GET", "/cheap/1").status, 200);
    }
    std::thread::sleep(Duration::from_millis(1_500));
    assert_eq!(hook.received().len(), 0, "no notice at 50%");
    assert_eq!(call(&w, &key, "GET", "/cheap/1").status, 200);
    let got = hook.wait_for(1, Duration::from_secs(10));
    assert_eq!(got.len(), 1, "one notice below 50%");
    let sig = got[0]
        .header(notice::SIGNATURE_HEADER)
        .expect("a signature");
    assert_eq!(
        notice::verify(secret.as_bytes(), sig, &got[0].body, now_s(), 300),
        Ok(())
    );
    let n: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(n["type"], "key.credits_low");
    assert_eq!(n["team"], TEAM);
    assert_eq!(n["key_id"], json!(id));
    assert_eq!((&n["remaining"], &n["of"]), (&json!(4), &json!(10)));
    assert_eq!(n["threshold_percent"], json!(50));
    assert_eq!(n["next_refill_at"], Value::Null);
    assert!(!String::from_utf8_lossy(&got[0].body).contains(&key[key.len() - 20..]));
    // Spending on to nothing sends no second notice in the period.
    for _ in 0..4 {
        assert_eq!(call(&w, &key, "GET", "/cheap/1").status, 200);
    }
    assert_problem(&call(&w, &key, "GET", "/cheap/1"), 429, "CREDITS_EXHAUSTED");
    std::thread::sleep(Duration::from_millis(2_000));
    assert_eq!(hook.received().len(), 1, "once per period");
    // An admin's new amount is a new period: below half of it, a new notice.
    assert_eq!(
        patch(&w, &id, json!({"credits": {"remaining": 4}})).status,
        200
    );
    assert_eq!(call(&w, &key, "GET", "/cheap/1").status, 200);
    assert_eq!(call(&w, &key, "GET", "/cheap/1").status, 200);
    assert_eq!(call(&w, &key, "GET", "/cheap/1").status, 200);
    let got = hook.wait_for(2, Duration::from_secs(10));
    assert_eq!(got.len(), 2, "a notice in the new period");
    let n2: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!((&n2["remaining"], &n2["of"]), (&json!(1), &json!(4)));
    assert_ne!(n2["id"], n["id"]);
}

/// A list kept by its credits fills its answer from the directory's later
/// pages: it is never short, or empty, while keys remain to be read.
#[test]
fn a_list_kept_by_credits_is_never_short_while_keys_remain() {
    let w = credits_worker();
    let team = crate::harness::fresh_team("filtered");
    let body = |name: &str, remaining: u64| json!({"name": name, "scopes": ["api.read"], "credits": {"remaining": remaining}});
    let (spent, reply) = w.issue(&team, body("spent", 1));
    let spent_id = reply["id"].clone();
    assert_eq!(call(w, &spent, "GET", "/cheap/1").status, 200);
    // Newer keys (a second later: keys list by their second, then their id),
    // none exhausted: the exhausted key is the oldest, on the last page.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    for name in ["full one", "full two", "full three"] {
        w.issue(&team, body(name, 50));
    }
    let list = |query: &str| {
        let r = send(w.admin("GET", &format!("/teams/{team}/keys?{query}")));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    };
    let page = list("credits=exhausted&limit=1");
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| &k["id"])
        .collect();
    assert_eq!(ids, [&spent_id], "{page}");
    assert_eq!(page["next_cursor"], Value::Null, "{page}");
    // Filled mid-way, the answer says where the next one starts.
    let page = list("credits_below=100&limit=2");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    let next = page["next_cursor"].as_str().expect("more keys remain");
    let rest = list(&format!("credits_below=100&limit=2&cursor={next}"));
    assert_eq!(rest["items"].as_array().unwrap().len(), 2, "{rest}");
    assert_eq!(rest["next_cursor"], Value::Null, "{rest}");
}
