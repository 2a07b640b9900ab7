//! keyward: an API-key authorizer for the edge, as a Cloudflare Worker.
//!
//! # Layout
//!
//! The functional core is plain Rust that builds and tests natively; it never
//! performs I/O and never reads the clock (time is a `now` parameter):
//!
//! - [`key`]: key format, CRC32 checksum, generation and SHA-256 hashing.
//! - [`cors`]: browsers' cross-origin requests: preflights and response fields.
//! - [`credits`]: credits: amounts spent per request, refilled on a calendar.
//! - [`credential`]: the `Authorization: Bearer` credential.
//! - [`path`]: canonical request paths, judged and forwarded alike.
//! - [`scope`]: scope grammar and wildcard matching.
//! - [`policy`]: the route policy (`POLICY`): public, denied and scoped routes.
//! - [`record`]: the stored key record and its status at a given time.
//! - [`keystate`]: revocation and disabling as the key's Durable Object holds them.
//! - [`lease`]: leased admission: the object's book of leases, the isolate's holder.
//! - [`cache`]: a bounded TTL cache for key records within an isolate.
//! - [`expiry`]: expiry choices and RFC 3339 timestamps.
//! - [`notice`]: expiry notices: due thresholds, body, HMAC signature and verifier.
//! - [`signature`]: HMAC-SHA256 signature headers (`t=…,v1=…`), signing and verifying.
//! - [`ident`]: identifiers: team ids, plan and policy names, key ids.
//! - [`identity`]: the signed identity headers the origin receives, and their verifier.
//! - [`field`]: one invalid field, for the config, the policy and admin requests.
//! - [`config`]: vars and secrets, validated once, errors naming the field.
//! - [`decide`]: the request path's decisions, from facts and a record.
//! - [`actor`]: who calls the admin API, and the powers it may hand out.
//! - [`admin`]: the admin API's routes, validation and views.
//! - [`directory`]: a team's directory of keys: its calls, rotation, audit entries.
//! - [`ratelimit`]: rate-limit policies and fixed-window arithmetic.
//! - [`failopen`]: what an isolate admits alone when a key's object cannot answer.
//! - [`problem`]: RFC 9457 problem bodies; every code in one enum.
//! - [`usage`]: a key's usage figures and last outcomes.
//! - [`wire`]: reading the worker's and its Durable Objects' messages.
//!
//! The shell (`shell`, wasm32 only) is the only code that touches `worker::*`:
//! it gathers facts from the request and the bindings, calls the core, and turns
//! its decisions into responses.

pub mod actor;
pub mod admin;
pub mod cache;
pub mod config;
pub mod cors;
pub mod credential;
pub mod credits;
pub mod decide;
pub mod directory;
pub mod expiry;
pub mod failopen;
pub mod field;
pub mod ident;
pub mod identity;
pub mod key;
pub mod keystate;
pub mod lease;
pub mod notice;
pub mod path;
pub mod policy;
pub mod problem;
pub mod ratelimit;
pub mod record;
pub mod scope;
pub mod signature;
pub mod usage;
pub mod wire;

#[cfg(target_arch = "wasm32")]
mod shell;
