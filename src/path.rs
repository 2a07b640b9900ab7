//! Canonical request paths (the one path that the route policy judges and the origin
//! receives), and the parts of a URL string as the runtime serialized it.
//!
//! The runtime's URL parser has already resolved `.` and `..` segments (also as
//! `%2e`). What is left to make unambiguous: repeated slashes are collapsed and
//! percent-encoded unreserved characters are decoded (`%61` is `a`). Every spelling
//! that a common origin could read differently from keyward is refused rather than
//! judged one way and served another:
//! - an encoded `/` or `\` (`%2F`, `%5C`), which some origins decode before routing;
//! - a path parameter (`;` or `%3B`), which Tomcat, Jetty and Spring strip, so that
//!   `/a/..;/b` is `/b` to them;
//! - a double encoding (`%25` followed by two hex digits), which origins that
//!   decode twice read as the escape it encodes (`%252e` is `.`);
//! - a segment of dots alone, in any spelling (`.`, `..`, `.%2e`, `...`);
//! - an encoded control character (`%00`-`%1F`, `%7F`), which C origins truncate at;
//! - a segment that starts or ends with an encoded space (`%20`), which Spring's
//!   matcher and Windows trim;
//! - escapes that do not decode to UTF-8 (`%C0%AE`, an overlong `.`), which lax
//!   decoders read as the character they imitate.

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// An encoded `/` or `\`, which origins disagree about.
    EncodedSeparator,
    /// A segment of dots alone (`.`, `..`, `...`), in any spelling.
    DotSegment,
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// A `;` or `%3B`: a path parameter, which some origins strip before routing.
    Parameter,
    /// `%25` followed by two hex digits: an escape encoded twice.
    DoubleEncoding,
    /// An encoded control character (`%00`-`%1F`, `%7F`).
    ControlCharacter,
    /// A segment that starts or ends with an encoded space.
    PaddedSegment,
    /// Escapes that are not UTF-8 (such as an overlong `%C0%AE`).
    NotUtf8,
}

impl PathError {
    /// A short explanation for the problem `detail`.
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the path must start with '/'",
            PathError::EncodedSeparator => {
                "the path contains an encoded '/' or '\\' (%2F, %5C), which is refused"
            }
            PathError::DotSegment => {
                "the path contains a segment of dots alone ('.', '..', '.%2e'), which is refused"
            }
            PathError::BadEscape => {
                "the path contains a '%' that is not followed by two hex digits"
            }
            PathError::Parameter => {
                "the path contains a ';' or '%3B' (a path parameter), which some origins strip before routing; it is refused"
            }
            PathError::DoubleEncoding => {
                "the path contains an escape encoded twice ('%25' and two hex digits), which is refused"
            }
            PathError::ControlCharacter => {
                "the path contains an encoded control character (%00-%1F, %7F), which is refused"
            }
            PathError::PaddedSegment => {
                "a path segment starts or ends with an encoded space, which some origins trim; it is refused"
            }
            PathError::NotUtf8 => {
                "the path's escapes do not decode to UTF-8 (an overlong or broken sequence), which is refused"
            }
        }
    }
}

/// Whether a segment is dots alone.
fn is_dots(seg: &str) -> bool {
    !seg.is_empty() && seg.bytes().all(|b| b == b'.')
}

/// Returns the canonical form of `raw` (a path as serialised by a WHATWG URL parser).
pub fn canonicalize(raw: &str) -> Result<String, PathError> {
    let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    // Most paths are canonical already: no escape, parameter, empty or dot segment.
    if !raw.bytes().any(|b| b == b'%' || b == b';')
        && !raw.contains("//")
        && !rest.split('/').any(is_dots)
    {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            if i == last {
                out.push('/');
            }
            continue;
        }
        out.push('/');
        let start = out.len();
        decode_unreserved(seg, &mut out)?;
        let decoded = &out[start..];
        if is_dots(decoded) {
            return Err(PathError::DotSegment);
        }
        if decoded.starts_with("%20") || decoded.ends_with("%20") {
            return Err(PathError::PaddedSegment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    // On the output, so that a decoded character cannot complete one (`%25%34%31`
    // becomes `%2541`).
    let o = out.as_bytes();
    if (0..o.len()).any(|i| o[i..].starts_with(b"%25") && hex_at(o, i + 3).is_some()) {
        return Err(PathError::DoubleEncoding);
    }
    decoded_bytes(&out).map_err(|_| PathError::NotUtf8)?;
    Ok(out)
}

/// The bytes of a canonical path with every escape decoded, if they are UTF-8.
fn decoded_bytes(canonical: &str) -> Result<String, std::string::FromUtf8Error> {
    let bytes = canonical.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out)
}

/// Appends `seg` with percent-encoded unreserved characters decoded and other
/// escapes normalised to uppercase hex; refuses what origins read differently.
fn decode_unreserved(seg: &str, out: &mut String) -> Result<(), PathError> {
    let bytes = seg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b';' {
            return Err(PathError::Parameter);
        }
        if bytes[i] != b'%' {
            let ch = seg[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let b = hex_at(bytes, i + 1).ok_or(PathError::BadEscape)?;
        match b {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            b';' => return Err(PathError::Parameter),
            0..=0x1F | 0x7F => return Err(PathError::ControlCharacter),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => {
                out.push('%');
                out.push_str(&seg[i + 1..i + 3].to_ascii_uppercase());
            }
        }
        i += 3;
    }
    Ok(())
}

/// The byte that the two hex digits at `at` encode.
fn hex_at(bytes: &[u8], at: usize) -> Option<u8> {
    let hex = bytes.get(at..at + 2)?;
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
}

/// The form of a canonical path that a case-insensitive origin routes by: escapes
/// decoded, letters lowercased (Unicode), trailing dots and spaces of each segment
/// removed (as Windows and IIS do) and no trailing slash (as Express and ASP.NET
/// ignore it). Policy patterns are folded the same way, so that `/INTERNAL/x`,
/// `/internal./x` and `/internal/` meet the rules for `/internal`.
pub fn fold(canonical: &str) -> String {
    let decoded = decoded_bytes(canonical).unwrap_or_else(|_| canonical.to_string());
    let lower = decoded.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    for seg in segments(&lower) {
        out.push('/');
        out.push_str(seg.trim_end_matches(['.', ' ']));
    }
    out.truncate(out.trim_end_matches('/').len());
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// The parts of a URL as the runtime serialized it (`scheme://authority/path?query`):
/// its origin (`scheme://host[:port]`, without any user info), its path (`/` when
/// empty) and its query with the `?` (or empty). Nothing is decoded or re-parsed:
/// the runtime's parser already ran.
pub fn split_url(url: &str) -> (String, &str, &str) {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let path_at = url[after_scheme..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after_scheme + i);
    let (origin, rest) = url.split_at(path_at);
    let origin = match origin[after_scheme..].rfind('@') {
        Some(at) => format!(
            "{}{}",
            &origin[..after_scheme],
            &origin[after_scheme + at + 1..]
        ),
        None => origin.to_string(),
    };
    let (path, query) = rest.find('?').map_or((rest, ""), |i| rest.split_at(i));
    (origin, if path.is_empty() { "/" } else { path }, query)
}

/// The segments of a canonical path. A trailing slash yields a final empty segment.
pub fn segments(canonical: &str) -> impl Iterator<Item = &str> {
    let rest = canonical.strip_prefix('/').unwrap_or(canonical);
    let empty = rest.is_empty();
    rest.split('/').filter(move |_| !empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(raw: &str, expected: Result<&str, PathError>) {
        assert_eq!(canonicalize(raw), expected.map(String::from), "{raw:?}");
    }

    #[test]
    fn canonical() {
        use PathError::*;
        check("/", Ok("/"));
        check("//", Ok("/"));
        check("/documents", Ok("/documents"));
        check("/documents/", Ok("/documents/"));
        check("//documents//1", Ok("/documents/1"));
        check("/documents//", Ok("/documents/"));
        check("/%64ocuments/%31", Ok("/documents/1"));
        check("/a%2db%5fc%7e", Ok("/a-b_c~"));
        check("/caf%c3%a9", Ok("/caf%C3%A9"));
        check("/a%20b", Ok("/a%20b"));
        check("/a%2Fb", Err(EncodedSeparator));
        check("/a%2fb", Err(EncodedSeparator));
        check("/a%5Cb", Err(EncodedSeparator));
        check("/%2e%2e/admin", Err(DotSegment));
        check("/x/%2E/y", Err(DotSegment));
        check("/x/.%2e/y", Err(DotSegment));
        check("/x/%2e%2ex", Ok("/x/..x"));
        check("/a%2", Err(BadEscape));
        check("/a%zz", Err(BadEscape));
        check("/a%z1", Err(BadEscape));
        check("/a%+1", Err(BadEscape));
        check("documents", Err(NotAbsolute));
        check("", Err(NotAbsolute));
        // Literal dot segments, which the fast path must not let through.
        check("/a/./b", Err(DotSegment));
        check("/a/../b", Err(DotSegment));
        check("/..", Err(DotSegment));
        check("/a/...", Err(DotSegment));
        check("/a/.b/c..", Ok("/a/.b/c.."));
        check("/.well-known/x", Ok("/.well-known/x"));
        // Path parameters: Tomcat, Jetty and Spring strip them before routing.
        check("/documents/..;/internal/x", Err(Parameter));
        check("/documents/%2e%2e;/internal/x", Err(Parameter));
        check("/internal;a=b/x", Err(Parameter));
        check("/a;", Err(Parameter));
        check("/a%3bb", Err(Parameter));
        check("/a%3Bb", Err(Parameter));
        // Escapes encoded twice, read once more by origins that decode twice.
        check("/a/%252e%252e/b", Err(DoubleEncoding));
        check("/a%252fb", Err(DoubleEncoding));
        check("/a%255Cb", Err(DoubleEncoding));
        check("/a%2541", Err(DoubleEncoding));
        check("/100%25", Ok("/100%25"));
        check("/100%25x", Ok("/100%25x"));
        check("/100%25%41", Ok("/100%25A"));
        check("/100%25%34%31", Err(DoubleEncoding));
        check("/100%25%34", Ok("/100%254"));
        // Control characters, overlong and broken UTF-8, padded segments.
        check("/a%00.json", Err(ControlCharacter));
        check("/a%0d%0ab", Err(ControlCharacter));
        check("/a%7f", Err(ControlCharacter));
        check("/a%c0%ae%c0%ae/b", Err(NotUtf8));
        check("/a%e0%80%ae", Err(NotUtf8));
        check("/a%c3", Err(NotUtf8));
        check("/a%ff", Err(NotUtf8));
        check("/internal%20/x", Err(PaddedSegment));
        check("/%20internal/x", Err(PaddedSegment));
        check("/my%20doc", Ok("/my%20doc"));
    }

    #[test]
    fn every_refusal_has_its_own_message() {
        use PathError::*;
        let all = [
            NotAbsolute,
            EncodedSeparator,
            DotSegment,
            BadEscape,
            Parameter,
            DoubleEncoding,
            ControlCharacter,
            PaddedSegment,
            NotUtf8,
        ];
        let messages: std::collections::BTreeSet<&str> = all.iter().map(|e| e.message()).collect();
        assert_eq!(messages.len(), all.len());
    }

    #[test]
    fn folded_for_case_insensitive_origins() {
        #[track_caller]
        fn check(canonical: &str, expected: &str) {
            assert_eq!(fold(canonical), expected, "{canonical:?}");
        }
        check("/", "/");
        check("/INTERNAL/X", "/internal/x");
        check("/internal./x", "/internal/x");
        check("/internal../x", "/internal/x");
        check("/admin/", "/admin");
        check("/admin//", "/admin");
        check("/Admin.", "/admin");
        check("/CAF%C3%89", "/café");
        check("/caf%C3%A9", "/café");
        check("/%E2%84%AAeys", "/keys");
        check("/a%3Fb", "/a?b");
    }

    #[test]
    fn url_parts() {
        #[track_caller]
        fn check(url: &str, (origin, path, query): (&str, &str, &str)) {
            assert_eq!(split_url(url), (origin.to_string(), path, query), "{url:?}");
        }
        check(
            "https://api.example.com/documents/1",
            ("https://api.example.com", "/documents/1", ""),
        );
        check(
            "http://127.0.0.1:8787/a?b=c&d",
            ("http://127.0.0.1:8787", "/a", "?b=c&d"),
        );
        check("http://h/a?", ("http://h", "/a", "?"));
        check("http://h/", ("http://h", "/", ""));
        check("http://h", ("http://h", "/", ""));
        check("http://h?q=1", ("http://h", "/", "?q=1"));
        check("http://h/a?x=/y?z", ("http://h", "/a", "?x=/y?z"));
        check("http://h/a%2Fb?q", ("http://h", "/a%2Fb", "?q"));
        check("http://h/a#frag", ("http://h", "/a", ""));
        check("http://user@h:1/p", ("http://h:1", "/p", ""));
        check("http://u:p@w@h/p?q", ("http://h", "/p", "?q"));
    }

    #[test]
    fn split() {
        fn s(p: &str) -> Vec<&str> {
            segments(p).collect()
        }
        assert_eq!(s("/"), Vec::<&str>::new());
        assert_eq!(s("/a"), vec!["a"]);
        assert_eq!(s("/a/b"), vec!["a", "b"]);
        assert_eq!(s("/a/"), vec!["a", ""]);
    }
}
