//! What a key's owner sees of its use: its usage figures and its last request
//! outcomes, as the key's Durable Object keeps them and isolates report them.

use serde::{Deserialize, Serialize};

/// Outcomes kept per key, newest last.
pub const OUTCOMES_KEPT: usize = 50;
/// Longest path kept in an outcome (longer ones are cut, marked with `…`).
pub const OUTCOME_PATH_LEN: usize = 256;

/// One request as the key's owner sees it when troubleshooting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The method.
    pub method: String,
    /// The canonical path, without the query.
    pub path: String,
    /// The status keyward answered with; `None` for a request forwarded to the
    /// origin (whose own status is the origin's business).
    pub status: Option<u16>,
    /// The problem code of a refusal; `None` when forwarded.
    pub code: Option<crate::problem::Code>,
}

/// Usage figures of one key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Unix seconds of the last request that was let through.
    pub last_used_at: Option<i64>,
    /// Requests let through.
    pub requests: u64,
    /// Requests refused after the key was recognised.
    pub denied: u64,
}

/// `path`, cut to [`OUTCOME_PATH_LEN`] bytes (on a character boundary) and marked
/// with `…` when longer. Cutting a cut path changes nothing.
pub fn cut_path(path: &str) -> String {
    if path.len() <= OUTCOME_PATH_LEN {
        return path.to_string();
    }
    let mut end = OUTCOME_PATH_LEN;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &path[..end])
}
