//! Reading the presented credential from the `Authorization` header (Bearer only).

/// Why no usable key could be read from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialError {
    /// No `Authorization` header at all.
    Missing,
    /// A scheme other than `Bearer` (for example `Basic`).
    OtherScheme,
    /// `Bearer` with nothing after it.
    Empty,
    /// More than one token, or whitespace inside the token (also two `Authorization`
    /// headers, which arrive joined with `, `).
    SeveralTokens,
}

impl CredentialError {
    /// A key was presented, but not as exactly one token: the key is malformed
    /// rather than missing.
    pub fn key_presented(self) -> bool {
        matches!(self, CredentialError::SeveralTokens)
    }

    /// A short explanation for the problem `detail`.
    pub fn message(self) -> &'static str {
        match self {
            CredentialError::Missing => {
                "send the key in the Authorization header: \"Authorization: Bearer <key>\""
            }
            CredentialError::OtherScheme => {
                "only the Bearer scheme is accepted: \"Authorization: Bearer <key>\""
            }
            CredentialError::Empty => "the Authorization header names the Bearer scheme but no key",
            CredentialError::SeveralTokens => {
                "the Authorization header must carry exactly one key after \"Bearer \""
            }
        }
    }
}

/// Extracts the key from an `Authorization` header value. The scheme is
/// case-insensitive; spaces between the scheme and the key are tolerated, and
/// exactly one token must follow. The key is never read from anywhere else.
pub fn bearer(header: Option<&str>) -> Result<&str, CredentialError> {
    let value = header.ok_or(CredentialError::Missing)?;
    let value = value.trim_matches(is_ws);
    // Byte search: a space or tab is ASCII, so the index is a char boundary.
    let (scheme, rest) = match value.bytes().position(|b| b == b' ' || b == b'\t') {
        Some(i) => (&value[..i], &value[i..]),
        None => (value, ""),
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(if value.is_empty() {
            CredentialError::Missing
        } else {
            CredentialError::OtherScheme
        });
    }
    let token = rest.trim_start_matches(is_ws);
    if token.is_empty() {
        return Err(CredentialError::Empty);
    }
    // Bytes, not chars: a non-ASCII token fails the key's alphabet check anyway.
    if token
        .bytes()
        .any(|b| b.is_ascii_whitespace() || b == b',' || b == 0x0b)
    {
        return Err(CredentialError::SeveralTokens);
    }
    Ok(token)
}

/// The prefix of a WebSocket subprotocol that carries a key: browsers cannot set
/// `Authorization` on a WebSocket, so `Sec-WebSocket-Protocol: keyward.bearer.<key>,
/// chat` carries it beside the real subprotocols (as Kubernetes' API server does).
pub const SUBPROTOCOL_PREFIX: &str = "keyward.bearer.";

/// Splits a WebSocket upgrade's `Sec-WebSocket-Protocol` list into the key it
/// carries, if any, and the real subprotocols, which alone go on to the origin
/// (`None` when none are left). More than one key is refused.
pub fn subprotocols(header: &str) -> Result<(Option<&str>, Option<String>), CredentialError> {
    let mut key = None;
    let mut rest = Vec::new();
    for entry in header.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        // Any case: no spelling of a key entry may reach the origin.
        let carries = entry.len() >= SUBPROTOCOL_PREFIX.len()
            && entry.as_bytes()[..SUBPROTOCOL_PREFIX.len()]
                .eq_ignore_ascii_case(SUBPROTOCOL_PREFIX.as_bytes());
        match carries.then(|| &entry[SUBPROTOCOL_PREFIX.len()..]) {
            Some(_) if key.is_some() => return Err(CredentialError::SeveralTokens),
            Some("") => return Err(CredentialError::Empty),
            Some(k) => key = Some(k),
            None => rest.push(entry),
        }
    }
    Ok((key, (!rest.is_empty()).then(|| rest.join(", "))))
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_says_what_to_send() {
        use CredentialError::*;
        for (e, part) in [
            (Missing, "Authorization: Bearer <key>"),
            (OtherScheme, "only the Bearer scheme"),
            (Empty, "but no key"),
            (SeveralTokens, "exactly one key"),
        ] {
            assert!(e.message().contains(part), "{e:?}: {}", e.message());
        }
    }

    #[test]
    fn a_key_in_the_websocket_subprotocols() {
        use CredentialError::*;
        #[track_caller]
        fn check(header: &str, expected: Result<(Option<&str>, Option<&str>), CredentialError>) {
            let got = subprotocols(header);
            let got = got
                .as_ref()
                .map(|(k, r)| (*k, r.as_deref()))
                .map_err(|e| *e);
            assert_eq!(got, expected, "{header:?}");
        }
        check(
            "keyward.bearer.kw_abc, chat",
            Ok((Some("kw_abc"), Some("chat"))),
        );
        check(
            "chat,keyward.bearer.kw_abc,  v2.json",
            Ok((Some("kw_abc"), Some("chat, v2.json"))),
        );
        check("keyward.bearer.kw_abc", Ok((Some("kw_abc"), None)));
        check("chat, v2", Ok((None, Some("chat, v2"))));
        check("", Ok((None, None)));
        check(" , ,", Ok((None, None)));
        check("keyward.bearer.a, keyward.bearer.b", Err(SeveralTokens));
        check("keyward.bearer.", Err(Empty));
        // In any case; look-alikes without the dot are plain subprotocols.
        check("Keyward.Bearer.kw_abc", Ok((Some("kw_abc"), None)));
        check(
            "keyward.bearerkw_abc",
            Ok((None, Some("keyward.bearerkw_abc"))),
        );
    }

    #[track_caller]
    fn check(header: Option<&str>, expected: Result<&str, CredentialError>) {
        assert_eq!(bearer(header), expected, "{header:?}");
    }

    #[test]
    fn bearer_header() {
        use CredentialError::*;
        check(None, Err(Missing));
        check(Some(""), Err(Missing));
        check(Some("   "), Err(Missing));
        check(Some("Bearer"), Err(Empty));
        check(Some("Bearer "), Err(Empty));
        check(Some("Bearer abc"), Ok("abc"));
        check(Some("bearer abc"), Ok("abc"));
        check(Some("BEARER abc"), Ok("abc"));
        check(Some("Bearer    abc"), Ok("abc"));
        check(Some("Bearer abc "), Ok("abc"));
        check(Some("Bearer\tabc"), Ok("abc"));
        check(Some("Bearer \t abc"), Ok("abc"));
        check(Some("Bearer abc\tdef"), Err(SeveralTokens));
        check(Some("Bearer abc def"), Err(SeveralTokens));
        check(Some("Bearer abc, Bearer def"), Err(SeveralTokens));
        check(Some("Bearer abc,def"), Err(SeveralTokens));
        check(Some("Bearer abc\x0bdef"), Err(SeveralTokens));
        check(Some("Basic dXNlcjpwYXNz"), Err(OtherScheme));
        check(Some("Token abc"), Err(OtherScheme));
        check(Some("Bearerabc"), Err(OtherScheme));
        check(Some("abc"), Err(OtherScheme));
    }

    #[test]
    fn only_several_tokens_counts_as_presented() {
        assert!(CredentialError::SeveralTokens.key_presented());
        assert!(!CredentialError::OtherScheme.key_presented());
    }
}
