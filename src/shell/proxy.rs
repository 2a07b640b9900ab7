//! Forwarding an authorized (or public) request to the origin, bodies streamed both ways.

use super::runtime;
use super::{Ctx, RawRequest, RawResponse};
use crate::config::Config;
use crate::decide;
use crate::identity;
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
    let connection = incoming.get("connection").ok().flatten();
    let names = header_names(&incoming);
    let dropped: Vec<&str> = names
        .split('\n')
        .filter(|name| {
            !name.is_empty()
                && !decide::forward_request_header(
                    name,
                    config.forward_authorization,
                    connection.as_deref(),
                )
        })
        .collect();
    let headers = worker::Headers(headers_without(&incoming, &dropped.join("\n")));
    if let Some(record) = record {
        for (name, value) in decide::identity_headers(record) {
            let _ = headers.set(name, &value);
        }
    }
    let _ = headers.set("x-keyward-request-id", &ctx.request_id);
    let client_xff = incoming.get("x-forwarded-for").ok().flatten();
    let ip = super::client_ip(&incoming);
    let forwarded = decide::forwarded_for_headers(
        ip,
        client_xff.as_deref(),
        config.forwarded_for_append,
        &ctx.origin,
    );
    for (name, value) in forwarded {
        let _ = headers.set(name, &value);
    }
    match forwarding.protocols {
        Some(Some(real)) => {
            let _ = headers.set("sec-websocket-protocol", real);
        }
        Some(None) => {
            let _ = headers.delete("sec-websocket-protocol");
        }
        None => {}
    }
    // An upgrade goes on as an upgrade: the runtime makes the handshake with the
    // origin, and the origin's 101 and its socket come back to the client.
    if forwarding.websocket {
        let _ = headers.set("upgrade", "websocket");
    }
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
        let sig = identity::sign(secret.0.as_bytes(), t, method, &signed_path, lookup);
        let _ = headers.set(identity::SIGNATURE_HEADER, &sig);
    }

    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(&headers.0);
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
