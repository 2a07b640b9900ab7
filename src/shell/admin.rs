//! The admin API's shell half: authorization, bodies and KV writes around [`crate::admin`].

use super::authority;
use super::respond;
use super::runtime;
use super::store::Keys;
use super::Ctx;
use crate::admin::{self, Route};
use crate::config::Config;
use crate::credential;
use crate::key;
use crate::keystate::StateChange;
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::{Env, Request, Response};

/// Handles `/_keyward/v1/...`. The caller is authorized before anything else is parsed.
pub async fn handle(
    mut req: Request,
    env: &Env,
    config: &Config,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> Result<Response, Problem> {
    authorize(
        req.headers().get("authorization").ok().flatten().as_deref(),
        config,
    )?;
    let route = admin::route(method, path)?;
    let keys = Keys::open(env, config)?;
    let now = ctx.now_ms.div_euclid(1000);
    match route {
        Route::CreateKey { team } => {
            let body = read_body(&mut req).await?;
            let new = admin::validate_create(&body, now, config)?;
            let plaintext = key::generate(&config.key_prefix, runtime::fill_random);
            let record = KeyRecord {
                id: key::generate_id("key_", 16, runtime::fill_random),
                team,
                subject: new.subject,
                name: new.name,
                scopes: new.scopes,
                hint: plaintext.hint(&config.key_prefix),
                created_at: now,
                expires_at: new.expires_at,
                enabled: true,
                revoked_at: None,
                plan: new.plan,
                rate_limits: new.rate_limits,
            };
            keys.insert(&plaintext.hash(), &record).await?;
            ctx.key_id = Some(record.id.clone());
            audit(ctx, "key.create", &record);
            respond::json(201, &admin::created_view(&record, plaintext.expose()))
        }
        Route::GetKey { team, id } => {
            let (_, record) = find(&keys, &team, &id).await?;
            respond::json(200, &admin::key_view(&record, ctx.now_ms))
        }
        Route::UpdateKey { team, id } => {
            let body = read_body(&mut req).await?;
            let update = admin::validate_update(&body)?;
            let (hash, mut record) = find(&keys, &team, &id).await?;
            if let Some(enabled) = update.enabled {
                // The key's object first: it decides every request from now on.
                let change = StateChange {
                    revoked_at: None,
                    enabled: Some(enabled),
                };
                authority::change(env, &record.id, change)
                    .await
                    .map_err(authority::unavailable)?;
            }
            update.apply(&mut record);
            keys.put(&hash, &record).await?;
            audit(ctx, "key.update", &record);
            respond::json(200, &admin::key_view(&record, ctx.now_ms))
        }
        Route::RevokeKey { team, id } => {
            let (hash, mut record) = find(&keys, &team, &id).await?;
            let change = StateChange {
                revoked_at: Some(now),
                enabled: None,
            };
            authority::change(env, &record.id, change)
                .await
                .map_err(authority::unavailable)?;
            if record.revoked_at.is_none_or(|r| r > now) {
                record.revoked_at = Some(now);
                keys.put(&hash, &record).await?;
            }
            audit(ctx, "key.revoke", &record);
            respond::json(200, &admin::key_view(&record, ctx.now_ms))
        }
    }
}

/// Accepts only the `ADMIN_TOKEN`, compared in constant time (over SHA-256
/// digests, so that the length is not revealed either).
fn authorize(header: Option<&str>, config: &Config) -> Result<(), Problem> {
    let presented = credential::bearer(header).map_err(|e| {
        if e.key_presented() {
            Problem::new(Code::InvalidKey, "the admin token is not recognised").presented()
        } else {
            Problem::new(
                Code::MissingKey,
                "the admin API needs \"Authorization: Bearer <ADMIN_TOKEN>\"",
            )
        }
    })?;
    let ok = config.admin_token.as_ref().is_some_and(|token| {
        let a = Sha256::digest(presented.as_bytes());
        let b = Sha256::digest(token.0.as_bytes());
        bool::from(a.ct_eq(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(Problem::new(Code::InvalidKey, "the admin token is not recognised").presented())
    }
}

async fn find(keys: &Keys, team: &str, id: &str) -> Result<(key::KeyHash, KeyRecord), Problem> {
    keys.by_id(team, id)
        .await?
        .ok_or_else(|| admin::not_found("no such key in this team"))
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

fn audit(ctx: &Ctx, action: &str, record: &KeyRecord) {
    runtime::log(json!({
        "event": "audit",
        "request_id": ctx.request_id,
        "action": action,
        "team": record.team,
        "key_id": record.id,
    }));
}
