//! The per-key Durable Object, `KeyAuthority`: the authority for what must be exact.
//! Today it holds the key's rate-limit counters; one object per key id.
//!
//! Counters live in memory and in the object's SQLite storage. Each admission reads
//! and updates them with no `await` in between, so concurrent requests are decided
//! one at a time; the SQL write is synchronous and committed (with the runtime's
//! output gate) before the verdict leaves the object, so an admitted request is
//! never lost to a restart.

use crate::ratelimit::{self, Counter, Counters, LimitPolicy, Verdict};
use serde::Deserialize;
use std::cell::RefCell;
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
    counters: RefCell<Option<Counters>>,
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
            counters: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        if req.path() != "/admit" || req.method() != Method::Post {
            return Response::error("no such key authority call", 404);
        }
        let policies: Vec<LimitPolicy> = req.json().await?;
        let verdict = self.admit(&policies)?;
        Response::from_json(&verdict)
    }
}

impl KeyAuthority {
    /// Decides one request: no `await` from the read of the counters to their write.
    fn admit(&self, policies: &[LimitPolicy]) -> Result<Verdict> {
        let now_ms = worker::Date::now().as_millis() as i64;
        let mut slot = self.counters.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.load()?);
        }
        let counters = slot.as_mut().expect("loaded above");
        let before = counters.clone();
        let verdict = ratelimit::admit(policies, counters, now_ms);
        if *counters != before {
            self.persist(&before, counters)?;
        }
        Ok(verdict)
    }

    fn load(&self) -> Result<Counters> {
        let sql = self.state.storage().sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, window_start_ms INTEGER NOT NULL, count INTEGER NOT NULL)",
            None,
        )?;
        let rows: Vec<Row> = sql
            .exec("SELECT name, window_start_ms, count FROM counters", None)?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let counter = Counter {
                    window_start_ms: r.window_start_ms as i64,
                    count: r.count as u32,
                };
                (r.name, counter)
            })
            .collect())
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

/// Asks the key's object to admit one request under `policies`.
pub async fn admit(env: &Env, key_id: &str, policies: &[LimitPolicy]) -> Result<Verdict> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(key_id)?
        .get_stub()?;
    let body = serde_json::to_string(policies)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(JsValue::from_str(&body)));
    let req = Request::new_with_init("https://key-authority/admit", &init)?;
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
