//! Answering a browser's CORS preflight at the edge ([`crate::cors`] decides).

use super::RawResponse;
use crate::config::Config;
use crate::cors::{Cors, Preflight};
use crate::policy::RouteDecision;
use crate::problem::{Code, Problem};
use worker::worker_sys::web_sys::{Headers, ResponseInit};

/// A preflight from `origin` for `asked` on `path`: `204` with the
/// `Access-Control-Allow-*` fields for an allowed origin, `403 ORIGIN_NOT_ALLOWED`
/// without them otherwise. No key is needed, and the origin is never called.
pub fn preflight(
    cors: &Cors,
    config: &Config,
    path: &str,
    origin: &str,
    asked: &str,
) -> Result<RawResponse, Problem> {
    let canonical = crate::path::canonicalize(path)
        .map_err(|e| Problem::new(Code::InvalidPath, e.message()))?;
    let routed = config.policy.judge(asked.trim(), &canonical) != RouteDecision::Deny;
    match cors.preflight(origin, asked, routed) {
        Preflight::Allowed(fields) => {
            let headers = Headers::new().map_err(|_| unavailable())?;
            for (name, value) in fields {
                let _ = headers.set(name, &value);
            }
            let init = ResponseInit::new();
            init.set_status(204);
            init.set_headers(&headers);
            RawResponse::new_with_opt_str_and_init(None, &init).map_err(|_| unavailable())
        }
        Preflight::Refused(fields) => {
            let mut p = Problem::new(
                Code::OriginNotAllowed,
                format!("CORS does not allow calls from pages of {origin}"),
            );
            for (name, value) in fields {
                p = p.header(name, value);
            }
            Err(p)
        }
    }
}

fn unavailable() -> Problem {
    super::runtime::unavailable("the runtime", "could not build a preflight response")
}
