//! The admin API's effects: the key's object told, the team directory called,
//! the KV copies written and converged on the directory's records.

use super::super::authority;
use super::super::directory;
use super::super::locator;
use super::super::runtime;
use super::super::store::Keys;
use crate::admin;
use crate::config::Config;
use crate::directory::{Applied, AuditEntry, Call, Change, Stored};
use crate::key::KeyHash;
use crate::keystate::StateChange;
use crate::problem::Problem;
use crate::record::KeyRecord;
use serde_json::json;
use worker::Env;

/// Whether a key's Durable Object may exist: one of its requests reached it, or
/// the key predates the record of it.
fn placed(r: &KeyRecord) -> bool {
    r.placed != Some(false)
}

/// Tells the key's object of a change, if the object exists: one that does not
/// is created by the key's first request, near its caller, and then reads the
/// key's state from the team directory. Whether it was told.
pub(super) async fn tell(
    env: &Env,
    config: &Config,
    record: &KeyRecord,
    change: &StateChange,
) -> Result<bool, Problem> {
    if !placed(record) {
        return Ok(false);
    }
    authority::change(env, authority::object(record, config), change)
        .await
        .map_err(authority::unavailable)?;
    Ok(true)
}

/// A key's usage and credits: for a key whose object was never reached, none,
/// and its record's credits (asking the object would create it here, next to
/// the admin).
pub(super) async fn usage(
    env: &Env,
    config: &Config,
    r: &KeyRecord,
    outcomes: bool,
) -> worker::Result<authority::UsageReport> {
    if !placed(r) {
        return Ok(authority::UsageReport {
            credits: r.credits,
            ..Default::default()
        });
    }
    authority::usage(env, authority::object(r, config), &r.id, outcomes).await
}

/// The directory call that adds a key, up to `MAX_KEYS_PER_TEAM`.
fn insert_call(config: &Config, hash: &KeyHash, record: &KeyRecord, audit: AuditEntry) -> Call {
    Call::Insert {
        hash: hash.0.clone(),
        record: Box::new(record.clone()),
        max_live: config.max_keys_per_team,
        audit,
    }
}

/// Adds an issued key: its KV copy first (nobody holds a key that no directory knows: the
/// plaintext is returned only after the directory accepted it), then the team
/// directory, which enforces `MAX_KEYS_PER_TEAM` and may refuse: the KV copy is
/// then removed. Then its locator shard, so that every location finds it at once.
pub(super) async fn add(
    env: &Env,
    keys: &Keys,
    config: &Config,
    hash: &KeyHash,
    record: &KeyRecord,
    audit: AuditEntry,
) -> Result<(), Problem> {
    keys.register_team(&record.team).await?;
    keys.put(hash, record).await?;
    if let Err(p) =
        directory::call::<()>(env, &record.team, &insert_call(config, hash, record, audit)).await
    {
        if let Err(e) = keys.delete(hash).await {
            runtime::log(
                json!({"event": "orphan_kv_record", "key_id": record.id, "error": e.detail}),
            );
        }
        return Err(p);
    }
    locator::note(env, hash, record).await;
    Ok(())
}

/// Registers an imported key: the team directory first, which refuses a hash it
/// already knows (so of two concurrent imports of one hash, the loser writes and
/// removes nothing in KV), then its KV copy, read back like every change. No
/// plaintext is returned, so nothing needs the KV copy before the directory has
/// it. Whether the KV copy was written (the key is registered either way).
pub(super) async fn import_key(
    env: &Env,
    keys: &Keys,
    config: &Config,
    hash: &KeyHash,
    record: &KeyRecord,
    audit: AuditEntry,
) -> Result<bool, Problem> {
    keys.register_team(&record.team).await?;
    directory::call::<()>(env, &record.team, &insert_call(config, hash, record, audit)).await?;
    locator::note(env, hash, record).await;
    let stored = Stored {
        hash: hash.0.clone(),
        record: record.clone(),
    };
    Ok(sync_one(env, keys, &record.team, stored).await.is_ok())
}

/// Changes a key in the team directory, which answers what it applied; the
/// caller then copies it to KV with [`sync`].
pub(super) async fn apply(
    env: &Env,
    team: &str,
    id: &str,
    change: Change,
    audit: AuditEntry,
    judged: Option<KeyRecord>,
) -> Result<Applied, Problem> {
    let call = Call::Apply {
        id: id.to_string(),
        change,
        audit,
        judged: judged.map(Box::new),
    };
    directory::call(env, team, &call).await
}

/// Writes the KV copies of what the directory applied (a rotation's new key
/// first, noted in its locator shard, then the changed key), each with
/// [`sync_one`].
pub(super) async fn sync(
    env: &Env,
    keys: &Keys,
    team: &str,
    applied: &Applied,
) -> Result<(), Problem> {
    if let Some(new) = &applied.new_key {
        let hash = KeyHash(new.hash.clone());
        locator::note(env, &hash, &new.record).await;
        sync_one(env, keys, team, new.clone()).await?;
    }
    sync_one(env, keys, team, applied.key.clone()).await
}

/// Writes one key's KV copy, then reads the directory again and writes once more
/// if another change landed meanwhile (up to three times), so KV converges on
/// the directory's record even when two admin calls race on one key.
pub(super) async fn sync_one(
    env: &Env,
    keys: &Keys,
    team: &str,
    stored: Stored,
) -> Result<(), Problem> {
    let id = stored.record.id.clone();
    let mut written = stored;
    for _ in 0..3 {
        keys.put(&KeyHash(written.hash.clone()), &written.record)
            .await?;
        let latest: Option<Stored> =
            directory::call(env, team, &Call::Get { id: id.clone() }).await?;
        match latest {
            Some(l) if l != written => written = l,
            _ => break,
        }
    }
    Ok(())
}

pub(super) async fn find(env: &Env, team: &str, id: &str) -> Result<Stored, Problem> {
    let stored: Option<Stored> = directory::call(env, team, &Call::Get { id: id.into() }).await?;
    stored.ok_or_else(|| admin::not_found("no such key in this team"))
}
