//! The low-credit notices of a key's object (`CREDITS_LOW_PERCENT`): claimed
//! when a request or a change finds the chain's credits low (the claim written
//! first, by the core), sent by the object's alarm to `EXPIRY_WEBHOOK_URL`,
//! retried, then released for the next request to claim again
//! (`keyobject::after_delivery`).

use super::{failed, now_ms, runtime, KeyAuthority, Result};
use crate::keyobject::{after_delivery, Delivery};

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
        let Some(n) = notice else {
            return Ok(());
        };
        runtime::log(serde_json::json!({"event": "credits_low_claimed", "notice": n.id()}));
        self.notices.borrow_mut().push((n, 0));
        self.state
            .storage()
            .set_alarm(std::time::Duration::from_millis(10))
            .await?;
        // The alarm writes the pending usage too.
        self.flush_due.set(true);
        Ok(())
    }

    /// Delivers the claimed low-credit notices to `EXPIRY_WEBHOOK_URL`; what
    /// follows a failed one is the core's ([`after_delivery`]): tried again
    /// [`NOTICE_RETRY`] later, or released.
    pub(super) async fn send_notices(&self) -> Result<()> {
        let due = std::mem::take(&mut *self.notices.borrow_mut());
        let Ok(config) = runtime::config(&self.env) else {
            return Ok(());
        };
        let (Some(url), Some(secret)) = (&config.expiry_webhook_url, &config.expiry_webhook_secret)
        else {
            return Ok(());
        };
        for (n, tries) in due {
            let now = runtime::now_ms().div_euclid(1000);
            let body = n.body(now).to_string();
            let timeout = config.expiry_webhook_timeout_ms;
            let sent =
                crate::shell::notices::post_signed(url, secret.0.as_bytes(), &body, now, timeout)
                    .await;
            let next = after_delivery(tries, sent.is_ok());
            let event = match next {
                Delivery::Sent => "credits_low_sent",
                Delivery::Again(_) => "credits_low_failed",
                Delivery::Release => "credits_low_released",
            };
            runtime::log(serde_json::json!({
                "event": event,
                "notice": n.id(),
                "error": sent.err(),
            }));
            match next {
                Delivery::Sent => {}
                Delivery::Again(tries) => {
                    self.notices.borrow_mut().push((n, tries));
                    self.state.storage().set_alarm(NOTICE_RETRY).await?;
                }
                Delivery::Release => {
                    self.object()
                        .release_low(n.since, now_ms())
                        .map_err(failed)?;
                }
            }
        }
        Ok(())
    }
}
