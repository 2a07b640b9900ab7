//! WebSockets end to end: a real WebSocket client through keyward to a real
//! WebSocket origin. An upgrade is authorized like any request and counts as one;
//! its key may come in `Authorization` or as the subprotocol `keyward.bearer.<key>`,
//! which never reaches the origin or the logs.

use crate::harness::fresh_team;
use crate::{ws_origin, ws_worker};
use serde_json::json;
use std::net::TcpStream;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

type Socket = WebSocket<TcpStream>;

/// Opens a WebSocket to `path` on the worker with these extra headers.
fn open(
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    let w = ws_worker();
    let url = format!("{}{path}", w.url.replacen("http://", "ws://", 1));
    let mut req = url.as_str().into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    let stream = TcpStream::connect(w.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    tungstenite::client(req, stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => panic!("interrupted handshake"),
    })
}

fn round_trip(ws: &mut Socket, text: &str) -> String {
    ws.send(Message::text(text)).unwrap();
    loop {
        match ws.read().unwrap() {
            Message::Text(t) => return t.to_string(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// What the origin saw of the upgrade of `path`.
fn seen_at(path: &str) -> Vec<(String, String)> {
    ws_origin()
        .seen()
        .into_iter()
        .find(|h| header(h, ":path") == Some(path))
        .expect("the upgrade reached the origin")
}

fn header<'a>(seen: &'a [(String, String)], name: &str) -> Option<&'a str> {
    seen.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn key(scopes: serde_json::Value, extra: serde_json::Value) -> (String, String) {
    let mut body = json!({"name": "socket", "scopes": scopes});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (key, reply) = ws_worker().issue(&fresh_team("ws"), body);
    (key, reply["id"].as_str().unwrap().to_string())
}

#[test]
fn messages_flow_both_ways_with_the_key_in_authorization() {
    let (key, id) = key(json!(["documents.read"]), json!({}));
    let path = format!("/documents/socket-{id}");
    let (mut ws, resp) = open(&path, &[("authorization", &format!("Bearer {key}"))]).unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(round_trip(&mut ws, "hello"), "echo: hello");
    assert_eq!(round_trip(&mut ws, "again"), "echo: again");
    let _ = ws.close(None);
    let seen = seen_at(&path);
    let seen = &seen;
    assert_eq!(header(seen, "x-keyward-key-id"), Some(id.as_str()));
    assert_eq!(header(seen, "authorization"), None);
}

#[test]
fn a_browser_sends_the_key_as_a_subprotocol_which_never_goes_further() {
    let (key, id) = key(json!(["documents.read"]), json!({}));
    let path = format!("/documents/socket-{id}");
    let offered = format!("keyward.bearer.{key}, chat");
    let (mut ws, resp) = open(&path, &[("sec-websocket-protocol", &offered)]).unwrap();
    // The origin chose a real subprotocol, and that choice comes back.
    assert_eq!(
        resp.headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok()),
        Some("chat")
    );
    assert_eq!(round_trip(&mut ws, "hi"), "echo: hi");
    let _ = ws.close(None);
    let seen = seen_at(&path);
    let seen = &seen;
    assert_eq!(header(seen, "sec-websocket-protocol"), Some("chat"));
    assert_eq!(header(seen, "x-keyward-key-id"), Some(id.as_str()));
    assert!(
        !seen.iter().any(|(_, v)| v.contains(&key)),
        "the key reached the origin: {seen:?}"
    );
    let logs = ws_worker().logs();
    assert!(!logs.contains(&key), "the key is in the logs");
}

#[test]
fn a_refused_upgrade_never_reaches_the_origin_and_an_upgrade_counts_once() {
    // No key, a key without the scope, a denied route, a key in both places.
    let (reader, _) = key(json!(["documents.read"]), json!({}));
    let (writer, _) = key(json!(["documents.write"]), json!({}));
    let both = format!("keyward.bearer.{reader}, chat");
    let bearer = format!("Bearer {reader}");
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: [Case; 4] = [
        ("/documents/refused", vec![], 401),
        (
            "/documents/refused",
            vec![
                ("sec-websocket-protocol", &both),
                ("authorization", &bearer),
            ],
            401,
        ),
        ("/internal/refused", vec![("authorization", &bearer)], 403),
        (
            "/documents/refused",
            vec![("sec-websocket-protocol", "chat")],
            401,
        ),
    ];
    for (path, headers, status) in &cases {
        match open(path, headers) {
            Err(tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status(), *status, "{path} {headers:?}");
                assert_eq!(
                    resp.headers()
                        .get("content-type")
                        .and_then(|v| v.to_str().ok()),
                    Some("application/problem+json")
                );
            }
            other => panic!("{path}: {:?}", other.map(|(_, r)| r.status())),
        }
    }
    let writer_bearer = format!("Bearer {writer}");
    match open("/documents/refused", &[("authorization", &writer_bearer)]) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("{:?}", other.map(|(_, r)| r.status())),
    }
    let reached = ws_origin()
        .seen()
        .iter()
        .filter(|h| header(h, ":path").is_some_and(|p| p.ends_with("/refused")))
        .count();
    assert_eq!(reached, 0, "a refused upgrade reached the origin");
    // An upgrade is one request against the key's limits.
    let (once, _) = key(
        json!(["documents.read"]),
        json!({"rate_limits": [{"name": "once", "limit": 1, "window": "1h"}]}),
    );
    let once = format!("Bearer {once}");
    let (mut ws, _) = open("/documents/socket", &[("authorization", &once)]).unwrap();
    assert_eq!(round_trip(&mut ws, "one"), "echo: one");
    assert_eq!(round_trip(&mut ws, "two"), "echo: two");
    let _ = ws.close(None);
    match open("/documents/socket", &[("authorization", &once)]) {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 429),
        other => panic!("{:?}", other.map(|(_, r)| r.status())),
    }
}

#[test]
fn an_origin_that_answers_an_upgrade_plainly_still_works() {
    let (key, _) = key(json!(["documents.read"]), json!({}));
    let head = format!(
        "GET /documents/plain HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {key}\r\n"
    );
    let r = crate::harness::raw_request(&ws_worker().url, head.as_bytes(), b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.body, b"plain");
}
