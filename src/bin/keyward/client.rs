//! The admin API over HTTP: one call and its JSON reply, or why it failed and the
//! exit code that says so.

use crate::args::Call;
use serde_json::{json, Value};
use std::time::Duration;

/// Why a command failed.
#[derive(Debug)]
pub enum Failure {
    /// A usage error found after parsing (exit 2).
    Usage(String),
    /// The API answered with a status other than 2xx.
    Api {
        /// HTTP status.
        status: u16,
        /// The RFC 9457 problem, when the body is one.
        problem: Option<Value>,
        /// Otherwise, what the reply said.
        text: String,
    },
    /// No usable reply: no connection, a timeout, TLS, or a body that is not JSON.
    Transport(String),
}

impl Failure {
    /// 2 usage, 3 denied (401, 403), 4 another client error, 5 a server error or
    /// no usable reply.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Api {
                status: 401 | 403, ..
            } => 3,
            Failure::Api {
                status: 400..=499, ..
            } => 4,
            Failure::Api { .. } | Failure::Transport(_) => 5,
        }
    }

    /// What to print on stderr: `error: <CODE>: <detail>`, then one line per field.
    pub fn message(&self) -> String {
        match self {
            Failure::Usage(msg) => format!("error: {msg}"),
            Failure::Transport(msg) => format!("error: no usable reply: {msg}"),
            Failure::Api {
                problem: Some(p), ..
            } => {
                let detail = p["detail"].as_str().or(p["title"].as_str()).unwrap_or("");
                let mut out = format!("error: {}: {detail}", p["code"].as_str().unwrap_or(""));
                for e in p["errors"].as_array().into_iter().flatten() {
                    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
                    out += &format!("\n  {}: {}", text(&e["field"]), text(&e["message"]));
                }
                if let Some(id) = p["request_id"].as_str() {
                    out += &format!("\n  request id: {id}");
                }
                out
            }
            Failure::Api { status, text, .. } => format!("error: HTTP {status}: {text}"),
        }
    }
}

/// A client of one worker's admin API.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    /// A client of the worker at `url`; an error is a usage error. Requests time
    /// out after 30 s; redirects are not followed (they would carry the token).
    pub fn new(url: &str, token: String) -> Result<Client, String> {
        let url = url.trim_end_matches('/');
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        if host.is_none_or(|h| h.is_empty() || h.contains(['?', '#', ' '])) {
            return Err(format!(
                "{url:?} is not a worker URL: give http(s)://host[:port], as in https://api.example.com"
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("KEYWARD_ADMIN_TOKEN holds spaces or non-ASCII characters".into());
        }
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .redirects(0)
            .user_agent(concat!("keyward-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base: format!("{url}/_keyward/v1"),
            token,
        })
    }

    /// `text` with the token replaced, should anything ever echo it.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.token, "[redacted]")
    }

    /// Makes one call and returns its JSON reply.
    pub fn call(&self, call: &Call) -> Result<Value, Failure> {
        let mut req = self
            .agent
            .request(call.method, &format!("{}{}", self.base, call.path))
            .set("authorization", &format!("Bearer {}", self.token))
            .set("accept", "application/json");
        for (name, value) in &call.query {
            req = req.query(name, value);
        }
        let reply = match &call.body {
            Some(body) => req.send_json(body),
            None => req.call(),
        };
        match reply {
            Ok(r) if (200..300).contains(&r.status()) => r
                .into_json()
                .map_err(|e| Failure::Transport(format!("the reply is not JSON: {e}"))),
            Ok(r) | Err(ureq::Error::Status(_, r)) => Err(failure(r)),
            Err(ureq::Error::Transport(t)) => Err(Failure::Transport(t.to_string())),
        }
    }

    /// Makes a list call and the calls for every further page; returns all items.
    pub fn call_all(&self, mut call: Call) -> Result<Value, Failure> {
        let mut items = Vec::new();
        loop {
            let mut page = self.call(&call)?;
            if let Value::Array(more) = page["items"].take() {
                items.extend(more);
            }
            match page["next_cursor"].as_str() {
                // A cursor that repeats would never end.
                Some(next) if !call.query.iter().any(|(k, v)| *k == "cursor" && v == next) => {
                    call = call.with_cursor(next)
                }
                _ => break,
            }
        }
        Ok(json!({ "items": items, "next_cursor": null }))
    }
}

/// An error reply: its problem body, or a line about what came instead.
fn failure(r: ureq::Response) -> Failure {
    let status = r.status();
    let location = r.header("location").map(str::to_string);
    let body = r.into_string().unwrap_or_default();
    let problem = serde_json::from_str::<Value>(&body)
        .ok()
        .filter(|p| p["code"].is_string());
    let text = match location {
        Some(to) => format!("redirected to {to}; use that URL"),
        None => summary(&body),
    };
    Failure::Api {
        status,
        problem,
        text,
    }
}

/// The first line of a body that is not a problem, at most 200 characters.
fn summary(body: &str) -> String {
    let line = body.trim().lines().next().unwrap_or("(empty body)");
    line.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, body: &str) -> Failure {
        Failure::Api {
            status,
            problem: serde_json::from_str::<Value>(body)
                .ok()
                .filter(|p| p["code"].is_string()),
            text: summary(body),
        }
    }

    #[track_caller]
    fn check(failure: Failure, code: u8, message: &str) {
        assert_eq!(
            (failure.exit_code(), failure.message().as_str()),
            (code, message)
        );
    }

    #[test]
    #[rustfmt::skip]
    fn exit_codes_and_messages() {
        check(Failure::Usage("bad".into()), 2, "error: bad");
        check(api(401, r#"{"code":"INVALID_KEY","detail":"no such key"}"#), 3, "error: INVALID_KEY: no such key");
        check(api(403, r#"{"code":"FORBIDDEN","detail":"d","request_id":"r1"}"#), 3, "error: FORBIDDEN: d\n  request id: r1");
        check(api(400, r#"{"code":"VALIDATION_FAILED","detail":"d","errors":[{"field":"name","message":"is required"},{"field":"scopes[0]","message":"bad"}]}"#), 4, "error: VALIDATION_FAILED: d\n  name: is required\n  scopes[0]: bad");
        check(api(404, r#"{"code":"NOT_FOUND","title":"Not found"}"#), 4, "error: NOT_FOUND: Not found");
        check(api(405, r#"{"code":"METHOD_NOT_ALLOWED","detail":"d"}"#), 4, "error: METHOD_NOT_ALLOWED: d");
        check(api(409, r#"{"code":"CONFLICT","detail":"d"}"#), 4, "error: CONFLICT: d");
        check(api(413, r#"{"code":"PAYLOAD_TOO_LARGE","detail":"d"}"#), 4, "error: PAYLOAD_TOO_LARGE: d");
        check(api(429, r#"{"code":"RATE_LIMITED","detail":"d"}"#), 4, "error: RATE_LIMITED: d");
        check(api(500, r#"{"code":"MISCONFIGURED","detail":"d"}"#), 5, "error: MISCONFIGURED: d");
        check(api(503, r#"{"code":"UNAVAILABLE","detail":"d"}"#), 5, "error: UNAVAILABLE: d");
        check(api(502, "<html>\n<h1>Bad gateway</h1>"), 5, "error: HTTP 502: <html>");
        check(api(404, ""), 4, "error: HTTP 404: (empty body)");
        check(api(301, "moved"), 5, "error: HTTP 301: moved");
        check(Failure::Transport("connection refused".into()), 5, "error: no usable reply: connection refused");
    }

    #[track_caller]
    fn check_url(url: &str, base: Result<&str, ()>) {
        let got = Client::new(url, "t".into()).map(|c| c.base);
        assert_eq!(got.as_deref().map_err(|_| ()), base, "{url}");
    }

    #[test]
    #[rustfmt::skip]
    fn urls() {
        check_url("https://api.example.com", Ok("https://api.example.com/_keyward/v1"));
        check_url("http://127.0.0.1:8787/", Ok("http://127.0.0.1:8787/_keyward/v1"));
        check_url("api.example.com", Err(()));
        check_url("ftp://api.example.com", Err(()));
        check_url("https://", Err(()));
        check_url("https://api.example.com/?x=1", Err(()));
    }

    #[test]
    fn tokens_are_redacted_and_checked() {
        let c = Client::new("http://h", "s3cret".into()).unwrap();
        assert_eq!(c.redact("a s3cret b"), "a [redacted] b");
        assert!(Client::new("http://h", "a b".into()).is_err());
        assert!(Client::new("http://h", "tök".into()).is_err());
    }
}
