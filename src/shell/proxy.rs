//! Forwarding an authorized (or public) request to the origin, bodies streamed both ways.

use super::runtime;
use super::{Ctx, RawRequest, RawResponse};
use crate::config::Config;
use crate::forward;
use crate::problem::{Code, Problem};
use crate::record::KeyRecord;
use serde_json::json;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::worker_sys::web_sys::{Headers, RequestInit, RequestRedirect, ResponseInit};

#[wasm_bindgen(inline_js = "export function headerNames(headers) {
  return [...headers.keys()].join('\\n');
}
export function headersWithout(headers, names) {
  const copy = new Headers(headers);
  for (const name of names.split('\\n')) if (name) copy.delete(name);
  return copy;
}")]
extern "C" {
    /// The names of `headers`, lowercase, one per line (a name holds no newline).
    #[wasm_bindgen(js_name = headerNames)]
    fn header_names(headers: &Headers) -> String;
    /// A copy of `headers` without the named ones (one per line). The copy and the
    /// names cross into wasm once each, not once per header and value.
    #[wasm_bindgen(js_name = headersWithout)]
    fn headers_without(headers: &Headers, names: &str) -> Headers;
}

/// How a request is forwarded besides its headers.
pub struct Forwarding<'a> {
    /// A WebSocket upgrade (`Upgrade: websocket`): forwarded as one.
    pub websocket: bool,
    /// When the request had `Sec-WebSocket-Protocol`: the real subprotocols, with
    /// any `keyward.bearer.` entry removed (`None`: none left, the header goes).
    pub protocols: Option<Option<&'a str>>,
}

/// Whether the request asks to become a WebSocket (`Upgrade: websocket`).
pub fn websocket(headers: &Headers) -> bool {
    headers.get("upgrade").ok().flatten().is_some_and(|u| {
        u.split(',')
            .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
    })
}

/// Sends the request to `ORIGIN_URL` + the canonical path + the original query, with
/// the headers [`forward::outgoing`] says: the client's, less what it drops, plus
/// what it sets. Redirects are returned, not followed. The origin's response comes
/// back as the runtime made it, body streamed.
pub async fn forward(
    req: &RawRequest,
    config: &Config,
    (method, path): (&str, &str),
    query: &str,
    record: Option<&KeyRecord>,
    ctx: &Ctx,
    forwarding: &Forwarding<'_>,
) -> Result<RawResponse, Problem> {
    let target = format!("{}{path}{query}", config.origin_url);
    let incoming = req.headers();
    let get = |name: &str| incoming.get(name).ok().flatten();
    let names = header_names(&incoming);
    let (connection, forwarded_for) = (get("connection"), get("x-forwarded-for"));
    let client = forward::Client {
        names: &names,
        connection: connection.as_deref(),
        forwarded_for: forwarded_for.as_deref(),
        ip: super::client_ip(&incoming),
        origin: &ctx.origin,
        websocket: forwarding.websocket,
        protocols: forwarding.protocols,
    };
    let stamp = forward::Stamp {
        request_id: &ctx.request_id,
        method,
        path,
        now_s: ctx.now_ms.div_euclid(1000),
    };
    let out = forward::outgoing(config, &client, record, &stamp);
    let headers = headers_without(&incoming, &out.drop.join("\n"));
    for (name, value) in &out.set {
        let _ = headers.set(name, value);
    }

    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if method != "GET" && method != "HEAD" {
        if let Some(body) = req.body() {
            init.set_body(&body);
        }
    }
    let deadline = (config.origin_timeout_ms, "ORIGIN_TIMEOUT");
    let error = match runtime::fetch(&target, &init, Some(deadline)).await {
        Ok(response) => return Ok(response),
        Err(error) => error,
    };
    runtime::log(json!({"event": "origin_error", "request_id": ctx.request_id, "error": error}));
    Err(Problem::new(
        Code::OriginUnavailable,
        format!("the origin could not be reached: {error}"),
    ))
}

/// The origin's response with extra headers set: a fetched response's headers are
/// immutable, so the status, its text, a copy of the headers and the body stream
/// go into a new one. A `101 Switching Protocols` is returned as it is.
pub fn with_headers(response: RawResponse, extra: &[(&'static str, String)]) -> RawResponse {
    if extra.is_empty() || response.status() == 101 {
        return response;
    }
    let Ok(headers) = Headers::new_with_headers(&response.headers()) else {
        return response;
    };
    for (name, value) in extra {
        // The origin's own Vary still holds: keyward's adds to it.
        let _ = if *name == "vary" {
            headers.append(name, value)
        } else {
            headers.set(name, value)
        };
    }
    let init = ResponseInit::new();
    init.set_status(response.status());
    init.set_status_text(&response.status_text());
    init.set_headers(&headers);
    RawResponse::new_with_opt_readable_stream_and_init(response.body().as_ref(), &init)
        .unwrap_or(response)
}
