//! Forwarding an authorized (or public) request to the origin, bodies streamed both ways.

use super::runtime;
use super::Ctx;
use crate::config::Config;
use crate::decide;
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
    Fetch::Request(outgoing).send().await.map_err(|e| {
        runtime::log(
            json!({"event": "origin_error", "request_id": ctx.request_id, "error": e.to_string()}),
        );
        Problem::new(Code::OriginUnavailable, "the origin could not be reached")
    })
}
