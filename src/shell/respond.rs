//! Turning core values into responses: problem+json, JSON.

use crate::problem::{Code, Problem};
use serde_json::Value;
use worker::{Headers, Response};

/// An `application/problem+json` response for `problem`.
pub fn problem(problem: &Problem, type_base: &str, request_id: &str) -> Response {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/problem+json");
    let _ = headers.set("cache-control", "no-store");
    let _ = headers.set(crate::cors::REQUEST_ID_HEADER, request_id);
    if let Some(challenge) = problem.www_authenticate() {
        let _ = headers.set("www-authenticate", &challenge);
    }
    for (name, value) in &problem.headers {
        let _ = headers.set(name, value);
    }
    if problem.code == Code::MethodNotAllowed {
        if let Some(allow) = problem.extensions.get("allow").and_then(Value::as_str) {
            let _ = headers.set("allow", allow);
        }
    }
    Response::from_bytes(problem.body(type_base, request_id).into_bytes())
        .unwrap_or_else(|_| Response::empty().expect("an empty response"))
        .with_status(problem.status())
        .with_headers(headers)
}

/// An `application/json` response.
pub fn json(status: u16, value: &Value) -> Result<Response, Problem> {
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", "no-store");
    Response::from_bytes(value.to_string().into_bytes())
        .map(|r| r.with_status(status).with_headers(headers))
        .map_err(|e| super::runtime::unavailable("response", e))
}
