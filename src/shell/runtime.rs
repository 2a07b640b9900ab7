//! Runtime facts for the shell: the clock, randomness, the cached configuration and logging.

use crate::config::{Config, ConfigError};
use crate::problem::{Code, Problem};
use serde_json::Value;
use std::sync::OnceLock;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::Env;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    fn get_random_values(buf: &mut [u8]);
}

/// Fills `buf` from `crypto.getRandomValues`.
pub fn fill_random(buf: &mut [u8]) {
    get_random_values(buf);
}

/// Unix milliseconds.
pub fn now_ms() -> i64 {
    js_sys::Date::now() as i64
}

/// A random 16-hex-character request id.
pub fn request_id() -> String {
    let mut b = [0u8; 8];
    fill_random(&mut b);
    hex::encode(b)
}

/// Writes one structured log line. Callers never pass secret material.
pub fn log(line: Value) {
    worker::console_log!("{line}");
}

static CONFIG: OnceLock<Result<Config, Vec<ConfigError>>> = OnceLock::new();

/// The configuration, parsed once per isolate. An invalid configuration answers
/// every request with `MISCONFIGURED`, naming each field, and is logged.
pub fn config(env: &Env) -> Result<&'static Config, Problem> {
    let parsed = CONFIG.get_or_init(|| {
        let parsed = Config::from_vars(|name| var(env, name));
        if let Err(errors) = &parsed {
            let fields: Vec<String> = errors.iter().map(ToString::to_string).collect();
            log(serde_json::json!({"event": "config_error", "errors": fields}));
        }
        parsed
    });
    parsed.as_ref().map_err(|errors| {
        let detail = errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        Problem::new(
            Code::Misconfigured,
            format!("invalid configuration: {detail}"),
        )
        .with(
            "fields",
            serde_json::json!(errors.iter().map(|e| &e.field).collect::<Vec<_>>()),
        )
    })
}

/// A var or secret as JSON: strings as they are, objects (from `[vars]` tables)
/// through `JSON.stringify`. `None` when unset.
fn var(env: &Env, name: &str) -> Option<Value> {
    let v = js_sys::Reflect::get(env.as_ref(), &name.into()).ok()?;
    if v.is_undefined() || v.is_null() {
        return None;
    }
    if let Some(s) = v.as_string() {
        return Some(Value::String(s));
    }
    let json: String = js_sys::JSON::stringify(&v).ok()?.into();
    serde_json::from_str(&json).ok()
}

/// `future`'s output, or `None` when `timeout_ms` passes first (the timer is then
/// dropped, which clears it).
pub async fn within<F: std::future::Future>(future: F, timeout_ms: u32) -> Option<F::Output> {
    let delay = worker::Delay::from(std::time::Duration::from_millis(u64::from(timeout_ms)));
    futures_util::pin_mut!(future);
    match futures_util::future::select(future, delay).await {
        futures_util::future::Either::Left((output, _)) => Some(output),
        futures_util::future::Either::Right(_) => None,
    }
}

#[wasm_bindgen]
extern "C" {
    /// A stub of one of keyward's Durable Objects, called over Workers RPC.
    type ObjectRpc;
    #[wasm_bindgen(method, js_name = keywardCall)]
    fn keyward_call(this: &ObjectRpc, call: &str, message: &str) -> js_sys::Promise;
}

/// Calls the Durable Object `name` of the namespace `binding` over RPC
/// (`keywardCall`, see `src/shell/entry.mjs`) with `call` and its JSON `message`,
/// and parses its JSON answer. A failure names `what`.
pub async fn call_object<T: serde::de::DeserializeOwned>(
    env: &Env,
    binding: &str,
    name: &str,
    call: &str,
    message: &str,
    what: &str,
) -> worker::Result<T> {
    let stub: ObjectRpc = env
        .durable_object(binding)?
        .id_from_name(name)?
        .get_stub()?
        .into_rpc();
    let answer = worker::wasm_bindgen_futures::JsFuture::from(stub.keyward_call(call, message))
        .await
        .map_err(|e| worker::Error::RustError(format!("{what}: {}", worker::Error::from(e))))?;
    let text = answer.as_string().ok_or_else(|| {
        worker::Error::RustError(format!("{what} answered something other than text"))
    })?;
    Ok(serde_json::from_str(&text)?)
}

/// Logs an unexpected failure of a binding and returns the fail-closed problem.
pub fn unavailable(what: &str, err: impl std::fmt::Display) -> Problem {
    log(
        serde_json::json!({"event": "dependency_error", "dependency": what, "error": err.to_string()}),
    );
    Problem::new(
        Code::Unavailable,
        format!("{what} is unavailable; retry later"),
    )
}
