//! Serving the key console (`/_keyward/console/`): its static files from the
//! runtime's assets (`ASSETS`, asked only here, so that no file is ever answered
//! ahead of the worker), with [`crate::console::HEADERS`] on every response.

use super::proxy;
use super::runtime;
use crate::console::{self, Serve};
use crate::problem::{Code, Problem};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::JsCast;
use worker::worker_sys::web_sys;
use worker::{Env, Response};

/// The binding of the console's static files.
const BINDING: &str = "ASSETS";

#[wasm_bindgen]
extern "C" {
    /// The assets binding, asked with a URL alone (no request to build).
    type Assets;
    #[wasm_bindgen(method)]
    fn fetch(this: &Assets, url: &str) -> worker::js_sys::Promise;
}

/// Answers a request under `/_keyward/console`.
pub async fn serve(env: &Env, origin: &str, method: &str, path: &str) -> Result<Response, Problem> {
    let headers: Vec<(&'static str, String)> = console::HEADERS
        .iter()
        .map(|(n, v)| (*n, v.to_string()))
        .collect();
    let file = match console::serve(method, path) {
        Serve::Redirect => {
            let r = Response::empty().map_err(|e| runtime::unavailable("response", e))?;
            let r = r.with_status(308);
            let _ = r.headers().set("location", console::PREFIX);
            let raw: web_sys::Response = r.into();
            return Ok(proxy::with_headers(raw, &headers).into());
        }
        Serve::NotFound => return Err(Problem::new(Code::NotFound, "no such console file")),
        Serve::File(file) => file,
    };
    let assets: Assets = env
        .assets(BINDING)
        .map_err(|_| {
            Problem::new(
                Code::NotFound,
                "the console is not deployed with this worker (no ASSETS binding)",
            )
        })?
        .into_rpc();
    let unavailable = |e: worker::wasm_bindgen::JsValue| {
        runtime::unavailable("the console's files (ASSETS)", worker::Error::from(e))
    };
    let found =
        worker::wasm_bindgen_futures::JsFuture::from(assets.fetch(&format!("{origin}{file}")))
            .await
            .map_err(unavailable)?
            .dyn_into::<web_sys::Response>()
            .map_err(unavailable)?;
    if found.status() != 200 {
        return Err(Problem::new(Code::NotFound, "no such console file"));
    }
    Ok(proxy::with_headers(found, &headers).into())
}
