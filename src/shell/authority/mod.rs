//! The per-key Durable Object, `KeyAuthority`: the authority for what must be exact.
//! It holds the revocation and disabling of each key of one rotation chain (one
//! object per chain, named by its first key's id), checked on every request, the
//! chain's shared rate-limit counters and credits, and each key's usage and last
//! outcomes.
//!
//! Every decision, and what is written when, is the core's
//! ([`crate::keyobject::KeyObject`] over the SQLite store of `sql.rs`): each call is
//! decided and written with no `await` in between, so concurrent requests are
//! decided one at a time and nothing an answer says is lost to a restart. This
//! file is the object's shell: its RPC method, its first request's placement
//! (which asks the team directory), and the alarm that writes usage within a
//! second (`FLUSH_AFTER`) and delivers low-credit notices (`notices.rs`). The
//! worker's calls to it are in `client.rs`.

mod client;
mod notices;
mod sql;

pub use crate::keyobject::UsageReport;
pub use client::{admit, change, credits, lease, object, unavailable, usage};

use super::runtime;
use crate::keyobject::{CreditsCall, KeyObject, UsageQuery};
use crate::keystate::{Admission, StateChange};
use crate::lease::LeaseRequest;
use sql::Sql;
use std::cell::{Cell, RefCell, RefMut};
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// How long usage figures and outcomes may wait in memory before they are written.
const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

#[durable_object]
pub struct KeyAuthority {
    state: State,
    env: Env,
    object: RefCell<KeyObject<Sql>>,
    /// Whether an alarm is due to write the pending usage.
    flush_due: Cell<bool>,
    /// Whether an alarm is set to deliver the due low-credit notices.
    notices_alarm: Cell<bool>,
}

impl DurableObject for KeyAuthority {
    fn new(state: State, env: Env) -> Self {
        // Where and when each key chain's object comes to life: by its first
        // request, never by an admin call (the end-to-end suite checks).
        runtime::log(serde_json::json!({
            "event": "key_object_started",
            "object": state.id().name(),
        }));
        let sql = Sql(state.storage().sql());
        KeyAuthority {
            state,
            env,
            object: RefCell::new(KeyObject::new(sql)),
            flush_due: Cell::new(false),
            notices_alarm: Cell::new(false),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error(
            "the key authority answers RPC calls only (keywardCall)",
            404,
        )
    }

    async fn alarm(&self) -> Result<Response> {
        self.flush_due.set(false);
        self.object().flush(now_ms()).map_err(failed)?;
        self.send_notices().await?;
        Response::ok("")
    }
}

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures
)]
impl KeyAuthority {
    /// The object's RPC method (Workers RPC: no request or response objects to build
    /// or read on either side). `call` names what is asked (`admit`, `lease`,
    /// `credits`, `state`, `usage`), `message` is its JSON, `version` the caller's
    /// wire version (`crate::wire`); the answer is JSON text, in the form every
    /// version so far reads.
    #[wasm_bindgen(js_name = keywardCall)]
    pub async fn keyward_call(
        &self,
        call: String,
        message: String,
        version: Option<u32>,
    ) -> std::result::Result<String, JsValue> {
        runtime::caller_version("KeyAuthority", version);
        self.answer(&call, &message).await.map_err(JsValue::from)
    }
}

/// Now, in Unix milliseconds.
fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

/// A storage failure, as the runtime's error for the caller.
fn failed(p: crate::problem::Problem) -> worker::Error {
    worker::Error::RustError(p.detail)
}

impl KeyAuthority {
    fn object(&self) -> RefMut<'_, KeyObject<Sql>> {
        self.object.borrow_mut()
    }

    async fn answer(&self, call: &str, message: &str) -> Result<String> {
        let reply = match call {
            "admit" => {
                let a: Admission = runtime::read_message(message)?;
                self.place(&a.key, &a.team).await?;
                let answer = self.object().admit(&a, now_ms()).map_err(failed)?;
                self.after_decision(&a.key, &a.team).await?;
                serde_json::to_string(&answer)
            }
            "lease" => {
                let r: LeaseRequest = runtime::read_message(message)?;
                self.place(&r.key, &r.team).await?;
                let answer = self.object().lease(&r, now_ms()).map_err(failed)?;
                self.after_decision(&r.key, &r.team).await?;
                serde_json::to_string(&answer)
            }
            "credits" => {
                let c: CreditsCall = runtime::read_message(message)?;
                self.place(&c.key, &c.team).await?;
                let changed = self
                    .object()
                    .change_credits(c.change, now_ms())
                    .map_err(failed)?;
                self.watch_credits(&c.key, &c.team).await;
                serde_json::to_string(&changed)
            }
            "state" => {
                let change: StateChange = runtime::read_message(message)?;
                serde_json::to_string(&self.object().change(&change, now_ms()).map_err(failed)?)
            }
            "usage" => {
                let q: UsageQuery = runtime::read_message(message)?;
                serde_json::to_string(&self.object().usage(&q, now_ms()).map_err(failed)?)
            }
            other => {
                return Err(worker::Error::RustError(format!(
                    "no key authority call {other:?}"
                )))
            }
        };
        Ok(reply?)
    }

    /// After a request's decision: an alarm to write its usage, and the
    /// low-credit watch.
    async fn after_decision(&self, key: &str, team: &str) -> Result<()> {
        self.schedule_flush().await?;
        self.watch_credits(key, team).await;
        Ok(())
    }

    /// The first request of a key whose state this object does not hold: the
    /// team's directory marks the key placed and answers its record, in one step,
    /// and the object takes its state from it ([`KeyObject::place`]).
    async fn place(&self, key: &str, team: &str) -> Result<()> {
        if !self
            .object()
            .must_place(key, team, now_ms())
            .map_err(failed)?
        {
            return Ok(());
        }
        let place = crate::directory::Call::Place {
            id: key.to_string(),
        };
        let stored: Option<crate::directory::Stored> =
            super::directory::call(&self.env, team, &place)
                .await
                .map_err(|p| {
                    runtime::log_cause(&p);
                    worker::Error::RustError(format!("the team directory: {}", p.detail))
                })?;
        let record = stored.map(|s| s.record);
        self.object()
            .place(key, record.as_ref(), now_ms())
            .map_err(failed)
    }

    /// Makes sure an alarm will write the pending usage and outcomes. If no alarm
    /// can be set, they are written now.
    async fn schedule_flush(&self) -> Result<()> {
        if self.flush_due.get() || !self.object().pending() {
            return Ok(());
        }
        self.flush_due.set(true);
        if let Err(e) = self.state.storage().set_alarm(FLUSH_AFTER).await {
            self.flush_due.set(false);
            runtime::log(
                serde_json::json!({"event": "flush_alarm_failed", "error": e.to_string()}),
            );
            self.object().flush(now_ms()).map_err(failed)?;
        }
        Ok(())
    }
}
