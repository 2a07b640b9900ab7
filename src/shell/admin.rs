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
use crate::actor::{Actor, MANAGE_SCOPE};
use crate::admin::{self, Route};
use crate::config::Config;
use crate::credential;
use crate::directory::{Action, Applied, AuditEntry, Call, Change, Page, Stored};
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

/// Handles `/_keyward/v1/...`. The caller is authorized before anything else is parsed.
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
    actor.may_manage(route.team())?;
    let keys = Keys::open(env, config)?;
    let now = ctx.now_ms.div_euclid(1000);
    let url = req.inner().url();
    let (_, _, query) = crate::path::split_url(&url);
    let query = query.strip_prefix('?').map(str::to_string);
    let audit = |action: Action, key_id: &str, details: Value| AuditEntry {
        seq: 0,
        at_ms: ctx.now_ms,
        actor: actor.name().to_string(),
        action,
        key_id: key_id.to_string(),
        request_id: ctx.request_id.clone(),
        details,
    };
    match route {
        Route::CreateKey { team } => {
            let body = read_body(&mut req).await?;
            let mut new = admin::validate_create(&body, now, config)?;
            let warnings = actor.restrict_new(&mut new, config)?;
            let plaintext = key::generate(&config.key_prefix, runtime::fill_random);
            let id = key::generate_id("key_", 16, runtime::fill_random);
            let hint = plaintext.hint(&config.key_prefix);
            let record = new.into_record(id, team, hint, now, actor.name());
            let entry = audit(Action::KeyCreate, &record.id, created_details(&record));
            insert(env, &keys, config, &plaintext.hash(), &record, entry).await?;
            ctx.key_id = Some(record.id.clone());
            let mut view = admin::created_view(&record, plaintext.expose(), ctx.now_ms);
            if !warnings.is_empty() {
                view["warnings"] = json!(warnings);
            }
            respond::json(201, &view)
        }
        Route::ImportKey { team } => {
            let body = read_body(&mut req).await?;
            let mut import = admin::validate_import(&body, now, config)?;
            let warnings = actor.restrict_new(&mut import.key, config)?;
            let hash = KeyHash(import.hash);
            if keys.exists(&hash).await? {
                return Err(Problem::new(
                    Code::Conflict,
                    "this key is already registered",
                ));
            }
            let id = key::generate_id("key_", 16, runtime::fill_random);
            let hint = format!("{}…{}", import.prefix, import.last4.unwrap_or_default());
            let mut record = import.key.into_record(id, team, hint, now, actor.name());
            record.imported = true;
            let entry = audit(Action::KeyImport, &record.id, created_details(&record));
            let mut warnings: Vec<String> = warnings;
            if let Some(w) = import_key(env, &keys, config, &hash, &record, entry).await? {
                warnings.push(w.to_string());
            }
            ctx.key_id = Some(record.id.clone());
            let mut view = admin::key_view(&record, ctx.now_ms, None);
            if !warnings.is_empty() {
                view["warnings"] = json!(warnings);
            }
            respond::json(201, &view)
        }
        Route::ListKeys { team } => {
            let (cursor, limit) = crate::directory::page_query(query.as_deref())?;
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
        Route::GetKey { team, id } => {
            let stored = find(env, &team, &id).await?;
            let r = &stored.record;
            let report = usage(env, config, r, true)
                .await
                .map_err(authority::unavailable)?;
            let mut view = admin::key_view(r, ctx.now_ms, Some(&report.usage));
            view["recent"] = admin::outcomes_view(&report.outcomes);
            respond::json(200, &view)
        }
        Route::UpdateKey { team, id } => {
            let body = read_body(&mut req).await?;
            let update = admin::validate_update(&body, config)?;
            actor.may_update(&update)?;
            let stored = find(env, &team, &id).await?;
            actor.may_grant(&stored.record.scopes)?;
            let change = update.enabled.map(|enabled| StateChange {
                key: id.clone(),
                revoked_at: None,
                enabled: Some(enabled),
            });
            // The key's object first: it decides every request from now on.
            let mut told = false;
            if let Some(change) = &change {
                told = tell(env, config, &stored.record, change).await?;
                if change.enabled == Some(false) {
                    super::leased::drop_key(&id);
                }
            }
            let entry = audit(Action::KeyUpdate, &id, json!({"fields": update.fields()}));
            let applied = apply(env, &team, &id, Change::Update(update), entry).await?;
            if let Some(change) = change.filter(|_| !told) {
                // Its first request reached the object meanwhile.
                tell(env, config, &applied.key.record, &change).await?;
            }
            sync(env, &keys, &team, &applied).await?;
            respond::json(200, &admin::key_view(&applied.key.record, ctx.now_ms, None))
        }
        Route::RevokeKey { team, id } => {
            let stored = find(env, &team, &id).await?;
            actor.may_grant(&stored.record.scopes)?;
            let change = StateChange {
                key: id.clone(),
                revoked_at: Some(now),
                enabled: None,
            };
            let told = tell(env, config, &stored.record, &change).await?;
            super::leased::drop_key(&id);
            let entry = audit(Action::KeyRevoke, &id, json!({}));
            let applied = apply(env, &team, &id, Change::Revoke { at: now }, entry).await?;
            if !told {
                tell(env, config, &applied.key.record, &change).await?;
            }
            sync(env, &keys, &team, &applied).await?;
            respond::json(200, &admin::key_view(&applied.key.record, ctx.now_ms, None))
        }
        Route::RotateKey { team, id } => {
            let body = read_body(&mut req).await?;
            let rotate = admin::validate_rotate(&body, now)?;
            let stored = find(env, &team, &id).await?;
            // A key may rotate only keys no more powerful than itself: the new
            // key's plaintext carries the old key's powers.
            actor.may_rotate(&stored.record, config)?;
            let resolved = rotate.expiry.resolve(stored.record.expires_at);
            let cut = actor
                .not_after()
                .filter(|cap| resolved.is_none_or(|e| e > *cap));
            let plaintext = key::generate(&config.key_prefix, runtime::fill_random);
            let new_id = key::generate_id("key_", 16, runtime::fill_random);
            let new_hint = plaintext.hint(&config.key_prefix);
            let new_hash = plaintext.hash();
            let entry = audit(
                Action::KeyRotate,
                &id,
                json!({"replaced_by": new_id, "grace_s": rotate.grace_s}),
            );
            let change = Change::Rotate {
                new_id,
                new_hash: new_hash.0.clone(),
                new_hint,
                rotate,
                now,
                max_live: config.max_keys_per_team,
                by: actor.name().to_string(),
                not_after: actor.not_after(),
            };
            // The directory decides, with the audit entry; then the old key's object
            // learns when the key stops; then KV. Once the directory has committed,
            // the new key's plaintext is always returned.
            let applied = apply(env, &team, &id, change, entry).await?;
            let new = applied.new_key.clone().ok_or_else(|| {
                runtime::unavailable("the team directory", "a rotation returned no new key")
            })?;
            let state = StateChange {
                key: id.clone(),
                revoked_at: applied.key.record.revoked_at,
                enabled: None,
            };
            let mut warnings = Vec::new();
            let cut_warning;
            if let Some(cap) = cut {
                cut_warning = format!(
                    "the new key expires at {}, when the key that rotated it does; a key never outlives its issuer",
                    crate::expiry::rfc3339(cap)
                );
                warnings.push(cut_warning.as_str());
            }
            if applied.key.record.revoked_at.is_some_and(|at| at <= now) {
                super::leased::drop_key(&id);
            }
            // Set aside, not returned: logged here, and the plaintext is not lost.
            if let Err(p) = tell(env, config, &applied.key.record, &state).await {
                runtime::log_cause(&p);
                warnings.push("the old key's Durable Object could not be told: it stops within RECORD_CACHE_TTL of its revoked_at, not exactly then");
            }
            if let Err(p) = sync(env, &keys, &team, &applied).await {
                runtime::log_cause(&p);
                warnings.push("the KV copy could not be written: the new key may not work until the rotation's records are written again (PATCH either key)");
            }
            ctx.key_id = Some(new.record.id.clone());
            let mut view = admin::created_view(&new.record, plaintext.expose(), ctx.now_ms);
            view["replaces"] = admin::key_view(&applied.key.record, ctx.now_ms, None);
            if !warnings.is_empty() {
                view["warnings"] = json!(warnings);
            }
            respond::json(201, &view)
        }
        Route::Audit { team } => {
            let (cursor, limit) = crate::directory::page_query(query.as_deref())?;
            let page: Page<AuditEntry> =
                directory::call(env, &team, &Call::Audit { cursor, limit }).await?;
            let items: Vec<Value> = page.items.iter().map(AuditEntry::view).collect();
            respond::json(
                200,
                &json!({"items": items, "next_cursor": page.next_cursor}),
            )
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

/// The non-secret facts of a new key, for its audit entry.
fn created_details(r: &KeyRecord) -> Value {
    json!({
        "name": r.name,
        "scopes": r.scopes,
        "expires_at": r.expires_at.map(crate::expiry::rfc3339),
        "plan": r.plan,
    })
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

/// Adds a key: its KV copy first (nobody holds a key that no directory knows: the
/// plaintext is returned only after the directory accepted it), then the team
/// directory, which enforces `MAX_KEYS_PER_TEAM` and may refuse: the KV copy is
/// then removed.
async fn insert(
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
/// it. If the KV write fails, the key is registered and a warning says so.
async fn import_key(
    env: &Env,
    keys: &Keys,
    config: &Config,
    hash: &KeyHash,
    record: &KeyRecord,
    audit: AuditEntry,
) -> Result<Option<&'static str>, Problem> {
    keys.register_team(&record.team).await?;
    directory::call::<()>(env, &record.team, &insert_call(config, hash, record, audit)).await?;
    let stored = Stored {
        hash: hash.0.clone(),
        record: record.clone(),
    };
    Ok(sync_one(env, keys, &record.team, stored).await.err().map(|_| {
        "the KV copy could not be written: the key may not work until its record is written again (PATCH it)"
    }))
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

/// Reads at most `admin::MAX_BODY` bytes (plus one, to detect excess).
async fn read_body(req: &mut Request) -> Result<Vec<u8>, Problem> {
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > admin::MAX_BODY) {
        return Err(Problem::new(
            Code::PayloadTooLarge,
            format!("the body is larger than {} bytes", admin::MAX_BODY),
        ));
    }
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
