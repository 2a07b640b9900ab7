//! What the origin receives besides the body: the one policy that says which of a
//! client's headers are passed on, and which keyward drops, replaces or sets.
//!
//! [`outgoing`] is the whole policy. The shell lists the client's header names
//! (lowercase, as the runtime gives them), copies the headers without the ones
//! this drops, and sets the ones this sets. Every rule below compares names in
//! one way only, after one check that makes it safe to:
//!
//! - **A name that is not a plain token of letters, digits and `-` is dropped.**
//!   CGI, PHP, WSGI and Rack turn every other byte of a name into `_`, so that
//!   `X.Keyward.Subject`, `X_Keyward_Subject` and `X~Keyward~Subject` all reach
//!   them as `HTTP_X_KEYWARD_SUBJECT`. Apache 2.4 and nginx drop such names by
//!   default too. Once only `[a-z0-9-]` names remain, no two spellings meet at an
//!   origin, and each rule below is an exact, lowercase comparison.
//! - Hop-by-hop headers (RFC 9110 §7.6.1), `Host`, and every name that the
//!   client's `Connection` lists, are dropped.
//! - Every `X-Keyward-*` of the client's is dropped: those names are keyward's.
//! - Overrides of the method or path that keyward judged are dropped
//!   ([`OVERRIDES`]).
//! - What the client asserts about where it is, its scheme, host, port or
//!   prefix is dropped ([`ASSERTED`], every `X-Forwarded-*` and `Forwarded`);
//!   keyward sets `X-Forwarded-For`, `-Proto` and `-Host`, `X-Real-IP` and
//!   `True-Client-IP` from what it knows itself.
//! - `Authorization` is dropped unless `FORWARD_AUTHORIZATION` is on.
//! - A WebSocket's key subprotocol never leaves: `Sec-WebSocket-Protocol` is
//!   replaced by the real subprotocols, or dropped when none is left.

use crate::config::Config;
use crate::identity;
use crate::record::KeyRecord;
use serde_json::Value;
use std::net::IpAddr;

/// Headers that never travel between a client and the origin through keyward:
/// hop-by-hop headers (RFC 9110 §7.6.1) and the host, which the fetch sets.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
];

/// Headers that make an origin act on another method or path than the one
/// keyward judged (method overrides, rewrites): never forwarded from a client.
pub const OVERRIDES: &[&str] = &[
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-original-method",
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-override-url",
    "x-envoy-original-path",
];

/// Headers by which a client asserts its address, scheme, host, port or path
/// prefix, and which common origin middleware trusts (go-chi's `RealIP`,
/// Werkzeug's `ProxyFix`, Spring's `ForwardedHeaderFilter`, Rack, ASP.NET):
/// never forwarded from a client. Every `X-Forwarded-*` is dropped too
/// ([`is_asserted`]).
pub const ASSERTED: &[&str] = &[
    "forwarded",
    "forwarded-for",
    "x-forwarded",
    "true-client-ip",
    "x-real-ip",
    "x-client-ip",
    "client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "x-originating-ip",
    "x-remote-ip",
    "x-remote-addr",
    "x-proxyuser-ip",
    "fastly-client-ip",
    "x-envoy-external-address",
    "front-end-https",
    "x-url-scheme",
    "x-scheme",
    "x-arr-ssl",
    "x-host",
    "x-original-host",
    "x-http-host-override",
];

/// Whether a (lowercase, plain) name asserts where the client is or what URL it
/// used: [`ASSERTED`], and every `X-Forwarded-*` (`-Port`, `-Prefix`, `-Ssl`,
/// `-Scheme`, `-Server`, `-Uri`, `-Path`, and the three keyward sets itself).
pub fn is_asserted(name: &str) -> bool {
    name.starts_with("x-forwarded-") || ASSERTED.contains(&name)
}

/// Whether a header name is a plain token: ASCII letters, digits and `-` only,
/// not empty. The one spelling check of the policy: any other byte is `_` to a
/// CGI origin.
pub fn is_plain(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Why a client's header is not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    /// Not a plain token ([`is_plain`]).
    NotPlain,
    /// Hop-by-hop, `Host`, or named by the client's `Connection`.
    HopByHop,
    /// `X-Keyward-*`: keyward's own names.
    Keyward,
    /// A method or path override ([`OVERRIDES`]).
    Override,
    /// An address, scheme, host or prefix the client asserts ([`is_asserted`]).
    Asserted,
    /// `Authorization`, unless `FORWARD_AUTHORIZATION` is on.
    Authorization,
}

/// The fate of one client header (by its lowercase name): `None` forwarded as
/// it is, else why not. `connection` is the client's `Connection` header, whose
/// tokens name more hop-by-hop headers.
pub fn judge(name: &str, forward_authorization: bool, connection: Option<&str>) -> Option<Dropped> {
    if !is_plain(name) {
        return Some(Dropped::NotPlain);
    }
    let name_is = |other: &str| other.eq_ignore_ascii_case(name);
    if name
        .get(..10)
        .is_some_and(|p| p.eq_ignore_ascii_case("x-keyward-"))
    {
        Some(Dropped::Keyward)
    } else if HOP_BY_HOP.iter().any(|h| name_is(h))
        || connection.is_some_and(|c| c.split(',').any(|t| name_is(t.trim())))
    {
        Some(Dropped::HopByHop)
    } else if OVERRIDES.iter().any(|h| name_is(h)) {
        Some(Dropped::Override)
    } else if is_asserted(&name.to_ascii_lowercase()) {
        Some(Dropped::Asserted)
    } else if name_is("authorization") && !forward_authorization {
        Some(Dropped::Authorization)
    } else {
        None
    }
}

/// What keyward knows of the client's request, for the headers it sets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Client<'a> {
    /// The client's header names, lowercase, one per line (as the runtime lists them).
    pub names: &'a str,
    /// The client's `Connection` header.
    pub connection: Option<&'a str>,
    /// The client's `X-Forwarded-For`, kept under `FORWARDED_FOR = "append"`.
    pub forwarded_for: Option<&'a str>,
    /// The client's address as Cloudflare saw it (`CF-Connecting-IP`).
    pub ip: Option<IpAddr>,
    /// The scheme and host of the URL the client used (`scheme://host[:port]`).
    pub origin: &'a str,
    /// A WebSocket upgrade: forwarded as one.
    pub websocket: bool,
    /// When the request had `Sec-WebSocket-Protocol`: the real subprotocols, with
    /// any `keyward.bearer.` entry removed (`None`: none left, the header goes).
    pub protocols: Option<Option<&'a str>>,
}

/// What the forwarded request is stamped with.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The request's id (`X-Keyward-Request-Id`).
    pub request_id: &'a str,
    /// The method forwarded.
    pub method: &'a str,
    /// The canonical path forwarded (without the query).
    pub path: &'a str,
    /// Now, in Unix seconds, for the identity's signature.
    pub now_s: i64,
}

/// The headers of the request the origin receives: the client's, less `drop`,
/// with `set` set (replacing any of the client's of that name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outgoing<'a> {
    /// The client's header names (as listed) that are not forwarded.
    pub drop: Vec<&'a str>,
    /// The headers keyward sets, lowercase names.
    pub set: Vec<(&'static str, String)>,
}

/// The forwarding policy: which of the client's headers are dropped, and which
/// headers keyward sets (the identity of `record`, the request id, the
/// forwarded fields, the WebSocket's, and the identity's signature).
pub fn outgoing<'a>(
    config: &Config,
    client: &Client<'a>,
    record: Option<&KeyRecord>,
    stamp: &Stamp<'_>,
) -> Outgoing<'a> {
    let drop = client
        .names
        .split('\n')
        .filter(|name| {
            !name.is_empty()
                && judge(name, config.forward_authorization, client.connection).is_some()
        })
        .collect();
    let mut set = record.map(identity_headers).unwrap_or_default();
    set.push(("x-keyward-request-id", stamp.request_id.to_string()));
    set.extend(address_headers(
        client.ip,
        client.forwarded_for,
        config.forwarded_for_append,
        client.origin,
    ));
    let mut out = Outgoing { drop, set };
    match client.protocols {
        Some(Some(real)) => out.set.push(("sec-websocket-protocol", real.to_string())),
        Some(None) => out.drop.push("sec-websocket-protocol"),
        None => {}
    }
    // An upgrade goes on as an upgrade: the runtime makes the handshake with the
    // origin, and the origin's 101 and its socket come back to the client.
    if client.websocket {
        out.set.push(("upgrade", "websocket".to_string()));
    }
    if let Some(secret) = &config.identity_secret {
        let signed_path = identity::origin_path(&config.origin_url, stamp.path);
        let lookup = |name: &str| {
            out.set
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        let sig = identity::sign(
            secret.0.as_bytes(),
            stamp.now_s,
            stamp.method,
            &signed_path,
            lookup,
        );
        out.set.push((identity::SIGNATURE_HEADER, sig));
    }
    out
}

/// The identity headers that the origin receives for an authorized key.
pub fn identity_headers(record: &KeyRecord) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("x-keyward-key-id", record.id.clone()),
        ("x-keyward-team", record.team.clone()),
        ("x-keyward-scopes", record.scopes.join(" ")),
    ];
    if let Some(subject) = &record.subject {
        headers.push(("x-keyward-subject", subject.clone()));
    }
    if let Some(meta) = &record.meta {
        headers.push(("x-keyward-meta", ascii_json(&Value::Object(meta.clone()))));
    }
    headers
}

/// Compact JSON with every non-ASCII character escaped (`\uXXXX`, surrogate pairs
/// above the BMP), so that it is a valid header value.
pub fn ascii_json(value: &Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

/// The address and URL fields the origin receives, all keyward's own:
/// - `X-Forwarded-For`: the client's address (`CF-Connecting-IP`), appended to the
///   client's own value when `append` (`FORWARDED_FOR = "append"`), alone
///   otherwise. Without an address, `append` passes the client's value on and
///   `replace` sends none.
/// - `X-Real-IP` and `True-Client-IP`: the client's address, or none. (In a
///   Worker's subrequest to its own zone, Cloudflare takes the origin's
///   `CF-Connecting-IP` from `X-Real-IP`.)
/// - `X-Forwarded-Proto` and `X-Forwarded-Host`: the scheme and host of the URL
///   the client used (`scheme://host[:port]`).
pub fn address_headers(
    client_ip: Option<IpAddr>,
    client_xff: Option<&str>,
    append: bool,
    origin: &str,
) -> Vec<(&'static str, String)> {
    let mut headers = Vec::with_capacity(5);
    let sent = client_xff
        .map(str::trim)
        .filter(|v| !v.is_empty() && append);
    let xff = match (sent, client_ip) {
        (Some(sent), Some(ip)) => Some(format!("{sent}, {ip}")),
        (Some(sent), None) => Some(sent.to_string()),
        (None, Some(ip)) => Some(ip.to_string()),
        (None, None) => None,
    };
    if let Some(xff) = xff {
        headers.push(("x-forwarded-for", xff));
    }
    if let Some(ip) = client_ip {
        headers.push(("x-real-ip", ip.to_string()));
        headers.push(("true-client-ip", ip.to_string()));
    }
    if let Some((scheme, host)) = origin.split_once("://") {
        headers.push(("x-forwarded-proto", scheme.to_string()));
        headers.push(("x-forwarded-host", host.to_string()));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn config(vars: &[(&str, Value)]) -> Config {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .or_else(|| match name {
                    "POLICY" => Some(json!({})),
                    "ORIGIN_URL" => Some(json!("https://origin.example/api")),
                    _ => None,
                })
        })
        .unwrap()
    }

    fn record() -> KeyRecord {
        KeyRecord {
            id: "key_1".into(),
            team: "acme".into(),
            subject: Some("user_9".into()),
            scopes: vec!["documents.read".into(), "audit.log".into()],
            meta: json!({"tier": "gold"}).as_object().cloned(),
            enabled: true,
            ..Default::default()
        }
    }

    /// What the origin receives of a client that sent `sent` (name, value):
    /// the forwarded headers and the ones keyward set, by name.
    fn forwarded(
        config: &Config,
        sent: &[(&str, &str)],
        record: Option<&KeyRecord>,
        ws: Option<Option<&str>>,
    ) -> Vec<(String, String)> {
        let names: Vec<String> = sent.iter().map(|(n, _)| n.to_ascii_lowercase()).collect();
        let names = names.join("\n");
        let get = |want: &str| sent.iter().find(|(n, _)| n.eq_ignore_ascii_case(want));
        let client = Client {
            names: &names,
            connection: get("connection").map(|(_, v)| *v),
            forwarded_for: get("x-forwarded-for").map(|(_, v)| *v),
            ip: get("cf-connecting-ip").and_then(|(_, v)| v.parse().ok()),
            origin: "https://api.example.com:8443",
            websocket: ws.is_some(),
            protocols: ws,
        };
        let stamp = Stamp {
            request_id: "req_1",
            method: "GET",
            path: "/documents/1",
            now_s: 1_800_000_000,
        };
        let out = outgoing(config, &client, record, &stamp);
        let mut got: Vec<(String, String)> = sent
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .filter(|(n, _)| !out.drop.contains(&n.as_str()))
            .filter(|(n, _)| !out.set.iter().any(|(s, _)| s == n))
            .collect();
        got.extend(out.set.iter().map(|(n, v)| (n.to_string(), v.clone())));
        got
    }

    #[track_caller]
    fn check(name: &str, forward_auth: bool, connection: Option<&str>, expected: Option<Dropped>) {
        assert_eq!(
            judge(name, forward_auth, connection),
            expected,
            "{name} {connection:?}"
        );
    }

    /// Every header keyward drops, by class, and what it passes on.
    #[test]
    fn the_fate_of_every_client_header() {
        use Dropped::*;
        // Passed on as they are.
        for name in [
            "accept",
            "content-type",
            "cookie",
            "user-agent",
            "x-custom",
            "x-request-id",
            "cf-connecting-ip",
            "sec-websocket-key",
            "origin",
            "x-keyward",
        ] {
            check(name, false, None, None);
        }
        check("X-Custom", false, None, None);
        // Any byte but a letter, a digit or '-': every punctuation byte a token
        // may hold (RFC 9110 tchar), in the middle, in front and at the end.
        for p in "!#$%&'*+.^_`|~".chars() {
            for name in [
                format!("x{p}keyward{p}subject"),
                format!("x-custom{p}name"),
                format!("{p}accept"),
                format!("accept{p}"),
                format!("x{p}http{p}method{p}override"),
                format!("x{p}forwarded{p}for"),
            ] {
                check(&name, true, None, Some(NotPlain));
            }
        }
        check("", false, None, Some(NotPlain));
        check("x-custom\u{e9}", false, None, Some(NotPlain));
        // Hop-by-hop, the host, and what Connection names.
        for name in HOP_BY_HOP {
            check(name, true, None, Some(HopByHop));
        }
        check("x-custom", false, Some("close, X-Custom"), Some(HopByHop));
        check("x-other", false, Some("close, X-Custom"), None);
        check("x-custom-name", false, Some("x_custom_name"), None);
        // keyward's own names.
        for name in [
            "x-keyward-team",
            "x-keyward-key-id",
            "x-keyward-subject",
            "x-keyward-scopes",
            "x-keyward-meta",
            "x-keyward-request-id",
            "x-keyward-signature",
            "x-keyward-anything",
            "X-Keyward-Team",
            "x-keyward-",
        ] {
            check(name, true, None, Some(Keyward));
        }
        // Overrides of the method or path keyward judged.
        for name in OVERRIDES {
            check(name, true, None, Some(Override));
        }
        // What a client asserts of itself.
        for name in ASSERTED {
            check(name, true, None, Some(Asserted));
        }
        for suffix in [
            "for", "proto", "host", "port", "prefix", "ssl", "scheme", "server", "uri", "path",
        ] {
            check(&format!("x-forwarded-{suffix}"), true, None, Some(Asserted));
        }
        check("x-forwarded", true, None, Some(Asserted));
        // The key.
        check("authorization", false, None, Some(Authorization));
        check("authorization", true, None, None);
    }

    /// Every header keyward sets, replaces or drops, in one request that sends
    /// them all.
    #[test]
    fn what_the_origin_receives() {
        let c = config(&[("IDENTITY_SIGNING_SECRET", json!("s".repeat(32)))]);
        let sent = [
            ("Accept", "application/json"),
            ("Authorization", "Bearer kw_secret"),
            ("CF-Connecting-IP", "203.0.113.9"),
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Port", "1"),
            ("X-Forwarded-Prefix", "/evil"),
            ("X-Real-IP", "6.6.6.6"),
            ("True-Client-IP", "6.6.6.6"),
            ("X-Client-IP", "6.6.6.6"),
            ("Forwarded", "for=6.6.6.6"),
            ("Front-End-Https", "on"),
            ("X-Keyward-Team", "evil"),
            ("X.Keyward.Subject", "mallory"),
            ("X+Keyward+Meta", "{\"role\":\"owner\"}"),
            ("X.HTTP.Method.Override", "DELETE"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("Connection", "keep-alive, X-Drop-Me"),
            ("X-Drop-Me", "1"),
            ("Sec-WebSocket-Protocol", "chat, keyward.bearer.kw_secret"),
        ];
        let r = record();
        let got = forwarded(&c, &sent, Some(&r), Some(Some("chat")));
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "accept",
                "cf-connecting-ip",
                "x-keyward-key-id",
                "x-keyward-team",
                "x-keyward-scopes",
                "x-keyward-subject",
                "x-keyward-meta",
                "x-keyward-request-id",
                "x-forwarded-for",
                "x-real-ip",
                "true-client-ip",
                "x-forwarded-proto",
                "x-forwarded-host",
                "sec-websocket-protocol",
                "upgrade",
                "x-keyward-signature",
            ]
        );
        let value = |n: &str| got.iter().find(|(k, _)| k == n).unwrap().1.as_str();
        assert_eq!(value("x-keyward-team"), "acme");
        assert_eq!(value("x-keyward-subject"), "user_9");
        assert_eq!(value("x-keyward-meta"), r#"{"tier":"gold"}"#);
        assert_eq!(value("x-keyward-scopes"), "documents.read audit.log");
        assert_eq!(value("x-forwarded-for"), "203.0.113.9");
        assert_eq!(value("x-real-ip"), "203.0.113.9");
        assert_eq!(value("true-client-ip"), "203.0.113.9");
        assert_eq!(value("x-forwarded-proto"), "https");
        assert_eq!(value("x-forwarded-host"), "api.example.com:8443");
        assert_eq!(value("sec-websocket-protocol"), "chat");
        // The signature covers the identity as the origin receives it, at the
        // origin's path.
        let lookup = |n: &str| got.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        let sig = identity::sign(
            "s".repeat(32).as_bytes(),
            1_800_000_000,
            "GET",
            "/api/documents/1",
            lookup,
        );
        assert_eq!(value("x-keyward-signature"), sig);

        // A public path, no address, no subprotocol left, no signing: no
        // identity, no address headers, and the subprotocol header goes.
        let plain = config(&[]);
        let got = forwarded(
            &plain,
            &[
                ("Accept", "*/*"),
                ("Sec-WebSocket-Protocol", "keyward.bearer.k"),
            ],
            None,
            Some(None),
        );
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "accept",
                "x-keyward-request-id",
                "x-forwarded-proto",
                "x-forwarded-host",
                "upgrade"
            ]
        );
        // Not a WebSocket: nothing of one.
        let got = forwarded(&plain, &[("Accept", "*/*")], None, None);
        assert!(!got.iter().any(|(n, _)| n == "upgrade"));
        // FORWARD_AUTHORIZATION passes the key on.
        let fwd = config(&[("FORWARD_AUTHORIZATION", json!("true"))]);
        let got = forwarded(&fwd, &[("Authorization", "Bearer k")], None, None);
        assert_eq!(got[0], ("authorization".into(), "Bearer k".into()));
    }

    #[test]
    fn meta_travels_as_ascii_json() {
        let mut r = record();
        r.meta = None;
        assert!(!identity_headers(&r)
            .iter()
            .any(|(n, _)| *n == "x-keyward-meta"));
        r.meta = json!({"tier": "gold", "name": "Zoë 😀", "n": 1})
            .as_object()
            .cloned();
        let (_, meta) = identity_headers(&r)
            .into_iter()
            .find(|(n, _)| *n == "x-keyward-meta")
            .unwrap();
        assert!(meta.is_ascii(), "{meta}");
        assert!(meta.contains(r"Zo\u00eb \ud83d\ude00"), "{meta}");
        let back: Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(back["name"], "Zoë 😀");
        assert_eq!(back["n"], 1);
    }

    #[test]
    fn address_headers_say_who_the_client_is() {
        #[track_caller]
        fn check(ip: Option<&str>, sent: Option<&str>, append: bool, xff: Option<&str>) {
            let ip = ip.map(|i| i.parse().unwrap());
            let got = address_headers(ip, sent, append, "https://api.example.com:8443");
            let find = |n: &str| got.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
            assert_eq!(find("x-forwarded-for"), xff, "{ip:?} {sent:?} {append}");
            let real = ip.map(|i: IpAddr| i.to_string());
            assert_eq!(find("x-real-ip"), real.as_deref());
            assert_eq!(find("true-client-ip"), real.as_deref());
            assert_eq!(find("x-forwarded-proto"), Some("https"));
            assert_eq!(find("x-forwarded-host"), Some("api.example.com:8443"));
        }
        let ip = Some("203.0.113.9");
        // replace (the default): only the address Cloudflare saw.
        check(ip, Some("6.6.6.6"), false, Some("203.0.113.9"));
        check(ip, None, false, Some("203.0.113.9"));
        check(None, Some("6.6.6.6"), false, None);
        // append: the client's chain, then the address Cloudflare saw.
        check(
            ip,
            Some("10.0.0.1, 10.0.0.2"),
            true,
            Some("10.0.0.1, 10.0.0.2, 203.0.113.9"),
        );
        check(ip, Some("  "), true, Some("203.0.113.9"));
        check(None, Some("10.0.0.1"), true, Some("10.0.0.1"));
        check(Some("2001:db8::1"), None, false, Some("2001:db8::1"));
        // An origin without a scheme separator gets no URL fields.
        assert_eq!(address_headers(None, None, false, "weird"), vec![]);
    }
}
