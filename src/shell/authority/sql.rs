//! The key object's storage in its SQLite database: `keyobject::Store` over the
//! object's tables. Only the SQL and the rows live here; what is written when is
//! the core's (`crate::keyobject`).

use crate::credits::{Credits, LowWatch};
use crate::keyobject::{DueNotice, Store};
use crate::keystate::{ChainState, KeyState};
use crate::lease::Lease;
use crate::problem::{Code, Problem};
use crate::ratelimit::Counter;
use crate::usage::{Outcome, Series, Usage};
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

/// The object's SQLite storage.
pub(super) struct Sql(pub SqlStorage);

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
struct TextRow {
    text: String,
}

#[derive(Deserialize)]
struct SeriesRow {
    key_id: String,
    series: String,
}

#[derive(Deserialize)]
struct OutcomeRow {
    key_id: String,
    at_ms: f64,
    method: String,
    path: String,
    status: Option<f64>,
    code: Option<String>,
}

/// A storage failure, as the core's `UNAVAILABLE`.
fn failed(e: impl std::fmt::Display) -> Problem {
    Problem::new(Code::Unavailable, format!("the key object's storage: {e}"))
}

impl Sql {
    fn exec(&self, sql: &str, params: Vec<SqlStorageValue>) -> Result<(), Problem> {
        let params = (!params.is_empty()).then_some(params);
        self.0.exec(sql, params).map(|_| ()).map_err(failed)
    }

    fn rows<T: for<'de> Deserialize<'de>>(&self, sql: &str) -> Result<Vec<T>, Problem> {
        self.0
            .exec(sql, None)
            .and_then(|c| c.to_array())
            .map_err(failed)
    }

    fn json<T: serde::Serialize>(value: &T) -> Result<SqlStorageValue, Problem> {
        serde_json::to_string(value).map(Into::into).map_err(failed)
    }
}

fn read<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, Problem> {
    serde_json::from_str(text).map_err(failed)
}

impl Store for Sql {
    fn load(&mut self) -> Result<ChainState, Problem> {
        super::super::layout::open(&self.0, &crate::schema::KEY_OBJECT).map_err(failed)?;
        let mut auth = ChainState::default();
        let keys: Vec<KeyRow> =
            self.rows("SELECT id, state, last_used_at, requests, denied FROM keys")?;
        for k in keys {
            auth.states.insert(k.id.clone(), read(&k.state)?);
            let usage = Usage {
                last_used_at: k.last_used_at.map(|t| t as i64),
                requests: k.requests as u64,
                denied: k.denied as u64,
                today: 0,
            };
            auth.usage.insert(k.id, usage);
        }
        let rows: Vec<CounterRow> =
            self.rows("SELECT name, window_start_ms, count FROM counters")?;
        for r in rows {
            let counter = Counter {
                window_start_ms: r.window_start_ms as i64,
                count: r.count as u32,
            };
            auth.counters.insert(r.name, counter);
        }
        let rows: Vec<SeriesRow> = self.rows("SELECT key_id, series FROM series")?;
        for r in rows {
            // A row this build cannot read starts the key's series anew.
            auth.series
                .insert(r.key_id, Series::decode(&r.series).unwrap_or_default());
        }
        if let Some(r) = self
            .rows::<TextRow>("SELECT credits AS text FROM credits")?
            .first()
        {
            auth.credits = Some(read(&r.text)?);
        }
        if let Some(r) = self
            .rows::<TextRow>("SELECT watch AS text FROM credits_low")?
            .first()
        {
            auth.low = read(&r.text)?;
        }
        for r in self.rows::<TextRow>("SELECT lease AS text FROM leases ORDER BY id")? {
            auth.book.open.push(read(&r.text)?);
        }
        for r in self.rows::<TextRow>("SELECT lease AS text FROM lapsed ORDER BY seq")? {
            auth.book.lapsed.push(read(&r.text)?);
        }
        let rows: Vec<OutcomeRow> = self
            .rows("SELECT key_id, at_ms, method, path, status, code FROM outcomes ORDER BY seq")?;
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

    fn put_key(&mut self, id: &str, state: &KeyState, usage: &Usage) -> Result<(), Problem> {
        self.exec(
            "INSERT INTO keys (id, state, last_used_at, requests, denied) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(id) DO UPDATE SET state = excluded.state, last_used_at = excluded.last_used_at, \
             requests = excluded.requests, denied = excluded.denied",
            vec![
                id.into(),
                Self::json(state)?,
                usage.last_used_at.map_or(SqlStorageValue::Null, SqlStorageValue::Integer),
                SqlStorageValue::Integer(usage.requests as i64),
                SqlStorageValue::Integer(usage.denied as i64),
            ],
        )
    }

    fn put_counter(&mut self, name: &str, counter: Option<&Counter>) -> Result<(), Problem> {
        match counter {
            Some(c) => self.exec(
                "INSERT INTO counters (name, window_start_ms, count) VALUES (?, ?, ?) \
                 ON CONFLICT(name) DO UPDATE SET window_start_ms = excluded.window_start_ms, count = excluded.count",
                vec![
                    name.into(),
                    SqlStorageValue::Integer(c.window_start_ms),
                    SqlStorageValue::Integer(i64::from(c.count)),
                ],
            ),
            None => self.exec("DELETE FROM counters WHERE name = ?", vec![name.into()]),
        }
    }

    fn put_credits(&mut self, credits: Option<&Credits>) -> Result<(), Problem> {
        match credits {
            Some(c) => self.exec(
                "INSERT INTO credits (id, credits) VALUES (0, ?) \
                 ON CONFLICT(id) DO UPDATE SET credits = excluded.credits",
                vec![Self::json(c)?],
            ),
            None => self.exec("DELETE FROM credits", vec![]),
        }
    }

    fn put_leases(&mut self, open: &[Lease]) -> Result<(), Problem> {
        self.exec("DELETE FROM leases", vec![])?;
        for lease in open {
            self.exec(
                "INSERT INTO leases (id, lease) VALUES (?, ?)",
                vec![
                    SqlStorageValue::Integer(lease.id as i64),
                    Self::json(lease)?,
                ],
            )?;
        }
        Ok(())
    }

    fn put_series(&mut self, key: &str, series: &Series) -> Result<(), Problem> {
        self.exec(
            "INSERT INTO series (key_id, series) VALUES (?, ?) \
             ON CONFLICT(key_id) DO UPDATE SET series = excluded.series",
            vec![key.into(), series.encode().into()],
        )
    }

    fn add_outcomes(&mut self, key: &str, new: &[Outcome], keep: usize) -> Result<(), Problem> {
        for o in new {
            self.exec(
                "INSERT INTO outcomes (key_id, at_ms, method, path, status, code) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    key.into(),
                    SqlStorageValue::Integer(o.at_ms),
                    o.method.as_str().into(),
                    o.path.as_str().into(),
                    o.status
                        .map_or(SqlStorageValue::Null, |s| SqlStorageValue::Integer(i64::from(s))),
                    o.code
                        .map_or(SqlStorageValue::Null, |c| SqlStorageValue::from(c.as_str())),
                ],
            )?;
        }
        self.exec(
            "DELETE FROM outcomes WHERE key_id = ?1 AND seq NOT IN \
             (SELECT seq FROM outcomes WHERE key_id = ?1 ORDER BY seq DESC LIMIT ?2)",
            vec![key.into(), SqlStorageValue::Integer(keep as i64)],
        )
    }

    fn put_low(&mut self, low: &LowWatch) -> Result<(), Problem> {
        self.exec(
            "INSERT INTO credits_low (id, watch) VALUES (0, ?) \
             ON CONFLICT(id) DO UPDATE SET watch = excluded.watch",
            vec![Self::json(low)?],
        )
    }

    fn put_lapsed(&mut self, lapsed: &[Lease]) -> Result<(), Problem> {
        self.exec("DELETE FROM lapsed", vec![])?;
        for (seq, lease) in lapsed.iter().enumerate() {
            self.exec(
                "INSERT INTO lapsed (seq, lease) VALUES (?, ?)",
                vec![SqlStorageValue::Integer(seq as i64), Self::json(lease)?],
            )?;
        }
        Ok(())
    }

    fn notices(&mut self) -> Result<Vec<DueNotice>, Problem> {
        self.rows::<TextRow>("SELECT due AS text FROM notices ORDER BY seq")?
            .iter()
            .map(|r| read(&r.text))
            .collect()
    }

    fn put_notices(&mut self, due: &[DueNotice]) -> Result<(), Problem> {
        self.exec("DELETE FROM notices", vec![])?;
        for (seq, notice) in due.iter().enumerate() {
            self.exec(
                "INSERT INTO notices (seq, due) VALUES (?, ?)",
                vec![SqlStorageValue::Integer(seq as i64), Self::json(notice)?],
            )?;
        }
        Ok(())
    }
}
