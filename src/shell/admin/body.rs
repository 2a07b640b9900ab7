//! An admin request's body, read with a bound.

use super::super::runtime;
use crate::admin;
use crate::problem::Problem;
use futures_util::StreamExt;
use worker::Request;

/// Reads at most `admin::MAX_BODY` bytes plus one: the plan refuses a body
/// larger than that, after judging the team.
pub(super) async fn read_body(req: &mut Request) -> Result<Vec<u8>, Problem> {
    let mut body = Vec::new();
    let Ok(mut stream) = req.stream() else {
        return Ok(body);
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| runtime::unavailable("request body", e))?;
        body.extend_from_slice(&chunk);
        if body.len() > admin::MAX_BODY {
            break;
        }
    }
    Ok(body)
}
