//! The pass-through worker in Rust: every request forwarded to ORIGIN_URL, as
//! keyward forwards (the runtime's request read directly, its `fetch`, the origin's
//! response returned as it is), with no authorization at all.
use std::sync::OnceLock;
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::{event, Context, Env, Result};

static ORIGIN: OnceLock<String> = OnceLock::new();

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let origin = ORIGIN.get_or_init(|| {
        env.var("ORIGIN_URL")
            .map(|v| v.to_string())
            .unwrap_or_default()
    });
    let url = req.url();
    // The path and query: everything from the first '/' after "scheme://".
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = url[after_scheme..]
        .find('/')
        .map_or("/", |i| &url[after_scheme + i..]);
    let method = req.method();
    let init = web_sys::RequestInit::new();
    init.set_method(&method);
    init.set_headers(&req.headers());
    init.set_redirect(web_sys::RequestRedirect::Manual);
    if method != "GET" && method != "HEAD" {
        if let Some(body) = req.body() {
            init.set_body(&body);
        }
    }
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response =
        JsFuture::from(global.fetch_with_str_and_init(&format!("{origin}{rest}"), &init)).await?;
    Ok(response.unchecked_into())
}
