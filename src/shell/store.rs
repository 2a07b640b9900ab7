//! Key records in the `KEYS` KV namespace: `key:<sha256 hex>` holds a copy of the
//! record that the team's directory (a Durable Object) holds, for the request path.
//! The request path reuses records for `RECORD_CACHE_TTL` within an isolate.
//! `team:<team>` marks the teams that have keys, for the expiry-notice run. Writes do not touch the cache, so that one
//! isolate (as under `wrangler dev`) behaves like the many of a deployment: record
//! changes apply within the TTL, while revocation and disabling are exact through
//! the key's Durable Object.

use super::runtime::unavailable;
use crate::cache::TtlCache;
use crate::config::Config;
use crate::key::KeyHash;
use crate::problem::Problem;
use crate::record::KeyRecord;
use std::cell::RefCell;
use worker::{Env, KvStore};

/// KV keys `team:<team>` list the teams that have keys.
const TEAM_PREFIX: &str = "team:";

/// Most records one isolate keeps.
const CACHE_CAPACITY: usize = 4096;

thread_local! {
    static CACHE: RefCell<Option<TtlCache<String, KeyRecord>>> = const { RefCell::new(None) };
}

/// The KV binding that holds key records.
pub struct Keys {
    kv: KvStore,
    cache_ttl_ms: i64,
}

fn kv_error(e: impl std::fmt::Display) -> Problem {
    unavailable("KV namespace KEYS", e)
}

fn record_key(hash: &KeyHash) -> String {
    format!("key:{}", hash.as_str())
}

impl Keys {
    /// Opens the `KEYS` binding; a missing binding fails closed.
    pub fn open(env: &Env, config: &Config) -> Result<Keys, Problem> {
        let kv = env.kv("KEYS").map_err(kv_error)?;
        Ok(Keys {
            kv,
            cache_ttl_ms: i64::from(config.record_cache_ttl_s) * 1000,
        })
    }

    /// The record under a key's hash, from the isolate's cache when fresh (without
    /// opening the binding: a hit makes no call into the runtime), else from KV.
    /// Misses are not cached, so a new key works at once.
    pub async fn lookup(
        env: &Env,
        config: &Config,
        hash: &KeyHash,
        now_ms: i64,
    ) -> Result<Option<KeyRecord>, Problem> {
        let cached = CACHE.with(|c| {
            c.borrow()
                .as_ref()
                .and_then(|cache| cache.get(&hash.0, now_ms))
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let keys = Keys::open(env, config)?;
        let record = keys.read(hash).await?;
        if let Some(r) = &record {
            CACHE.with(|c| {
                c.borrow_mut()
                    .get_or_insert_with(|| TtlCache::new(CACHE_CAPACITY, keys.cache_ttl_ms))
                    .insert(hash.0.clone(), r.clone(), now_ms)
            });
        }
        Ok(record)
    }

    /// Keeps `record` in the isolate's cache under `hash`, in place of what it
    /// held: a record read from the key's team directory, newer than KV's copy.
    pub fn remember(config: &Config, hash: &KeyHash, record: &KeyRecord, now_ms: i64) {
        let ttl_ms = i64::from(config.record_cache_ttl_s) * 1000;
        CACHE.with(|c| {
            c.borrow_mut()
                .get_or_insert_with(|| TtlCache::new(CACHE_CAPACITY, ttl_ms))
                .insert(hash.0.clone(), record.clone(), now_ms)
        });
    }

    /// The record under a key's hash, read from KV.
    async fn read(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, Problem> {
        let text = self
            .kv
            .get(&record_key(hash))
            .text()
            .await
            .map_err(kv_error)?;
        match text {
            None => Ok(None),
            Some(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| unavailable("KV namespace KEYS (a malformed key record)", e)),
        }
    }

    /// Whether a record exists under this hash (any team).
    pub async fn exists(&self, hash: &KeyHash) -> Result<bool, Problem> {
        Ok(self.read(hash).await?.is_some())
    }

    /// Stores a record under its hash.
    pub async fn put(&self, hash: &KeyHash, record: &KeyRecord) -> Result<(), Problem> {
        let json = serde_json::to_string(record).map_err(|e| unavailable("record encoding", e))?;
        // As bytes: worker's generic `put` converts any value with serde_wasm_bindgen
        // first, only to end up with the same string.
        self.kv
            .put_bytes(&record_key(hash), json.as_bytes())
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)
    }

    /// Removes the record under a hash (undoing a write that the directory refused).
    pub async fn delete(&self, hash: &KeyHash) -> Result<(), Problem> {
        self.kv.delete(&record_key(hash)).await.map_err(kv_error)
    }

    /// Notes that a team has keys, for the expiry-notice run to find it. Written
    /// once per team, not on every key it issues: KV takes at most one write per
    /// second to a key, and reads are cheap.
    pub async fn register_team(&self, team: &str) -> Result<(), Problem> {
        let marker = format!("{TEAM_PREFIX}{team}");
        if self
            .kv
            .get(&marker)
            .text()
            .await
            .map_err(kv_error)?
            .is_some()
        {
            return Ok(());
        }
        self.kv
            .put_bytes(&marker, b"")
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)
    }

    /// A page of team ids, and the cursor of the next page.
    pub async fn teams(
        &self,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>), Problem> {
        let mut list = self.kv.list().prefix(TEAM_PREFIX.to_string());
        if let Some(c) = cursor {
            list = list.cursor(c);
        }
        let page = list.execute().await.map_err(kv_error)?;
        let teams = page
            .keys
            .into_iter()
            .filter_map(|k| k.name.strip_prefix(TEAM_PREFIX).map(str::to_string))
            .collect();
        Ok((
            teams,
            if page.list_complete {
                None
            } else {
                page.cursor
            },
        ))
    }
}
