//! The per-team Durable Object, `TeamDirectory`: the authority for a team's key
//! records, its live-key limit and its append-only audit log. Each call runs with
//! no `await` between its reads and writes, so two calls never interleave, and a
//! change and its audit entry are stored together.

use crate::directory::{self, Applied, AuditEntry, Call, Change, KeyCursor, Page, Reply, Stored};
use crate::notice::{self, Notice};
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
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
    /// [`Reply`] as JSON text (`call` is unused: every call names itself).
    #[wasm_bindgen(js_name = keywardCall)]
    pub async fn keyward_call(
        &self,
        _call: String,
        message: String,
    ) -> std::result::Result<String, JsValue> {
        self.answer(&message).map_err(JsValue::from)
    }
}

impl TeamDirectory {
    fn answer(&self, message: &str) -> Result<String> {
        let call: Call = super::runtime::read_message(message)?;
        let now_ms = worker::Date::now().as_millis() as i64;
        let sql = self.sql()?;
        match call {
            Call::Insert {
                hash,
                record,
                max_live,
                audit,
            } => reply(insert(&sql, &hash, &record, max_live, audit, now_ms)),
            Call::Apply { id, change, audit } => reply(apply(&sql, &id, &change, audit, now_ms)),
            Call::Get { id } => reply(Ok(get(&sql, &id)?)),
            Call::Place { id } => {
                let mut stored = get(&sql, &id)?;
                if let Some(s) = stored.as_mut().filter(|s| s.record.placed == Some(false)) {
                    s.record.placed = Some(true);
                    put(&sql, &s.hash, &s.record)
                        .map_err(|p| worker::Error::RustError(p.detail))?;
                }
                reply(Ok(stored))
            }
            Call::List { cursor, limit } => reply(list(&sql, cursor.as_deref(), limit)),
            Call::Audit { cursor, limit } => reply(audit_page(&sql, cursor.as_deref(), limit)),
            Call::Expiring {
                now_ms,
                thresholds,
                max,
            } => reply(Ok(expiring(&sql, now_ms, &thresholds, max)?)),
            Call::Unclaim { key_id, days } => {
                for d in days {
                    sql.exec(
                        "DELETE FROM notices WHERE key_id = ? AND days = ?",
                        vec![
                            key_id.clone().into(),
                            SqlStorageValue::Integer(i64::from(d)),
                        ],
                    )?;
                }
                reply(Ok(()))
            }
        }
    }

    fn sql(&self) -> Result<SqlStorage> {
        let sql = self.state.storage().sql();
        if !self.ready.get() {
            for ddl in [
                "CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL, revoked_at INTEGER, expires_at INTEGER, record TEXT NOT NULL)",
                "CREATE INDEX IF NOT EXISTS keys_by_age ON keys (created_at DESC, id DESC)",
                "CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry TEXT NOT NULL)",
                "CREATE TABLE IF NOT EXISTS notices (key_id TEXT NOT NULL, days INTEGER NOT NULL, PRIMARY KEY (key_id, days))",
            ] {
                sql.exec(ddl, None)?;
            }
            self.ready.set(true);
        }
        Ok(sql)
    }
}

/// A refusal travels as a [`Reply::Err`]; a storage failure fails the whole call
/// (a rejected RPC call, 503 `UNAVAILABLE` to the client).
fn reply<T: Serialize>(result: std::result::Result<T, Problem>) -> Result<String> {
    match result {
        Ok(v) => Ok(serde_json::to_string(&Reply::Ok(v))?),
        Err(p) if p.code == Code::Unavailable => Err(worker::Error::RustError(p.detail)),
        Err(p) => Ok(serde_json::to_string(&Reply::<T>::refuse(&p))?),
    }
}

fn storage(e: worker::Error) -> Problem {
    super::runtime::unavailable("the team directory (Durable Object TEAM_DIRECTORY)", e)
}

fn opt(v: Option<i64>) -> SqlStorageValue {
    v.map_or(SqlStorageValue::Null, SqlStorageValue::Integer)
}

fn put(sql: &SqlStorage, hash: &str, record: &KeyRecord) -> std::result::Result<(), Problem> {
    let json = serde_json::to_string(record).map_err(|e| storage(e.into()))?;
    sql.exec(
        "INSERT INTO keys (id, hash, created_at, revoked_at, expires_at, record) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT(id) DO UPDATE SET revoked_at = excluded.revoked_at, expires_at = excluded.expires_at, record = excluded.record",
        vec![
            record.id.clone().into(),
            hash.into(),
            SqlStorageValue::Integer(record.created_at),
            opt(record.revoked_at),
            opt(record.expires_at),
            json.into(),
        ],
    )
    .map_err(storage)?;
    Ok(())
}

fn append(sql: &SqlStorage, mut entry: AuditEntry) -> std::result::Result<(), Problem> {
    entry.seq = 0;
    let json = serde_json::to_string(&entry).map_err(|e| storage(e.into()))?;
    sql.exec("INSERT INTO audit (entry) VALUES (?)", vec![json.into()])
        .map_err(storage)?;
    Ok(())
}

fn hash_known(sql: &SqlStorage, hash: &str) -> std::result::Result<bool, Problem> {
    let n: Vec<Count> = sql
        .exec(
            "SELECT COUNT(*) AS n FROM keys WHERE hash = ?",
            vec![hash.into()],
        )
        .and_then(|c| c.to_array())
        .map_err(storage)?;
    Ok(n.first().is_some_and(|c| c.n > 0.0))
}

fn insert(
    sql: &SqlStorage,
    hash: &str,
    record: &KeyRecord,
    max_live: u32,
    audit: AuditEntry,
    now_ms: i64,
) -> std::result::Result<(), Problem> {
    if hash_known(sql, hash)? {
        return Err(Problem::new(
            Code::Conflict,
            "this key is already registered",
        ));
    }
    room_for_one(sql, max_live, now_ms)?;
    put(sql, hash, record)?;
    append(sql, audit)
}

/// Refuses when the team already holds `max_live` live keys: as in
/// `KeyRecord::is_live`, not revoked (a key in a rotation's grace still counts)
/// and not expired.
fn room_for_one(sql: &SqlStorage, max_live: u32, now_ms: i64) -> std::result::Result<(), Problem> {
    let live: Vec<Count> = sql
        .exec(
            "SELECT COUNT(*) AS n FROM keys WHERE (revoked_at IS NULL OR revoked_at * 1000 > ?1) \
             AND (expires_at IS NULL OR expires_at * 1000 > ?1)",
            vec![SqlStorageValue::Integer(now_ms)],
        )
        .and_then(|c| c.to_array())
        .map_err(storage)?;
    let live = live.first().map_or(0, |c| c.n as u64);
    if live >= u64::from(max_live) {
        return Err(Problem::new(
            Code::TeamKeyLimit,
            format!("the team already holds {live} live keys, the most MAX_KEYS_PER_TEAM ({max_live}) allows; revoke unused keys first"),
        )
        .with("live_keys", json!(live))
        .with("max_keys_per_team", json!(max_live)));
    }
    Ok(())
}

fn get(sql: &SqlStorage, id: &str) -> Result<Option<Stored>> {
    let rows: Vec<KeyRow> = sql
        .exec(
            "SELECT hash, record FROM keys WHERE id = ?",
            vec![id.into()],
        )?
        .to_array()?;
    match rows.into_iter().next() {
        None => Ok(None),
        Some(r) => Ok(Some(Stored {
            hash: r.hash,
            record: serde_json::from_str(&r.record)?,
        })),
    }
}

fn apply(
    sql: &SqlStorage,
    id: &str,
    change: &Change,
    mut audit: AuditEntry,
    now_ms: i64,
) -> std::result::Result<Applied, Problem> {
    let stored = get(sql, id)
        .map_err(storage)?
        .ok_or_else(|| Problem::new(Code::NotFound, "no such key in this team"))?;
    let applied = directory::apply(&stored, change, now_ms)?;
    if let Change::Rotate { max_live, .. } = change {
        // With a grace, the old key stays live beside the new one.
        if applied.key.record.is_live(now_ms) {
            room_for_one(sql, *max_live, now_ms)?;
        }
    }
    if let Some(new) = &applied.new_key {
        if hash_known(sql, &new.hash)? {
            return Err(Problem::new(Code::Conflict, "the new key collides; retry"));
        }
        put(sql, &new.hash, &new.record)?;
    }
    put(sql, &applied.key.hash, &applied.key.record)?;
    if let (Some(obj), Some(at)) = (audit.details.as_object_mut(), applied.key.record.revoked_at) {
        obj.insert("revoked_at".into(), json!(crate::expiry::rfc3339(at)));
    }
    append(sql, audit)?;
    Ok(applied)
}

#[derive(Deserialize)]
struct SentRow {
    days: f64,
}

/// Keys neither revoked nor due to be, expiring within the largest threshold,
/// with the notices now due, at most `max`; each is claimed before it is returned.
fn expiring(sql: &SqlStorage, now_ms: i64, thresholds: &[u32], max: u32) -> Result<Vec<Notice>> {
    let Some(days) = thresholds.iter().max() else {
        return Ok(vec![]);
    };
    let horizon_ms = now_ms + i64::from(*days) * 86_400_000;
    let rows: Vec<KeyRow> = sql
        .exec(
            "SELECT hash, record FROM keys WHERE revoked_at IS NULL AND expires_at IS NOT NULL \
             AND expires_at * 1000 > ? AND expires_at * 1000 <= ?",
            vec![
                SqlStorageValue::Integer(now_ms),
                SqlStorageValue::Integer(horizon_ms),
            ],
        )?
        .to_array()?;
    let now = now_ms.div_euclid(1000);
    let mut notices = Vec::new();
    for row in rows {
        if notices.len() >= max as usize {
            break;
        }
        let Ok(record) = serde_json::from_str::<KeyRecord>(&row.record) else {
            super::runtime::log(
                json!({"event": "expiry_notice_skipped", "reason": "a malformed record"}),
            );
            continue;
        };
        let sent: Vec<SentRow> = sql
            .exec(
                "SELECT days FROM notices WHERE key_id = ?",
                vec![record.id.clone().into()],
            )?
            .to_array()?;
        let sent: Vec<u32> = sent.iter().map(|r| r.days as u32).collect();
        let due = notice::due(record.expires_at.unwrap_or(0), now, thresholds, &sent);
        let Some(&days) = due.first() else { continue };
        for d in &due {
            sql.exec(
                "INSERT OR IGNORE INTO notices (key_id, days) VALUES (?, ?)",
                vec![
                    record.id.clone().into(),
                    SqlStorageValue::Integer(i64::from(*d)),
                ],
            )?;
        }
        notices.push(Notice {
            record,
            days,
            settles: due,
        });
    }
    Ok(notices)
}

/// A page of at most `limit` items from `limit + 1` read: the extra one says that
/// another page follows, after the cursor of the last item kept.
fn page<T>(mut items: Vec<T>, limit: u32, cursor: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit as usize {
        items.truncate(limit as usize);
        items.last().map(cursor)
    } else {
        None
    };
    Page { items, next_cursor }
}

/// The refusal of a cursor that no page handed out.
fn bad_cursor() -> Problem {
    Problem::validation(vec![crate::field::FieldError::new(
        "cursor",
        "is not a cursor from a previous page",
    )])
}

fn list(
    sql: &SqlStorage,
    cursor: Option<&str>,
    limit: u32,
) -> std::result::Result<Page<KeyRecord>, Problem> {
    let after = match cursor {
        None => None,
        Some(c) => Some(KeyCursor::parse(c).ok_or_else(bad_cursor)?),
    };
    let (query, params) = match &after {
        None => (
            "SELECT hash, record FROM keys ORDER BY created_at DESC, id DESC LIMIT ?",
            vec![SqlStorageValue::Integer(i64::from(limit) + 1)],
        ),
        Some(c) => (
            "SELECT hash, record FROM keys WHERE created_at < ?1 OR (created_at = ?1 AND id < ?2) \
             ORDER BY created_at DESC, id DESC LIMIT ?3",
            vec![
                SqlStorageValue::Integer(c.created_at),
                c.id.clone().into(),
                SqlStorageValue::Integer(i64::from(limit) + 1),
            ],
        ),
    };
    let rows: Vec<KeyRow> = sql
        .exec(query, params)
        .and_then(|c| c.to_array())
        .map_err(storage)?;
    let items = rows
        .iter()
        .map(|r| serde_json::from_str::<KeyRecord>(&r.record))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| storage(e.into()))?;
    Ok(page(items, limit, |r| {
        KeyCursor {
            created_at: r.created_at,
            id: r.id.clone(),
        }
        .encode()
    }))
}

fn audit_page(
    sql: &SqlStorage,
    cursor: Option<&str>,
    limit: u32,
) -> std::result::Result<Page<AuditEntry>, Problem> {
    let before = match cursor {
        None => i64::MAX,
        Some(c) => c.parse::<i64>().map_err(|_| bad_cursor())?,
    };
    let rows: Vec<AuditRow> = sql
        .exec(
            "SELECT seq, entry FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
            vec![
                SqlStorageValue::Integer(before),
                SqlStorageValue::Integer(i64::from(limit) + 1),
            ],
        )
        .and_then(|c| c.to_array())
        .map_err(storage)?;
    let mut items = Vec::with_capacity(rows.len());
    for r in rows {
        let mut e: AuditEntry = serde_json::from_str(&r.entry).map_err(|e| storage(e.into()))?;
        e.seq = r.seq as u64;
        items.push(e);
    }
    Ok(page(items, limit, |e| e.seq.to_string()))
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
