//! keyward: an API-key authorizer for the edge, as a Cloudflare Worker.
//!
//! A functional core (every public module here: plain Rust, no I/O, time passed
//! in as `now`) under a thin shell (`shell`, wasm32 only, the one user of
//! `worker::*`). ARCHITECTURE.md holds the map of the modules and the
//! invariants they keep; `tests/tidy.rs` checks that it names every file.

pub mod admin;
pub mod admission;
pub mod cache;
pub mod change;
pub mod config;
pub mod console;
pub mod cors;
pub mod credential;
pub mod credits;
pub mod decide;
pub mod directory;
pub mod expiry;
pub mod failopen;
pub mod field;
pub mod forward;
pub mod ident;
pub mod identity;
pub mod key;
pub mod keyobject;
pub mod keystate;
pub mod lease;
pub mod locator;
pub mod notice;
pub mod path;
pub mod policy;
pub mod problem;
pub mod ratelimit;
pub mod record;
pub mod schema;
pub mod scope;
pub mod signature;
pub mod usage;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod shell;
