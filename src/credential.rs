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
