//! End-to-end tests: a real `wrangler dev` (workerd, local KV) in front of a real
//! echo origin, driven over HTTP. One binary, with a module per feature.
//!
//! Instances are shared per configuration and started on first use:
//! - [`main_worker`]: the shipped config with `--var` overrides (a test policy as a
//!   JSON string, another key prefix);
//! - [`shipped_worker`]: the shipped config as it is, forwarding `Authorization`;
//! - [`broken_worker`]: no KV binding and an unreachable origin (fail-closed paths);
//! - [`no_limiter_worker`]: no Durable Object binding, failing closed or open;
//! - [`leased_worker`]: leased admission, with or without the key's object;
//! - [`case_insensitive_worker`]: a `case_insensitive` policy;
//! - [`misconfigured_worker`]: an invalid `POLICY`;
//! - [`credits_worker`]: routes with a `cost`, a plan with credits, leased admission.

mod admin;
mod cli;
mod console;
mod crash;
mod credits;
mod deploy;
mod failures;
mod gateway;
mod harness;
mod hostile;
mod identity;
mod isolates;
mod lag;
mod leased;
mod lifecycle;
mod notices;
mod propagation;
mod ratelimit;
mod request_path;
mod secrets;
mod security;
mod soak;
mod websocket;

use harness::{free_port, Origin, Worker, WorkerOptions};
use std::sync::OnceLock;

/// The key prefix the main instance is configured with through `--var`.
pub const PREFIX: &str = "e2e_";

/// The default limits of the main instance (`--var RATE_LIMITS`).
pub const RATE_LIMITS: &str = r#"[{"name": "burst", "limit": 1000, "window": "1m"}]"#;

/// The plans of the main instance (`--var PLANS`).
pub const PLANS: &str = r#"{
  "tiny": [{"name": "total", "limit": 3, "window": "366d"}],
  "two": [{"name": "burst", "limit": 5, "window": "1m"}, {"name": "daily", "limit": 100, "window": "1d"}]
}"#;

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

pub fn origin() -> &'static Origin {
    static ORIGIN: OnceLock<Origin> = OnceLock::new();
    ORIGIN.get_or_init(Origin::start)
}

pub fn var(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

/// A worker with these vars (in front of the echo origin unless they name another
/// `ORIGIN_URL`) and these options, started once, on first use.
fn shared(
    cell: &'static OnceLock<Worker>,
    vars: &[(&str, &str)],
    options: WorkerOptions,
) -> &'static Worker {
    cell.get_or_init(|| Worker::start(with_vars(vars, options)))
}

/// `options` with these vars, `ORIGIN_URL` the echo origin unless they name one.
fn with_vars(vars: &[(&str, &str)], options: WorkerOptions) -> WorkerOptions {
    let mut all: Vec<(String, String)> = vars.iter().map(|(k, v)| var(k, v)).collect();
    if !vars.iter().any(|(k, _)| *k == "ORIGIN_URL") {
        all.insert(0, var("ORIGIN_URL", &origin().url));
    }
    WorkerOptions {
        vars: all,
        ..options
    }
}

/// The main worker's `IDENTITY_SIGNING_SECRET`.
pub const IDENTITY_SECRET: &str = "identity-secret-for-the-e2e-suite-0123";

/// The legacy format the main worker accepts for imported keys.
pub const LEGACY_KEY_FORMATS: &str = r#"[{"prefix": "api_", "length": 20}]"#;

/// The main instance.
pub fn main_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let vars = [
        ("POLICY", POLICY),
        ("KEY_PREFIX", PREFIX),
        ("RATE_LIMITS", RATE_LIMITS),
        ("PLANS", PLANS),
        ("LEGACY_KEY_FORMATS", LEGACY_KEY_FORMATS),
        ("IDENTITY_SIGNING_SECRET", IDENTITY_SECRET),
    ];
    shared(&W, &vars, WorkerOptions::default())
}

/// The shipped `wrangler.toml` (object-valued `POLICY`, default prefix), with the
/// echo origin, `FORWARD_AUTHORIZATION` on, `ORIGIN_TIMEOUT` 1.5 s and
/// `FORWARDED_FOR = "append"`.
pub fn shipped_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let vars = [
        ("FORWARD_AUTHORIZATION", "true"),
        ("ORIGIN_TIMEOUT", "1500"),
        ("FORWARDED_FOR", "append"),
    ];
    shared(&W, &vars, WorkerOptions::default())
}

/// No KV binding, and an origin port where nothing listens.
pub fn broken_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let options = WorkerOptions {
        kv: false,
        ..Default::default()
    };
    shared(&W, &[("ORIGIN_URL", &nowhere)], options)
}

/// No `KEY_AUTHORITY` binding: the rate limiter fails; `open` lets traffic through.
pub fn no_limiter_worker(fail_open: bool) -> &'static Worker {
    static CLOSED: OnceLock<Worker> = OnceLock::new();
    static OPEN: OnceLock<Worker> = OnceLock::new();
    let (cell, failure) = if fail_open {
        (&OPEN, "open")
    } else {
        (&CLOSED, "closed")
    };
    let options = WorkerOptions {
        authority: false,
        ..Default::default()
    };
    shared(cell, &[("RATE_LIMIT_FAILURE", failure)], options)
}

/// The policy of the credits instance: routes that cost 1 (the default), 2 and
/// nothing, and one that the tests' keys may not use.
pub const CREDITS_POLICY: &str = r#"{
  "unmatched": "deny",
  "routes": [
    {"method": "GET", "path": "/cheap/**", "scopes": ["api.read"]},
    {"method": "POST", "path": "/render/**", "scopes": ["api.read"], "cost": 2},
    {"method": "GET", "path": "/free/**", "scopes": [], "cost": 0},
    {"method": "GET", "path": "/admin/**", "scopes": ["api.admin"]}
  ]
}"#;

/// The vars of the credits instance. Leased admission by default, so that the
/// suite shows that a key with credits is spent exactly all the same.
const CREDITS_VARS: [(&str, &str); 4] = [
    ("POLICY", CREDITS_POLICY),
    ("ADMISSION", "leased"),
    ("RATE_LIMITS", "[]"),
    (
        "PLANS",
        r#"{"trial": {"limits": [], "credits": {"remaining": 3, "refill": {"interval": "monthly", "amount": 3}}}}"#,
    ),
];

/// The credits instance, shared.
pub fn credits_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    shared(&W, &CREDITS_VARS, WorkerOptions::default())
}

/// A credits instance of its own, on `state`, for restart tests.
pub fn private_credits_worker(state: &std::path::Path) -> Worker {
    Worker::start(with_vars(
        &CREDITS_VARS,
        WorkerOptions {
            state: Some(state.to_path_buf()),
            ..Default::default()
        },
    ))
}

/// A credits instance of its own on `state`, with `admission` (`exact` or
/// `leased`), for crash tests.
pub fn crash_worker(state: &std::path::Path, admission: &str) -> Worker {
    let mut vars = CREDITS_VARS.to_vec();
    vars.retain(|(k, _)| *k != "ADMISSION");
    vars.push(("ADMISSION", admission));
    Worker::start(with_vars(
        &vars,
        WorkerOptions {
            state: Some(state.to_path_buf()),
            ..Default::default()
        },
    ))
}

/// A credits instance of its own that sends low-credit notices (below 50%) to
/// `webhook`, signed with `secret`.
pub fn low_credits_worker(webhook: &str, secret: &str) -> Worker {
    let mut vars = CREDITS_VARS.to_vec();
    vars.extend([
        ("EXPIRY_WEBHOOK_URL", webhook),
        ("EXPIRY_WEBHOOK_SECRET", secret),
        ("EXPIRY_WEBHOOK_TIMEOUT", "2000"),
        ("CREDITS_LOW_PERCENT", "50"),
    ]);
    Worker::start(with_vars(&vars, WorkerOptions::default()))
}

/// A main-like instance of its own, on `state`, for restart tests.
pub fn private_worker(state: &std::path::Path) -> Worker {
    Worker::start(with_vars(
        &[],
        WorkerOptions {
            state: Some(state.to_path_buf()),
            ..Default::default()
        },
    ))
}

/// A private instance that sends expiry notices to `webhook`, signed with `secret`,
/// waiting at most 2 s for each answer.
pub fn notifying_worker(webhook: &str, secret: &str) -> Worker {
    let vars = [
        ("EXPIRY_WEBHOOK_URL", webhook),
        ("EXPIRY_WEBHOOK_SECRET", secret),
        ("EXPIRY_NOTICE_DAYS", "7,1"),
        ("EXPIRY_WEBHOOK_TIMEOUT", "2000"),
    ];
    Worker::start(with_vars(&vars, WorkerOptions::default()))
}

/// A policy for an origin that routes without regard to case, trailing dots or a
/// trailing slash (`case_insensitive`), letting any key through elsewhere.
pub fn case_insensitive_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let policy = r#"{"case_insensitive": true, "unmatched": "authenticate",
                     "public": ["/static/**"],
                     "routes": [{"method": "*", "path": "/internal/**", "deny": true},
                                {"method": "*", "path": "/admin", "deny": true},
                                {"method": "GET", "path": "/secrets/**", "scopes": ["secrets.read"]}]}"#;
    shared(&W, &[("POLICY", policy)], WorkerOptions::default())
}

/// Leased admission (`ADMISSION = "leased"`), with the object reachable or not
/// (no `KEY_AUTHORITY` binding: failing closed once no quota is held).
pub fn leased_worker(with_object: bool) -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    static NO_OBJECT: OnceLock<Worker> = OnceLock::new();
    let cell = if with_object { &W } else { &NO_OBJECT };
    let vars = [
        ("POLICY", POLICY),
        ("ADMISSION", "leased"),
        ("LEASE_TTL", "1000"),
        ("PLANS", PLANS),
    ];
    let options = WorkerOptions {
        authority: with_object,
        ..Default::default()
    };
    shared(cell, &vars, options)
}

/// Leased admission behind a switch that makes the key objects unreachable
/// (`tests/it/flaky.mjs`).
pub fn flaky_leased_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    flaky_leased(&W)
}

/// Another such instance, so that its switch is not thrown by a test running
/// beside it.
pub fn flaky_credits_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    flaky_leased(&W)
}

fn flaky_leased(cell: &'static OnceLock<Worker>) -> &'static Worker {
    let vars = [
        ("POLICY", POLICY),
        ("ADMISSION", "leased"),
        ("LEASE_TTL", "3000"),
    ];
    let options = WorkerOptions {
        main: Some("tests/it/flaky.mjs"),
        ..Default::default()
    };
    shared(cell, &vars, options)
}

/// Exact admission failing open, behind the switch of `tests/it/flaky.mjs`.
pub fn flaky_open_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    flaky_open(&W)
}

/// Another such instance, so that its switch is not thrown by a test running
/// beside it.
pub fn flaky_open_credits_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    flaky_open(&W)
}

fn flaky_open(cell: &'static OnceLock<Worker>) -> &'static Worker {
    let vars = [("POLICY", POLICY), ("RATE_LIMIT_FAILURE", "open")];
    let options = WorkerOptions {
        main: Some("tests/it/flaky.mjs"),
        ..Default::default()
    };
    shared(cell, &vars, options)
}

/// The main policy behind the switches of `tests/it/flaky.mjs`, for holding a
/// manager's directory changes while an admin's land.
pub fn held_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let options = WorkerOptions {
        main: Some("tests/it/flaky.mjs"),
        ..Default::default()
    };
    shared(&W, &[("POLICY", POLICY)], options)
}

/// Exact admission behind the switches of `tests/it/flaky.mjs`, for making
/// the worker or its key objects look like a later release's.
pub fn newer_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let options = WorkerOptions {
        main: Some("tests/it/flaky.mjs"),
        ..Default::default()
    };
    shared(&W, &[("POLICY", POLICY)], options)
}

/// The shipped configuration in front of the echo origin, for the console's
/// browser tests.
pub fn console_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    shared(&W, &[], WorkerOptions::default())
}

/// `CORS` for one browser origin, and a small rate limit to see a 429.
pub fn cors_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let vars = [
        ("POLICY", POLICY),
        (
            "CORS",
            r#"{"origins": ["https://app.example.com"], "max_age": 300}"#,
        ),
        (
            "RATE_LIMITS",
            r#"[{"name": "burst", "limit": 3, "window": "1h"}]"#,
        ),
    ];
    shared(&W, &vars, WorkerOptions::default())
}

/// An invalid `CORS` (credentials with any origin).
pub fn bad_cors_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let vars = [
        ("POLICY", POLICY),
        ("CORS", r#"{"origins": "*", "credentials": true}"#),
    ];
    shared(&W, &vars, WorkerOptions::default())
}

/// The WebSocket origin of [`ws_worker`].
pub fn ws_origin() -> &'static harness::WsOrigin {
    static O: OnceLock<harness::WsOrigin> = OnceLock::new();
    O.get_or_init(harness::WsOrigin::start)
}

/// The main policy in front of a WebSocket origin ([`ws_origin`]).
pub fn ws_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let vars = [
        ("ORIGIN_URL", ws_origin().url.as_str()),
        ("POLICY", POLICY),
        ("KEY_PREFIX", PREFIX),
    ];
    shared(&W, &vars, WorkerOptions::default())
}

/// An invalid `POLICY`.
pub fn misconfigured_worker() -> &'static Worker {
    static W: OnceLock<Worker> = OnceLock::new();
    let policy = r#"{"routes": [{"path": "documents", "scopes": []}]}"#;
    shared(&W, &[("POLICY", policy)], WorkerOptions::default())
}
