//! The key locator's shell (`crate::locator`): a new key noted in its shard
//! before the admin API returns it, and a key that KV does not know yet found
//! in its shard, within this isolate's bound on misses. The shards are
//! `TeamDirectory` objects under `~locator/` names (`Call::Note`, `Call::Locate`).

use super::directory;
use super::runtime;
use super::store::Keys;
use crate::config::Config;
use crate::directory::{Call, Stored};
use crate::key::KeyHash;
use crate::locator::{self, Miss, Misses};
use crate::problem::Problem;
use crate::record::KeyRecord;
use serde_json::json;
use std::cell::RefCell;
use worker::Env;

thread_local! {
    /// This isolate's misses: hashes found unknown lately, and the bound on asking.
    static MISSES: RefCell<Misses> = RefCell::new(Misses::default());
}

/// The record of the key with `hash`: the isolate's cache or KV, else (a key
/// newer than KV's copy here) its locator shard's, as [`Misses`] allows. A
/// shard that cannot answer is logged, and the key is unknown, as KV says.
pub(super) async fn record(
    env: &Env,
    config: &Config,
    hash: &KeyHash,
    now_ms: i64,
) -> Result<Option<KeyRecord>, Problem> {
    if let Some(record) = Keys::lookup(env, config, hash, now_ms).await? {
        return Ok(Some(record));
    }
    if MISSES.with(|m| m.borrow_mut().on_miss(hash.as_str(), now_ms)) != Miss::Ask {
        return Ok(None);
    }
    let locate = Call::Locate {
        hash: hash.as_str().to_string(),
    };
    let shard = locator::shard(hash.as_str());
    match directory::call::<Option<Stored>>(env, &shard, &locate).await {
        Ok(Some(stored)) => {
            Keys::remember(config, hash, &stored.record, now_ms);
            Ok(Some(stored.record))
        }
        Ok(None) => {
            MISSES.with(|m| m.borrow_mut().unknown(hash.as_str(), now_ms));
            Ok(None)
        }
        Err(p) => {
            runtime::log(json!({"event": "key_locator_unavailable", "error": p.detail}));
            Ok(None)
        }
    }
}

/// Notes a new key's record in its locator shard, before the admin API returns
/// the key. A shard that cannot answer is logged: the key then works where it
/// was issued at once, and elsewhere once KV carries it there.
pub(super) async fn note(env: &Env, hash: &KeyHash, record: &KeyRecord) {
    let call = Call::Note {
        hash: hash.as_str().to_string(),
        record: Box::new(record.clone()),
    };
    let shard = locator::shard(hash.as_str());
    if let Err(p) = directory::call::<()>(env, &shard, &call).await {
        runtime::log(json!({"event": "key_not_located", "key_id": record.id, "error": p.detail}));
    }
}
