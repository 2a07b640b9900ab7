//! Canonical request paths (the one path that the route policy judges and the origin
//! receives), and the parts of a URL string as the runtime serialized it.
//!
//! The runtime's URL parser has already resolved `.` and `..` segments. What is
//! left to make unambiguous: repeated slashes are collapsed, percent-encoded
//! unreserved characters are decoded (`%61` is `a`), and encodings that an origin
//! could read as a separator or a dot segment (`%2F`, `%5C`, `%2E%2E`) are refused.

/// Why a path is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// The path does not start with `/`.
    NotAbsolute,
    /// An encoded `/` or `\`, which origins disagree about.
    EncodedSeparator,
    /// A segment that decodes to `.` or `..`.
    DotSegment,
    /// A `%` not followed by two hex digits.
    BadEscape,
}

impl PathError {
    /// A short explanation for the problem `detail`.
    pub fn message(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "the path must start with '/'",
            PathError::EncodedSeparator => {
                "the path contains an encoded '/' or '\\' (%2F, %5C), which is refused"
            }
            PathError::DotSegment => "the path contains an encoded '.' or '..' segment",
            PathError::BadEscape => {
                "the path contains a '%' that is not followed by two hex digits"
            }
        }
    }
}

/// Returns the canonical form of `raw` (a path as serialised by a WHATWG URL parser).
pub fn canonicalize(raw: &str) -> Result<String, PathError> {
    let rest = raw.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    // Most paths are canonical already: no escape, no empty or dot segment.
    if !raw.contains('%') && !raw.contains("//") && !rest.split('/').any(|s| s == "." || s == "..")
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
        if decoded == "." || decoded == ".." {
            return Err(PathError::DotSegment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Appends `seg` with percent-encoded unreserved characters decoded and other
/// escapes normalised to uppercase hex.
fn decode_unreserved(seg: &str, out: &mut String) -> Result<(), PathError> {
    let bytes = seg.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            let ch = seg[i..].chars().next().expect("in bounds");
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).ok_or(PathError::BadEscape)?;
        let hex = std::str::from_utf8(hex).map_err(|_| PathError::BadEscape)?;
        let b = u8::from_str_radix(hex, 16).map_err(|_| PathError::BadEscape)?;
        match b {
            b'/' | b'\\' => return Err(PathError::EncodedSeparator),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => {
                out.push('%');
                out.push_str(&hex.to_ascii_uppercase());
            }
        }
        i += 3;
    }
    Ok(())
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
        check("documents", Err(NotAbsolute));
        check("", Err(NotAbsolute));
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
