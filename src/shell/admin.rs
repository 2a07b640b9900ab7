//! The admin API's shell half: who calls, then the team directory, the key's
//! Durable Object and KV, around [`crate::admin`].
//!
//! Order of every write: the key's Durable Object first when the change affects
//! requests at once (revocation, disabling), then the team directory (the record's
//! authority, with its audit entry), then the KV copy that the request path reads.

use super::authority;
use super::directory;
use super::respond;
use super::runtime;
use super::store::Keys;
use super::Ctx;
use crate::admin;
use crate::admin::actor::{Actor, MANAGE_SCOPE};
use crate::admin::plan::{with_warnings, Audit, Insert, Plan, Rotated};
use crate::admin::plan::{IMPORT_NOT_COPIED, OBJECT_NOT_TOLD, ROTATION_NOT_COPIED};
use crate::config::Config;
use crate::credential;
use crate::directory::{Applied, AuditEntry, Call, Change, Page, Stored};
use crate::key::{self, KeyHash};
use crate::keystate::StateChange;
use crate::policy::RouteDecision;
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use futures_util::future::join_all;
use futures_util::StreamExt;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::{Env, Request, Response};

/// Handles `/_keyward/v1/...`. The caller is authorized before anything else is
/// parsed; [`admin::plan`] then judges the call, and this carries out its writes
/// in the order it states.
pub async fn handle(
    mut req: Request,
    env: &Env,
    config: &'static Config,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> Result<Response, Problem> {
    let actor = authorize(&req, env, config, ctx, method, path).await?;
    let route = admin::route(method, path)?;
    let body = if route.takes_body() {
        read_body(&mut req).await?
    } else {
        Vec::new()
    };
    let url = req.inner().url();
    let (_, _, query) = crate::path::split_url(&url);
    let query = query.strip_prefix('?');
    let now = ctx.now_ms.div_euclid(1000);
    let plan = admin::plan(
        &actor,
        route,
        &body,
        query,
        now,
        config,
        runtime::fill_random,
    )?;
    let keys = Keys::open(env, config)?;
    let stamp = |a: Audit| AuditEntry {
        seq: 0,
        at_ms: ctx.now_ms,
        actor: actor.name().to_string(),
        action: a.action,
        key_id: a.key_id,
        request_id: ctx.request_id.clone(),
        details: a.details,
    };
    match plan {
        Plan::Issue(insert, plaintext) => {
            let Insert {
                hash,
                record,
                audit,
                warnings,
            } = *insert;
            add(env, &keys, config, &hash, &record, stamp(audit)).await?;
            ctx.key_id = Some(record.id.clone());
            let view = admin::created_view(&record, plaintext.expose(), ctx.now_ms);
            respond::json(201, &with_warnings(view, &warnings))
        }
        Plan::Import(insert) => {
            let Insert {
                hash,
                record,
                audit,
                mut warnings,
            } = *insert;
            if keys.exists(&hash).await? {
                return Err(Problem::new(
                    Code::Conflict,
                    "this key is already registered",
                ));
            }
            if !import_key(env, &keys, config, &hash, &record, stamp(audit)).await? {
                warnings.push(IMPORT_NOT_COPIED.to_string());
            }
            ctx.key_id = Some(record.id.clone());
            let view = admin::key_view(&record, ctx.now_ms, None);
            respond::json(201, &with_warnings(view, &warnings))
        }
        Plan::List {
            team,
            cursor,
            limit,
        } => {
            let page: Page<KeyRecord> =
                directory::call(env, &team, &Call::List { cursor, limit }).await?;
            let usages = join_all(page.items.iter().map(|r| usage(env, config, r, false))).await;
            let items: Vec<Value> = page
                .items
                .iter()
                .zip(usages)
                .map(|(r, u)| admin::key_view(r, ctx.now_ms, u.ok().map(|u| u.usage).as_ref()))
                .collect();
            respond::json(
                200,
                &json!({"items": items, "next_cursor": page.next_cursor}),
            )
        }
        Plan::Audit {
            team,
            cursor,
            limit,
        } => {
            let page: Page<AuditEntry> =
                directory::call(env, &team, &Call::Audit { cursor, limit }).await?;
            let items: Vec<Value> = page.items.iter().map(AuditEntry::view).collect();
            respond::json(
                200,
                &json!({"items": items, "next_cursor": page.next_cursor}),
            )
        }
        Plan::Get { team, id } => {
            let stored = find(env, &team, &id).await?;
            let r = &stored.record;
            let report = usage(env, config, r, true)
                .await
                .map_err(authority::unavailable)?;
            let mut view = admin::key_view(r, ctx.now_ms, Some(&report.usage));
            view["recent"] = admin::outcomes_view(&report.outcomes);
            respond::json(200, &view)
        }
        Plan::Change { team, id, command } => {
            let stored = find(env, &team, &id).await?;
            let old = &stored.record;
            let w = command.writes(&actor, old, now, config, runtime::fill_random)?;
            // The key's object first: it decides every request from now on.
            let told = match &w.first {
                Some(first) => tell(env, config, old, first).await?,
                None => false,
            };
            if w.drop_leases {
                super::leased::drop_key(&id);
            }
            let applied = apply(env, &team, &id, w.change, stamp(w.audit)).await?;
            if let Some(first) = w.first.filter(|_| !told) {
                // Its first request reached the object meanwhile.
                tell(env, config, &applied.key.record, &first).await?;
            }
            let Some(Rotated {
                plaintext,
                mut warnings,
            }) = w.rotated
            else {
                sync(env, &keys, &team, &applied).await?;
                let view = admin::key_view(&applied.key.record, ctx.now_ms, None);
                return respond::json(200, &view);
            };
            // The directory has committed: the new key's plaintext is returned
            // whatever fails from here on.
            let new = applied.new_key.clone().ok_or_else(|| {
                runtime::unavailable("the team directory", "a rotation returned no new key")
            })?;
            let after = admin::after_rotation(&applied, now);
            if after.drop_leases {
                super::leased::drop_key(&id);
            }
            // Set aside, not returned: logged here, and the plaintext is not lost.
            if let Err(p) = tell(env, config, &applied.key.record, &after.state).await {
                runtime::log_cause(&p);
                warnings.push(OBJECT_NOT_TOLD.to_string());
            }
            if let Err(p) = sync(env, &keys, &team, &applied).await {
                runtime::log_cause(&p);
                warnings.push(ROTATION_NOT_COPIED.to_string());
            }
            ctx.key_id = Some(new.record.id.clone());
            let mut view = admin::created_view(&new.record, plaintext.expose(), ctx.now_ms);
            view["replaces"] = admin::key_view(&applied.key.record, ctx.now_ms, None);
            respond::json(201, &with_warnings(view, &warnings))
        }
    }
}

/// Whether a key's Durable Object may exist: one of its requests reached it, or
/// the key predates the record of it.
fn placed(r: &KeyRecord) -> bool {
    r.placed != Some(false)
}

/// Tells the key's object of a change, if the object exists: one that does not
/// is created by the key's first request, near its caller, and then reads the
/// key's state from the team directory. Whether it was told.
async fn tell(
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

/// A key's usage: nothing for a key whose object was never reached (asking it
/// would create it here, next to the admin).
async fn usage(
    env: &Env,
    config: &Config,
    r: &KeyRecord,
    outcomes: bool,
) -> worker::Result<authority::UsageReport> {
    if !placed(r) {
        return Ok(authority::UsageReport::default());
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
/// then removed.
async fn add(
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
    Ok(())
}

/// Registers an imported key: the team directory first, which refuses a hash it
/// already knows (so of two concurrent imports of one hash, the loser writes and
/// removes nothing in KV), then its KV copy, read back like every change. No
/// plaintext is returned, so nothing needs the KV copy before the directory has
/// it. Whether the KV copy was written (the key is registered either way).
async fn import_key(
    env: &Env,
    keys: &Keys,
    config: &Config,
    hash: &KeyHash,
    record: &KeyRecord,
    audit: AuditEntry,
) -> Result<bool, Problem> {
    keys.register_team(&record.team).await?;
    directory::call::<()>(env, &record.team, &insert_call(config, hash, record, audit)).await?;
    let stored = Stored {
        hash: hash.0.clone(),
        record: record.clone(),
    };
    Ok(sync_one(env, keys, &record.team, stored).await.is_ok())
}

/// Changes a key in the team directory, which answers what it applied; the
/// caller then copies it to KV with [`sync`].
async fn apply(
    env: &Env,
    team: &str,
    id: &str,
    change: Change,
    audit: AuditEntry,
) -> Result<Applied, Problem> {
    let call = Call::Apply {
        id: id.to_string(),
        change,
        audit,
    };
    directory::call(env, team, &call).await
}

/// Writes the KV copies of what the directory applied (a rotation's new key
/// first, then the changed key), each with [`sync_one`].
async fn sync(env: &Env, keys: &Keys, team: &str, applied: &Applied) -> Result<(), Problem> {
    if let Some(new) = &applied.new_key {
        sync_one(env, keys, team, new.clone()).await?;
    }
    sync_one(env, keys, team, applied.key.clone()).await
}

/// Writes one key's KV copy, then reads the directory again and writes once more
/// if another change landed meanwhile (up to three times), so KV converges on
/// the directory's record even when two admin calls race on one key.
async fn sync_one(env: &Env, keys: &Keys, team: &str, stored: Stored) -> Result<(), Problem> {
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

async fn find(env: &Env, team: &str, id: &str) -> Result<Stored, Problem> {
    let stored: Option<Stored> = directory::call(env, team, &Call::Get { id: id.into() }).await?;
    stored.ok_or_else(|| admin::not_found("no such key in this team"))
}

/// The caller: the `ADMIN_TOKEN` (compared in constant time over SHA-256 digests,
/// so that the length is not revealed either), or a key holding `keys:manage`,
/// judged like any request (status, address, its Durable Object and limits).
async fn authorize(
    req: &Request,
    env: &Env,
    config: &'static Config,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> Result<Actor, Problem> {
    let header = req.headers().get("authorization").ok().flatten();
    let presented = credential::bearer(header.as_deref()).map_err(|e| {
        if e.key_presented() {
            Problem::new(Code::InvalidKey, "the admin token is not recognised").presented()
        } else {
            Problem::new(
                Code::MissingKey,
                "the admin API needs \"Authorization: Bearer <ADMIN_TOKEN>\" or a key holding keys:manage",
            )
        }
    })?;
    let is_admin = config.admin_token.as_ref().is_some_and(|token| {
        let a = Sha256::digest(presented.as_bytes());
        let b = Sha256::digest(token.0.as_bytes());
        bool::from(a.ct_eq(&b))
    });
    if is_admin {
        return Ok(Actor::Admin);
    }
    let Ok(key) = key::parse_any(&config.key_prefix, &config.legacy_formats, presented) else {
        return Err(
            Problem::new(Code::InvalidKey, "the admin token is not recognised").presented(),
        );
    };
    let required = [MANAGE_SCOPE.to_string()];
    let ip = super::client_ip(&req.headers().0);
    let asked = super::Asked {
        key: &key,
        route: RouteDecision::Require(&required),
        ip,
        method,
        path,
    };
    let (record, _) = super::authenticate(env, config, ctx, asked, super::Via::AdminApi)
        .await
        .map_err(|p| match p.code {
            Code::InsufficientScope => Problem::new(
                Code::Forbidden,
                "this key does not hold keys:manage, which the admin API requires",
            ),
            _ => p,
        })?;
    Ok(Actor::key(record))
}

/// Reads at most `admin::MAX_BODY` bytes plus one: the plan refuses a body
/// larger than that, after judging the team.
async fn read_body(req: &mut Request) -> Result<Vec<u8>, Problem> {
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(body);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| runtime::unavailable("request body", e))?;
        body.extend_from_slice(&chunk);
        if body.len() > admin::MAX_BODY {
            break;
        }
    }
    Ok(body)
}
