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
    /// Under `case_insensitive`: a character that case-insensitive origins fold
    /// differently ([`case_ambiguous`]).
    CaseAmbiguous,
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
            PathError::CaseAmbiguous => {
                "the path holds a character that case-insensitive origins fold in different ways (such as \u{17f}, \u{212a}, \u{130} or \u{131}, which some read as ASCII letters); with case_insensitive it is refused"
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

/// Whether case-insensitive origins could fold `c` in different ways: some of its
/// case mappings (full lower, full upper, and each of the two round trips) reach
/// ASCII, or its round trip through uppercase is not its lowercase. Java's
/// `equalsIgnoreCase` reads `\u{17f}` as `s`, `\u{212a}` as `k`, and `\u{130}`
/// and `\u{131}` as `i`; Python's `casefold` reads `ß` as `ss`; `ς` is `σ` to
/// one and not to another. Every other character folds alike everywhere, to its
/// lowercase ([`fold`]); `tests/fixtures/case-folding/` holds the groups that
/// Java, Python and JavaScript equate, which the tests check against.
pub fn case_ambiguous(c: char) -> bool {
    CASE_AMBIGUOUS.binary_search(&c).is_ok()
}

/// Every character for which [`case_ambiguous`] holds, in order: a table rather
/// than the computation (in the tests, `ambiguous_by_its_mappings`), which would
/// bring the whole uppercase mapping into the worker. A new Unicode version
/// fails the test that compares them, which prints the new table.
const CASE_AMBIGUOUS: [char; 128] = [
    '\u{b5}', '\u{df}', '\u{130}', '\u{131}', '\u{149}', '\u{17f}', '\u{1f0}', '\u{345}',
    '\u{390}', '\u{3b0}', '\u{3c2}', '\u{3d0}', '\u{3d1}', '\u{3d5}', '\u{3d6}', '\u{3f0}',
    '\u{3f1}', '\u{3f5}', '\u{587}', '\u{1c80}', '\u{1c81}', '\u{1c82}', '\u{1c83}', '\u{1c84}',
    '\u{1c85}', '\u{1c86}', '\u{1c87}', '\u{1c88}', '\u{1e96}', '\u{1e97}', '\u{1e98}', '\u{1e99}',
    '\u{1e9a}', '\u{1e9b}', '\u{1e9e}', '\u{1f50}', '\u{1f52}', '\u{1f54}', '\u{1f56}', '\u{1f80}',
    '\u{1f81}', '\u{1f82}', '\u{1f83}', '\u{1f84}', '\u{1f85}', '\u{1f86}', '\u{1f87}', '\u{1f88}',
    '\u{1f89}', '\u{1f8a}', '\u{1f8b}', '\u{1f8c}', '\u{1f8d}', '\u{1f8e}', '\u{1f8f}', '\u{1f90}',
    '\u{1f91}', '\u{1f92}', '\u{1f93}', '\u{1f94}', '\u{1f95}', '\u{1f96}', '\u{1f97}', '\u{1f98}',
    '\u{1f99}', '\u{1f9a}', '\u{1f9b}', '\u{1f9c}', '\u{1f9d}', '\u{1f9e}', '\u{1f9f}', '\u{1fa0}',
    '\u{1fa1}', '\u{1fa2}', '\u{1fa3}', '\u{1fa4}', '\u{1fa5}', '\u{1fa6}', '\u{1fa7}', '\u{1fa8}',
    '\u{1fa9}', '\u{1faa}', '\u{1fab}', '\u{1fac}', '\u{1fad}', '\u{1fae}', '\u{1faf}', '\u{1fb2}',
    '\u{1fb3}', '\u{1fb4}', '\u{1fb6}', '\u{1fb7}', '\u{1fbc}', '\u{1fbe}', '\u{1fc2}', '\u{1fc3}',
    '\u{1fc4}', '\u{1fc6}', '\u{1fc7}', '\u{1fcc}', '\u{1fd2}', '\u{1fd3}', '\u{1fd6}', '\u{1fd7}',
    '\u{1fe2}', '\u{1fe3}', '\u{1fe4}', '\u{1fe6}', '\u{1fe7}', '\u{1ff2}', '\u{1ff3}', '\u{1ff4}',
    '\u{1ff6}', '\u{1ff7}', '\u{1ffc}', '\u{212a}', '\u{fb00}', '\u{fb01}', '\u{fb02}', '\u{fb03}',
    '\u{fb04}', '\u{fb05}', '\u{fb06}', '\u{fb13}', '\u{fb14}', '\u{fb15}', '\u{fb16}', '\u{fb17}',
];

/// Refuses, for a case-insensitive origin, a canonical path holding a
/// [`case_ambiguous`] character (escaped or not).
pub fn check_case(canonical: &str) -> Result<(), PathError> {
    if canonical.is_ascii() && !canonical.contains('%') {
        return Ok(());
    }
    let decoded = decoded_bytes(canonical).map_err(|_| PathError::NotUtf8)?;
    if decoded.chars().any(case_ambiguous) {
        Err(PathError::CaseAmbiguous)
    } else {
        Ok(())
    }
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
            CaseAmbiguous,
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

    /// Whether case-insensitive origins could fold `c` in different ways: some of
    /// its case mappings (full lower, full upper, and each of the two round trips)
    /// reach ASCII, or its round trip through uppercase is not its lowercase.
    fn ambiguous_by_its_mappings(c: char) -> bool {
        if c.is_ascii() {
            return false;
        }
        let lower: String = c.to_lowercase().collect();
        let upper: String = c.to_uppercase().collect();
        let round: String = upper.chars().flat_map(char::to_lowercase).collect();
        let back: String = lower.chars().flat_map(char::to_uppercase).collect();
        round != lower
            || [lower, upper, back]
                .iter()
                .any(|s| s.bytes().any(|b| b.is_ascii()))
    }

    #[test]
    fn the_table_is_the_mappings() {
        let computed: Vec<char> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|c| ambiguous_by_its_mappings(*c))
            .collect();
        let table: Vec<String> = computed
            .iter()
            .map(|c| format!("'\\u{{{:x}}}'", *c as u32))
            .collect();
        assert_eq!(
            CASE_AMBIGUOUS.as_slice(),
            computed.as_slice(),
            "CASE_AMBIGUOUS for this Unicode version: [{}]",
            table.join(", ")
        );
    }

    #[test]
    fn characters_that_origins_fold_differently() {
        for c in [
            '\u{17f}', '\u{212a}', '\u{130}', '\u{131}', 'ß', 'ς', 'ﬀ', 'ǰ', 'µ',
        ] {
            assert!(case_ambiguous(c), "{c:?}");
        }
        for c in ['a', 'Z', '/', 'é', 'É', 'σ', 'Σ', 'ж', 'Ж', '日', '😀', 'Å'] {
            assert!(!case_ambiguous(c), "{c:?}");
        }
        assert_eq!(check_case("/admin"), Ok(()));
        assert_eq!(check_case("/caf%C3%A9"), Ok(()));
        assert_eq!(check_case("/100%25"), Ok(()));
        assert_eq!(check_case("/adm%C4%B0N"), Err(PathError::CaseAmbiguous));
        assert_eq!(check_case("/adm%C4%B1n"), Err(PathError::CaseAmbiguous));
        assert_eq!(check_case("/%C5%BFecrets/1"), Err(PathError::CaseAmbiguous));
        assert_eq!(check_case("/%E2%84%AAeys"), Err(PathError::CaseAmbiguous));
        assert_eq!(check_case("/\u{17f}ecrets"), Err(PathError::CaseAmbiguous));
    }

    /// The groups of characters that Java's `equalsIgnoreCase`, Python's
    /// `casefold` and `lower`, and JavaScript's `/iu` equate (generated from
    /// them): for every two members of a group (and its key, such as `ss` for
    /// `ß`), keyward refuses one of them or folds both alike.
    #[test]
    fn every_folding_rule_meets_keywards() {
        let groups = include_str!("../tests/fixtures/case-folding/groups.tsv");
        let text = |cps: &str| -> String {
            cps.split(' ')
                .map(|n| char::from_u32(n.parse().unwrap()).unwrap())
                .collect()
        };
        let mut rules = std::collections::BTreeMap::new();
        for line in groups.lines().filter(|l| !l.starts_with('#')) {
            let mut parts = line.split('\t');
            let (rule, key, members) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            *rules.entry(rule).or_insert(0) += 1;
            let mut all: Vec<String> = members.split(' ').map(text).collect();
            all.push(text(key));
            let escaped = |s: &str| -> String {
                s.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect()
            };
            for a in &all {
                for b in &all {
                    let (pa, pb) = (format!("/x{}y", escaped(a)), format!("/x{}y", escaped(b)));
                    let refused = check_case(&pa).is_err() || check_case(&pb).is_err();
                    assert!(
                        refused || fold(&pa) == fold(&pb),
                        "{rule}: {a:?} and {b:?}: {} against {}",
                        fold(&pa),
                        fold(&pb)
                    );
                }
            }
        }
        assert_eq!(rules.len(), 4, "{rules:?}");
        assert!(rules.values().all(|n| *n > 1000), "{rules:?}");
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
