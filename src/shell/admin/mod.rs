//! The admin API's shell half: who calls, then the team directory, the key's
//! Durable Object and KV, around [`crate::admin`].
//!
//! Order of every write: the key's Durable Object first when the change affects
//! requests at once (revocation, disabling), then the team directory (the record's
//! authority, with its audit entry), then the KV copy that the request path reads.

mod auth;
mod body;
mod effects;

use super::authority;
use super::directory;
use super::respond;
use super::runtime;
use super::store::Keys;
use super::Ctx;
use crate::admin;
use crate::admin::actor::Actor;
use crate::admin::plan::{with_warnings, Audit, Command, Insert, Plan, Rotated, Writes};
use crate::admin::plan::{IMPORT_NOT_COPIED, OBJECT_NOT_TOLD, ROTATION_NOT_COPIED};
use crate::config::Config;
use crate::credits::Filter;
use crate::directory::{Applied, AuditEntry, Call, Gather, KeyCursor, Page, Stored};
use crate::key::ApiKey;
use crate::keystate::StateChange;
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use crate::usage::Series;
use auth::authorize;
use body::read_body;
use effects::{add, apply, find, import_key, sync, tell, usage};
use futures_util::future::join_all;
use serde_json::{json, Value};
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
    let (actor, plan) = judge(&mut req, env, config, ctx, method, path).await?;
    let keys = Keys::open(env, config)?;
    match plan {
        Plan::Me => respond::json(200, &admin::me_view(&actor, config)),
        Plan::Issue(insert, plaintext) => {
            issue(env, &keys, config, ctx, &actor, *insert, plaintext).await
        }
        Plan::Import(insert) => import(env, &keys, config, ctx, &actor, *insert).await,
        Plan::List {
            team,
            cursor,
            limit,
            filter,
        } => list(env, config, ctx, &team, (cursor, limit), filter).await,
        Plan::Audit {
            team,
            cursor,
            limit,
            key,
        } => {
            let call = Call::Audit { cursor, limit, key };
            audit(env, &team, &call).await
        }
        Plan::Get { team, id } => get(env, config, ctx, &team, &id).await,
        Plan::Change { team, id, command } => {
            let (w, applied) = change(env, config, ctx, &actor, &team, &id, command).await?;
            let Some(rotated) = w.rotated else {
                return changed(env, &keys, config, ctx, &team, &applied).await;
            };
            // The directory has committed: the new key's plaintext is returned
            // whatever fails from here on.
            let new = applied.new_key.clone().ok_or_else(|| {
                runtime::unavailable("the team directory", "a rotation returned no new key")
            })?;
            let now = ctx.now_ms.div_euclid(1000);
            let after = after_commit(env, &keys, config, &team, &id, &applied, now).await;
            rotated_reply(ctx, &new, rotated, &applied, after)
        }
    }
}

/// Who calls and what the call is to do: the caller authorized before anything
/// else is parsed, then the route, its body and query judged by [`admin::plan`].
async fn judge(
    req: &mut Request,
    env: &Env,
    config: &'static Config,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> Result<(Actor, Plan), Problem> {
    let actor = authorize(req, env, config, ctx, method, path).await?;
    let route = admin::route(method, path)?;
    let body = if route.takes_body() {
        read_body(req).await?
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
    Ok((actor, plan))
}

/// Issues a key ([`Plan::Issue`]): its KV copy and the directory's entry
/// ([`add`]), then its plaintext in the reply, this once.
async fn issue(
    env: &Env,
    keys: &Keys,
    config: &Config,
    ctx: &mut Ctx,
    actor: &Actor,
    insert: Insert,
    plaintext: ApiKey,
) -> Result<Response, Problem> {
    let Insert {
        hash,
        record,
        audit,
        warnings,
    } = insert;
    add(env, keys, config, &hash, &record, stamp(ctx, actor, audit)).await?;
    ctx.key_id = Some(record.id.clone());
    let view = admin::created_view(&record, plaintext.expose(), ctx.now_ms);
    respond::json(201, &with_warnings(view, &warnings))
}

/// Registers a key issued elsewhere ([`Plan::Import`]): refused if KV knows its
/// hash; then the directory and its KV copy ([`import_key`]), a copy that could
/// not be written only a warning.
async fn import(
    env: &Env,
    keys: &Keys,
    config: &Config,
    ctx: &mut Ctx,
    actor: &Actor,
    insert: Insert,
) -> Result<Response, Problem> {
    let Insert {
        hash,
        record,
        audit,
        mut warnings,
    } = insert;
    if keys.exists(&hash).await? {
        return Err(Problem::new(
            Code::Conflict,
            "this key is already registered",
        ));
    }
    if !import_key(env, keys, config, &hash, &record, stamp(ctx, actor, audit)).await? {
        warnings.push(IMPORT_NOT_COPIED.to_string());
    }
    ctx.key_id = Some(record.id.clone());
    let view = admin::key_view(&record, ctx.now_ms, None, record.credits.as_ref());
    respond::json(201, &with_warnings(view, &warnings))
}

/// A page of the team's keys ([`Plan::List`]), each with its usage and credits
/// as its object holds them. Kept by a credits `filter`, the answer is
/// gathered over up to `directory::FILTERED_PAGES` pages of the directory
/// ([`Gather`]), so that it is never short while keys remain to be read.
async fn list(
    env: &Env,
    config: &Config,
    ctx: &Ctx,
    team: &str,
    (mut cursor, limit): (Option<String>, u32),
    filter: Filter,
) -> Result<Response, Problem> {
    let now = ctx.now_ms.div_euclid(1000);
    let mut gather = Gather::new(limit);
    loop {
        let call = Call::List { cursor, limit };
        let page: Page<KeyRecord> = directory::call(env, team, &call).await?;
        let usages = join_all(page.items.iter().map(|r| usage(env, config, r, false))).await;
        let shown = page.items.iter().zip(usages).map(|(r, u)| {
            // Credits as the key's object holds them; the record's copy
            // when it cannot say.
            let (usage, credits) = match u {
                Ok(u) => (Some(u.usage), u.credits),
                Err(_) => (None, r.credits),
            };
            let view = filter
                .keeps(credits.as_ref(), now)
                .then(|| admin::key_view(r, ctx.now_ms, usage.as_ref(), credits.as_ref()));
            (KeyCursor::of(r), view)
        });
        cursor = gather.take(shown.collect(), page.next_cursor);
        if cursor.is_none() {
            let (items, next_cursor) = gather.finish();
            return respond::json(200, &json!({"items": items, "next_cursor": next_cursor}));
        }
    }
}

/// A page of the team's audit log ([`Plan::Audit`]).
async fn audit(env: &Env, team: &str, call: &Call) -> Result<Response, Problem> {
    let page: Page<AuditEntry> = directory::call(env, team, call).await?;
    let items: Vec<Value> = page.items.iter().map(AuditEntry::view).collect();
    respond::json(
        200,
        &json!({"items": items, "next_cursor": page.next_cursor}),
    )
}

/// One key ([`Plan::Get`]) with its usage, credits, last outcomes and usage
/// series, as its object holds them: unavailable if the object cannot say.
async fn get(
    env: &Env,
    config: &Config,
    ctx: &Ctx,
    team: &str,
    id: &str,
) -> Result<Response, Problem> {
    let stored = find(env, team, id).await?;
    let r = &stored.record;
    let report = usage(env, config, r, true)
        .await
        .map_err(authority::unavailable)?;
    let mut view = admin::key_view(r, ctx.now_ms, Some(&report.usage), report.credits.as_ref());
    view["recent"] = admin::outcomes_view(&report.outcomes);
    let series = report.series.as_deref().and_then(Series::decode);
    view["usage_series"] = admin::series_view(series.as_ref(), ctx.now_ms);
    respond::json(200, &view)
}

/// The reply to a change other than a rotation, once the directory applied it:
/// the KV copy written ([`sync`]), then the key as the directory now holds it.
async fn changed(
    env: &Env,
    keys: &Keys,
    config: &Config,
    ctx: &Ctx,
    team: &str,
    applied: &Applied,
) -> Result<Response, Problem> {
    let r = &applied.key.record;
    // The object first: from now on, a request anywhere judged on an older copy
    // of the record is judged again on the directory's.
    let mut warnings = vec![];
    if let Err(p) = tell(env, config, r, &admin::revision(r)).await {
        runtime::log_cause(&p);
        warnings.push(OBJECT_NOT_TOLD.to_string());
    }
    sync(env, keys, team, applied).await?;
    let view = admin::key_view(r, ctx.now_ms, None, r.credits.as_ref());
    respond::json(200, &with_warnings(view, &warnings))
}

/// What follows a rotation the directory committed at `now`, each step best
/// effort: the old key's leases dropped if it stops now, its object told when it
/// stops, the KV copies written. The warnings of the steps that failed (each
/// logged).
async fn after_commit(
    env: &Env,
    keys: &Keys,
    config: &Config,
    team: &str,
    id: &str,
    applied: &Applied,
    now: i64,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let after = admin::after_rotation(applied, now);
    if after.drop_leases {
        super::leased::drop_key(id);
    }
    // Set aside, not returned: logged here, and the plaintext is not lost.
    if let Err(p) = tell(env, config, &applied.key.record, &after.state).await {
        runtime::log_cause(&p);
        warnings.push(OBJECT_NOT_TOLD.to_string());
    }
    if let Err(p) = sync(env, keys, team, applied).await {
        runtime::log_cause(&p);
        warnings.push(ROTATION_NOT_COPIED.to_string());
    }
    warnings
}

/// The reply to a committed rotation: the new key with its plaintext, this once,
/// the key it replaces, and the warnings known before any write followed by
/// those of the steps after the commit.
fn rotated_reply(
    ctx: &mut Ctx,
    new: &Stored,
    rotated: Rotated,
    applied: &Applied,
    after: Vec<String>,
) -> Result<Response, Problem> {
    let Rotated {
        plaintext,
        mut warnings,
    } = rotated;
    warnings.extend(after);
    ctx.key_id = Some(new.record.id.clone());
    let mut view = admin::created_view(&new.record, plaintext.expose(), ctx.now_ms);
    let old = &applied.key.record;
    view["replaces"] = admin::key_view(old, ctx.now_ms, None, old.credits.as_ref());
    respond::json(201, &with_warnings(view, &warnings))
}

/// Carries out a change of one key: judged on the directory's record, the key's
/// object told first, then the directory. A key actor's change applies only to
/// the record it was judged on (`Writes::judged`): if another change landed in
/// between, the key is read and judged again (up to three times); a refusal on
/// the newer record takes back what the object was told.
async fn change(
    env: &Env,
    config: &'static Config,
    ctx: &Ctx,
    actor: &Actor,
    team: &str,
    id: &str,
    command: Command,
) -> Result<(Writes, Applied), Problem> {
    let now = ctx.now_ms.div_euclid(1000);
    let stamp = |a: Audit| stamp(ctx, actor, a);
    let mut told_enabled = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let stored = find(env, team, id).await?;
        let old = &stored.record;
        let judged = command
            .clone()
            .writes(actor, old, now, config, runtime::fill_random);
        let mut w = match judged {
            Ok(w) => w,
            Err(p) => {
                if told_enabled {
                    // An earlier try told the object; the directory's word stands.
                    undo_enabled(env, config, old).await;
                }
                return Err(p);
            }
        };
        // The key's object first: it decides every request from now on.
        let told = match &w.first {
            Some(first) => tell(env, config, old, first).await?,
            None => false,
        };
        told_enabled |= told && w.first.as_ref().is_some_and(|f| f.enabled.is_some());
        if w.drop_leases {
            super::leased::drop_key(id);
        }
        if let Some(change) = w.credits {
            let object = authority::object(old, config);
            let (before, after) = authority::credits(env, object, old, change)
                .await
                .map_err(authority::unavailable)?
                .map_err(|m| Problem::new(Code::Conflict, m))?;
            w.credited(before, after, now);
        }
        let change = w.change.clone();
        let applied = match apply(
            env,
            team,
            id,
            change,
            stamp(w.audit.clone()),
            w.judged.clone(),
        )
        .await
        {
            Ok(applied) => applied,
            Err(p) if crate::directory::is_changed_since_judged(&p) && attempt < 3 => continue,
            Err(p) => {
                if told_enabled {
                    if let Ok(now_stored) = find(env, team, id).await {
                        undo_enabled(env, config, &now_stored.record).await;
                    }
                }
                return Err(p);
            }
        };
        if let Some(first) = w.first.as_ref().filter(|_| !told) {
            // Its first request reached the object meanwhile.
            tell(env, config, &applied.key.record, first).await?;
        }
        return Ok((w, applied));
    }
}

/// Tells the key's object the directory's own `enabled`, after a change it was
/// told of was refused: logged, not returned, if that fails too.
async fn undo_enabled(env: &Env, config: &Config, record: &KeyRecord) {
    let state = StateChange {
        key: record.id.clone(),
        enabled: Some(record.enabled),
        ..StateChange::default()
    };
    if let Err(p) = tell(env, config, record, &state).await {
        runtime::log_cause(&p);
    }
}

/// An audit entry of this call: its time, actor and request id.
fn stamp(ctx: &Ctx, actor: &Actor, a: Audit) -> AuditEntry {
    AuditEntry {
        seq: 0,
        at_ms: ctx.now_ms,
        actor: actor.name().to_string(),
        action: a.action,
        key_id: a.key_id,
        request_id: ctx.request_id.clone(),
        details: a.details,
    }
}
