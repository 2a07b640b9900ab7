//! The worker's calls to a key chain's object (`KeyAuthority`) over Workers RPC:
//! one function a call, each with its message and answer.

use super::super::runtime;
use crate::credits::CreditsChange;
use crate::keyobject::{CreditsCall, CreditsChanged, UsageQuery, UsageReport};
use crate::keystate::{Admission, Answer, KeyState, StateChange};
use crate::lease::{LeaseAnswer, LeaseRequest};
use crate::problem::Problem;
use worker::{Env, Result};

/// The binding of the `KeyAuthority` namespace.
pub const BINDING: &str = "KEY_AUTHORITY";

/// The fail-closed problem for a key authority that cannot be reached (logged).
pub fn unavailable(e: worker::Error) -> Problem {
    runtime::unavailable("the key authority (Durable Object KEY_AUTHORITY)", e)
}

/// Asks the object named `authority` to admit (or record) one request.
/// At most `timeout_ms` (`AUTHORITY_TIMEOUT`) is spent waiting: a slow object is a
/// failing one.
pub async fn admit(
    env: &Env,
    authority: Object<'_>,
    admission: &Admission,
    timeout_ms: u32,
) -> Result<Answer> {
    let body = serde_json::to_string(admission)?;
    let deadline = (timeout_ms, "AUTHORITY_TIMEOUT");
    call(env, authority, "admit", &body, Some(deadline)).await
}

/// An isolate's lease call (leased admission), waiting at most `timeout_ms`.
pub async fn lease(
    env: &Env,
    authority: Object<'_>,
    request: &LeaseRequest,
    timeout_ms: u32,
) -> Result<LeaseAnswer> {
    let body = serde_json::to_string(request)?;
    let deadline = (timeout_ms, "AUTHORITY_TIMEOUT");
    call(env, authority, "lease", &body, Some(deadline)).await
}

/// Tells the object about a revocation or an enable/disable of one of its keys.
pub async fn change(env: &Env, authority: Object<'_>, change: &StateChange) -> Result<KeyState> {
    call(
        env,
        authority,
        "state",
        &serde_json::to_string(change)?,
        None,
    )
    .await
}

/// Changes the chain's credits at its object, which is created if the key never
/// reached it (it then reads the key's record from the team directory first).
pub async fn credits(
    env: &Env,
    authority: Object<'_>,
    record: &crate::record::KeyRecord,
    change: CreditsChange,
) -> Result<CreditsChanged> {
    let c = CreditsCall {
        key: record.id.clone(),
        team: record.team.clone(),
        change,
    };
    call(env, authority, "credits", &serde_json::to_string(&c)?, None).await
}

/// One key's usage, and its last outcomes when asked.
pub async fn usage(
    env: &Env,
    authority: Object<'_>,
    key: &str,
    outcomes: bool,
) -> Result<UsageReport> {
    let q = UsageQuery {
        key: key.to_string(),
        outcomes,
    };
    call(env, authority, "usage", &serde_json::to_string(&q)?, None).await
}

/// A key chain's object: its name (the chain's first key id) and the region it
/// is created in, if this call creates it.
pub type Object<'a> = (&'a str, Option<&'a str>);

/// The object of `record`'s chain.
pub fn object<'a>(
    record: &'a crate::record::KeyRecord,
    config: &'a crate::config::Config,
) -> Object<'a> {
    (record.chain(), crate::decide::region(record, config))
}

/// One call to the object, waiting at most until `deadline`.
async fn call<T: serde::de::DeserializeOwned>(
    env: &Env,
    (authority, region): Object<'_>,
    method: &str,
    message: &str,
    deadline: Option<runtime::Deadline<'_>>,
) -> Result<T> {
    runtime::call_object(
        env,
        (BINDING, authority, region),
        method,
        message,
        "key authority",
        deadline,
    )
    .await
}
