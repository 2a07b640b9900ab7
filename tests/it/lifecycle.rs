//! The key lifecycle end to end: lists and usage, outcomes, rotation, import,
//! team limits, `ip_allow`, `meta`, keys that manage keys, and the audit log.

use crate::harness::{assert_problem, fresh_team, now_s, send, send_json, Resp};
use crate::main_worker;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

fn use_key(key: &str, method: &str, path: &str, ip: Option<&str>) -> Resp {
    let mut req = main_worker()
        .req(method, path)
        .set("authorization", &format!("Bearer {key}"));
    if let Some(ip) = ip {
        req = req.set("cf-connecting-ip", ip);
    }
    send(req)
}

fn patch(team: &str, id: &str, body: Value) -> Resp {
    send_json(
        main_worker().admin("PATCH", &format!("/teams/{team}/keys/{id}")),
        &body,
    )
}

fn rotate(team: &str, id: &str, grace: &str) -> Value {
    let r = send_json(
        main_worker().admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({"grace": grace}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

#[test]
fn lists_page_with_a_cursor_and_show_usage() {
    let w = main_worker();
    let team = fresh_team("list");
    let mut issued = Vec::new();
    for i in 0..5 {
        let (key, reply) = w.issue(
            &team,
            json!({"name": format!("key {i}"), "scopes": ["documents.read"]}),
        );
        issued.push((key, reply["id"].as_str().unwrap().to_string()));
    }
    let before = now_s();
    assert_eq!(
        use_key(&issued[0].0, "GET", "/documents/1", None).status,
        200
    );
    assert_eq!(
        use_key(&issued[0].0, "GET", "/documents/2", None).status,
        200
    );
    let after = now_s();

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor
            .as_ref()
            .map_or(String::new(), |c| format!("&cursor={c}"));
        let r = send(w.admin("GET", &format!("/teams/{team}/keys?limit=2{q}")));
        assert_eq!(r.status, 200, "{}", r.text());
        let page = r.json();
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            assert!(item.get("key").is_none() && item.get("hash").is_none());
            for (k, _) in &issued {
                assert!(
                    !item.to_string().contains(&k[k.len() - 20..]),
                    "no secret in a list"
                );
            }
            seen.push(item.clone());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "the cursor must end");
    }
    assert_eq!(pages, 3);
    let ids: Vec<&str> = seen.iter().map(|i| i["id"].as_str().unwrap()).collect();
    let mut expected: Vec<&str> = issued.iter().map(|(_, id)| id.as_str()).collect();
    expected.reverse();
    let mut sorted_ids = ids.clone();
    sorted_ids.sort_unstable();
    let mut sorted_expected = expected.clone();
    sorted_expected.sort_unstable();
    assert_eq!(sorted_ids, sorted_expected, "every key once");
    let used = seen
        .iter()
        .find(|i| i["id"] == issued[0].1.as_str())
        .unwrap();
    assert_eq!(used["requests"], 2);
    assert_eq!(used["status"], "active");
    assert_eq!(used["created_by"], "admin");
    assert_eq!(
        used["hint"],
        format!("e2e_…{}", &issued[0].0[issued[0].0.len() - 4..])
    );
    let last = keyward::expiry::parse_rfc3339(used["last_used_at"].as_str().unwrap()).unwrap();
    assert!(
        (before..=after).contains(&last),
        "{before} <= {last} <= {after}"
    );
    let unused = seen
        .iter()
        .find(|i| i["id"] == issued[1].1.as_str())
        .unwrap();
    assert_eq!(
        (unused["requests"].clone(), unused["last_used_at"].clone()),
        (json!(0), Value::Null)
    );

    let r = send(w.admin("GET", &format!("/teams/{team}/keys?limit=0")));
    assert_problem(&r, 400, "VALIDATION_FAILED");
    let r = send(w.admin("GET", &format!("/teams/{team}/keys?cursor=nonsense")));
    assert_problem(&r, 400, "VALIDATION_FAILED");
}

#[test]
fn one_key_shows_its_recent_outcomes() {
    let w = main_worker();
    let team = fresh_team("why");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "why not", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    assert_eq!(
        use_key(&key, "GET", "/documents/7?secret=x", None).status,
        200
    );
    use_key(&key, "POST", "/documents/7", None);
    use_key(&key, "GET", "/internal/x", None);
    patch(&team, id, json!({"enabled": false}));
    use_key(&key, "GET", "/documents/8", None);
    let view = main_worker().view(&team, id);
    let recent: Vec<(String, String, Value, Value)> = view["recent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["method"].as_str().unwrap().into(),
                o["path"].as_str().unwrap().into(),
                o["status"].clone(),
                o["code"].clone(),
            )
        })
        .collect();
    let row = |m: &str, p: &str, s: Value, c: Value| (m.to_string(), p.to_string(), s, c);
    assert_eq!(
        recent,
        vec![
            row("GET", "/documents/8", json!(401), json!("KEY_DISABLED")),
            row("GET", "/internal/x", json!(403), json!("ROUTE_NOT_ALLOWED")),
            row(
                "POST",
                "/documents/7",
                json!(403),
                json!("INSUFFICIENT_SCOPE")
            ),
            row("GET", "/documents/7", Value::Null, Value::Null),
        ],
        "newest first, without the query"
    );
    assert_eq!(view["recent"][3]["forwarded"], true);
    assert_eq!(
        (view["requests"].clone(), view["denied"].clone()),
        (json!(1), json!(3))
    );
}

#[test]
fn only_the_last_fifty_outcomes_are_kept() {
    let w = main_worker();
    let team = fresh_team("fifty");
    let (key, reply) = w.issue(&team, json!({"name": "busy", "scopes": ["documents.read"]}));
    let id = reply["id"].as_str().unwrap();
    for i in 0..55 {
        assert_eq!(
            use_key(&key, "GET", &format!("/documents/{i}"), None).status,
            200
        );
    }
    let view = main_worker().view(&team, id);
    let recent = view["recent"].as_array().unwrap();
    assert_eq!(recent.len(), 50);
    assert_eq!(recent[0]["path"], "/documents/54");
    assert_eq!(recent[49]["path"], "/documents/5");
    assert_eq!(view["requests"], 55);
}

#[test]
fn rotation_with_no_grace_cuts_the_old_key_at_once() {
    let w = main_worker();
    let team = fresh_team("leak");
    let (old, reply) = w.issue(
        &team,
        json!({"name": "leaked", "scopes": ["documents.read"], "plan": "two"}),
    );
    let id = reply["id"].as_str().unwrap();
    let rotated = rotate(&team, id, "0s");
    let new = rotated["key"].as_str().unwrap();
    assert_ne!(new, old);
    assert_eq!(rotated["scopes"], json!(["documents.read"]));
    assert_eq!(rotated["plan"], "two");
    assert_eq!(rotated["replaces"]["id"], id);
    assert_eq!(rotated["replaces"]["replaced_by"], rotated["id"]);
    assert_problem(
        &use_key(&old, "GET", "/documents/1", None),
        401,
        "KEY_REVOKED",
    );
    assert_eq!(use_key(new, "GET", "/documents/1", None).status, 200);
    // A rotated key cannot be rotated again; its successor can.
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({"grace": "0s"}),
    );
    assert_problem(&r, 409, "CONFLICT");
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({}),
    );
    assert_problem(&r, 400, "VALIDATION_FAILED");
}

#[test]
fn rotation_keeps_counters_and_the_old_key_works_until_the_grace_ends() {
    let w = main_worker();
    let team = fresh_team("grace");
    let (old, reply) = w.issue(
        &team,
        json!({"name": "rotating", "scopes": ["documents.read"], "rate_limits": [{"name": "total", "limit": 4, "window": "366d"}]}),
    );
    let id = reply["id"].as_str().unwrap();
    assert_eq!(use_key(&old, "GET", "/documents/1", None).status, 200);
    assert_eq!(use_key(&old, "GET", "/documents/1", None).status, 200);
    let rotated = rotate(&team, id, "4s");
    let new = rotated["key"].as_str().unwrap().to_string();
    let grace_end = Instant::now() + Duration::from_secs(4);
    // During the grace both keys work, and share the counters: 2 + 2 = the limit.
    let r = use_key(&old, "GET", "/documents/1", None);
    assert_eq!(r.status, 200, "the old key works during the grace");
    assert!(
        r.header("ratelimit")
            .is_some_and(|h| h.starts_with("\"total\";r=1;")),
        "3 of 4 used across both keys: {:?}",
        r.header("ratelimit")
    );
    assert_eq!(use_key(&new, "GET", "/documents/1", None).status, 200);
    assert_problem(
        &use_key(&new, "GET", "/documents/1", None),
        429,
        "RATE_LIMITED",
    );
    let view = main_worker().view(&team, id);
    assert_eq!(view["status"], "active", "revoked only when the grace ends");
    assert!(view["revoked_at"].is_string());
    while Instant::now() < grace_end + Duration::from_millis(1100) {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_problem(
        &use_key(&old, "GET", "/documents/1", None),
        401,
        "KEY_REVOKED",
    );
    assert_eq!(main_worker().view(&team, id)["status"], "revoked");
}

#[test]
fn a_grace_never_outlives_the_old_keys_expiry() {
    let w = main_worker();
    let team = fresh_team("expiry");
    let expires = keyward::expiry::rfc3339(now_s() + 3_600);
    let (_, reply) = w.issue(
        &team,
        json!({"name": "short", "scopes": [], "expires_at": expires}),
    );
    let id = reply["id"].as_str().unwrap();
    let rotated = rotate(&team, id, "7d");
    assert_eq!(
        rotated["replaces"]["revoked_at"].as_str(),
        Some(expires.as_str())
    );
    assert_eq!(
        rotated["expires_at"].as_str(),
        Some(expires.as_str()),
        "the new key keeps the expiry"
    );
}

#[test]
fn imported_keys_work_by_hash_with_their_legacy_format() {
    let w = main_worker();
    let team = fresh_team("import");
    let legacy = "api_Q3x9ZrT5mK2pL8vW";
    assert_eq!(legacy.len(), 20);
    let hash = hex::encode(Sha256::digest(legacy.as_bytes()));
    let body = json!({"hash": hash, "prefix": "api_", "last4": &legacy[16..], "name": "from the old system", "scopes": ["documents.read"]});
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/import")),
        &body,
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let view = r.json();
    assert!(view.get("key").is_none() && !view.to_string().contains(&hash));
    assert_eq!(view["hint"], "api_…vW".replace("vW", &legacy[16..]));
    assert_eq!(view["imported"], true);
    let r = use_key(legacy, "GET", "/documents/1", None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["headers"]["x-keyward-key-id"], view["id"]);
    // Legacy keys are judged by prefix and length only.
    assert_problem(
        &use_key("api_Q3x9ZrT5mK2pL8v", "GET", "/documents/1", None),
        401,
        "INVALID_FORMAT",
    );
    assert_problem(
        &use_key("api_Q3x9ZrT5mK2pL8vX", "GET", "/documents/1", None),
        401,
        "INVALID_KEY",
    );
    // A hash is registered once, in any team.
    let again = send_json(
        w.admin(
            "POST",
            &format!("/teams/{}/keys/import", fresh_team("other")),
        ),
        &body,
    );
    assert_problem(&again, 409, "CONFLICT");
    let unknown_prefix = json!({"hash": hash, "prefix": "zz_", "name": "nope", "scopes": []});
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/import")),
        &unknown_prefix,
    );
    assert_problem(&r, 400, "VALIDATION_FAILED");
}

#[test]
fn a_team_holds_at_most_max_keys_per_team_live_keys() {
    let w = main_worker();
    let team = fresh_team("full");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|t| {
                let team = &team;
                s.spawn(move || {
                    (0..33)
                        .map(|i| {
                            let (_, r) =
                                w.issue(team, json!({"name": format!("k{t}-{i}"), "scopes": []}));
                            r["id"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert_eq!(ids.len(), 99);
    // The 100th expires in 3 s (issued last, so that a slow machine cannot let it
    // expire before the team is full): once it has, it no longer counts.
    let soon = keyward::expiry::rfc3339(now_s() + 3);
    let (_, expiring) = w.issue(
        &team,
        json!({"name": "expiring", "scopes": [], "expires_at": soon}),
    );
    let expires_at =
        keyward::expiry::parse_rfc3339(expiring["expires_at"].as_str().unwrap()).unwrap();
    let one_more = json!({"name": "one too many", "scopes": []});
    let r = send_json(w.admin("POST", &format!("/teams/{team}/keys")), &one_more);
    assert_problem(&r, 409, "TEAM_KEY_LIMIT");
    while now_s() <= expires_at {
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = send_json(w.admin("POST", &format!("/teams/{team}/keys")), &one_more);
    assert_eq!(r.status, 201, "an expired key does not count: {}", r.text());
    let r = send_json(w.admin("POST", &format!("/teams/{team}/keys")), &one_more);
    assert_problem(&r, 409, "TEAM_KEY_LIMIT");
    // A rotation with a grace keeps the old key live beside the new one: no room.
    let path = format!("/teams/{team}/keys/{}/rotate", ids[1]);
    let r = send_json(w.admin("POST", &path), &json!({"grace": "1h"}));
    assert_problem(&r, 409, "TEAM_KEY_LIMIT");
    let r = send_json(w.admin("POST", &path), &json!({"grace": "0s"}));
    assert_eq!(
        r.status,
        201,
        "a rotation without a grace needs no room: {}",
        r.text()
    );
    // Another team is not affected; a revoked key frees a place.
    w.issue(&fresh_team("roomy"), one_more.clone());
    assert_eq!(
        send(w.admin("DELETE", &format!("/teams/{team}/keys/{}", ids[0]))).status,
        200
    );
    let r = send_json(w.admin("POST", &format!("/teams/{team}/keys")), &one_more);
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn ip_allow_admits_listed_networks_only_and_counts_nothing_else() {
    let w = main_worker();
    let team = fresh_team("ip");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "office only", "scopes": ["documents.read"], "ip_allow": ["203.0.113.0/24", "2001:db8::/32"],
               "rate_limits": [{"name": "total", "limit": 2, "window": "366d"}]}),
    );
    let id = reply["id"].as_str().unwrap();
    for _ in 0..3 {
        let r = use_key(&key, "GET", "/documents/1", Some("198.51.100.7"));
        let p = assert_problem(&r, 403, "IP_NOT_ALLOWED");
        assert!(p["detail"].as_str().unwrap().contains("198.51.100.7"));
    }
    assert_problem(
        &use_key(&key, "GET", "/documents/1", None),
        403,
        "IP_NOT_ALLOWED",
    );
    assert_eq!(
        use_key(&key, "GET", "/documents/1", Some("203.0.113.200")).status,
        200
    );
    assert_eq!(
        use_key(&key, "GET", "/documents/1", Some("2001:db8:7::1")).status,
        200
    );
    // The refused requests consumed nothing: the limit of 2 is reached only now.
    assert_problem(
        &use_key(&key, "GET", "/documents/1", Some("203.0.113.1")),
        429,
        "RATE_LIMITED",
    );
    // PATCH changes the networks (within RECORD_CACHE_TTL; here the cache is cold for a new list).
    let r = patch(&team, id, json!({"ip_allow": null}));
    assert_eq!((r.status, r.json()["ip_allow"].clone()), (200, Value::Null));
    let r = patch(&team, id, json!({"ip_allow": ["10.0.0.1/8"]}));
    assert_problem(&r, 400, "VALIDATION_FAILED");
}

#[test]
fn meta_reaches_the_origin_and_limits_can_be_patched() {
    let w = main_worker();
    let team = fresh_team("meta");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "with meta", "scopes": ["documents.read"], "meta": {"customer": "Zoë & co", "tier": 2}}),
    );
    let id = reply["id"].as_str().unwrap();
    let r = use_key(&key, "GET", "/documents/1", None);
    let header = r.json()["headers"]["x-keyward-meta"]
        .as_str()
        .unwrap()
        .to_string();
    let meta: Value = serde_json::from_str(&header).unwrap();
    assert_eq!(meta, json!({"customer": "Zoë & co", "tier": 2}));
    let r = patch(&team, id, json!({"plan": "tiny"}));
    assert_eq!((r.status, r.json()["plan"].clone()), (200, json!("tiny")));
    let r = patch(
        &team,
        id,
        json!({"rate_limits": [{"name": "x", "limit": 1, "window": "1m"}]}),
    );
    assert_eq!(r.json()["plan"], Value::Null);
    assert_eq!(r.json()["rate_limits"][0]["limit"], 1);
    let r = patch(&team, id, json!({"plan": null}));
    assert_eq!(
        (r.json()["plan"].clone(), r.json()["rate_limits"].clone()),
        (Value::Null, Value::Null)
    );
    assert_problem(
        &patch(&team, id, json!({"plan": "gold"})),
        400,
        "VALIDATION_FAILED",
    );
}

#[test]
fn a_key_with_keys_manage_manages_its_own_team_only() {
    let w = main_worker();
    let team = fresh_team("self");
    let other = fresh_team("victim");
    let (manager, m) = w.issue(
        &team,
        json!({"name": "manager", "scopes": ["keys:manage", "documents.*"]}),
    );
    let manager_id = m["id"].as_str().unwrap();
    let (_, victim) = w.issue(
        &other,
        json!({"name": "victim", "scopes": ["documents.read"]}),
    );
    let victim_id = victim["id"].as_str().unwrap();
    let as_manager =
        |method: &str, path: &str| w.keyed(method, &format!("/_keyward/v1{path}"), &manager);
    let r = send_json(
        as_manager("POST", &format!("/teams/{team}/keys")),
        &json!({"name": "made by a key", "scopes": ["documents.read"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["created_by"], manager_id);
    assert_eq!(
        send(as_manager("GET", &format!("/teams/{team}/keys"))).status,
        200
    );

    // Another team: 403 and nothing changes.
    let cases = [
        ("GET", format!("/teams/{other}/keys"), None),
        ("GET", format!("/teams/{other}/keys/{victim_id}"), None),
        ("DELETE", format!("/teams/{other}/keys/{victim_id}"), None),
        (
            "PATCH",
            format!("/teams/{other}/keys/{victim_id}"),
            Some(json!({"enabled": false})),
        ),
        (
            "POST",
            format!("/teams/{other}/keys"),
            Some(json!({"name": "intruder", "scopes": []})),
        ),
        (
            "POST",
            format!("/teams/{other}/keys/{victim_id}/rotate"),
            Some(json!({"grace": "0s"})),
        ),
        ("GET", format!("/teams/{other}/audit"), None),
    ];
    for (method, path, body) in cases {
        let r = match body {
            Some(b) => send_json(as_manager(method, &path), &b),
            None => send(as_manager(method, &path)),
        };
        assert_problem(&r, 403, "FORBIDDEN");
    }
    let view = main_worker().view(&other, victim_id);
    assert_eq!(
        (view["status"].clone(), view["enabled"].clone()),
        (json!("active"), json!(true))
    );
    let list = send(w.admin("GET", &format!("/teams/{other}/keys"))).json();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    // Authorized before parsing: garbage to another team is still 403.
    let r = crate::harness::send_bytes(
        as_manager("POST", &format!("/teams/{other}/keys")),
        b"{not json",
    );
    assert_problem(&r, 403, "FORBIDDEN");
    // Its own team, but scopes it does not hold.
    let r = send_json(
        as_manager("POST", &format!("/teams/{team}/keys")),
        &json!({"name": "escalate", "scopes": ["*"]}),
    );
    assert_problem(&r, 403, "FORBIDDEN");
    // Keys with scopes it does not hold are out of its reach, even in its team.
    let (_, admin_key) = w.issue(&team, json!({"name": "admin's", "scopes": ["*"]}));
    let admin_key_id = admin_key["id"].as_str().unwrap();
    let reach = [
        (
            "POST",
            format!("/teams/{team}/keys/{admin_key_id}/rotate"),
            Some(json!({"grace": "7d"})),
        ),
        ("DELETE", format!("/teams/{team}/keys/{admin_key_id}"), None),
        (
            "PATCH",
            format!("/teams/{team}/keys/{admin_key_id}"),
            Some(json!({"enabled": false})),
        ),
    ];
    for (method, path, body) in reach {
        let r = match body {
            Some(b) => send_json(as_manager(method, &path), &b),
            None => send(as_manager(method, &path)),
        };
        assert_problem(&r, 403, "FORBIDDEN");
    }
    assert_eq!(main_worker().view(&team, admin_key_id)["status"], "active");
    // Fields that carry trust or lift limits beyond its own are refused (this
    // manager may be used from anywhere, so a network list is narrower, not wider:
    // see security.rs for a manager bound to one address).
    for body in [
        json!({"name": "as someone", "scopes": [], "subject": "user_1"}),
        json!({"name": "with meta", "scopes": [], "meta": {"role": "owner"}}),
        json!({"name": "unlimited", "scopes": [], "rate_limits": []}),
    ] {
        let r = send_json(as_manager("POST", &format!("/teams/{team}/keys")), &body);
        assert_problem(&r, 403, "FORBIDDEN");
    }
    let r = send_json(
        as_manager("PATCH", &format!("/teams/{team}/keys/{manager_id}")),
        &json!({"rate_limits": []}),
    );
    assert_problem(&r, 403, "FORBIDDEN");
    // Once revoked, the manager can do nothing, at once.
    assert_eq!(
        send(w.admin("DELETE", &format!("/teams/{team}/keys/{manager_id}"))).status,
        200
    );
    assert_problem(
        &send(as_manager("GET", &format!("/teams/{team}/keys"))),
        401,
        "KEY_REVOKED",
    );
}

#[test]
fn the_audit_log_records_every_admin_action_without_secrets() {
    let w = main_worker();
    let team = fresh_team("audit");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "audited", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap().to_string();
    patch(&team, &id, json!({"name": "renamed", "enabled": false}));
    let rotated = rotate(&team, &id, "1h");
    let new = rotated["key"].as_str().unwrap().to_string();
    let new_id = rotated["id"].as_str().unwrap().to_string();
    send(w.admin("DELETE", &format!("/teams/{team}/keys/{new_id}")));
    let r = send(w.admin("GET", &format!("/teams/{team}/audit")));
    assert_eq!(r.status, 200, "{}", r.text());
    let log = r.json();
    let entries: Vec<(String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().into(),
                e["key_id"].as_str().unwrap().into(),
                e["actor"].as_str().unwrap().into(),
            )
        })
        .collect();
    let e = |a: &str, k: &str| (a.to_string(), k.to_string(), "admin".to_string());
    assert_eq!(
        entries,
        vec![
            e("key.revoke", &new_id),
            e("key.rotate", &id),
            e("key.update", &id),
            e("key.create", &id)
        ],
        "newest first"
    );
    assert_eq!(
        log["items"][2]["details"]["fields"],
        json!(["name", "enabled"])
    );
    assert_eq!(log["items"][1]["details"]["replaced_by"], new_id.as_str());
    let text = log.to_string();
    for secret in [&key, &new, &w.admin_token] {
        assert!(
            !text.contains(&secret[secret.len() - 16..]),
            "no secret in the audit log"
        );
    }
    assert!(!text.contains(&hex::encode(Sha256::digest(key.as_bytes()))));
    // Pages of one.
    let r = send(w.admin("GET", &format!("/teams/{team}/audit?limit=1")));
    let page = r.json();
    assert_eq!(page["items"][0]["action"], "key.revoke");
    let next = page["next_cursor"].as_str().unwrap();
    let r = send(w.admin("GET", &format!("/teams/{team}/audit?limit=1&cursor={next}")));
    assert_eq!(r.json()["items"][0]["action"], "key.rotate");
    // One key's entries, filtered by the directory: the rotated key's own, newest
    // first (its rotation, its update, its creation), and none of the new key's.
    let r = send(w.admin("GET", &format!("/teams/{team}/audit?key={id}")));
    let actions: Vec<Value> = r.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        [
            json!("key.rotate"),
            json!("key.update"),
            json!("key.create")
        ]
    );
    let r = send(w.admin("GET", &format!("/teams/{team}/audit?key=nope")));
    assert_problem(&r, 400, "VALIDATION_FAILED");
}
