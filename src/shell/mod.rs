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
mod layout;
mod leased;
mod locator;
mod notices;
mod proxy;
mod respond;
mod runtime;
mod store;

use crate::admission::{self, Caller, Event, Leased};
use crate::config::{Config, DecisionLog};
use crate::decide::{self, Admitted, Gate};
use crate::failopen::FailOpen;
use crate::key::ApiKey;
use crate::keystate::{Admission, Answer};
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
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
    if let Some(answer) = preflight(config, &headers, ctx, method, path) {
        return answer;
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
            let request = admission::Request {
                route,
                cost,
                ip,
                method,
                path: &path,
            };
            let asked = Asked { key: &key, request };
            let (record, admitted) = authenticate(env, config, ctx, asked, Some(wctx)).await?;
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

/// A CORS preflight (`OPTIONS` with `Origin` and
/// `Access-Control-Request-Method`), answered at the edge when `CORS` is set.
fn preflight(
    config: &'static Config,
    headers: &worker::worker_sys::web_sys::Headers,
    ctx: &mut Ctx,
    method: &str,
    path: &str,
) -> Option<std::result::Result<RawResponse, Problem>> {
    let cors = config.cors.as_ref()?;
    let origin = headers.get("origin").ok().flatten()?;
    let asked = headers
        .get("access-control-request-method")
        .ok()
        .flatten()?;
    if !method.eq_ignore_ascii_case("OPTIONS") {
        return None;
    }
    ctx.preflight = true;
    Some(cors::preflight(cors, config, path, &origin, &asked))
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
    pub request: admission::Request<'a>,
}

/// Finds the key's record, then carries out [`admission::plan`]: a refusal
/// recorded at the key's object or with the isolate's next report; a request
/// admitted from the isolate's lease ([`leased`]) or asked of the object
/// exactly; and, when the object cannot answer, what [`admission::failed`]
/// decides. Every decision is the core's. `wctx`: the request path's context
/// (leased admission and fail-open as configured); `None` for the admin API.
pub(crate) async fn authenticate(
    env: &Env,
    config: &'static Config,
    ctx: &mut Ctx,
    asked: Asked<'_>,
    wctx: Option<&Context>,
) -> std::result::Result<(KeyRecord, Admitted), Problem> {
    let hash = asked.key.hash();
    let found = locator::record(env, config, &hash, ctx.now_ms).await?;
    let record = found.ok_or_else(decide::unknown_key)?;
    ctx.key_id = Some(record.id.clone());
    let caller = wctx.map_or(Caller::AdminApi, |_| Caller::RequestPath);
    let now_ms = ctx.now_ms;
    let object = authority::object(&record, config);
    let (chain, region) = (object.0.to_string(), object.1.map(str::to_string));
    let mut effects = Effects {
        env,
        config,
        ctx,
        wctx,
        hash: &hash,
        object: (&chain, region.as_deref()),
    };
    admission::admit(record, asked.request, now_ms, caller, config, &mut effects).await
}

/// The effects of one admission in this isolate: the key's object, its team
/// directory, the isolate's record cache, lease (the request path only) and
/// fail-open memory, the log.
struct Effects<'a> {
    env: &'a Env,
    config: &'static Config,
    ctx: &'a Ctx,
    wctx: Option<&'a Context>,
    hash: &'a crate::key::KeyHash,
    /// The key chain's object and its location hint.
    object: (&'a str, Option<&'a str>),
}

impl<'a> Effects<'a> {
    /// The request to the isolate's lease: on the request path only.
    fn leased<'b>(
        &self,
        record: &'b KeyRecord,
        admission: &'b Admission,
    ) -> Option<leased::Request<'b>>
    where
        'a: 'b,
    {
        self.wctx.map(|wctx| leased::Request {
            env: self.env,
            config: self.config,
            wctx,
            record,
            admission,
        })
    }
}

impl admission::Effects for Effects<'_> {
    type Error = worker::Error;

    async fn record(&mut self, admission: &Admission) -> Result<Answer> {
        self.ask(admission).await
    }

    fn report(&mut self, record: &KeyRecord, admission: &Admission, refused: &Problem) {
        if let Some(lease) = self.leased(record, admission) {
            leased::refused(&lease, self.ctx.now_ms, refused);
        }
    }

    async fn lease(&mut self, record: &KeyRecord, admission: &Admission) -> Leased<worker::Error> {
        match self.leased(record, admission) {
            Some(lease) => leased::admit(&lease, self.ctx).await,
            None => Leased::AskExactly,
        }
    }

    async fn ask(&mut self, admission: &Admission) -> Result<Answer> {
        let timeout = self.config.authority_timeout_ms;
        authority::admit(self.env, self.object, admission, timeout).await
    }

    async fn fresh(&mut self, record: &KeyRecord) -> std::result::Result<KeyRecord, Problem> {
        let get = crate::directory::Call::Get {
            id: record.id.clone(),
        };
        let stored: Option<crate::directory::Stored> =
            directory::call(self.env, &record.team, &get).await?;
        let fresh = stored.ok_or_else(decide::unknown_key)?.record;
        store::Keys::remember(self.config, self.hash, &fresh, self.ctx.now_ms);
        Ok(fresh)
    }

    fn memory<T>(&mut self, f: impl FnOnce(&mut FailOpen) -> T) -> T {
        FAIL_OPEN.with(|m| f(&mut m.borrow_mut()))
    }

    fn unavailable(&mut self, e: worker::Error) -> Problem {
        authority::unavailable(e)
    }

    fn log(&mut self, event: Event<'_, worker::Error>) {
        let (name, e, refused) = match event {
            Event::NotRecorded(e) => ("outcome_not_recorded", e, None),
            Event::FailOpen(e, refused) => ("rate_limit_failure_open", e, Some(refused)),
        };
        let mut line = json!({
            "event": name,
            "request_id": self.ctx.request_id,
            "key_id": self.ctx.key_id,
            "error": e.to_string(),
        });
        if let Some(refused) = refused {
            line["refused"] = json!(refused);
        }
        runtime::log(line);
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
