//! Expiry notices end to end: the scheduled handler, triggered through wrangler's
//! scheduled-event test route, POSTs signed notices to a local receiver.

use crate::harness::{fresh_team, now_s, send, Answer, Receiver};
use crate::notifying_worker;
use keyward::notice;
use serde_json::{json, Value};
use std::time::Duration;

#[test]
fn expiry_notices_are_signed_sent_once_per_threshold_and_retried() {
    let hook = Receiver::start();
    let secret = "whsec-0123456789abcdef0123456789abcdef";
    let w = notifying_worker(&hook.url, secret);
    let team = fresh_team("notices");
    let issue = |name: &str, expires_in_s: Option<i64>| {
        let mut body = json!({"name": name, "scopes": ["documents.read"], "expires_in": "never"});
        if let Some(s) = expires_in_s {
            body = json!({"name": name, "scopes": [], "expires_at": keyward::expiry::rfc3339(now_s() + s)});
        }
        w.issue(&team, body)
    };
    let (key_a, a) = issue("two days", Some(2 * 86_400));
    let (_, b) = issue("half a day", Some(12 * 3_600));
    issue("a month", Some(30 * 86_400));
    issue("forever", None);
    let (_, d) = issue("revoked", Some(2 * 86_400));
    let d_id = d["id"].as_str().unwrap();
    assert_eq!(
        send(w.admin("DELETE", &format!("/teams/{team}/keys/{d_id}"))).status,
        200
    );

    let trigger = || {
        let r = send(w.req("GET", "/__scheduled?cron=0+*+*+*+*"));
        assert_eq!(r.status, 200, "{}", r.text());
    };
    trigger();
    let got = hook.wait_for(2, Duration::from_secs(20));
    let mut notices: Vec<Value> = got
        .iter()
        .map(|r| {
            let sig = r.header(notice::SIGNATURE_HEADER).expect("a signature");
            assert_eq!(
                notice::verify(secret.as_bytes(), sig, &r.body, now_s(), 300),
                Ok(())
            );
            assert_eq!(
                notice::verify(
                    b"another secret of the same size....",
                    sig,
                    &r.body,
                    now_s(),
                    300
                ),
                Err(notice::SignatureError::Mismatch)
            );
            assert_eq!(r.header("content-type"), Some("application/json"));
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    notices.sort_by_key(|n| n["threshold_days"].as_u64());
    let summary: Vec<(Value, Value)> = notices
        .iter()
        .map(|n| (n["key_id"].clone(), n["threshold_days"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![(b["id"].clone(), json!(1)), (a["id"].clone(), json!(7))]
    );
    let text = format!("{notices:?}");
    assert!(
        !text.contains(&key_a[key_a.len() - 20..]),
        "no secret in a notice"
    );
    assert!(!text.contains(secret));
    assert_eq!(notices[1]["type"], "key.expiring");
    assert_eq!(
        notices[1]["id"],
        format!("ntc_{}_7d", a["id"].as_str().unwrap())
    );
    assert_eq!(notices[1]["team"], team.as_str());

    // A second run sends nothing again.
    trigger();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        hook.received().len(),
        2,
        "never twice for the same threshold"
    );

    // A failed delivery is retried on the next run, and then delivered once.
    let (_, f) = issue("three days", Some(3 * 86_400));
    hook.fail_next(1);
    trigger();
    let got = hook.wait_for(3, Duration::from_secs(20));
    assert_eq!(got.last().map(|r| r.status), Some(500));
    trigger();
    let got = hook.wait_for(4, Duration::from_secs(20));
    assert_eq!(got.len(), 4);
    let last: Value = serde_json::from_slice(&got[3].body).unwrap();
    assert_eq!(
        (got[3].status, last["key_id"].clone()),
        (200, f["id"].clone())
    );
    trigger();
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(hook.received().len(), 4);
    assert!(w.logged("expiry_notice_failed"));
}

/// The signed body goes to `EXPIRY_WEBHOOK_URL` alone: a redirect is a failed
/// delivery (retried on the next run), never followed; a webhook that does not
/// answer within `EXPIRY_WEBHOOK_TIMEOUT` fails the delivery too.
#[test]
fn notices_never_follow_redirects_and_never_wait_forever() {
    let hook = Receiver::start();
    let elsewhere = Receiver::start();
    let secret = "whsec-0123456789abcdef0123456789abcdef";
    let w = notifying_worker(&hook.url, secret);
    let team = fresh_team("redirect");
    let expiring = |name: &str, days: i64| {
        w.issue(
            &team,
            json!({"name": name, "scopes": [], "expires_at": keyward::expiry::rfc3339(now_s() + days * 86_400)}),
        )
    };
    let trigger = || {
        let r = send(w.req("GET", "/__scheduled?cron=0+*+*+*+*"));
        assert_eq!(r.status, 200, "{}", r.text());
    };
    let (_, a) = expiring("redirected", 2);
    hook.answer_next(Answer::Redirect(elsewhere.url.clone()));
    trigger();
    let got = hook.wait_for(1, Duration::from_secs(20));
    assert_eq!(got[0].status, 307);
    std::thread::sleep(Duration::from_secs(1));
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    assert!(w.logged("a redirect, which is not followed"));
    trigger();
    let got = hook.wait_for(2, Duration::from_secs(20));
    let body: Value = serde_json::from_slice(&got[1].body).unwrap();
    assert_eq!(
        (got[1].status, body["key_id"].clone()),
        (200, a["id"].clone())
    );
    assert!(w.logged("expiry_notices_claimed"));
    assert!(w.logged("expiry_notice_sent"));

    let (_, b) = expiring("stalled", 3);
    hook.answer_next(Answer::Stall(Duration::from_secs(4)));
    trigger();
    let got = hook.wait_for(3, Duration::from_secs(20));
    assert_eq!(got.len(), 3);
    assert!(
        w.logged("EXPIRY_WEBHOOK_TIMEOUT"),
        "the stalled delivery timed out"
    );
    std::thread::sleep(Duration::from_secs(3));
    trigger();
    let got = hook.wait_for(4, Duration::from_secs(20));
    let body: Value = serde_json::from_slice(&got[3].body).unwrap();
    assert_eq!(
        (got[3].status, body["key_id"].clone()),
        (200, b["id"].clone())
    );
}
