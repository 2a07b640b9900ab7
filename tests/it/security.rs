//! The findings of the security review, each end to end against the main instance
//! (the path, header and reserved-prefix spellings are rows of `hostile.rs`):
//! a manager never obtains a key more powerful than itself, rotation chains keep
//! each key's own limits, and a rotation's "never" expiry arrives as "never".

use crate::harness::{assert_problem, fresh_team, send, send_json, Resp};
use crate::main_worker;
use serde_json::{json, Value};

const MANAGER_IP: &str = "203.0.113.7";

fn call(key: &str, path: &str, ip: &str) -> Resp {
    send(
        main_worker()
            .req("GET", path)
            .set("authorization", &format!("Bearer {key}"))
            .set("cf-connecting-ip", ip),
    )
}

fn as_key(key: &str, method: &str, path: &str, body: Value) -> Resp {
    send_json(
        main_worker()
            .req(method, &format!("/_keyward/v1{path}"))
            .set("authorization", &format!("Bearer {key}"))
            .set("cf-connecting-ip", MANAGER_IP),
        &body,
    )
}

/// The reviewer's reproduction: manager M (`bob`, one address, 50 a minute, 30
/// days) and V (`alice`, `{"role": "owner"}`, unlimited, never expiring).
#[test]
fn a_manager_never_obtains_a_key_more_powerful_than_itself() {
    let w = main_worker();
    let team = fresh_team("powers");
    let (manager, m) = w.issue(
        &team,
        json!({"name": "manager", "scopes": ["keys:manage", "documents.read"],
               "subject": "bob", "ip_allow": [format!("{MANAGER_IP}/32")],
               "rate_limits": [{"name": "burst", "limit": 50, "window": "1m"}],
               "expires_in": "30d"}),
    );
    let m_id = m["id"].as_str().unwrap();
    let m_expires = m["expires_at"].as_str().unwrap().to_string();
    let (victim, v) = w.issue(
        &team,
        json!({"name": "owner", "scopes": ["documents.read"], "subject": "alice",
               "meta": {"role": "owner"}, "rate_limits": [], "expires_in": "never"}),
    );
    let v_id = v["id"].as_str().unwrap();

    // Rotating V would hand M a plaintext acting for alice, as owner, from
    // anywhere, unlimited: refused, and V is untouched.
    let r = as_key(
        &manager,
        "POST",
        &format!("/teams/{team}/keys/{v_id}/rotate"),
        json!({"grace": "366d"}),
    );
    let p = assert_problem(&r, 403, "FORBIDDEN");
    assert_eq!(
        p["beyond_powers"],
        json!(["subject", "meta", "ip_allow", "rate_limits"])
    );
    assert!(r.json().get("key").is_none());
    let after = main_worker().view(&team, v_id);
    assert_eq!(
        (after["replaced_by"].clone(), after["revoked_at"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(call(&victim, "/documents/1", "198.51.100.1").status, 200);

    // A key that M issues acts for bob, from M's address, within M's limits, and
    // expires with M even when it asks never to.
    let r = as_key(
        &manager,
        "POST",
        &format!("/teams/{team}/keys"),
        json!({"name": "minted", "scopes": ["documents.read"], "expires_in": "never"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let minted = r.json();
    assert_eq!(minted["subject"], "bob");
    assert_eq!(minted["rate_limits"], m["rate_limits"]);
    assert_eq!(minted["ip_allow"], json!([format!("{MANAGER_IP}/32")]));
    assert_eq!(minted["expires_at"], m_expires);
    assert_eq!(minted["created_by"], m_id);
    assert!(minted["warnings"][0]
        .as_str()
        .unwrap()
        .contains("never outlives"));
    let minted_key = minted["key"].as_str().unwrap().to_string();
    assert_problem(
        &call(&minted_key, "/documents/1", "198.51.100.1"),
        403,
        "IP_NOT_ALLOWED",
    );
    let r = call(&minted_key, "/documents/1", MANAGER_IP);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["headers"]["x-keyward-subject"], "bob");
    assert!(r
        .header("ratelimit-policy")
        .is_some_and(|p| p.contains("\"burst\";q=50;w=60")));
    // Beyond M in any one power: refused.
    for body in [
        json!({"name": "unlimited", "scopes": [], "rate_limits": []}),
        json!({"name": "faster", "scopes": [], "rate_limits": [{"name": "b", "limit": 100, "window": "1m"}]}),
        json!({"name": "anywhere", "scopes": [], "ip_allow": ["0.0.0.0/0"]}),
        json!({"name": "as alice", "scopes": [], "subject": "alice"}),
    ] {
        let r = as_key(&manager, "POST", &format!("/teams/{team}/keys"), body);
        assert_problem(&r, 403, "FORBIDDEN");
    }

    // M may rotate the key it minted: the successor is recorded as M's and
    // neither key outlives M, however long the grace.
    let minted_id = minted["id"].as_str().unwrap();
    let r = as_key(
        &manager,
        "POST",
        &format!("/teams/{team}/keys/{minted_id}/rotate"),
        json!({"grace": "366d", "expires_in": "never"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let successor = r.json();
    assert_eq!(successor["created_by"], m_id);
    assert_eq!(successor["expires_at"], m_expires);
    assert_eq!(successor["replaces"]["revoked_at"], m_expires);
}

/// A manager (`keys:manage`, acting for `bob`, for a year) with `extra` fields.
fn edge_manager(team: &str, extra: Value) -> String {
    let mut b = json!({"name": "manager", "scopes": ["keys:manage", "documents.read"],
                       "subject": "bob", "expires_in": "365d"});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    main_worker().issue(team, b).0
}

/// A key of `bob`'s with `extra` fields: its id.
fn bobs_key(team: &str, extra: Value) -> String {
    let mut b = json!({"name": "bob's", "scopes": ["documents.read"], "subject": "bob",
                       "expires_in": "365d"});
    b.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let (_, v) = main_worker().issue(team, b);
    v["id"].as_str().unwrap().to_string()
}

/// A manager with `manager` fields calls `method` on `…/keys/{id}{suffix}` with
/// `body`, for a key of bob's with `key` fields: refused with 403, naming the
/// powers in `field`; the key is as it was.
#[track_caller]
fn refused_at_the_edge(
    manager: Value,
    key: Value,
    (method, suffix, body): (&str, &str, Value),
    field: &str,
    named: Value,
) {
    let team = fresh_team("edges");
    let manager = edge_manager(&team, manager);
    let id = bobs_key(&team, key);
    let powers = |v: Value| {
        let fields = [
            "scopes",
            "meta",
            "admission",
            "credits",
            "replaced_by",
            "revoked_at",
        ];
        fields.map(|f| v[f].clone())
    };
    let before = powers(main_worker().view(&team, &id));
    let r = as_key(
        &manager,
        method,
        &format!("/teams/{team}/keys/{id}{suffix}"),
        body,
    );
    let p = assert_problem(&r, 403, "FORBIDDEN");
    assert_eq!(p[field], named);
    assert_eq!(powers(main_worker().view(&team, &id)), before);
}

/// A manager's PATCH of `admission` is refused: only the admin token changes how
/// a key is admitted.
#[test]
fn a_manager_changes_no_admission_mode() {
    let patch = ("PATCH", "", json!({"admission": "leased"}));
    refused_at_the_edge(
        json!({}),
        json!({}),
        patch,
        "admin_only_fields",
        json!(["admission"]),
    );
}

/// Meta is a manager's exactly, absence included: with meta, it rotates no key
/// without it (the successor would carry none).
#[test]
fn a_manager_with_meta_rotates_no_key_without_it() {
    let rotate = ("POST", "/rotate", json!({"grace": "0s"}));
    let meta = json!({"meta": {"role": "viewer"}});
    refused_at_the_edge(meta, json!({}), rotate, "beyond_powers", json!(["meta"]));
}

/// A manager holding 2 credits rotates no key of another chain holding 1,000: it
/// would then spend a budget beyond its own.
#[test]
fn a_manager_obtains_no_budget_beyond_its_own() {
    let rotate = ("POST", "/rotate", json!({"grace": "0s"}));
    let (poor, rich) = (
        json!({"credits": {"remaining": 2}}),
        json!({"credits": {"remaining": 1000}}),
    );
    refused_at_the_edge(poor, rich, rotate, "beyond_powers", json!(["credits"]));
}

/// A manager inside a rotation's grace stops in an hour: a key it issues for a
/// year, and a key it rotates with a 30-day grace, stop by then too.
#[test]
fn nothing_a_manager_makes_outlives_its_grace() {
    let w = main_worker();
    let team = fresh_team("edges");
    let leaving = edge_manager(&team, json!({}));
    let me = send(
        w.keyed("GET", "/_keyward/v1/me", &leaving)
            .set("cf-connecting-ip", MANAGER_IP),
    );
    let l_id = me.json()["key_id"].as_str().unwrap().to_string();
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/{l_id}/rotate")),
        &json!({"grace": "1h"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let ends = r.json()["replaces"]["revoked_at"]
        .as_str()
        .unwrap()
        .to_string();
    let r = as_key(
        &leaving,
        "POST",
        &format!("/teams/{team}/keys"),
        json!({"name": "a year", "scopes": ["documents.read"], "expires_in": "365d"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["expires_at"], ends.as_str());
    let other = bobs_key(&team, json!({}));
    let r = as_key(
        &leaving,
        "POST",
        &format!("/teams/{team}/keys/{other}/rotate"),
        json!({"grace": "30d"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["expires_at"], ends.as_str());
    assert_eq!(r.json()["replaces"]["revoked_at"], ends.as_str());
}

#[test]
fn a_rotation_to_never_expiring_keeps_never() {
    let w = main_worker();
    let team = fresh_team("never");
    let (_, k) = w.issue(
        &team,
        json!({"name": "expiring", "scopes": [], "expires_in": "30d"}),
    );
    let id = k["id"].as_str().unwrap();
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({"grace": "0s", "expires_in": "never"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let new_id = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(r.json()["expires_at"], Value::Null);
    assert_eq!(
        main_worker().view(&team, &new_id)["expires_at"],
        Value::Null
    );
}

/// A `two` key (burst 5/min) rotated with a grace, its successor then unlimited:
/// alternating, the old key is still admitted 5 times in the minute, no more.
#[test]
fn each_key_of_a_rotation_keeps_its_own_limits() {
    let w = main_worker();
    let team = fresh_team("chain");
    let (old, k) = w.issue(
        &team,
        json!({"name": "limited", "scopes": ["documents.read"], "plan": "two"}),
    );
    let id = k["id"].as_str().unwrap();
    let r = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({"grace": "1h"}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let new = r.json()["key"].as_str().unwrap().to_string();
    let new_id = r.json()["id"].as_str().unwrap().to_string();
    let r = send_json(
        w.admin("PATCH", &format!("/teams/{team}/keys/{new_id}")),
        &json!({"rate_limits": []}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    // Start in a fresh minute, so that the burst window cannot turn mid-test.
    let into_minute = crate::harness::now_s().rem_euclid(60);
    if into_minute > 45 {
        std::thread::sleep(std::time::Duration::from_secs((61 - into_minute) as u64));
    }
    let mut old_admitted = 0;
    for _ in 0..8 {
        if call(&old, "/documents/1", "198.51.100.1").status == 200 {
            old_admitted += 1;
        }
        assert_eq!(call(&new, "/documents/1", "198.51.100.1").status, 200);
    }
    assert_eq!(old_admitted, 5, "the old key's burst of 5 per minute");
}

/// With `case_insensitive`, a deny carve-out holds in every spelling that Express,
/// ASP.NET or IIS would route to it.
#[test]
fn a_case_insensitive_policy_denies_every_spelling() {
    let w = crate::case_insensitive_worker();
    let (key, _) = w.issue(&fresh_team("fold"), json!({"name": "any", "scopes": []}));
    let get = |path: &str, key: Option<&str>| {
        let mut req = w.req("GET", path);
        if let Some(k) = key {
            req = req.set("authorization", &format!("Bearer {k}"));
        }
        send(req)
    };
    for path in [
        "/internal/x",
        "/INTERNAL/x",
        "/Internal./x",
        "/%49nternal/x",
        "/admin",
        "/admin/",
        "/ADMIN",
        "/admin.",
    ] {
        assert_problem(&get(path, Some(&key)), 403, "ROUTE_NOT_ALLOWED");
    }
    assert_problem(&get("/STATIC/..;/internal/x", None), 400, "INVALID_PATH");
    let r = get("/Other/X", Some(&key));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["path"], "/Other/X", "forwarded as sent");
    let r = get("/STATIC/a.css", None);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Concurrent imports of one hash into one team: one is registered, the others
/// get 409 CONFLICT, and the loser's cleanup never removes the winner's KV copy,
/// so the key works at once.
#[test]
fn concurrent_imports_of_one_hash_leave_the_winner_working() {
    use sha2::{Digest, Sha256};
    let w = main_worker();
    for round in 0..3 {
        let team = fresh_team("race");
        let mut legacy = format!("api_Race{round}");
        while legacy.len() < 20 {
            legacy.push(char::from(b'a' + (legacy.len() as u8 % 26)));
        }
        let hash = hex::encode(Sha256::digest(legacy.as_bytes()));
        let body =
            json!({"hash": hash, "prefix": "api_", "name": "raced", "scopes": ["documents.read"]});
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    s.spawn(|| {
                        send_json(
                            w.admin("POST", &format!("/teams/{team}/keys/import")),
                            &body,
                        )
                        .status
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            1,
            "{statuses:?}"
        );
        assert!(
            statuses.iter().all(|s| *s == 201 || *s == 409),
            "{statuses:?}"
        );
        let r = call(&legacy, "/documents/1", "198.51.100.1");
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
    }
}

/// A manager's change is judged on the record it applies to: while its change
/// is on its way to the team directory (held there by the test switch), an
/// admin makes the key more powerful than the manager. The manager's rotation
/// is then judged again, and refused, instead of handing it a plaintext with the
/// new powers; its disabling is refused too, and the key's object is told the
/// key is enabled again, as the directory says.
#[test]
fn a_managers_change_is_judged_on_the_record_it_applies_to() {
    let w = crate::held_worker();
    let hold = |state: &str| w.switch(&format!("hold/{state}"));
    let team = fresh_team("judged");
    let (manager, _) = w.issue(
        &team,
        json!({"name": "manager", "scopes": ["keys:manage", "documents.read"], "subject": "bob"}),
    );
    let as_manager = |method: &str, path: &str, body: Value| {
        send_json(
            w.keyed(method, &format!("/_keyward/v1{path}"), &manager),
            &body,
        )
    };
    for (method, suffix, body) in [
        ("POST", "/rotate", json!({"grace": "0s"})),
        ("PATCH", "", json!({"enabled": false})),
    ] {
        let (key, t) = w.issue(
            &team,
            json!({"name": "target", "scopes": ["documents.read"], "subject": "bob"}),
        );
        let id = t["id"].as_str().unwrap().to_string();
        let path = format!("/teams/{team}/keys/{id}");
        // Its object exists: the manager's disabling reaches it first.
        let r = send(w.keyed("GET", "/documents/1", &key));
        assert_eq!(r.status, 200, "{}", r.text());
        hold("on");
        let r = std::thread::scope(|s| {
            let managed = s.spawn(|| as_manager(method, &format!("{path}{suffix}"), body.clone()));
            std::thread::sleep(std::time::Duration::from_millis(500));
            let granted = send_json(
                w.admin("PATCH", &path),
                &json!({"scopes": ["documents.read", "billing.read"]}),
            );
            assert_eq!(granted.status, 200, "{}", granted.text());
            managed.join().unwrap()
        });
        hold("off");
        let p = assert_problem(&r, 403, "FORBIDDEN");
        assert_eq!(p["beyond_scopes"], json!(["billing.read"]), "{method}");
        let v = send(w.admin("GET", &path)).json();
        assert_eq!(v["replaced_by"], Value::Null, "{method}: {v}");
        assert_eq!(v["enabled"], true, "{method}: {v}");
        assert_eq!(v["scopes"], json!(["documents.read", "billing.read"]));
        // The key still works: its object was told the directory's word.
        let r = send(w.keyed("GET", "/documents/1", &key));
        assert_eq!(r.status, 200, "{method}: {}", r.text());
    }
}
