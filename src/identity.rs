//! The identity the origin receives, signed: with `IDENTITY_SIGNING_SECRET` set,
//! `X-Keyward-Signature` is an HMAC-SHA256 over a canonical form of the method, the
//! path, the identity headers and a timestamp. [`verify`] is what an origin in Rust
//! calls; the README shows the same check in JavaScript and Python.
//!
//! The canonical form (version `v1`) is these lines, joined by `\n`, with no
//! trailing newline; a header that is absent is an empty value:
//!
//! ```text
//! keyward-identity-v1
//! <METHOD>
//! <path as the origin receives it, without the query>
//! <X-Keyward-Key-Id>
//! <X-Keyward-Team>
//! <X-Keyward-Subject>
//! <X-Keyward-Scopes>
//! <X-Keyward-Meta>
//! <X-Keyward-Request-Id>
//! ```
//!
//! and the header is `t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>." + canonical>`.

use crate::signature::{self, SignatureError};

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "x-keyward-signature";

/// The signed headers, in canonical order.
pub const SIGNED_HEADERS: [&str; 6] = [
    "x-keyward-key-id",
    "x-keyward-team",
    "x-keyward-subject",
    "x-keyward-scopes",
    "x-keyward-meta",
    "x-keyward-request-id",
];

/// How far, by default, a signature's timestamp may be from the origin's clock.
pub const DEFAULT_TOLERANCE_S: i64 = 300;

/// The canonical form of a request's identity. `header` gives a header's value
/// (by lowercase name), `None` when absent.
pub fn canonical<'a>(method: &str, path: &str, header: impl Fn(&str) -> Option<&'a str>) -> String {
    let mut s = String::from("keyward-identity-v1\n");
    s.push_str(method);
    s.push('\n');
    s.push_str(path);
    for name in SIGNED_HEADERS {
        s.push('\n');
        s.push_str(header(name).unwrap_or(""));
    }
    s
}

/// The `X-Keyward-Signature` value for a request's identity at `t` (Unix seconds).
pub fn sign<'a>(
    secret: &[u8],
    t: i64,
    method: &str,
    path: &str,
    header: impl Fn(&str) -> Option<&'a str>,
) -> String {
    signature::sign(secret, t, &[canonical(method, path, header).as_bytes()])
}

/// The identity an origin can trust once [`verify`] accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The key's id; `None` on a public path.
    pub key_id: Option<String>,
    /// The key's team.
    pub team: Option<String>,
    /// The member the key acts for.
    pub subject: Option<String>,
    /// The key's scopes.
    pub scopes: Vec<String>,
    /// The key's `meta`, as JSON text.
    pub meta: Option<String>,
    /// keyward's request id.
    pub request_id: Option<String>,
    /// When keyward signed (Unix seconds).
    pub signed_at: i64,
}

/// Checks a request received from keyward, at `now` (Unix seconds): the signature
/// header must match the method, the path (as received, without the query) and the
/// identity headers, and its timestamp be at most `tolerance_s` from `now`. The tag
/// is compared in constant time.
///
/// ```
/// use keyward::identity;
/// let headers = [("x-keyward-key-id", "key_1"), ("x-keyward-team", "acme")];
/// let get = |n: &str| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
/// let sig = identity::sign(b"secret", 1_800_000_000, "GET", "/documents/1", get);
/// let get_all = |n: &str| if n == identity::SIGNATURE_HEADER { Some(sig.as_str()) } else { get(n) };
/// let who = identity::verify(b"secret", "GET", "/documents/1", get_all, 1_800_000_010, 300).unwrap();
/// assert_eq!(who.team.as_deref(), Some("acme"));
/// ```
pub fn verify<'a>(
    secret: &[u8],
    method: &str,
    path: &str,
    header: impl Fn(&str) -> Option<&'a str>,
    now: i64,
    tolerance_s: i64,
) -> Result<Identity, SignatureError> {
    let sig = header(SIGNATURE_HEADER).ok_or(SignatureError::Malformed)?;
    let text = canonical(method, path, &header);
    let signed_at = signature::verify(secret, sig, &[text.as_bytes()], now, tolerance_s)?;
    let own = |name: &str| header(name).filter(|v| !v.is_empty()).map(str::to_string);
    Ok(Identity {
        key_id: own("x-keyward-key-id"),
        team: own("x-keyward-team"),
        subject: own("x-keyward-subject"),
        scopes: header("x-keyward-scopes")
            .unwrap_or("")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        meta: own("x-keyward-meta"),
        request_id: own("x-keyward-request-id"),
        signed_at,
    })
}

/// The path as the origin receives it: `ORIGIN_URL`'s own path, then the request's.
pub fn origin_path(origin_url: &str, path: &str) -> String {
    let after_scheme = origin_url.split_once("://").map_or(origin_url, |(_, r)| r);
    let base = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    format!("{}{path}", base.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;
    const SECRET: &[u8] = b"identity-secret-identity-secret!";

    fn headers() -> Vec<(&'static str, String)> {
        vec![
            ("x-keyward-key-id", "key_1".into()),
            ("x-keyward-team", "acme".into()),
            ("x-keyward-subject", "user_7".into()),
            ("x-keyward-scopes", "documents.read reports.*".into()),
            ("x-keyward-meta", r#"{"tier":"gold"}"#.into()),
            ("x-keyward-request-id", "0123456789abcdef".into()),
        ]
    }

    fn signed() -> Vec<(&'static str, String)> {
        let h = headers();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        let sig = sign(SECRET, NOW, "GET", "/documents/1", get);
        let mut h = headers();
        h.push((SIGNATURE_HEADER, sig));
        h
    }

    /// Verifies `h` as received (after `edit`) by GET /documents/1 at `now`.
    #[track_caller]
    fn check(
        edit: impl FnOnce(&mut Vec<(&'static str, String)>),
        method: &str,
        path: &str,
        now: i64,
        expected: Result<(), SignatureError>,
    ) {
        let mut h = signed();
        edit(&mut h);
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        let got = verify(SECRET, method, path, get, now, 300).map(|_| ());
        assert_eq!(got, expected, "{method} {path} at {now}");
    }

    fn set(h: &mut [(&'static str, String)], name: &str, value: &str) {
        h.iter_mut().find(|(k, _)| *k == name).unwrap().1 = value.to_string();
    }

    #[test]
    fn tampering_with_any_signed_part_fails() {
        use SignatureError::*;
        check(|_| {}, "GET", "/documents/1", NOW, Ok(()));
        check(|_| {}, "GET", "/documents/1", NOW + 300, Ok(()));
        check(|_| {}, "GET", "/documents/1", NOW - 300, Ok(()));
        check(|_| {}, "GET", "/documents/1", NOW + 301, Err(Stale));
        check(|_| {}, "GET", "/documents/1", NOW - 301, Err(Stale));
        check(|_| {}, "POST", "/documents/1", NOW, Err(Mismatch));
        check(|_| {}, "GET", "/documents/2", NOW, Err(Mismatch));
        check(|_| {}, "GET", "/documents/1/", NOW, Err(Mismatch));
        for name in SIGNED_HEADERS {
            check(
                |h| set(h, name, "forged"),
                "GET",
                "/documents/1",
                NOW,
                Err(Mismatch),
            );
            check(
                |h| h.retain(|(k, _)| *k != name),
                "GET",
                "/documents/1",
                NOW,
                Err(Mismatch),
            );
        }
        check(
            |h| h.push(("x-keyward-team", "evil".into())),
            "GET",
            "/documents/1",
            NOW,
            Ok(()),
        );
        check(
            |h| h.retain(|(k, _)| *k != SIGNATURE_HEADER),
            "GET",
            "/documents/1",
            NOW,
            Err(Malformed),
        );
        check(
            |h| set(h, SIGNATURE_HEADER, "t=1,v1=00"),
            "GET",
            "/documents/1",
            NOW,
            Err(Malformed),
        );
        // A replayed signature with a moved timestamp.
        let moved = |h: &mut Vec<(&'static str, String)>| {
            let sig = h
                .iter()
                .find(|(k, _)| *k == SIGNATURE_HEADER)
                .unwrap()
                .1
                .clone();
            let sig = sig.replace(&format!("t={NOW}"), &format!("t={}", NOW + 100));
            set(h, SIGNATURE_HEADER, &sig);
        };
        check(moved, "GET", "/documents/1", NOW + 100, Err(Mismatch));
    }

    #[test]
    fn verified_identity() {
        let h = signed();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        let who = verify(SECRET, "GET", "/documents/1", get, NOW, 300).unwrap();
        assert_eq!(who.key_id.as_deref(), Some("key_1"));
        assert_eq!(who.scopes, ["documents.read", "reports.*"]);
        assert_eq!(who.signed_at, NOW);
        // A public request: no identity, still signed.
        let only_id = [("x-keyward-request-id", "r1")];
        let get = |n: &str| only_id.iter().find(|(k, _)| *k == n).map(|(_, v)| *v);
        let sig = sign(SECRET, NOW, "GET", "/health", get);
        let get2 = |n: &str| {
            if n == SIGNATURE_HEADER {
                Some(sig.as_str())
            } else {
                get(n)
            }
        };
        let who = verify(SECRET, "GET", "/health", get2, NOW, 300).unwrap();
        assert_eq!((who.key_id, who.scopes.len()), (None, 0));
    }

    #[test]
    fn canonical_form_is_stable() {
        let h = headers();
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str());
        assert_eq!(
            canonical("GET", "/documents/1", get),
            "keyward-identity-v1\nGET\n/documents/1\nkey_1\nacme\nuser_7\ndocuments.read reports.*\n{\"tier\":\"gold\"}\n0123456789abcdef"
        );
    }

    #[track_caller]
    fn check_path(origin: &str, path: &str, expected: &str) {
        assert_eq!(origin_path(origin, path), expected, "{origin} {path}");
    }

    #[test]
    fn origin_paths() {
        check_path("http://127.0.0.1:9000", "/documents/1", "/documents/1");
        check_path(
            "https://api.example.com/v2",
            "/documents/1",
            "/v2/documents/1",
        );
        check_path("https://api.example.com/v2/", "/x", "/v2/x");
    }
}
