//! Runtime facts and calls for the shell: the clock, randomness, the cached configuration,
//! logging, `fetch`, bounded waits and the RPC call to a Durable Object.

use crate::config::Config;
use crate::field::FieldError;
use crate::problem::{Code, Problem};
use serde_json::Value;
use std::sync::OnceLock;
use wasm_bindgen::prelude::{wasm_bindgen, JsValue};
use wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
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

/// Random bytes for request ids, drawn from `crypto.getRandomValues` 1 KB at a
/// time (one call into the runtime per 128 requests); each byte is used once.
struct IdPool {
    bytes: [u8; 1024],
    used: usize,
}

thread_local! {
    static ID_POOL: std::cell::RefCell<IdPool> =
        const { std::cell::RefCell::new(IdPool { bytes: [0; 1024], used: 1024 }) };
}

/// A random 16-hex-character request id.
pub fn request_id() -> String {
    ID_POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.used + 8 > pool.bytes.len() {
            fill_random(&mut pool.bytes);
            pool.used = 0;
        }
        let at = pool.used;
        pool.used += 8;
        hex::encode(&pool.bytes[at..at + 8])
    })
}

/// Writes one structured log line. Callers never pass secret material.
pub fn log(line: Value) {
    worker::console_log!("{line}");
}

static CONFIG: OnceLock<Result<Config, Vec<FieldError>>> = OnceLock::new();

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

#[wasm_bindgen(inline_js = "export function settleWithin(promise, ms) {
  let timer;
  const late = new Promise((resolve) => { timer = setTimeout(resolve, ms); });
  return Promise.race([promise.then((value) => [value]), late]).finally(() => clearTimeout(timer));
}")]
extern "C" {
    /// `[value]` when `promise` fulfils within `ms`, its rejection when it rejects,
    /// `undefined` when `ms` passes first. The timer lives in JavaScript and is
    /// cleared when the race settles: no closure crosses into wasm.
    #[wasm_bindgen(js_name = settleWithin)]
    fn settle_within(promise: &js_sys::Promise, ms: u32) -> js_sys::Promise;
}

/// A bound on a wait: the milliseconds, and the setting that chose them (named in
/// the error when the wait runs out).
pub type Deadline<'a> = (u32, &'a str);

/// `promise`'s outcome; with a deadline, `None` when it passes first.
async fn settle(
    promise: &js_sys::Promise,
    deadline: Option<Deadline<'_>>,
) -> Option<Result<JsValue, JsValue>> {
    let Some((ms, _)) = deadline else {
        return Some(JsFuture::from(promise.clone()).await);
    };
    match JsFuture::from(settle_within(promise, ms)).await {
        Ok(settled) if settled.is_undefined() => None,
        Ok(settled) => Some(Ok(js_sys::Array::from(&settled).get(0))),
        Err(e) => Some(Err(e)),
    }
}

/// The runtime's `fetch(url, init)`: its response, or why there is none.
pub async fn fetch(
    url: &str,
    init: &web_sys::RequestInit,
    deadline: Option<Deadline<'_>>,
) -> Result<web_sys::Response, String> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let promise = global.fetch_with_str_and_init(url, init);
    let Some(settled) = settle(&promise, deadline).await else {
        let (ms, setting) = deadline.expect("only a deadline runs out");
        return Err(format!("no response within {setting} ({ms} ms)"));
    };
    settled
        .map_err(|e| worker::Error::from(e).to_string())?
        .dyn_into()
        .map_err(|_| "the runtime's fetch answered something other than a Response".to_string())
}

#[wasm_bindgen]
extern "C" {
    /// A stub of one of keyward's Durable Objects, called over Workers RPC.
    type ObjectRpc;
    #[wasm_bindgen(method, js_name = keywardCall)]
    fn keyward_call(this: &ObjectRpc, call: &str, message: &str, version: u32) -> js_sys::Promise;
}

/// Calls the Durable Object `name` of the namespace `binding` over RPC
/// (`keywardCall`, see `src/shell/entry.mjs`) with `call`, its JSON `message`
/// and this release's [`crate::wire::VERSION`],
/// and parses its JSON answer, waiting at most until `deadline` when given. A
/// failure names `what`. `hint` is the `locationHint` the object is created with,
/// if this call creates it.
pub async fn call_object<T: serde::de::DeserializeOwned>(
    env: &Env,
    object: (&str, &str, Option<&str>),
    call: &str,
    message: &str,
    what: &str,
    deadline: Option<Deadline<'_>>,
) -> worker::Result<T> {
    let text = call_object_text(env, object, call, message, what, deadline).await?;
    read_message(&text).map_err(|e| worker::Error::RustError(format!("{what} answered: {e}")))
}

/// [`call_object`]'s answer as text: one copy of the call for every answer type
/// (the worker's size).
async fn call_object_text(
    env: &Env,
    (binding, name, hint): (&str, &str, Option<&str>),
    call: &str,
    message: &str,
    what: &str,
    deadline: Option<Deadline<'_>>,
) -> worker::Result<String> {
    let namespace = env.durable_object(binding)?;
    let id = namespace.id_from_name(name)?;
    let stub = match hint {
        Some(hint) => id.get_stub_with_location_hint(hint)?,
        None => id.get_stub()?,
    };
    let stub: ObjectRpc = stub.into_rpc();
    let promise = stub.keyward_call(call, message, crate::wire::VERSION);
    let Some(settled) = settle(&promise, deadline).await else {
        let (ms, setting) = deadline.expect("only a deadline runs out");
        return Err(worker::Error::RustError(format!(
            "{what}: no answer within {setting} ({ms} ms)"
        )));
    };
    let answer = settled
        .map_err(|e| worker::Error::RustError(format!("{what}: {}", worker::Error::from(e))))?;
    answer.as_string().ok_or_else(|| {
        worker::Error::RustError(format!("{what} answered something other than text"))
    })
}

/// Notes a caller of a later wire version than this release's, once per
/// isolate (a gradual deployment under way: this object reads its messages
/// tolerantly, and answers in the form every version reads).
pub fn caller_version(object: &str, version: Option<u32>) {
    thread_local! {
        static NOTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }
    let version = crate::wire::caller_version(version);
    if version > crate::wire::VERSION && !NOTED.with(|n| n.replace(true)) {
        log(serde_json::json!({
            "event": "wire_newer_caller",
            "object": object,
            "caller": version,
            "this": crate::wire::VERSION,
        }));
    }
}

/// A message between the worker and a Durable Object (either way); see [`crate::wire`].
pub fn read_message<T: serde::de::DeserializeOwned>(message: &str) -> worker::Result<T> {
    crate::wire::read(message).map_err(worker::Error::RustError)
}

/// The fail-closed problem for an unexpected failure of a binding; what failed is
/// logged where the problem leaves ([`log_cause`]).
pub fn unavailable(what: &str, err: impl std::fmt::Display) -> Problem {
    Problem::new(
        Code::Unavailable,
        format!("{what} is unavailable; retry later"),
    )
    .caused_by(what, err)
}

/// Logs what failed behind `problem`, if anything did (`dependency_error`): once,
/// where the problem leaves keyward or is set aside.
pub fn log_cause(problem: &Problem) {
    if let Some((dependency, error)) = problem.cause.as_deref() {
        log(
            serde_json::json!({"event": "dependency_error", "dependency": dependency, "error": error}),
        );
    }
}
