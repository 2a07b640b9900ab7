//! The per-team Durable Object, `TeamDirectory`: the authority for a team's key
//! records, its live-key limit and its append-only audit log. Each call runs with
//! no `await` between its reads and writes, so two calls never interleave, and a
//! change and its audit entry are stored together.

use crate::directory::store::{self, Store};
use crate::directory::{AuditEntry, Call, KeyCursor, Reply, Stored};
use crate::problem::Problem;
use crate::record::KeyRecord;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use std::cell::Cell;
use worker::wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State,
};

/// The binding of the `TeamDirectory` namespace.
pub const BINDING: &str = "TEAM_DIRECTORY";

#[durable_object]
pub struct TeamDirectory {
    state: State,
    ready: Cell<bool>,
}

#[derive(Deserialize)]
struct KeyRow {
    hash: String,
    record: String,
}

#[derive(Deserialize)]
struct AuditRow {
    seq: f64,
    entry: String,
}

#[derive(Deserialize)]
struct Count {
    n: f64,
}

impl DurableObject for TeamDirectory {
    fn new(state: State, _env: Env) -> Self {
        TeamDirectory {
            state,
            ready: Cell::new(false),
        }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        Response::error(
            "the team directory answers RPC calls only (keywardCall)",
            404,
        )
    }
}

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures
)]
impl TeamDirectory {
    /// The object's RPC method: `message` is a [`Call`] as JSON, the answer a
    /// [`Reply`] as JSON text (`call` is unused: every call names itself),
    /// `version` the caller's wire version (`crate::wire`). A key locator
    /// shard is a directory object too (`crate::locator`).
    #[wasm_bindgen(js_name = keywardCall)]
    pub async fn keyward_call(
        &self,
        _call: String,
        message: String,
        version: Option<u32>,
    ) -> std::result::Result<String, JsValue> {
        super::runtime::caller_version("TeamDirectory", version);
        self.answer(&message).map_err(JsValue::from)
    }
}

impl TeamDirectory {
    /// Answers one call over the object's SQLite storage ([`store::answer`]
    /// decides, with no `await` between its reads and writes).
    fn answer(&self, message: &str) -> Result<String> {
        let call: Call = super::runtime::read_message(message)?;
        let now_ms = worker::Date::now().as_millis() as i64;
        let mut sql = Sql(self.sql()?);
        store::answer(&mut sql, call, now_ms).map_err(|p| {
            super::runtime::log_cause(&p);
            worker::Error::RustError(p.detail)
        })
    }

    fn sql(&self) -> Result<SqlStorage> {
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            super::layout::open(&sql, &crate::schema::DIRECTORY)?;
            self.ready.set(true);
        }
        Ok(sql)
    }
}

/// The team directory's [`Store`] in the object's SQLite storage.
struct Sql(SqlStorage);

#[derive(Deserialize)]
struct SentRow {
    days: f64,
}

fn storage(e: worker::Error) -> Problem {
    super::runtime::unavailable("the team directory (Durable Object TEAM_DIRECTORY)", e)
}

fn opt(v: Option<i64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::Integer)
}

fn int(v: i64) -> SqlStorageValue {
    SqlStorageValue::Integer(v)
}

impl Sql {
    fn rows<T: DeserializeOwned>(
        &self,
        query: &str,
        params: Vec<SqlStorageValue>,
    ) -> std::result::Result<Vec<T>, Problem> {
        self.0
            .exec(query, Some(params))
            .and_then(|c| c.to_array())
            .map_err(storage)
    }

    fn exec(&self, query: &str, params: Vec<SqlStorageValue>) -> std::result::Result<(), Problem> {
        self.0
            .exec(query, Some(params))
            .map(|_| ())
            .map_err(storage)
    }

    fn records(&self, rows: Vec<KeyRow>) -> std::result::Result<Vec<KeyRecord>, Problem> {
        rows.iter()
            .map(|r| serde_json::from_str::<KeyRecord>(&r.record))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| storage(e.into()))
    }
}

impl Store for Sql {
    fn located(&self, hash: &str) -> std::result::Result<Option<Stored>, Problem> {
        let rows: Vec<KeyRow> = self.rows(crate::schema::LOCATED_FIND, vec![hash.into()])?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(r) => Ok(Some(Stored {
                record: serde_json::from_str(&r.record).map_err(|e| storage(e.into()))?,
                hash: r.hash,
            })),
        }
    }

    fn note(&mut self, stored: &Stored) -> std::result::Result<(), Problem> {
        let json = serde_json::to_string(&stored.record).map_err(|e| storage(e.into()))?;
        let hash = stored.hash.clone().into();
        self.exec(crate::schema::LOCATED_NOTE, vec![hash, json.into()])
    }

    fn get(&self, id: &str) -> std::result::Result<Option<Stored>, Problem> {
        let rows: Vec<KeyRow> = self.rows(
            "SELECT hash, record FROM keys WHERE id = ?",
            vec![id.into()],
        )?;
        match rows.into_iter().next() {
            None => Ok(None),
            Some(r) => Ok(Some(Stored {
                record: serde_json::from_str(&r.record).map_err(|e| storage(e.into()))?,
                hash: r.hash,
            })),
        }
    }

    fn hash_known(&self, hash: &str) -> std::result::Result<bool, Problem> {
        let n: Vec<Count> = self.rows(
            "SELECT COUNT(*) AS n FROM keys WHERE hash = ?",
            vec![hash.into()],
        )?;
        Ok(n.first().is_some_and(|c| c.n > 0.0))
    }

    /// As `KeyRecord::is_live`: not revoked (a key in a rotation's grace still
    /// counts) and not expired, at `now_ms`.
    fn live(&self, now_ms: i64) -> std::result::Result<u64, Problem> {
        let n: Vec<Count> = self.rows(crate::schema::LIVE_KEYS, vec![int(now_ms)])?;
        Ok(n.first().map_or(0, |c| c.n as u64))
    }

    fn put(&mut self, stored: &Stored) -> std::result::Result<(), Problem> {
        let record = &stored.record;
        let json = serde_json::to_string(record).map_err(|e| storage(e.into()))?;
        self.exec(
            "INSERT INTO keys (id, hash, created_at, revoked_at, expires_at, record) VALUES (?, ?, ?, ?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET revoked_at = excluded.revoked_at, expires_at = excluded.expires_at, record = excluded.record",
            vec![
                record.id.clone().into(),
                stored.hash.clone().into(),
                int(record.created_at),
                opt(record.revoked_at),
                opt(record.expires_at),
                json.into(),
            ],
        )
    }

    fn append(&mut self, mut entry: AuditEntry) -> std::result::Result<(), Problem> {
        entry.seq = 0;
        let json = serde_json::to_string(&entry).map_err(|e| storage(e.into()))?;
        self.exec("INSERT INTO audit (entry) VALUES (?)", vec![json.into()])
    }

    fn keys(
        &self,
        after: Option<&KeyCursor>,
        limit: u32,
    ) -> std::result::Result<Vec<KeyRecord>, Problem> {
        let rows: Vec<KeyRow> = match after {
            None => self.rows(
                "SELECT hash, record FROM keys ORDER BY created_at DESC, id DESC LIMIT ?",
                vec![int(i64::from(limit))],
            )?,
            Some(c) => self.rows(
                "SELECT hash, record FROM keys WHERE created_at < ?1 OR (created_at = ?1 AND id < ?2) \
                 ORDER BY created_at DESC, id DESC LIMIT ?3",
                vec![int(c.created_at), c.id.clone().into(), int(i64::from(limit))],
            )?,
        };
        self.records(rows)
    }

    fn audit(
        &self,
        before: i64,
        limit: u32,
        key: Option<&str>,
    ) -> std::result::Result<Vec<AuditEntry>, Problem> {
        let rows: Vec<AuditRow> = match key {
            None => self.rows(
                "SELECT seq, entry FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                vec![int(before), int(i64::from(limit))],
            )?,
            Some(key) => self.rows(
                "SELECT seq, entry FROM audit WHERE seq < ? AND json_extract(entry, '$.key_id') = ? \
                 ORDER BY seq DESC LIMIT ?",
                vec![int(before), key.into(), int(i64::from(limit))],
            )?,
        };
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            let mut e: AuditEntry =
                serde_json::from_str(&r.entry).map_err(|e| storage(e.into()))?;
            e.seq = r.seq as u64;
            items.push(e);
        }
        Ok(items)
    }

    fn expiring(
        &self,
        now_ms: i64,
        horizon_ms: i64,
    ) -> std::result::Result<Vec<KeyRecord>, Problem> {
        let rows: Vec<KeyRow> = self.rows(
            "SELECT hash, record FROM keys WHERE revoked_at IS NULL AND expires_at IS NOT NULL \
             AND expires_at * 1000 > ? AND expires_at * 1000 <= ?",
            vec![int(now_ms), int(horizon_ms)],
        )?;
        let mut records = Vec::with_capacity(rows.len());
        for row in rows {
            match serde_json::from_str::<KeyRecord>(&row.record) {
                Ok(r) => records.push(r),
                Err(_) => super::runtime::log(
                    json!({"event": "expiry_notice_skipped", "reason": "a malformed record"}),
                ),
            }
        }
        Ok(records)
    }

    fn claimed(&self, key_id: &str) -> std::result::Result<Vec<u32>, Problem> {
        let rows: Vec<SentRow> = self.rows(
            "SELECT days FROM notices WHERE key_id = ?",
            vec![key_id.into()],
        )?;
        Ok(rows.iter().map(|r| r.days as u32).collect())
    }

    fn claim(
        &mut self,
        key_id: &str,
        days: u32,
        claimed: bool,
    ) -> std::result::Result<(), Problem> {
        let query = if claimed {
            "INSERT OR IGNORE INTO notices (key_id, days) VALUES (?, ?)"
        } else {
            "DELETE FROM notices WHERE key_id = ? AND days = ?"
        };
        self.exec(query, vec![key_id.into(), int(i64::from(days))])
    }
}

/// Calls a team's directory.
pub async fn call<T: DeserializeOwned>(
    env: &Env,
    team: &str,
    call: &Call,
) -> std::result::Result<T, Problem> {
    let reply: Reply<T> = send(env, team, call).await.map_err(storage)?;
    reply.into_result()
}

async fn send<T: DeserializeOwned>(env: &Env, team: &str, call: &Call) -> Result<Reply<T>> {
    let message = serde_json::to_string(call)?;
    super::runtime::call_object(
        env,
        (BINDING, team, None),
        "directory",
        &message,
        "team directory",
        None,
    )
    .await
}
