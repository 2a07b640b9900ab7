//! Key records in the `KEYS` KV namespace: `key:<sha256 hex>` holds the record,
//! `id:<team>:<key id>` holds the hash, so admin calls can find a key by its id.

use super::runtime::unavailable;
use crate::key::KeyHash;
use crate::problem::Problem;
use crate::record::KeyRecord;
use worker::{Env, KvStore};

/// The KV binding that holds key records.
pub struct Keys(KvStore);

fn kv_error(e: impl std::fmt::Display) -> Problem {
    unavailable("KV namespace KEYS", e)
}

fn record_key(hash: &KeyHash) -> String {
    format!("key:{}", hash.as_str())
}

fn id_key(team: &str, id: &str) -> String {
    format!("id:{team}:{id}")
}

impl Keys {
    /// Opens the `KEYS` binding; a missing binding fails closed.
    pub fn open(env: &Env) -> Result<Keys, Problem> {
        env.kv("KEYS").map(Keys).map_err(kv_error)
    }

    /// The record stored under a key's hash.
    pub async fn by_hash(&self, hash: &KeyHash) -> Result<Option<KeyRecord>, Problem> {
        let text = self
            .0
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

    /// The hash and record of a team's key, by key id.
    pub async fn by_id(
        &self,
        team: &str,
        id: &str,
    ) -> Result<Option<(KeyHash, KeyRecord)>, Problem> {
        let hash = self
            .0
            .get(&id_key(team, id))
            .text()
            .await
            .map_err(kv_error)?;
        let Some(hash) = hash.map(KeyHash) else {
            return Ok(None);
        };
        Ok(self
            .by_hash(&hash)
            .await?
            .filter(|r| r.team == team && r.id == id)
            .map(|r| (hash, r)))
    }

    /// Stores a record under its hash.
    pub async fn put(&self, hash: &KeyHash, record: &KeyRecord) -> Result<(), Problem> {
        let json = serde_json::to_string(record).map_err(|e| unavailable("record encoding", e))?;
        self.0
            .put(&record_key(hash), json)
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)
    }

    /// Stores a new record and its id index.
    pub async fn insert(&self, hash: &KeyHash, record: &KeyRecord) -> Result<(), Problem> {
        self.put(hash, record).await?;
        self.0
            .put(&id_key(&record.team, &record.id), hash.as_str())
            .map_err(kv_error)?
            .execute()
            .await
            .map_err(kv_error)
    }
}
