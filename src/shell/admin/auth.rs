//! Who calls the admin API.

use crate::admin::actor::{self, Actor, MANAGE_SCOPE};
use crate::config::Config;
use crate::credential;
use crate::decide;
use crate::key;
use crate::policy::RouteDecision;
use crate::problem::{Code, Problem};
use crate::shell::{authenticate, client_ip, Asked, Ctx};
use worker::{Env, Request};

/// The caller: the `ADMIN_TOKEN` (compared in constant time over SHA-256 digests,
/// so that the length is not revealed either), or a key holding `keys:manage`,
/// judged like any request (status, address, its Durable Object and limits),
/// then again on its team directory's record, whose powers it acts with.
pub(super) async fn authorize(
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
    let token = config.admin_token.as_ref().map(|t| t.0.as_str());
    if actor::is_admin_token(presented, token) {
        return Ok(Actor::Admin);
    }
    let Ok(key) = key::parse_any(&config.key_prefix, &config.legacy_formats, presented) else {
        return Err(
            Problem::new(Code::InvalidKey, "the admin token is not recognised").presented(),
        );
    };
    let required = [MANAGE_SCOPE.to_string()];
    let ip = client_ip(&req.headers().0);
    let request = crate::admission::Request {
        route: RouteDecision::Require(&required),
        // The admin API spends no credits.
        cost: 0,
        ip,
        method,
        path,
    };
    let asked = Asked { key: &key, request };
    let (cached, _) = authenticate(env, config, ctx, asked, None)
        .await
        .map_err(actor::manager_refusal)?;
    // A manager's powers are judged on its team directory's record, not on a
    // copy that an isolate may hold for RECORD_CACHE_TTL: narrowed scopes, a
    // rotation's grace begun, new meta or limits hold on its next call.
    let record = super::effects::find(env, &cached.team, &cached.id)
        .await
        .map_err(|p| match p.code {
            Code::NotFound => decide::unknown_key(),
            _ => p,
        })?
        .record;
    decide::after_lookup(
        Some(&record),
        RouteDecision::Require(&required),
        ip,
        ctx.now_ms,
    )
    .map_err(actor::manager_refusal)?;
    Ok(Actor::key(record))
}
