//! The worker shell (wasm32 only): the fetch entry point, which dispatches to the core and the bindings.
//!
//! Reserved paths under `/_keyward/` are never forwarded: `health`, `problems/<slug>`
//! and the admin API under `v1/`. Everything else takes the request path.

mod admin;
mod authority;
mod proxy;
mod respond;
mod runtime;
mod store;

use crate::config::Config;
use crate::decide::{self, Gate};
use crate::problem::{Code, Problem};
use serde_json::json;
use worker::{event, Context, Env, Request, Response, Result};

/// Per-request facts that every path through the shell needs.
pub(crate) struct Ctx {
    /// Random id, echoed in problem bodies and logs.
    pub request_id: String,
    /// Unix milliseconds at the start of the request.
    pub now_ms: i64,
    /// The key id once known, for the log line.
    pub key_id: Option<String>,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let mut ctx = Ctx {
        request_id: runtime::request_id(),
        now_ms: runtime::now_ms(),
        key_id: None,
    };
    let method = req.method().to_string();
    let url = req.url()?;
    let type_base = format!("{}/_keyward/problems/", url.origin().ascii_serialization());
    let path = url.path().to_string();
    let (response, code) = match handle(req, &env, &mut ctx, &method, &path).await {
        Ok(response) => (response, None),
        Err(problem) => (
            respond::problem(&problem, &type_base, &ctx.request_id),
            Some(problem.code),
        ),
    };
    runtime::log(json!({
        "event": "decision",
        "request_id": ctx.request_id,
        "method": method,
        "path": path,
        "status": response.status_code(),
        "code": code.map(Code::as_str),
        "key_id": ctx.key_id,
        "latency_ms": runtime::now_ms() - ctx.now_ms,
    }));
    Ok(response)
}

async fn handle(
    req: Request,
    env: &Env,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> std::result::Result<Response, Problem> {
    let config = runtime::config(env)?;
    if let Some(reserved) = path.strip_prefix("/_keyward/") {
        return reserved_path(req, env, config, ctx, method, path, reserved).await;
    }
    let authorization = req.headers().get("authorization").ok().flatten();
    match decide::before_lookup(config, method, path, authorization.as_deref())? {
        Gate::Public { path } => proxy::forward(req, config, &path, None, ctx).await,
        Gate::Lookup { path, key, route } => {
            let record = store::Keys::open(env, config)?
                .by_hash(&key.hash(), ctx.now_ms)
                .await?;
            if let Some(r) = &record {
                ctx.key_id = Some(r.id.clone());
            }
            decide::after_lookup(record.as_ref(), route, ctx.now_ms)?;
            let record = record.expect("after_lookup refuses a missing record");
            let verdict = consult_authority(env, config, &record, ctx).await?;
            let response = proxy::forward(req, config, &path, Some(&record), ctx).await?;
            Ok(match verdict {
                Some(v) => respond::with_headers(response, &decide::ratelimit_headers(&v)),
                None => response,
            })
        }
    }
}

/// Asks the key's Durable Object: it refuses a revoked or disabled key (exactly, even
/// when the KV record or the isolate's cache is stale) and counts the request against
/// the key's limits. A failing object fails closed unless `RATE_LIMIT_FAILURE` is
/// `open`. `None` when the key has no limits or the failure was let through.
async fn consult_authority(
    env: &Env,
    config: &Config,
    record: &crate::record::KeyRecord,
    ctx: &Ctx,
) -> std::result::Result<Option<crate::ratelimit::Verdict>, Problem> {
    let policies = decide::limits(record, config)?;
    match authority::admit(env, &record.id, policies).await {
        Ok(answer) => decide::authority_answer(record, answer),
        Err(e) if config.rate_limit_fail_open => {
            runtime::log(json!({
                "event": "rate_limit_failure_open",
                "request_id": ctx.request_id,
                "key_id": record.id,
                "error": e.to_string(),
            }));
            Ok(None)
        }
        Err(e) => Err(authority::unavailable(e)),
    }
}

async fn reserved_path(
    req: Request,
    env: &Env,
    config: &Config,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
    reserved: &str,
) -> std::result::Result<Response, Problem> {
    if reserved == "health" {
        return respond::json(200, &json!({"status": "ok"}));
    }
    if let Some(slug) = reserved.strip_prefix("problems/") {
        let code = Code::from_slug(slug)
            .ok_or_else(|| Problem::new(Code::NotFound, "no such problem type"))?;
        let info = code.info();
        return respond::json(
            200,
            &json!({"code": code.as_str(), "status": info.status, "title": info.title, "cause": info.cause, "fix": info.fix}),
        );
    }
    if reserved == "v1" || reserved.starts_with("v1/") {
        return admin::handle(req, env, config, ctx, method, path).await;
    }
    Err(Problem::new(Code::NotFound, "no such keyward endpoint"))
}
