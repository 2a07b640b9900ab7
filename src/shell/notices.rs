//! The scheduled handler: expiry notices, signed and POSTed to `EXPIRY_WEBHOOK_URL`.
//!
//! Each team's directory claims the notices due before they are sent, so a notice
//! is never sent twice for the same threshold; a failed delivery is released and
//! retried on the next run (if the release fails too, `expiry_notice_lost` is
//! logged with the notice's id). Every claimed notice is logged when claimed
//! (`expiry_notices_claimed`) and again when sent (`expiry_notice_sent`), so that
//! a run that dies between the two leaves a trace of what it did not deliver.
//! The webhook's answer is awaited at most `EXPIRY_WEBHOOK_TIMEOUT`, and a
//! redirect is a failed delivery, never followed: the signed body goes to
//! `EXPIRY_WEBHOOK_URL` and nowhere else. At most 200 notices go out per run.

use super::directory;
use super::runtime;
use super::store::Keys;
use crate::config::Config;
use crate::directory::Call;
use crate::notice::{self, Notice};
use serde_json::json;
use wasm_bindgen::JsValue;
use worker::worker_sys::web_sys::{RequestInit, RequestRedirect};
use worker::{event, Env, Headers, ScheduleContext, ScheduledEvent};

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let config = match runtime::config(&env) {
        Ok(c) => c,
        Err(p) => {
            runtime::log_cause(&p);
            runtime::log(json!({"event": "expiry_notices", "error": p.detail}));
            return;
        }
    };
    let (Some(url), Some(secret)) = (&config.expiry_webhook_url, &config.expiry_webhook_secret)
    else {
        runtime::log(
            json!({"event": "expiry_notices", "skipped": "EXPIRY_WEBHOOK_URL is not set"}),
        );
        return;
    };
    let (mut sent, mut failed) = (0u32, 0u32);
    let result = run(
        &env,
        config,
        url,
        secret.0.as_bytes(),
        &mut sent,
        &mut failed,
    )
    .await;
    runtime::log(json!({
        "event": "expiry_notices",
        "sent": sent,
        "failed": failed,
        "error": result.err(),
    }));
}

/// Most notices one run sends (a run's subrequests are limited); the rest wait,
/// unclaimed, for the next run.
const MAX_PER_RUN: u32 = 200;

async fn run(
    env: &Env,
    config: &Config,
    url: &str,
    secret: &[u8],
    sent: &mut u32,
    failed: &mut u32,
) -> Result<(), String> {
    let give_up = |p: crate::problem::Problem| {
        runtime::log_cause(&p);
        p.detail
    };
    let keys = Keys::open(env, config).map_err(give_up)?;
    let mut cursor = None;
    loop {
        let (teams, next) = keys.teams(cursor).await.map_err(give_up)?;
        for team in teams {
            let budget = MAX_PER_RUN.saturating_sub(*sent + *failed);
            if budget == 0 {
                return Ok(());
            }
            let call = Call::Expiring {
                now_ms: runtime::now_ms(),
                thresholds: config.expiry_notice_days.clone(),
                max: budget,
            };
            // One team's failure never stops the others.
            let notices: Vec<Notice> = match directory::call(env, &team, &call).await {
                Ok(n) => n,
                Err(p) => {
                    runtime::log_cause(&p);
                    runtime::log(
                        json!({"event": "expiry_notices_team_failed", "team": team, "error": p.detail}),
                    );
                    continue;
                }
            };
            if !notices.is_empty() {
                let ids: Vec<String> = notices.iter().map(Notice::id).collect();
                runtime::log(json!({"event": "expiry_notices_claimed", "notices": ids}));
            }
            let timeout = config.expiry_webhook_timeout_ms;
            for n in notices {
                let Err(e) = deliver(url, secret, &n, timeout).await else {
                    *sent += 1;
                    runtime::log(json!({"event": "expiry_notice_sent", "notice": n.id()}));
                    continue;
                };
                *failed += 1;
                let release = Call::Unclaim {
                    key_id: n.record.id.clone(),
                    days: n.settles.clone(),
                };
                let released = directory::call::<()>(env, &team, &release).await;
                runtime::log(json!({
                    "event": if released.is_ok() { "expiry_notice_failed" } else { "expiry_notice_lost" },
                    "notice": n.id(),
                    "error": e,
                }));
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// POSTs one notice; anything but a 2xx answer within `timeout_ms` is a failure.
async fn deliver(url: &str, secret: &[u8], n: &Notice, timeout_ms: u32) -> Result<(), String> {
    let now = runtime::now_ms().div_euclid(1000);
    post_signed(url, secret, &n.body(now).to_string(), now, timeout_ms).await
}

/// POSTs a notice's `body`, signed at `now` (Unix seconds), to the webhook;
/// anything but a 2xx answer within `timeout_ms` is a failure, and a redirect
/// is never followed.
pub(crate) async fn post_signed(
    url: &str,
    secret: &[u8],
    body: &str,
    now: i64,
    timeout_ms: u32,
) -> Result<(), String> {
    let headers = Headers::new();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| e.to_string());
    set("content-type", "application/json")?;
    set(
        notice::SIGNATURE_HEADER,
        &notice::sign(secret, now, body.as_bytes()),
    )?;
    let init = RequestInit::new();
    init.set_method("POST");
    init.set_headers(&headers.0);
    init.set_body(&JsValue::from_str(body));
    init.set_redirect(RequestRedirect::Manual);
    let deadline = (timeout_ms, "EXPIRY_WEBHOOK_TIMEOUT");
    let resp = runtime::fetch(url, &init, Some(deadline)).await?;
    match resp.status() {
        200..=299 => Ok(()),
        s @ 300..=399 => Err(format!(
            "the webhook answered {s}, a redirect, which is not followed"
        )),
        s => Err(format!("the webhook answered {s}")),
    }
}
