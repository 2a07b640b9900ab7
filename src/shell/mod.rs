//! The worker shell (wasm32 only): the fetch entry point, which dispatches to the core and the bindings.
//!
//! Reserved paths under `/_keyward/` are never forwarded: `health`, `problems/<slug>`
//! and the admin API under `v1/`. Everything else takes the request path.
//! The Durable Object classes live in `authority` (one per key chain) and
//! `directory` (one per team); the worker calls them over Workers RPC, which
//! `entry.mjs` (the worker's entry module) enables.

mod admin;
mod authority;
mod console;
mod cors;
mod directory;
mod leased;
mod notices;
mod proxy;
mod respond;
mod runtime;
mod store;

use crate::config::{Config, DecisionLog};
use crate::decide::{self, Admitted, Gate};
use crate::failopen::{FailOpen, Refusal};
use crate::key::ApiKey;
use crate::keystate::{Admission, Denial};
use crate::policy::RouteDecision;
use crate::problem::{Code, Problem};
use crate::record::AdmissionMode;
use crate::record::KeyRecord;
use crate::record::KeyStatus;
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
    /// `scheme://host[:port]` of the URL the client used.
    pub origin: String,
    /// Whether the answer is a CORS preflight's, with its own fields.
    pub preflight: bool,
}

/// The runtime's request and response. The request path reads the request as it
/// is (method, URL string, headers) and returns the origin's response without
/// converting either into `worker`'s types; only the reserved paths do.
type RawRequest = worker::worker_sys::web_sys::Request;
type RawResponse = worker::worker_sys::web_sys::Response;

#[event(fetch)]
async fn fetch(req: RawRequest, env: Env, wctx: Context) -> Result<RawResponse> {
    let method = req.method();
    let url = req.url();
    let (origin, path, query) = crate::path::split_url(&url);
    let mut ctx = Ctx {
        request_id: runtime::request_id(),
        now_ms: runtime::now_ms(),
        key_id: None,
        origin: origin.clone(),
        preflight: false,
    };
    let type_base = format!("{origin}/_keyward/problems/");
    // With CORS, every answer on the request path to an allowed browser origin
    // says so, keyward's own problems as much as the origin's responses.
    let cors = runtime::config(&env)
        .ok()
        .and_then(|c| c.cors.as_ref())
        .filter(|_| !path.starts_with("/_keyward/"));
    let browser = cors.and_then(|_| req.headers().get("origin").ok().flatten());
    let cors_fields = |ctx: &Ctx| match cors {
        Some(c) if !ctx.preflight => c.response_fields(browser.as_deref()),
        _ => vec![],
    };
    let (response, code) = match handle(req, &env, &wctx, &mut ctx, &method, path, query).await {
        Ok(response) => (proxy::with_headers(response, &cors_fields(&ctx)), None),
        Err(mut problem) => {
            runtime::log_cause(&problem);
            for (name, value) in cors_fields(&ctx) {
                problem = problem.header(name, value);
            }
            (
                respond::problem(&problem, &type_base, &ctx.request_id).into(),
                Some(problem.code),
            )
        }
    };
    let logged = code.is_some()
        || runtime::config(&env).map_or(true, |c| c.decision_log == DecisionLog::All);
    if logged {
        log_decision(&ctx, &method, path, response.status(), code);
    }
    Ok(response)
}

/// The request's decision line: one JSON object, never a key or a secret.
fn log_decision(ctx: &Ctx, method: &str, path: &str, status: u16, code: Option<Code>) {
    runtime::log(json!({
        "event": "decision",
        "request_id": ctx.request_id,
        "method": method,
        "path": path,
        "status": status,
        "code": code.map(Code::as_str),
        "key_id": ctx.key_id,
        "latency_ms": runtime::now_ms() - ctx.now_ms,
    }));
}

async fn handle(
    req: RawRequest,
    env: &Env,
    wctx: &Context,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
    query: &str,
) -> std::result::Result<RawResponse, Problem> {
    let config = runtime::config(env)?;
    if let Some(reserved) = path.strip_prefix("/_keyward/") {
        let req = Request::from(req);
        return reserved_path(req, env, config, ctx, method, path, reserved)
            .await
            .map(Into::into);
    }
    let headers = req.headers();
    if let Some(cors) = &config.cors {
        let origin = headers.get("origin").ok().flatten();
        let asked = headers.get("access-control-request-method").ok().flatten();
        if let (Some(origin), Some(asked)) = (&origin, &asked) {
            if method.eq_ignore_ascii_case("OPTIONS") {
                ctx.preflight = true;
                return cors::preflight(cors, config, path, origin, asked);
            }
        }
    }
    let authorization = headers.get("authorization").ok().flatten();
    // A WebSocket upgrade may carry its key as a subprotocol; no request forwards
    // one (the origin gets the real subprotocols alone).
    let websocket = proxy::websocket(&headers);
    let protocols = headers.get("sec-websocket-protocol").ok().flatten();
    let (sub_key, real_protocols) = match &protocols {
        Some(list) => crate::credential::subprotocols(list).map_err(decide::credential_problem)?,
        None => (None, None),
    };
    let sub_key = sub_key.filter(|_| websocket);
    let forwarding = proxy::Forwarding {
        websocket,
        protocols: protocols.is_some().then_some(real_protocols.as_deref()),
    };
    let gate = decide::before_lookup_with_subprotocol(
        config,
        method,
        path,
        authorization.as_deref(),
        sub_key,
    )?;
    match gate {
        Gate::Public { path } => {
            proxy::forward(&req, config, (method, &path), query, None, ctx, &forwarding).await
        }
        Gate::Lookup {
            path,
            key,
            route,
            cost,
        } => {
            let ip = client_ip(&headers);
            let asked = Asked {
                key: &key,
                route,
                cost,
                ip,
                method,
                path: &path,
            };
            let (record, admitted) =
                authenticate(env, config, ctx, asked, Via::RequestPath(wctx)).await?;
            let response = proxy::forward(
                &req,
                config,
                (method, &path),
                query,
                Some(&record),
                ctx,
                &forwarding,
            )
            .await?;
            Ok(proxy::with_headers(response, &admitted.headers()))
        }
    }
}

thread_local! {
    /// What this isolate admits alone while keys' objects cannot answer
    /// (`RATE_LIMIT_FAILURE = "open"`).
    static FAIL_OPEN: std::cell::RefCell<FailOpen> = std::cell::RefCell::new(FailOpen::default());
}

/// The client's address, as Cloudflare reports it in `CF-Connecting-IP`.
pub(crate) fn client_ip(
    headers: &worker::worker_sys::web_sys::Headers,
) -> Option<std::net::IpAddr> {
    let value = headers.get("cf-connecting-ip").ok().flatten()?;
    value.trim().parse().ok()
}

/// A request with a well-formed key, to authenticate.
pub(crate) struct Asked<'a> {
    pub key: &'a ApiKey,
    pub route: RouteDecision<'a>,
    /// What an admitted request spends of the key's credits.
    pub cost: u64,
    pub ip: Option<std::net::IpAddr>,
    pub method: &'a str,
    pub path: &'a str,
}

/// Who asks: the request path (leased admission and fail-open as configured), or
/// the admin API for a `keys:manage` key (exact, and always failing closed).
pub(crate) enum Via<'a> {
    RequestPath(&'a Context),
    AdminApi,
}

/// Finds the key's record and judges it (status, address, route), then admits it
/// by its admission mode. Exact: the key's Durable Object refuses a revoked or
/// disabled key exactly, counts the request and records its outcome; a refusal
/// decided here is recorded in the object too (counting nothing), so that the
/// key's owner can see it. Leased (only with `wctx`, never for the admin API):
/// the isolate admits from its lease ([`leased`]) and reports later. With
/// `fail_open`, a failing object lets the request through within the key's limits
/// counted in this isolate, unless the isolate saw the object refuse the key as
/// revoked or disabled ([`crate::failopen`]); never for the admin API.
pub(crate) async fn authenticate(
    env: &Env,
    config: &'static Config,
    ctx: &mut Ctx,
    asked: Asked<'_>,
    via: Via<'_>,
) -> std::result::Result<(KeyRecord, Admitted), Problem> {
    let Asked {
        key,
        route,
        cost,
        ip,
        method,
        path,
    } = asked;
    let (wctx, fail_open) = match via {
        Via::RequestPath(wctx) => (Some(wctx), config.rate_limit_fail_open),
        Via::AdminApi => (None, false),
    };
    let Some(record) = store::Keys::lookup(env, config, &key.hash(), ctx.now_ms).await? else {
        return Err(decide::unknown_key());
    };
    ctx.key_id = Some(record.id.clone());
    let judged = decide::judge_record(&record, route, ip, ctx.now_ms);
    // A record that says disabled: the key's object decides, exactly.
    let ask_object = matches!(judged, Ok(true));
    let refusal = judged.map(|_| ());
    let fail_open = fail_open && decide::may_fail_open(&record) && !ask_object;
    let leased = wctx.filter(|_| {
        !ask_object && decide::admission_mode(&record, config) == AdmissionMode::Leased
    });
    let mut admission = Admission {
        key: record.id.clone(),
        team: record.team.clone(),
        policies: vec![],
        method: method.to_string(),
        // Only the outcome keeps the path, and only this much of it.
        path: crate::usage::cut_path(path),
        denial: None,
        cost,
    };
    if refusal.is_ok() {
        admission.policies = decide::limits(&record, config)?.to_vec();
    }
    if let Some(wctx) = leased {
        let r = leased::Request {
            env,
            config,
            wctx,
            record: &record,
            admission: &admission,
        };
        if let Err(p) = refusal {
            leased::refused(&r, ctx.now_ms, &p);
            return Err(p);
        }
        let admitted = match leased::admit(&r, ctx).await {
            Ok(Some(admitted)) => Some(admitted),
            // Too few credits are left to lease this request's cost: asked
            // exactly, below.
            Ok(None) => None,
            Err(Ok(p)) => return Err(p),
            Err(Err(e)) if fail_open => Some(open_on_failure(ctx, &record, &admission, e)?),
            Err(Err(e)) => return Err(authority::unavailable(e)),
        };
        if let Some(admitted) = admitted {
            if fail_open {
                // What the isolate's lease says of credits, for a later failure.
                let credited = admitted.credits.is_some();
                FAIL_OPEN.with(|f| f.borrow_mut().saw(&record.id, false, credited, ctx.now_ms));
            }
            return Ok((record, admitted));
        }
    }
    if let Err(p) = refusal {
        // Leased admission noted the refusal already (and returned).
        admission.denial = Some(Denial {
            status: p.status(),
            code: p.code,
        });
        let timeout = config.authority_timeout_ms;
        let object = authority::object(&record, config);
        if let Err(e) = authority::admit(env, object, &admission, timeout).await {
            runtime::log(json!({
                "event": "outcome_not_recorded",
                "request_id": ctx.request_id,
                "key_id": record.id,
                "error": e.to_string(),
            }));
        }
        return Err(p);
    }
    let answer = authority::admit(
        env,
        authority::object(&record, config),
        &admission,
        config.authority_timeout_ms,
    );
    let admitted = match answer.await {
        Ok(answer) => {
            if fail_open {
                let refused = matches!(answer.status, KeyStatus::Revoked | KeyStatus::Disabled);
                let credited = answer.credits.is_some() || answer.exhausted.is_some();
                FAIL_OPEN.with(|f| {
                    f.borrow_mut()
                        .saw(&record.id, refused, credited, ctx.now_ms)
                });
            }
            decide::authority_answer(&record, answer, ctx.now_ms)?
        }
        Err(e) if fail_open => open_on_failure(ctx, &record, &admission, e)?,
        Err(e) => return Err(authority::unavailable(e)),
    };
    Ok((record, admitted))
}

/// `RATE_LIMIT_FAILURE = "open"` with the key's object unreachable: admitted
/// within the key's limits counted in this isolate, unless the isolate saw the
/// key refused as revoked or disabled.
fn open_on_failure(
    ctx: &Ctx,
    record: &KeyRecord,
    admission: &Admission,
    e: worker::Error,
) -> std::result::Result<Admitted, Problem> {
    let local = FAIL_OPEN.with(|f| {
        f.borrow_mut()
            .admit(&record.id, &admission.policies, ctx.now_ms)
    });
    let refusal = match &local {
        Ok(_) => None,
        Err(Refusal::SeenRefused) => Some("revoked or disabled"),
        Err(Refusal::SeenCredited) => Some("spends credits"),
        Err(Refusal::Limited(_)) => Some("rate limited in this isolate"),
    };
    runtime::log(json!({
        "event": "rate_limit_failure_open",
        "request_id": ctx.request_id,
        "key_id": record.id,
        "error": e.to_string(),
        "refused": refusal,
    }));
    match local {
        // Its RateLimit fields would count this isolate only: none are sent.
        Ok(_) => Ok(Admitted::default()),
        Err(Refusal::SeenRefused | Refusal::SeenCredited) => Err(authority::unavailable(e)),
        Err(Refusal::Limited(v)) => Err(decide::rate_limited(&v)),
    }
}

async fn reserved_path(
    req: Request,
    env: &Env,
    config: &'static Config,
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
    if reserved == "console" || reserved.starts_with("console/") {
        return console::serve(env, &ctx.origin, method, path).await;
    }
    if reserved == "v1" || reserved.starts_with("v1/") {
        return admin::handle(req, env, config, ctx, method, path).await;
    }
    Err(Problem::new(Code::NotFound, "no such keyward endpoint"))
}
