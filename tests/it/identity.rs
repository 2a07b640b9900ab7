//! What the origin can trust end to end: signed identity headers, checked with the
//! crate's verifier on what the echo origin received; and a slow origin.

use crate::harness::{assert_problem, fresh_team, now_s, send};
use crate::{main_worker, shipped_worker, IDENTITY_SECRET};
use keyward::identity::{self, SIGNATURE_HEADER};
use keyward::signature::SignatureError;
use serde_json::{json, Value};

/// Verifies what the echo origin received, after `edit` (a man in the middle).
fn verify_echo(
    echo: &Value,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<identity::Identity, SignatureError> {
    let mut headers = echo["headers"].as_object().unwrap().clone();
    edit(&mut headers);
    let get = |n: &str| headers.get(n).and_then(Value::as_str);
    identity::verify(
        IDENTITY_SECRET.as_bytes(),
        echo["method"].as_str().unwrap(),
        echo["path"].as_str().unwrap(),
        get,
        now_s(),
        identity::DEFAULT_TOLERANCE_S,
    )
}

#[test]
fn the_origin_can_verify_who_is_calling() {
    let w = main_worker();
    let team = fresh_team("signed");
    let (key, reply) = w.issue(
        &team,
        json!({"name": "signed", "scopes": ["documents.read"], "subject": "user_9", "meta": {"plan": "gold"}}),
    );
    let r = send(
        w.keyed("GET", "/documents/42?x=1", &key)
            .set("x-keyward-signature", "t=1,v1=forged"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    let who = verify_echo(&echo, |_| {}).expect("a valid signature");
    assert_eq!(who.key_id.as_deref(), reply["id"].as_str());
    assert_eq!(who.team.as_deref(), Some(team.as_str()));
    assert_eq!(who.subject.as_deref(), Some("user_9"));
    assert_eq!(who.scopes, ["documents.read"]);
    assert_eq!(who.meta.as_deref(), Some(r#"{"plan":"gold"}"#));
    assert!((who.signed_at - now_s()).abs() <= 60);

    // Tampering with any signed part fails.
    for name in identity::SIGNED_HEADERS {
        let forged = verify_echo(&echo, |h| {
            h.insert(name.into(), json!("forged"));
        });
        assert_eq!(forged.unwrap_err(), SignatureError::Mismatch, "{name}");
    }
    let mut moved = echo.clone();
    moved["path"] = json!("/documents/43");
    assert_eq!(
        verify_echo(&moved, |_| {}).unwrap_err(),
        SignatureError::Mismatch
    );
    moved["path"] = echo["path"].clone();
    moved["method"] = json!("DELETE");
    assert_eq!(
        verify_echo(&moved, |_| {}).unwrap_err(),
        SignatureError::Mismatch
    );
    let stripped = verify_echo(&echo, |h| {
        h.remove(SIGNATURE_HEADER);
    });
    assert_eq!(stripped.unwrap_err(), SignatureError::Malformed);
    // A replay outside the window fails.
    let headers = echo["headers"].as_object().unwrap().clone();
    let get = |n: &str| headers.get(n).and_then(Value::as_str);
    let late = identity::verify(
        IDENTITY_SECRET.as_bytes(),
        "GET",
        "/documents/42",
        get,
        now_s() + 600,
        300,
    );
    assert_eq!(late.unwrap_err(), SignatureError::Stale);
}

#[test]
fn public_requests_are_signed_too() {
    let r = send(
        main_worker()
            .req("GET", "/open/page")
            .set("x-keyward-key-id", "key_spoofed"),
    );
    assert_eq!(r.status, 200);
    let who = verify_echo(&r.json(), |_| {}).expect("a valid signature");
    assert_eq!(
        (who.key_id, who.team),
        (None, None),
        "no identity on a public path"
    );
    assert!(who.request_id.is_some());
}

#[test]
fn without_a_signing_secret_nothing_is_signed() {
    let r = send(shipped_worker().req("GET", "/health"));
    assert_eq!(r.status, 200);
    assert!(r.json()["headers"].get(SIGNATURE_HEADER).is_none());
}

#[test]
fn a_slow_origin_times_out_with_a_clear_problem() {
    let w = shipped_worker();
    let r = send(w.req("GET", "/health?sleep=20000"));
    let p = assert_problem(&r, 502, "ORIGIN_UNAVAILABLE");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("ORIGIN_TIMEOUT (1500 ms)"),
        "{p}"
    );
    assert!(w.logged("origin_error"));
    // Under the timeout, a slow origin is fine.
    assert_eq!(send(w.req("GET", "/health?sleep=200")).status, 200);
}
