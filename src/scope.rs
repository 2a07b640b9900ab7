//! Scope grammar (`documents.read`, `documents:read`, `documents.*`, `*`) and wildcard matching.
//!
//! A scope is lowercase segments of `[a-z0-9_-]` joined by `.` or `:`; the two
//! separators are equivalent, and keyward stores the `.` form. A grant may end in a
//! `*` segment, which covers one or more further segments, or be `*` alone.

/// Longest accepted scope string.
pub const MAX_SCOPE_LEN: usize = 128;

/// Why a scope string is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// The empty string.
    Empty,
    /// Longer than [`MAX_SCOPE_LEN`].
    TooLong,
    /// An empty segment (`documents..read`, a leading or trailing separator).
    EmptySegment,
    /// A character outside `[a-z0-9_-]` in a segment.
    BadCharacter(char),
    /// `*` anywhere but as the whole last segment.
    MisplacedWildcard,
    /// A wildcard where only a concrete scope is allowed (a route's requirement).
    WildcardNotAllowed,
}

impl std::fmt::Display for ScopeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScopeError::Empty => f.write_str("a scope cannot be empty"),
            ScopeError::TooLong => write!(f, "a scope is at most {MAX_SCOPE_LEN} characters"),
            ScopeError::EmptySegment => f.write_str("a scope cannot have an empty segment"),
            ScopeError::BadCharacter(c) => write!(
                f,
                "{c:?} is not allowed: segments use a-z, 0-9, '_' and '-', joined by '.' or ':'"
            ),
            ScopeError::MisplacedWildcard => f.write_str(
                "'*' may only be the whole last segment, as in \"documents.*\" or \"*\"",
            ),
            ScopeError::WildcardNotAllowed => f.write_str("a required scope cannot be a wildcard"),
        }
    }
}

/// Parses a grant (what a key holds), which may end in a wildcard. Returns the
/// normalised `.` form.
pub fn parse_grant(s: &str) -> Result<String, ScopeError> {
    parse(s, true)
}

/// Parses a required scope (what a route needs): no wildcards. Returns the `.` form.
pub fn parse_required(s: &str) -> Result<String, ScopeError> {
    parse(s, false)
}

fn parse(s: &str, allow_wildcard: bool) -> Result<String, ScopeError> {
    if s.is_empty() {
        return Err(ScopeError::Empty);
    }
    if s.len() > MAX_SCOPE_LEN {
        return Err(ScopeError::TooLong);
    }
    let segments: Vec<&str> = s.split(['.', ':']).collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        if *seg == "*" {
            if i != last {
                return Err(ScopeError::MisplacedWildcard);
            }
            if !allow_wildcard {
                return Err(ScopeError::WildcardNotAllowed);
            }
            continue;
        }
        if seg.is_empty() {
            return Err(ScopeError::EmptySegment);
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
        {
            return Err(if c == '*' {
                ScopeError::MisplacedWildcard
            } else {
                ScopeError::BadCharacter(c)
            });
        }
    }
    Ok(s.replace(':', "."))
}

/// Whether the normalised grant covers the normalised required scope.
pub fn covers(grant: &str, required: &str) -> bool {
    if grant == "*" || grant == required {
        return true;
    }
    match grant.strip_suffix('*') {
        // `documents.*` covers `documents.read` and `documents.read.all`, not `documents`.
        Some(stem) => required.len() > stem.len() && required.starts_with(stem),
        None => false,
    }
}

/// Whether any of the grants covers `required`.
pub fn granted<S: AsRef<str>>(grants: &[S], required: &str) -> bool {
    grants.iter().any(|g| covers(g.as_ref(), required))
}

/// The scopes of `wanted` that none of the grants covers, in order.
pub fn not_granted<'a, S: AsRef<str>>(grants: &[S], wanted: &'a [String]) -> Vec<&'a String> {
    wanted.iter().filter(|w| !granted(grants, w)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_grant(s: &str, expected: Result<&str, ScopeError>) {
        assert_eq!(parse_grant(s), expected.map(str::to_string), "{s:?}");
    }

    #[track_caller]
    fn check_cover(grant: &str, required: &str, expected: bool) {
        let g = parse_grant(grant).unwrap();
        let r = parse_required(required).unwrap();
        assert_eq!(covers(&g, &r), expected, "{grant} covers {required}");
    }

    #[test]
    fn grammar() {
        use ScopeError::*;
        check_grant("documents.read", Ok("documents.read"));
        check_grant("documents:read", Ok("documents.read"));
        check_grant("a:b.c", Ok("a.b.c"));
        check_grant("documents.*", Ok("documents.*"));
        check_grant("documents:*", Ok("documents.*"));
        check_grant("*", Ok("*"));
        check_grant("keys_v2.read-all", Ok("keys_v2.read-all"));
        check_grant("", Err(Empty));
        check_grant(&"a".repeat(129), Err(TooLong));
        check_grant("documents..read", Err(EmptySegment));
        check_grant(".documents", Err(EmptySegment));
        check_grant("documents.", Err(EmptySegment));
        check_grant("Documents.read", Err(BadCharacter('D')));
        check_grant("documents read", Err(BadCharacter(' ')));
        check_grant("documents/read", Err(BadCharacter('/')));
        check_grant("documents.read;drop", Err(BadCharacter(';')));
        check_grant("*.read", Err(MisplacedWildcard));
        check_grant("documents.re*", Err(MisplacedWildcard));
        check_grant("documents.**", Err(MisplacedWildcard));
        assert_eq!(parse_required("documents.*"), Err(WildcardNotAllowed));
        assert_eq!(parse_required("*"), Err(WildcardNotAllowed));
        assert_eq!(
            parse_required("documents:read"),
            Ok("documents.read".into())
        );
    }

    #[test]
    fn wildcards() {
        check_cover("documents.read", "documents.read", true);
        check_cover("documents:read", "documents.read", true);
        check_cover("documents.read", "documents:read", true);
        check_cover("documents.read", "documents.write", false);
        check_cover("documents.*", "documents.read", true);
        check_cover("documents:*", "documents.read.all", true);
        check_cover("documents.*", "documents", false);
        check_cover("documents.*", "documentsx.read", false);
        check_cover("documents.*", "templates.read", false);
        check_cover("*", "anything.at.all", true);
        check_cover("*", "x", true);
        check_cover("documents", "documents.read", false);
        check_cover("documents.read", "documents", false);
        check_cover("a.b.*", "a.b.c", true);
        check_cover("a.b.*", "a.c", false);
    }

    #[test]
    fn any_grant() {
        let wanted = ["documents.read".to_string(), "reports.write".to_string()];
        assert_eq!(not_granted(&["documents.*"], &wanted), vec![&wanted[1]]);
        assert_eq!(not_granted(&["*"], &wanted), Vec::<&String>::new());
        assert!(granted(&["x", "documents.*"], "documents.read"));
        assert!(!granted(&["x", "y"], "documents.read"));
        assert!(!granted::<&str>(&[], "documents.read"));
    }
}
