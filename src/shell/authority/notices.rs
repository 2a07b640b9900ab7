//! The low-credit notices of a key's object (`CREDITS_LOW_PERCENT`): claimed
//! when a request or a change finds the chain's credits low (the claim written
//! first), sent by the object's alarm to `EXPIRY_WEBHOOK_URL`, retried, then
//! released for the next request to claim again.

use super::{runtime, KeyAuthority, Result};
use crate::credits::LowWatch;

/// How often a low-credit notice is tried, and how long apart, before it is
/// released for the next request to claim again.
const NOTICE_TRIES: u32 = 5;
const NOTICE_RETRY: std::time::Duration = std::time::Duration::from_secs(30);

impl KeyAuthority {
    /// Claims the low-credit notice if one is due (`CREDITS_LOW_PERCENT`), and
    /// has the alarm deliver it at once. The claim is written first: a period's
    /// notice is never sent twice. A failure here is logged, never the answer's.
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
        let notice = {
            let mut auth = self.loaded()?;
            let now_ms = worker::Date::now().as_millis() as i64;
            let notice = auth.low_credits(key, team, percent, now_ms);
            self.persist_low(auth.low)?;
            notice
        };
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

    /// Writes the low-credit watch, if it changed since it was last written.
    pub(super) fn persist_low(&self, low: LowWatch) -> Result<()> {
        if low == self.low_saved.get() {
            return Ok(());
        }
        self.state.storage().sql().exec(
            "INSERT INTO credits_low (id, watch) VALUES (0, ?) \
             ON CONFLICT(id) DO UPDATE SET watch = excluded.watch",
            vec![serde_json::to_string(&low)?.into()],
        )?;
        self.low_saved.set(low);
        Ok(())
    }

    /// Delivers the claimed low-credit notices to `EXPIRY_WEBHOOK_URL`. A failed
    /// one is tried again [`NOTICE_RETRY`] later, [`NOTICE_TRIES`] times in all,
    /// and then released: the next request that finds the credits low claims it
    /// again.
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
            let Err(e) = sent else {
                runtime::log(serde_json::json!({"event": "credits_low_sent", "notice": n.id()}));
                continue;
            };
            let again = tries + 1 < NOTICE_TRIES;
            runtime::log(serde_json::json!({
                "event": if again { "credits_low_failed" } else { "credits_low_released" },
                "notice": n.id(),
                "error": e,
            }));
            if again {
                self.notices.borrow_mut().push((n, tries + 1));
                self.state.storage().set_alarm(NOTICE_RETRY).await?;
            } else {
                let mut auth = self.loaded()?;
                auth.low.release(n.since);
                self.persist_low(auth.low)?;
            }
        }
        Ok(())
    }
}
