//! Forwarding an authorized (or public) request to the origin, bodies streamed both ways.

use super::runtime;
use super::Ctx;
use crate::config::Config;
use crate::decide;
use crate::identity;
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::{Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response};

/// Sends the request to `ORIGIN_URL` + the canonical path + the original query, with
/// the client's headers less hop-by-hop, `Authorization` (unless configured) and any
/// `X-Keyward-*`, plus keyward's identity headers. Redirects are returned, not followed.
pub async fn forward(
    req: Request,
    config: &Config,
    path: &str,
    record: Option<&KeyRecord>,
    ctx: &Ctx,
) -> Result<Response, Problem> {
    let inner = req.inner();
    let query = inner
        .url()
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    let target = format!("{}{path}{query}", config.origin_url);

    let incoming = req.headers();
    let connection = incoming.get("connection").ok().flatten();
    let headers = Headers::new();
    for (name, value) in incoming.entries() {
        if decide::forward_request_header(
            &name,
            config.forward_authorization,
            connection.as_deref(),
        ) {
            let _ = headers.append(&name, &value);
        }
    }
    if let Some(record) = record {
        for (name, value) in decide::identity_headers(record) {
            let _ = headers.set(name, &value);
        }
    }
    let _ = headers.set("x-keyward-request-id", &ctx.request_id);
    if let Some(secret) = &config.identity_secret {
        let signed_path = identity::origin_path(&config.origin_url, path);
        let get = |name: &str| headers.get(name).ok().flatten();
        let values: Vec<(&str, Option<String>)> = identity::SIGNED_HEADERS
            .iter()
            .map(|n| (*n, get(n)))
            .collect();
        let lookup = |name: &str| {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.as_deref())
        };
        let t = ctx.now_ms.div_euclid(1000);
        let sig = identity::sign(
            secret.0.as_bytes(),
            t,
            req.method().as_ref(),
            &signed_path,
            lookup,
        );
        let _ = headers.set(identity::SIGNATURE_HEADER, &sig);
    }

    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        init.with_body(inner.body().map(JsValue::from));
    }
    let outgoing = Request::new_with_init(&target, &init)
        .map_err(|e| runtime::unavailable("request to origin", e))?;
    let timeout = config.origin_timeout_ms;
    let fetch = Fetch::Request(outgoing);
    let error = match runtime::within(fetch.send(), timeout).await {
        Some(Ok(response)) => return Ok(response),
        Some(Err(e)) => e.to_string(),
        None => format!("no response within ORIGIN_TIMEOUT ({timeout} ms)"),
    };
    runtime::log(json!({"event": "origin_error", "request_id": ctx.request_id, "error": error}));
    Err(Problem::new(
        Code::OriginUnavailable,
        format!("the origin could not be reached: {error}"),
    ))
}
