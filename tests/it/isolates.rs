//! Two isolates sharing one key's Durable Object: two workers in one Miniflare
//! (`tests/it/pair.mjs`), the second bound to the first's object classes. With
//! leased admission, their admissions under concurrent load add up to the limit
//! exactly, and a revocation made through one stops the other within `LEASE_TTL`.

use crate::harness::{assert_problem, fresh_team, send, Worker};
use crate::{var, POLICY};
use serde_json::json;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `LEASE_TTL` of the pair, milliseconds.
const LEASE_TTL: u64 = 1_000;

fn pair() -> &'static (Worker, Worker) {
    static P: OnceLock<(Worker, Worker)> = OnceLock::new();
    P.get_or_init(|| {
        Worker::pair(&[
            var("ORIGIN_URL", &crate::origin().url),
            var("POLICY", POLICY),
            var("KEY_PREFIX", "kw_"),
            var("ADMISSION", "leased"),
            var("LEASE_TTL", &LEASE_TTL.to_string()),
        ])
    })
}

/// Sends the key's requests through both isolates in turn, a quarter of a
/// `LEASE_TTL` apart, until both have refused it (429 with `code`) three times in
/// a row or `within_ms` has passed: how many were admitted. What other isolates
/// held on lease comes back with their leases meanwhile.
fn admitted_until_refused_for_good(key: &str, within_ms: u64, code: &str) -> usize {
    let (a, b) = pair();
    let mut admitted = 0;
    let deadline = Instant::now() + Duration::from_millis(within_ms);
    let mut refused_in_a_row = 0;
    while refused_in_a_row < 6 && Instant::now() < deadline {
        for w in [a, b] {
            let r = w.read(key);
            match r.status {
                200 => {
                    admitted += 1;
                    refused_in_a_row = 0;
                }
                429 => {
                    assert_problem(&r, 429, code);
                    refused_in_a_row += 1;
                }
                other => panic!("status {other}"),
            }
        }
        std::thread::sleep(Duration::from_millis(LEASE_TTL / 4));
    }
    admitted
}

#[test]
fn two_isolates_admit_exactly_the_limit_together() {
    let (a, b) = pair();
    let team = fresh_team("pair");
    let (key, _) = a.issue(
        &team,
        json!({"name": "shared", "scopes": ["documents.read"],
               "rate_limits": [{"name": "hour", "limit": 50, "window": "1h"}]}),
    );
    // Both isolates hold leases before the rush: the quota is split between them.
    assert_eq!(a.read(&key).status, 200);
    assert_eq!(b.read(&key).status, 200);
    let statuses: Vec<(char, u16)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..80)
            .map(|i| {
                let (name, w) = if i % 2 == 0 { ('a', a) } else { ('b', b) };
                let key = key.as_str();
                s.spawn(move || (name, w.read(key).status))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let admitted = |name| {
        statuses
            .iter()
            .filter(|(n, s)| *n == name && *s == 200)
            .count()
    };
    let (by_a, by_b) = (admitted('a'), admitted('b'));
    assert!(by_a > 0 && by_b > 0, "a {by_a}, b {by_b}");
    assert!(
        statuses.iter().all(|(_, s)| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(by_a + by_b + 2 <= 50, "overshoot: a {by_a}, b {by_b}");
    // Quota still held in one isolate's lease comes back when the lease does (at
    // its deadline): the load goes on until both are refused for good.
    let later = admitted_until_refused_for_good(&key, 4 * LEASE_TTL, "RATE_LIMITED");
    assert_eq!(
        by_a + by_b + 2 + later,
        50,
        "a {by_a}, b {by_b}, later {later}: {statuses:?}"
    );
}

#[test]
fn two_isolates_spend_exactly_the_credits_together() {
    let (a, b) = pair();
    let team = fresh_team("paircredits");
    let (key, reply) = a.issue(
        &team,
        json!({"name": "credited", "scopes": ["documents.read"],
               "credits": {"remaining": 40}}),
    );
    let id = reply["id"].as_str().unwrap();
    // Both isolates hold credits on lease before the rush.
    assert_eq!(a.read(&key).status, 200);
    assert_eq!(b.read(&key).status, 200);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..80)
            .map(|i| {
                let w = if i % 2 == 0 { a } else { b };
                let key = key.as_str();
                s.spawn(move || w.read(key).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let rush = statuses.iter().filter(|s| **s == 200).count();
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );
    assert!(rush + 2 <= 40, "overshoot: {rush} + 2 of 40");
    // Credits still on lease come back with their leases: the load goes on
    // until both isolates are refused for good, and then every credit was spent.
    let later = admitted_until_refused_for_good(&key, 8 * LEASE_TTL, "CREDITS_EXHAUSTED");
    assert_eq!(rush + 2 + later, 40, "rush {rush}, later {later}");
    let v = send(a.admin("GET", &format!("/teams/{team}/keys/{id}")));
    assert_eq!(v.json()["credits"]["remaining"], json!(0), "{}", v.text());
}

#[test]
fn a_revocation_through_one_isolate_stops_the_other_within_the_lease_ttl() {
    let (a, b) = pair();
    let team = fresh_team("pairrevoke");
    let (key, reply) = a.issue(
        &team,
        json!({"name": "revoked", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(a.read(&key).status, 200);
        assert_eq!(b.read(&key).status, 200);
    }
    let r = send(a.admin("DELETE", &format!("/teams/{team}/keys/{id}")));
    assert_eq!(r.status, 200, "{}", r.text());
    let revoked = Instant::now();
    // The isolate that revoked refuses at once.
    assert_problem(&a.read(&key), 401, "KEY_REVOKED");
    // The other one within LEASE_TTL (plus the time a request takes here).
    loop {
        let r = b.read(&key);
        if r.status == 401 {
            assert_problem(&r, 401, "KEY_REVOKED");
            break;
        }
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(
            revoked.elapsed() < Duration::from_millis(LEASE_TTL + 500),
            "still admitted {:?} after the revocation",
            revoked.elapsed()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
