//! A bounded soak: mixed valid, invalid, over-limit and admin traffic from several
//! threads against one worker, then zero 5xx and exact counts. `KW_SOAK_SECS` sets
//! the length (15 s by default; `KW_SOAK_SECS=300` for the documented 5-minute run).

use crate::harness::{fresh_team, getrandom, send, send_json, Resp};
use crate::main_worker;
use keyward::key;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Tally {
    /// (what, status) → count.
    by_kind: BTreeMap<(&'static str, u16), u64>,
}

fn note(tally: &Mutex<Tally>, what: &'static str, r: &Resp) {
    *tally
        .lock()
        .unwrap()
        .by_kind
        .entry((what, r.status))
        .or_default() += 1;
}

#[test]
fn soak_mixed_traffic_has_no_5xx_and_exact_counts() {
    let secs: u64 = std::env::var("KW_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let w = main_worker();
    let team = fresh_team("soak");
    let (valid, v) = w.issue(
        &team,
        json!({"name": "soak valid", "scopes": ["documents.read"], "rate_limits": []}),
    );
    let limit = 40u64;
    let (limited, l) = w.issue(
        &team,
        json!({"name": "soak limited", "scopes": ["documents.read"], "rate_limits": [{"name": "total", "limit": limit, "window": "366d"}]}),
    );
    let unknown = key::generate(crate::PREFIX, getrandom).expose().to_string();
    let tally = Mutex::new(Tally::default());
    let deadline = Instant::now() + Duration::from_secs(secs);
    std::thread::scope(|s| {
        let get = |k: &str, path: &str| send(w.keyed("GET", path, k));
        let tally = &tally;
        let team = &team;
        let (valid, limited, unknown) = (valid.as_str(), limited.as_str(), unknown.as_str());
        s.spawn(move || {
            while Instant::now() < deadline {
                note(tally, "valid", &get(valid, "/documents/1"));
            }
        });
        s.spawn(move || {
            while Instant::now() < deadline {
                note(tally, "limited", &get(limited, "/documents/2"));
            }
        });
        s.spawn(move || {
            while Instant::now() < deadline {
                note(tally, "unknown", &get(unknown, "/documents/3"));
                note(tally, "malformed", &get("e2e_not-a-key", "/documents/3"));
                note(tally, "scope", &get(valid, "/internal/x"));
            }
        });
        s.spawn(move || {
            let mut i = 0;
            while Instant::now() < deadline {
                i += 1;
                let r = send_json(
                    w.admin("POST", &format!("/teams/{team}/keys")),
                    &json!({"name": format!("churn {i}"), "scopes": []}),
                );
                note(tally, "admin", &r);
                if let Some(id) = r.json()["id"].as_str() {
                    note(
                        tally,
                        "admin",
                        &send_json(
                            w.admin("PATCH", &format!("/teams/{team}/keys/{id}")),
                            &json!({"enabled": false}),
                        ),
                    );
                    note(
                        tally,
                        "admin",
                        &send(w.admin("DELETE", &format!("/teams/{team}/keys/{id}"))),
                    );
                }
                note(
                    tally,
                    "admin",
                    &send(w.admin("GET", &format!("/teams/{team}/keys?limit=5"))),
                );
            }
        });
    });
    let tally = tally.into_inner().unwrap().by_kind;
    let total: u64 = tally.values().sum();
    println!("soak: {secs} s, {total} requests: {tally:?}");
    let server_errors: u64 = tally
        .iter()
        .filter(|((_, s), _)| *s >= 500)
        .map(|(_, n)| n)
        .sum();
    assert_eq!(server_errors, 0, "{tally:?}");
    let count = |what, status| tally.get(&(what, status)).copied().unwrap_or(0);
    let all = |what| -> u64 {
        tally
            .iter()
            .filter(|((k, _), _)| *k == what)
            .map(|(_, n)| n)
            .sum()
    };
    // Exactly `limit` of the limited key's requests got through; the rest are 429.
    assert_eq!(
        count("limited", 200) + count("limited", 429),
        all("limited")
    );
    assert_eq!(count("limited", 200), limit.min(all("limited")));
    for (what, status) in [
        ("valid", 200),
        ("unknown", 401),
        ("malformed", 401),
        ("scope", 403),
    ] {
        assert_eq!(count(what, status), all(what), "{what}: {tally:?}");
    }
    // The keys' own figures agree with what the clients saw.
    let usage = |id: &str| send(w.admin("GET", &format!("/teams/{team}/keys/{id}"))).json();
    let valid_view = usage(v["id"].as_str().unwrap());
    assert_eq!(valid_view["requests"].as_u64(), Some(count("valid", 200)));
    assert_eq!(valid_view["denied"].as_u64(), Some(count("scope", 403)));
    let limited_view = usage(l["id"].as_str().unwrap());
    assert_eq!(
        limited_view["requests"].as_u64(),
        Some(count("limited", 200))
    );
    assert_eq!(limited_view["denied"].as_u64(), Some(count("limited", 429)));
}
