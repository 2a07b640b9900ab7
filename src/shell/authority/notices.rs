//! The low-credit notices of a key's object (`CREDITS_LOW_PERCENT`): claimed
//! when a request or a change finds the chain's credits low (the claim written
//! first with the notice itself, by the core), sent by the object's alarm to
//! `EXPIRY_WEBHOOK_URL`, retried, then released for the next request to claim
//! again (`keyobject::KeyObject::delivered`). A notice written and not yet sent
//! when the object was evicted is sent by the alarm its next instance sets.

use super::{failed, now_ms, runtime, KeyAuthority, Result};
use crate::keyobject::Delivery;

/// How long apart a failed low-credit notice is tried again.
const NOTICE_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

impl KeyAuthority {
    /// Claims the low-credit notice if one is due (`CREDITS_LOW_PERCENT`), and
    /// has the alarm deliver it at once. A failure here is logged, never the
    /// answer's.
    pub(super) async fn watch_credits(&self, key: &str, team: &str) {
        if let Err(e) = self.claim_notice(key, team).await {
            runtime::log(
                serde_json::json!({"event": "credits_low_failed", "error": e.to_string()}),
            );
        }
    }

    async fn claim_notice(&self, key: &str, team: &str) -> Result<()> {
        let Some(percent) = runtime::config(&self.env)
            .ok()
            .and_then(|c| c.credits_low_percent)
        else {
            return Ok(());
        };
        let notice = self
            .object()
            .claim_low(key, team, percent, now_ms())
            .map_err(failed)?;
        if let Some(n) = notice {
            runtime::log(serde_json::json!({"event": "credits_low_claimed", "notice": n.id()}));
        }
        // A notice claimed here, or by an earlier instance of this object that
        // was evicted before its alarm: the alarm delivers it at once.
        let due = !self.object().due_notices().map_err(failed)?.is_empty();
        if due && !self.notices_alarm.replace(true) {
            self.state
                .storage()
                .set_alarm(std::time::Duration::from_millis(10))
                .await?;
            // The alarm writes the pending usage too.
            self.flush_due.set(true);
        }
        Ok(())
    }

    /// Delivers the claimed low-credit notices to `EXPIRY_WEBHOOK_URL`; what
    /// follows a failed one is the core's ([`crate::keyobject::KeyObject::delivered`]):
    /// tried again [`NOTICE_RETRY`] later, or released.
    pub(super) async fn send_notices(&self) -> Result<()> {
        self.notices_alarm.set(false);
        let due = self.object().due_notices().map_err(failed)?;
        let Ok(config) = runtime::config(&self.env) else {
            return Ok(());
        };
        let (Some(url), Some(secret)) = (&config.expiry_webhook_url, &config.expiry_webhook_secret)
        else {
            return Ok(());
        };
        for n in due.iter().map(|d| &d.notice) {
            let now = runtime::now_ms().div_euclid(1000);
            let body = n.body(now).to_string();
            let timeout = config.expiry_webhook_timeout_ms;
            let sent =
                crate::shell::notices::post_signed(url, secret.0.as_bytes(), &body, now, timeout)
                    .await;
            let next = self
                .object()
                .delivered(&n.id(), sent.is_ok(), now_ms())
                .map_err(failed)?;
            let event = match next {
                Some(Delivery::Sent) | None => "credits_low_sent",
                Some(Delivery::Again(_)) => "credits_low_failed",
                Some(Delivery::Release) => "credits_low_released",
            };
            runtime::log(serde_json::json!({
                "event": event,
                "notice": n.id(),
                "error": sent.err(),
            }));
            if matches!(next, Some(Delivery::Again(_))) && !self.notices_alarm.replace(true) {
                self.state.storage().set_alarm(NOTICE_RETRY).await?;
            }
        }
        Ok(())
    }
}
