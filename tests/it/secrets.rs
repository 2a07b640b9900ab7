//! No secret in the logs: after driving every kind of request through the main
//! worker, everything it logged holds no plaintext key, no key hash and no admin
//! token, and its decision lines are structured JSON.

use crate::harness::{fresh_team, issued_keys, raw_request, send, send_json};
use crate::{main_worker, IDENTITY_SECRET};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

#[test]
fn the_logs_hold_no_key_hash_or_token() {
    let w = main_worker();
    let team = fresh_team("secrets");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "logged?", "scopes": ["documents.read"]}),
    );
    let id = reply["id"].as_str().unwrap();
    let bearer = format!("Bearer {key}");
    let mut tampered = key.clone();
    tampered.pop();
    tampered.push('0');
    // Every outcome: forwarded, refused in each way, admin calls by token and by key.
    for (path, auth) in [
        ("/documents/1", bearer.as_str()),
        ("/internal/x", bearer.as_str()),
        ("/documents/1", &format!("Bearer {tampered}")),
        (
            "/documents/1",
            "Bearer e2e_0000000000000000000000000000000000000",
        ),
        ("/documents/1?api_key=leak", "Basic abc"),
    ] {
        send(w.req("GET", path).set("authorization", auth));
    }
    let rotated = send_json(
        w.admin("POST", &format!("/teams/{team}/keys/{id}/rotate")),
        &json!({"grace": "1h"}),
    )
    .json();
    let new_key = rotated["key"].as_str().unwrap().to_string();
    send(w.keyed("GET", "/documents/1", &new_key));
    send(w.admin("DELETE", &format!("/teams/{team}/keys/{id}")));
    send(w.req("GET", "/documents/1").set("authorization", &bearer));
    let wrong_token = format!("Bearer {}x", &w.admin_token[1..]);
    send(
        w.req("GET", "/_keyward/v1/teams/x/keys")
            .set("authorization", &wrong_token),
    );
    send(
        w.req("GET", &format!("/_keyward/v1/teams/{team}/keys"))
            .set("authorization", &bearer),
    );
    raw_request(
        &w.url,
        format!("GET /documents/1 HTTP/1.1\r\nAuthorization: Bearer {key}, x\r\n").as_bytes(),
        b"",
    );

    // The worker's lines arrive through wrangler's output, a little late.
    assert!(w.logged("KEY_REVOKED") && w.logged("ROUTE_NOT_ALLOWED"));
    let logs = w.logs();
    assert!(
        logs.contains("\"event\":\"decision\""),
        "the worker logs its decisions"
    );
    let mut secrets: Vec<String> = issued_keys();
    secrets.push(key.clone());
    secrets.push(new_key);
    let hashes: Vec<String> = secrets
        .iter()
        .map(|k| hex::encode(Sha256::digest(k.as_bytes())))
        .collect();
    for s in secrets.iter().chain(&hashes) {
        // The random part alone is enough to leak a key.
        let part = &s[s.len() - 24..];
        assert!(!logs.contains(part), "a key or hash is in the logs");
    }
    for token in [w.admin_token.as_str(), IDENTITY_SECRET] {
        assert!(!logs.contains(token), "a secret is in the logs");
    }
    // Decision lines are JSON with the request id, key id, code and latency.
    let decisions: Vec<Value> = logs
        .lines()
        .filter_map(|l| l.find("{\"").map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "decision")
        .collect();
    assert!(decisions.len() >= 10);
    let ours: Vec<&Value> = decisions.iter().filter(|d| d["key_id"] == id).collect();
    assert!(ours.iter().any(|d| d["code"] == "ROUTE_NOT_ALLOWED"));
    assert!(ours.iter().any(|d| d["code"] == "KEY_REVOKED"));
    for d in &decisions {
        assert!(
            d["request_id"].is_string() && d["latency_ms"].is_number() && d["status"].is_number(),
            "{d}"
        );
    }
}

#[test]
fn decision_log_problems_logs_only_what_keyward_refused() {
    use crate::harness::{Worker, WorkerOptions};
    use crate::{origin, var};
    let w = Worker::start(WorkerOptions {
        vars: vec![
            var("ORIGIN_URL", &origin().url),
            var("DECISION_LOG", "problems"),
        ],
        ..Default::default()
    });
    let team = fresh_team("quiet");
    let (key, _) = w.issue(
        &team,
        json!({"name": "quiet", "scopes": ["documents.read"]}),
    );
    let forwarded = format!("/documents/{}", fresh_team("forwarded"));
    let bearer = format!("Bearer {key}");
    let ok = send(w.req("GET", &forwarded).set("authorization", &bearer));
    assert_eq!(ok.status, 200, "{}", ok.text());
    let refused = format!("/documents/{}", fresh_team("refused"));
    let r = send(w.req("POST", &refused).set("authorization", &bearer));
    assert_eq!(r.status, 403, "{}", r.text());
    // The refusal's line is written before its answer, and the forwarded request
    // was answered before the refusal was sent.
    assert!(
        w.logged(&format!("\"path\":\"{refused}\"")),
        "the refusal is logged"
    );
    assert!(w.logs().contains("\"code\":\"INSUFFICIENT_SCOPE\""));
    assert!(
        !w.logs().contains(&format!("\"path\":\"{forwarded}\"")),
        "a forwarded request is not logged with DECISION_LOG = \"problems\""
    );
}
