//! End-to-end tests: a real `wrangler dev` (workerd, local KV) in front of a real
//! echo origin, driven over HTTP. One binary, with a module per feature.
//!
//! Instances are shared per configuration and started on first use:
//! - [`main_worker`]: the shipped config with `--var` overrides (a test policy as a
//!   JSON string, another key prefix);
//! - [`shipped_worker`]: the shipped config as it is, forwarding `Authorization`;
//! - [`broken_worker`]: no KV binding and an unreachable origin (fail-closed paths);
//! - [`misconfigured_worker`]: an invalid `POLICY`.

mod admin;
mod failures;
mod harness;
mod request_path;

use harness::{free_port, Origin, Worker, WorkerOptions};
use std::sync::OnceLock;

/// The key prefix the main instance is configured with through `--var`.
pub const PREFIX: &str = "e2e_";

/// The route policy of the main instance, passed as a JSON string through `--var`.
pub const POLICY: &str = r#"{
  "public": ["/health", "/open/**"],
  "unmatched": "deny",
  "routes": [
    {"method": "GET", "path": "/documents/**", "scopes": ["documents.read"]},
    {"method": ["POST", "PUT"], "path": "/documents/**", "scopes": ["documents.write"]},
    {"method": "POST", "path": "/reports/*", "scopes": ["reports.write", "audit:log"]},
    {"method": "*", "path": "/internal/**", "deny": true},
    {"method": "*", "path": "/me", "scopes": []}
  ]
}"#;

fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(Origin::start)
}

fn var(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// The main instance.
pub fn main_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    W.get_or_init(|| {
        Worker::start(WorkerOptions {
            vars: vec![
                var("ORIGIN_URL", &origin().url),
                var("POLICY", POLICY),
                var("KEY_PREFIX", PREFIX),
            ],
            ..Default::default()
        })
    })
}

/// The shipped `wrangler.toml` (object-valued `POLICY`, default prefix), with the
/// echo origin and `FORWARD_AUTHORIZATION` on.
pub fn shipped_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    W.get_or_init(|| {
        Worker::start(WorkerOptions {
            vars: vec![
                var("ORIGIN_URL", &origin().url),
                var("FORWARD_AUTHORIZATION", "true"),
            ],
            ..Default::default()
        })
    })
}

/// No KV binding, and an origin port where nothing listens.
pub fn broken_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    W.get_or_init(|| {
        Worker::start(WorkerOptions {
            kv: false,
            vars: vec![var(
                "ORIGIN_URL",
                &format!("http://127.0.0.1:{}", free_port()),
            )],
            ..Default::default()
        })
    })
}

/// An invalid `POLICY`.
pub fn misconfigured_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    W.get_or_init(|| {
        Worker::start(WorkerOptions {
            vars: vec![
                var("ORIGIN_URL", &origin().url),
                var(
                    "POLICY",
                    r#"{"routes": [{"path": "documents", "scopes": []}]}"#,
                ),
            ],
            ..Default::default()
        })
    })
}
