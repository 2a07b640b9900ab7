//! The per-key Durable Object, `KeyAuthority`: the authority for what must be exact.
//! It holds the revocation and disabling of each key of one rotation chain (one
//! object per chain, named by its first key's id), checked on every request, the
//! chain's shared rate-limit counters and credits, and each key's usage and last
//! outcomes.
//!
//! Counters live in memory and in the object's SQLite storage. Each admission reads
//! and updates them with no `await` in between, so concurrent requests are decided
//! one at a time; the counters' SQL write is synchronous and committed (with the
//! runtime's output gate) before the verdict leaves the object, so an admitted
//! request is never lost to a restart; so are the chain's credits, written with
//! every request that spends them. Usage figures and outcomes are kept in
//! memory and written by an alarm within a second (`FLUSH_AFTER`): a crash can lose
//! at most that second of them, never a count or a revocation.

mod notices;

use super::runtime;
use crate::credits::{Credits, CreditsChange, LowWatch};
use crate::keystate::{Admission, Answer, Authority, KeyState, StateChange};
use crate::lease::{Book, Lease, LeaseAnswer, LeaseRequest};
use crate::notice::CreditsLow;
use crate::problem::{Code, Problem};
use crate::ratelimit::Counter;
use crate::usage::{Outcome, Series, Usage, OUTCOMES_KEPT};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell, RefMut};
use std::collections::BTreeMap;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorageValue, State,
};

/// The binding of the `KeyAuthority` namespace.
pub const BINDING: &str = "KEY_AUTHORITY";

/// How long usage figures and outcomes may wait in memory before they are written.
const FLUSH_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

#[durable_object]
pub struct KeyAuthority {
    state: State,
    env: Env,
    loaded: RefCell<Option<Authority>>,
    /// Usage and outcomes decided but not yet written; the alarm writes them.
    pending: RefCell<Pending>,
    /// Whether an alarm is due to write them.
    flush_due: Cell<bool>,
    /// Low-credit notices claimed and not yet delivered, with their tries.
    notices: RefCell<Vec<(CreditsLow, u32)>>,
    /// The low-credit watch as last written.
    low_saved: Cell<LowWatch>,
}

/// For each key admitted since the last write, how many outcomes it recorded
/// since then (only the newest [`OUTCOMES_KEPT`] of them are written).
type Pending = BTreeMap<String, usize>;

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    state: String,
    last_used_at: Option<f64>,
    requests: f64,
    denied: f64,
}

#[derive(Deserialize)]
struct CounterRow {
    name: String,
    window_start_ms: f64,
    count: f64,
}

#[derive(Deserialize)]
struct LeaseRow {
    lease: String,
}

#[derive(Deserialize)]
struct SeriesRow {
    key_id: String,
    series: String,
}

#[derive(Deserialize)]
struct CreditsRow {
    credits: String,
}

#[derive(Deserialize)]
struct LowRow {
    watch: String,
}

/// An admin's change of a key chain's credits.
#[derive(Serialize, Deserialize)]
struct CreditsCall {
    key: String,
    team: String,
    change: CreditsChange,
}

/// The chain's credits before and after an admin's change, or why not.
pub type CreditsChanged = std::result::Result<(Option<Credits>, Option<Credits>), String>;

#[derive(Deserialize)]
struct OutcomeRow {
    key_id: String,
    at_ms: f64,
    method: String,
    path: String,
    status: Option<f64>,
    code: Option<String>,
}

/// A request for one key's usage.
#[derive(Serialize, Deserialize)]
struct UsageQuery {
    key: String,
    outcomes: bool,
}

/// One key's usage and, when asked, its last outcomes (oldest first).
#[derive(Default, Serialize, Deserialize)]
pub struct UsageReport {
    /// The figures.
    pub usage: Usage,
    /// The last outcomes.
    pub outcomes: Vec<Outcome>,
    /// The chain's credits as they stand.
    #[serde(default)]
    pub credits: Option<Credits>,
    /// Requests per hour over the last day and per day over the last 30, with
    /// the outcomes ([`Series::encode`]).
    #[serde(default)]
    pub series: Option<String>,
}

impl DurableObject for KeyAuthority {
    fn new(state: State, env: Env) -> Self {
        // Where and when each key chain's object comes to life: by its first
        // request, never by an admin call (the end-to-end suite checks).
        runtime::log(serde_json::json!({
            "event": "key_object_started",
            "object": state.id().name(),
        }));
        KeyAuthority {
            state,
            env,
            loaded: RefCell::new(None),
            pending: RefCell::new(Pending::default()),
            flush_due: Cell::new(false),
            notices: RefCell::new(Vec::new()),
            low_saved: Cell::new(LowWatch::default()),
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
        self.flush()?;
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
    /// or read on either side). `call` names what is asked (`admit`, `state`,
    /// `usage`), `message` is its JSON; the answer is JSON text.
    #[wasm_bindgen(js_name = keywardCall)]
    pub async fn keyward_call(
        &self,
        call: String,
        message: String,
    ) -> std::result::Result<String, JsValue> {
        self.answer(&call, &message).await.map_err(JsValue::from)
    }
}

impl KeyAuthority {
    async fn answer(&self, call: &str, message: &str) -> Result<String> {
        let reply = match call {
            "admit" => {
                let admission: Admission = runtime::read_message(message)?;
                self.ensure_known(&admission.key, &admission.team).await?;
                let answer = self.admit(&admission)?;
                self.schedule_flush().await?;
                self.watch_credits(&admission.key, &admission.team).await;
                serde_json::to_string(&answer)
            }
            "lease" => {
                let request: LeaseRequest = runtime::read_message(message)?;
                self.ensure_known(&request.key, &request.team).await?;
                let answer = self.lease(&request)?;
                self.schedule_flush().await?;
                self.watch_credits(&request.key, &request.team).await;
                serde_json::to_string(&answer)
            }
            "credits" => {
                let c: CreditsCall = runtime::read_message(message)?;
                self.ensure_known(&c.key, &c.team).await?;
                let changed = self.change_credits(c.change)?;
                self.watch_credits(&c.key, &c.team).await;
                serde_json::to_string(&changed)
            }
            "state" => {
                let change: StateChange = runtime::read_message(message)?;
                serde_json::to_string(&self.change(&change)?)
            }
            "usage" => {
                let q: UsageQuery = runtime::read_message(message)?;
                let auth = self.loaded()?;
                let now_ms = worker::Date::now().as_millis() as i64;
                let mut usage = auth.usage.get(&q.key).cloned().unwrap_or_default();
                usage.today = auth
                    .series
                    .get(&q.key)
                    .map_or(0, |s| s.today(now_ms).admitted);
                let outcomes = match (q.outcomes, auth.outcomes.get(&q.key)) {
                    (true, Some(o)) => o.iter().cloned().collect(),
                    _ => vec![],
                };
                let series = q.outcomes.then(|| {
                    let s = auth.series.get(&q.key).cloned().unwrap_or_default();
                    s.window(now_ms).encode()
                });
                serde_json::to_string(&UsageReport {
                    usage,
                    outcomes,
                    credits: auth.credits,
                    series,
                })
            }
            other => {
                return Err(worker::Error::RustError(format!(
                    "no key authority call {other:?}"
                )))
            }
        };
        Ok(reply?)
    }

    /// Decides one request: revocation and disabling first, then the limits; writes
    /// the counters, and keeps its usage and outcome for the next flush. No `await`
    /// from the read of the state to its write.
    fn admit(&self, a: &Admission) -> Result<Answer> {
        let answer = self.decide(|auth, now_ms| auth.admit(a, now_ms))?;
        let mut pending = self.pending.borrow_mut();
        match pending.get_mut(&a.key) {
            Some(n) => *n += 1,
            None => {
                pending.insert(a.key.clone(), 1);
            }
        }
        Ok(answer)
    }

    /// The first request of a key whose state this object does not hold: the
    /// team's directory marks the key placed and answers its record, in one step,
    /// and its revocation and disabling become this object's state (unless an
    /// admin change, which comes only once the key is placed, got here first).
    async fn ensure_known(&self, key: &str, team: &str) -> Result<()> {
        if team.is_empty() || self.loaded()?.states.contains_key(key) {
            return Ok(());
        }
        let place = crate::directory::Call::Place {
            id: key.to_string(),
        };
        let stored: Option<crate::directory::Stored> =
            super::directory::call(&self.env, team, &place)
                .await
                .map_err(|p| {
                    super::runtime::log_cause(&p);
                    worker::Error::RustError(format!("the team directory: {}", p.detail))
                })?;
        let state = stored
            .as_ref()
            .map_or_else(KeyState::default, |s| KeyState {
                revoked_at: s.record.revoked_at,
                disabled: !s.record.enabled,
            });
        let mut auth = self.loaded()?;
        if !auth.states.contains_key(key) {
            // The chain's first key brings its credits; a later one (a rotation's
            // new key) finds the chain's.
            let first = auth.states.is_empty();
            auth.adopt_credits(first, stored.and_then(|s| s.record.credits));
            if first && auth.credits.is_some() {
                self.persist_credits(auth.credits)?;
            }
            auth.states.insert(key.to_string(), state);
            let usage = auth.usage.get(key).cloned().unwrap_or_default();
            self.persist_key(key, &state, &usage)?;
        }
        Ok(())
    }

    /// Answers an isolate's lease call (leased admission): settles what it returns,
    /// takes its report, and grants a new lease. Counters, credits and leases
    /// are written before the answer leaves, with no `await` in between: a
    /// granted lease is never forgotten by a restart, so its quota and credits
    /// always count.
    fn lease(&self, r: &LeaseRequest) -> Result<LeaseAnswer> {
        let answer = self.decide(|auth, now_ms| auth.lease(r, now_ms))?;
        if !r.report.is_empty() {
            *self.pending.borrow_mut().entry(r.key.clone()).or_default() += r.report.outcomes.len();
        }
        Ok(answer)
    }

    /// Writes the open leases as they are now (few: one or two per isolate).
    fn persist_leases(&self, book: &Book) -> Result<()> {
        let sql = self.state.storage().sql();
        sql.exec("DELETE FROM leases", None)?;
        for lease in &book.open {
            sql.exec(
                "INSERT INTO leases (id, lease) VALUES (?, ?)",
                vec![
                    SqlStorageValue::Integer(lease.id as i64),
                    serde_json::to_string(lease)?.into(),
                ],
            )?;
        }
        Ok(())
    }

    /// Makes sure an alarm will write the pending usage and outcomes. If no alarm
    /// can be set, they are written now.
    async fn schedule_flush(&self) -> Result<()> {
        if self.flush_due.get() {
            return Ok(());
        }
        self.flush_due.set(true);
        if let Err(e) = self.state.storage().set_alarm(FLUSH_AFTER).await {
            self.flush_due.set(false);
            runtime::log(
                serde_json::json!({"event": "flush_alarm_failed", "error": e.to_string()}),
            );
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending usage figures and outcomes (and trims each key's
    /// outcomes to the last [`OUTCOMES_KEPT`]), with no `await` in between. Of a
    /// key's new outcomes only the newest [`OUTCOMES_KEPT`] are written: the trim
    /// would delete the others at once, so the table ends the same, and a busy key
    /// costs at most that many inserts per write, not one per request.
    fn flush(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        if pending.is_empty() {
            return Ok(());
        }
        let auth = self.loaded()?;
        let sql = self.state.storage().sql();
        let new = pending
            .iter()
            .flat_map(|(key, n)| auth.newest_outcomes(key, *n).map(move |o| (key, o)));
        for (key, o) in new {
            sql.exec(
                "INSERT INTO outcomes (key_id, at_ms, method, path, status, code) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    key.as_str().into(),
                    SqlStorageValue::Integer(o.at_ms),
                    o.method.as_str().into(),
                    o.path.as_str().into(),
                    o.status.map_or(SqlStorageValue::Null, |s| SqlStorageValue::Integer(i64::from(s))),
                    o.code.map_or(SqlStorageValue::Null, |c| SqlStorageValue::from(c.as_str())),
                ],
            )?;
        }
        for key in pending.keys() {
            let usage = auth.usage.get(key).cloned().unwrap_or_default();
            let state = auth.states.get(key).copied().unwrap_or_default();
            self.persist_key(key, &state, &usage)?;
            if let Some(series) = auth.series.get(key) {
                sql.exec(
                    "INSERT INTO series (key_id, series) VALUES (?, ?) \
                     ON CONFLICT(key_id) DO UPDATE SET series = excluded.series",
                    vec![key.as_str().into(), series.encode().into()],
                )?;
            }
            sql.exec(
                "DELETE FROM outcomes WHERE key_id = ?1 AND seq NOT IN \
                 (SELECT seq FROM outcomes WHERE key_id = ?1 ORDER BY seq DESC LIMIT ?2)",
                vec![
                    key.clone().into(),
                    SqlStorageValue::Integer(OUTCOMES_KEPT as i64),
                ],
            )?;
        }
        Ok(())
    }

    /// Applies an admin's change of the chain's credits and stores it.
    fn change_credits(&self, change: CreditsChange) -> Result<CreditsChanged> {
        self.decide(|auth, now_ms| auth.change_credits(change, now_ms.div_euclid(1000)))
    }

    /// Runs one decision over the object's state at the present time, and writes
    /// what it changed (counters, credits, open leases) before returning, with no
    /// `await` in between: nothing it decided is forgotten by a restart.
    fn decide<T>(&self, f: impl FnOnce(&mut Authority, i64) -> T) -> Result<T> {
        let now_ms = worker::Date::now().as_millis() as i64;
        let mut auth = self.loaded()?;
        let counters = auth.counters.clone();
        let leases = auth.book.open.clone();
        let credits = auth.credits;
        let out = f(&mut auth, now_ms);
        if auth.counters != counters {
            self.persist_counters(&counters, &auth.counters)?;
        }
        if auth.credits != credits {
            self.persist_credits(auth.credits)?;
        }
        if auth.book.open != leases {
            self.persist_leases(&auth.book)?;
        }
        Ok(out)
    }

    /// Writes the chain's credits as they are now (none: the row goes).
    fn persist_credits(&self, credits: Option<Credits>) -> Result<()> {
        let sql = self.state.storage().sql();
        match credits {
            Some(c) => sql.exec(
                "INSERT INTO credits (id, credits) VALUES (0, ?) \
                 ON CONFLICT(id) DO UPDATE SET credits = excluded.credits",
                vec![serde_json::to_string(&c)?.into()],
            )?,
            None => sql.exec("DELETE FROM credits", None)?,
        };
        Ok(())
    }

    /// Applies an admin change (revoke, enable, disable) and stores it.
    fn change(&self, change: &StateChange) -> Result<KeyState> {
        let mut auth = self.loaded()?;
        let state = auth.change(change);
        let usage = auth.usage.get(&change.key).cloned().unwrap_or_default();
        self.persist_key(&change.key, &state, &usage)?;
        Ok(state)
    }

    /// Everything, read from storage on first use.
    fn loaded(&self) -> Result<RefMut<'_, Authority>> {
        let mut slot = self.loaded.borrow_mut();
        if slot.is_none() {
            *slot = Some(self.load()?);
        }
        Ok(RefMut::map(slot, |s| s.as_mut().expect("loaded above")))
    }

    fn load(&self) -> Result<Authority> {
        let sql = self.state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, window_start_ms INTEGER NOT NULL, count INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, state TEXT NOT NULL, last_used_at INTEGER, requests INTEGER NOT NULL, denied INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS outcomes (seq INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, at_ms INTEGER NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER, code TEXT)",
            "CREATE TABLE IF NOT EXISTS leases (id INTEGER PRIMARY KEY, lease TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS credits (id INTEGER PRIMARY KEY CHECK (id = 0), credits TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS series (key_id TEXT PRIMARY KEY, series TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS credits_low (id INTEGER PRIMARY KEY CHECK (id = 0), watch TEXT NOT NULL)",
        ] {
            sql.exec(ddl, None)?;
        }
        let mut auth = Authority::default();
        let keys: Vec<KeyRow> = sql
            .exec(
                "SELECT id, state, last_used_at, requests, denied FROM keys",
                None,
            )?
            .to_array()?;
        for k in keys {
            auth.states
                .insert(k.id.clone(), serde_json::from_str(&k.state)?);
            let usage = Usage {
                last_used_at: k.last_used_at.map(|t| t as i64),
                requests: k.requests as u64,
                denied: k.denied as u64,
                today: 0,
            };
            auth.usage.insert(k.id, usage);
        }
        let rows: Vec<CounterRow> = sql
            .exec("SELECT name, window_start_ms, count FROM counters", None)?
            .to_array()?;
        for r in rows {
            let counter = Counter {
                window_start_ms: r.window_start_ms as i64,
                count: r.count as u32,
            };
            auth.counters.insert(r.name, counter);
        }
        let rows: Vec<SeriesRow> = sql
            .exec("SELECT key_id, series FROM series", None)?
            .to_array()?;
        for r in rows {
            // A row this build cannot read starts the key's series anew.
            auth.series
                .insert(r.key_id, Series::decode(&r.series).unwrap_or_default());
        }
        let rows: Vec<CreditsRow> = sql.exec("SELECT credits FROM credits", None)?.to_array()?;
        if let Some(r) = rows.first() {
            auth.credits = Some(serde_json::from_str(&r.credits)?);
        }
        let rows: Vec<LowRow> = sql
            .exec("SELECT watch FROM credits_low", None)?
            .to_array()?;
        if let Some(r) = rows.first() {
            auth.low = serde_json::from_str(&r.watch)?;
            self.low_saved.set(auth.low);
        }
        let rows: Vec<LeaseRow> = sql
            .exec("SELECT lease FROM leases ORDER BY id", None)?
            .to_array()?;
        for r in rows {
            let lease: Lease = serde_json::from_str(&r.lease)?;
            auth.book.open.push(lease);
        }
        // Ids never repeat across restarts: a return of a lease granted before
        // one can never settle a lease granted after it.
        let now_ms = worker::Date::now().as_millis() as i64;
        let newest = auth.book.open.iter().map(|l| l.id).max().unwrap_or(0);
        auth.book.next_id = newest.max((now_ms.max(0) as u64) << 10);
        let rows: Vec<OutcomeRow> = sql
            .exec(
                "SELECT key_id, at_ms, method, path, status, code FROM outcomes ORDER BY seq",
                None,
            )?
            .to_array()?;
        for r in rows {
            auth.outcomes
                .entry(r.key_id)
                .or_default()
                .push_back(Outcome {
                    at_ms: r.at_ms as i64,
                    method: r.method,
                    path: r.path,
                    status: r.status.map(|s| s as u16),
                    // A code this build does not know is shown as none.
                    code: r.code.and_then(|c| Code::from_name(&c)),
                });
        }
        Ok(auth)
    }

    fn persist_key(&self, id: &str, state: &KeyState, usage: &Usage) -> Result<()> {
        self.state.storage().sql().exec(
            "INSERT INTO keys (id, state, last_used_at, requests, denied) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, last_used_at = excluded.last_used_at, \
             requests = excluded.requests, denied = excluded.denied",
            vec![
                id.into(),
                serde_json::to_string(state)?.into(),
                usage.last_used_at.map_or(SqlStorageValue::Null, SqlStorageValue::Integer),
                SqlStorageValue::Integer(usage.requests as i64),
                SqlStorageValue::Integer(usage.denied as i64),
            ],
        )?;
        Ok(())
    }

    fn persist_counters(
        &self,
        before: &crate::ratelimit::Counters,
        after: &crate::ratelimit::Counters,
    ) -> Result<()> {
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

/// Asks the object named `authority` to admit (or record) one request.
/// At most `timeout_ms` (`AUTHORITY_TIMEOUT`) is spent waiting: a slow object is a
/// failing one.
pub async fn admit(
    env: &Env,
    authority: Object<'_>,
    admission: &Admission,
    timeout_ms: u32,
) -> Result<Answer> {
    let body = serde_json::to_string(admission)?;
    let deadline = (timeout_ms, "AUTHORITY_TIMEOUT");
    call(env, authority, "admit", &body, Some(deadline)).await
}

/// An isolate's lease call (leased admission), waiting at most `timeout_ms`.
pub async fn lease(
    env: &Env,
    authority: Object<'_>,
    request: &LeaseRequest,
    timeout_ms: u32,
) -> Result<LeaseAnswer> {
    let body = serde_json::to_string(request)?;
    let deadline = (timeout_ms, "AUTHORITY_TIMEOUT");
    call(env, authority, "lease", &body, Some(deadline)).await
}

/// Tells the object about a revocation or an enable/disable of one of its keys.
pub async fn change(env: &Env, authority: Object<'_>, change: &StateChange) -> Result<KeyState> {
    call(
        env,
        authority,
        "state",
        &serde_json::to_string(change)?,
        None,
    )
    .await
}

/// Changes the chain's credits at its object, which is created if the key never
/// reached it (it then reads the key's record from the team directory first).
pub async fn credits(
    env: &Env,
    authority: Object<'_>,
    record: &crate::record::KeyRecord,
    change: CreditsChange,
) -> Result<CreditsChanged> {
    let c = CreditsCall {
        key: record.id.clone(),
        team: record.team.clone(),
        change,
    };
    call(env, authority, "credits", &serde_json::to_string(&c)?, None).await
}

/// One key's usage, and its last outcomes when asked.
pub async fn usage(
    env: &Env,
    authority: Object<'_>,
    key: &str,
    outcomes: bool,
) -> Result<UsageReport> {
    let q = UsageQuery {
        key: key.to_string(),
        outcomes,
    };
    call(env, authority, "usage", &serde_json::to_string(&q)?, None).await
}

/// A key chain's object: its name (the chain's first key id) and the region it
/// is created in, if this call creates it.
pub type Object<'a> = (&'a str, Option<&'a str>);

/// The object of `record`'s chain.
pub fn object<'a>(
    record: &'a crate::record::KeyRecord,
    config: &'a crate::config::Config,
) -> Object<'a> {
    (record.authority(), crate::decide::region(record, config))
}

/// One call to the object, waiting at most until `deadline`.
async fn call<T: serde::de::DeserializeOwned>(
    env: &Env,
    (authority, region): Object<'_>,
    method: &str,
    message: &str,
    deadline: Option<runtime::Deadline<'_>>,
) -> Result<T> {
    runtime::call_object(
        env,
        (BINDING, authority, region),
        method,
        message,
        "key authority",
        deadline,
    )
    .await
}
