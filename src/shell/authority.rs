//! The per-key Durable Object, `KeyAuthority`: the authority for what must be exact.
//! It holds the key's revocation and disabling, checked on every request, and its
//! rate-limit counters; one object per key id.
//!
//! Counters live in memory and in the object's SQLite storage. Each admission reads
//! and updates them with no `await` in between, so concurrent requests are decided
//! one at a time; the SQL write is synchronous and committed (with the runtime's
//! output gate) before the verdict leaves the object, so an admitted request is
//! never lost to a restart.

use super::runtime;
use crate::keystate::{Answer, KeyState, StateChange};
use crate::problem::Problem;
use crate::ratelimit::{self, Counter, Counters, LimitPolicy};
use crate::record::KeyStatus;
use serde::Deserialize;
use std::cell::{RefCell, RefMut};
use worker::wasm_bindgen::JsValue;
use worker::{
    durable_object, DurableObject, Env, Method, Request, RequestInit, Response, Result,
    SqlStorageValue, State,
};

/// The binding of the `KeyAuthority` namespace.
pub const BINDING: &str = "KEY_AUTHORITY";

#[durable_object]
pub struct KeyAuthority {
    state: State,
    loaded: RefCell<Option<(KeyState, Counters)>>,
}

#[derive(Deserialize)]
struct MetaRow {
    v: String,
}

#[derive(Deserialize)]
struct Row {
    name: String,
    window_start_ms: f64,
    count: f64,
}

impl DurableObject for KeyAuthority {
    fn new(state: State, _env: Env) -> Self {
        KeyAuthority {
            state,
            loaded: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.method() != Method::Post {
            return Response::error("no such key authority call", 404);
        }
        match req.path().as_str() {
            "/admit" => {
                let policies: Vec<LimitPolicy> = req.json().await?;
                Response::from_json(&self.admit(&policies)?)
            }
            "/state" => {
                let change: StateChange = req.json().await?;
                Response::from_json(&self.change(change)?)
            }
            _ => Response::error("no such key authority call", 404),
        }
    }
}

impl KeyAuthority {
    /// Decides one request: revocation and disabling first, then the limits. No
    /// `await` from the read of the state to its write.
    fn admit(&self, policies: &[LimitPolicy]) -> Result<Answer> {
        let now_ms = worker::Date::now().as_millis() as i64;
        let mut loaded = self.loaded()?;
        let (state, counters) = &mut *loaded;
        let status = state.status(now_ms);
        if status != KeyStatus::Active {
            return Ok(Answer {
                status,
                verdict: None,
            });
        }
        let before = counters.clone();
        let verdict = ratelimit::admit(policies, counters, now_ms);
        if *counters != before {
            self.persist(&before, counters)?;
        }
        Ok(Answer {
            status,
            verdict: Some(verdict),
        })
    }

    /// Applies an admin change (revoke, enable, disable) and stores it.
    fn change(&self, change: StateChange) -> Result<KeyState> {
        let mut loaded = self.loaded()?;
        let state = &mut loaded.0;
        state.apply(change);
        let json = serde_json::to_string(&*state)?;
        self.state.storage().sql().exec(
            "INSERT INTO meta (k, v) VALUES ('state', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            vec![SqlStorageValue::from(json)],
        )?;
        Ok(*state)
    }

    /// The state and counters, read from storage on first use.
    fn loaded(&self) -> Result<RefMut<'_, (KeyState, Counters)>> {
        let mut slot = self.loaded.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.load()?);
        }
        Ok(RefMut::map(slot, |s| s.as_mut().expect("loaded above")))
    }

    fn load(&self) -> Result<(KeyState, Counters)> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, window_start_ms INTEGER NOT NULL, count INTEGER NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
            None,
        )?;
        let state: Vec<MetaRow> = sql
            .exec("SELECT v FROM meta WHERE k = 'state'", None)?
            .to_array()?;
        let state = match state.first() {
            Some(row) => serde_json::from_str(&row.v)?,
            None => KeyState::default(),
        };
        let rows: Vec<Row> = sql
            .exec("SELECT name, window_start_ms, count FROM counters", None)?
            .to_array()?;
        let counters = rows
            .into_iter()
            .map(|r| {
                let counter = Counter {
                    window_start_ms: r.window_start_ms as i64,
                    count: r.count as u32,
                };
                (r.name, counter)
            })
            .collect();
        Ok((state, counters))
    }

    fn persist(&self, before: &Counters, after: &Counters) -> Result<()> {
        let sql = self.state.storage().sql();
        for (name, c) in after {
            if before.get(name) != Some(c) {
                sql.exec(
                    "INSERT INTO counters (name, window_start_ms, count) VALUES (?, ?, ?) \
                     ON CONFLICT(name) DO UPDATE SET window_start_ms = excluded.window_start_ms, count = excluded.count",
                    vec![
                        SqlStorageValue::from(name.clone()),
                        SqlStorageValue::Integer(c.window_start_ms),
                        SqlStorageValue::Integer(i64::from(c.count)),
                    ],
                )?;
            }
        }
        for name in before.keys().filter(|n| !after.contains_key(*n)) {
            sql.exec(
                "DELETE FROM counters WHERE name = ?",
                vec![SqlStorageValue::from(name.clone())],
            )?;
        }
        Ok(())
    }
}

/// The fail-closed problem for a key authority that cannot be reached (logged).
pub fn unavailable(e: worker::Error) -> Problem {
    runtime::unavailable("the key authority (Durable Object KEY_AUTHORITY)", e)
}

/// Asks the key's object to admit one request under `policies`.
pub async fn admit(env: &Env, key_id: &str, policies: &[LimitPolicy]) -> Result<Answer> {
    call(env, key_id, "admit", &serde_json::to_string(policies)?).await
}

/// Tells the key's object about a revocation or an enable/disable.
pub async fn change(env: &Env, key_id: &str, change: StateChange) -> Result<KeyState> {
    call(env, key_id, "state", &serde_json::to_string(&change)?).await
}

async fn call<T: serde::de::DeserializeOwned>(
    env: &Env,
    key_id: &str,
    method: &str,
    body: &str,
) -> Result<T> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(key_id)?
        .get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(body)));
    let req = Request::new_with_init(&format!("https://key-authority/{method}"), &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        let text = resp.text().await.unwrap_or_default();
        return Err(worker::Error::RustError(format!(
            "key authority answered {}: {text}",
            resp.status_code()
        )));
    }
    resp.json().await
}
