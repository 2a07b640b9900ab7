//! API key format: generation, the GitHub-style CRC32 checksum, parsing and hashing.
//!
//! A key is `<prefix><32 base62 random chars><6 base62 chars of CRC32(prefix + random)>`.
//! The checksum lets keyward reject mistyped or made-up keys without a lookup, and
//! lets secret scanners recognise a leaked key with no false positives.

use sha2::{Digest, Sha256};
use std::fmt;

/// The base62 alphabet, in the order used for the checksum encoding.
pub const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Number of random base62 characters in a key.
pub const RANDOM_LEN: usize = 32;
/// Number of base62 characters that encode the CRC32 checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Longest accepted key prefix (`KEY_PREFIX`).
pub const MAX_PREFIX_LEN: usize = 16;

/// A plaintext API key. Its `Debug` output is redacted so that it never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// The plaintext, for the one reply that hands the key to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// SHA-256 of the whole key, lowercase hex: the only form that is ever stored.
    pub fn hash(&self) -> KeyHash {
        hash_key(&self.0)
    }

    /// A display hint: the prefix and the last 4 characters.
    pub fn hint(&self, prefix: &str) -> String {
        hint(prefix, &self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// SHA-256 of a key, lowercase hex (64 characters).
#[derive(Clone, PartialEq, Eq)]
pub struct KeyHash(pub String);

impl KeyHash {
    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(<redacted>)")
    }
}

/// Hashes any presented key (also keys of legacy formats).
pub fn hash_key(key: &str) -> KeyHash {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = [0u8; 64];
    hex::encode_to_slice(digest, &mut out).expect("64 bytes hold a 32-byte digest");
    KeyHash(std::str::from_utf8(&out).expect("hex is ASCII").to_owned())
}

/// The display hint of a key: its prefix and its last 4 characters.
pub fn hint(prefix: &str, key: &str) -> String {
    let tail = key.len().saturating_sub(4);
    format!("{prefix}…{}", key.get(tail..).unwrap_or(""))
}

/// Why a presented key does not have keyward's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// The key does not start with the configured prefix.
    Prefix,
    /// The key is too short or too long.
    Length,
    /// A character outside base62.
    Alphabet,
    /// The checksum does not match: a typo, a truncated copy or a made-up key.
    Checksum,
}

impl FormatError {
    /// A short, specific explanation for the problem `detail`.
    pub fn message(self, prefix: &str) -> String {
        let total = prefix.len() + RANDOM_LEN + CHECKSUM_LEN;
        match self {
            FormatError::Prefix => format!("the key must start with \"{prefix}\""),
            FormatError::Length => format!("the key must be {total} characters long"),
            FormatError::Alphabet => {
                "after the prefix, the key may contain only the characters 0-9, A-Z and a-z"
                    .to_string()
            }
            FormatError::Checksum => {
                "the key's checksum does not match: it was mistyped or truncated".to_string()
            }
        }
    }
}

/// Checks the shape of a presented key: prefix, length, alphabet, checksum. No lookup.
pub fn parse(prefix: &str, presented: &str) -> Result<ApiKey, FormatError> {
    let body = presented.strip_prefix(prefix).ok_or(FormatError::Prefix)?;
    if body.len() != RANDOM_LEN + CHECKSUM_LEN {
        return Err(FormatError::Length);
    }
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(FormatError::Alphabet);
    }
    let (random, check) = body.split_at(RANDOM_LEN);
    if checksum(prefix, random) != *check.as_bytes() {
        return Err(FormatError::Checksum);
    }
    Ok(ApiKey(presented.to_string()))
}

/// A key format issued elsewhere, accepted by prefix and total length only (its
/// keys carry no keyward checksum). Declared in `LEGACY_KEY_FORMATS`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LegacyFormat {
    /// The prefix, such as `api_`.
    pub prefix: String,
    /// The total length of a key, prefix included.
    pub length: usize,
}

/// Checks a presented key against keyward's own format, or, when it starts with
/// the prefix of a legacy format instead, against that format's length. The
/// returned error speaks of the format the key claims to have.
pub fn parse_any(
    prefix: &str,
    legacy: &[LegacyFormat],
    presented: &str,
) -> Result<ApiKey, (FormatError, String)> {
    if !presented.starts_with(prefix) {
        if let Some(f) = legacy.iter().find(|f| presented.starts_with(&f.prefix)) {
            return if presented.len() == f.length {
                Ok(ApiKey(presented.to_string()))
            } else {
                Err((
                    FormatError::Length,
                    format!(
                        "a \"{}\" key must be {} characters long",
                        f.prefix, f.length
                    ),
                ))
            };
        }
    }
    parse(prefix, presented).map_err(|e| (e, e.message(prefix)))
}

/// Generates a new key. `fill` supplies cryptographically secure random bytes
/// (`crypto.getRandomValues` in the worker).
pub fn generate(prefix: &str, fill: impl FnMut(&mut [u8])) -> ApiKey {
    let mut key = String::with_capacity(prefix.len() + RANDOM_LEN + CHECKSUM_LEN);
    key.push_str(prefix);
    push_random(&mut key, RANDOM_LEN, fill);
    let check = checksum(prefix, &key[prefix.len()..]);
    key.push_str(std::str::from_utf8(&check).expect("base62 is ASCII"));
    ApiKey(key)
}

/// Generates an identifier: `prefix` followed by `len` random base62 characters.
pub fn generate_id(prefix: &str, len: usize, fill: impl FnMut(&mut [u8])) -> String {
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    push_random(&mut id, len, fill);
    id
}

/// Appends `len` uniformly random base62 characters.
fn push_random(out: &mut String, len: usize, mut fill: impl FnMut(&mut [u8])) {
    let target = out.len() + len;
    let mut buf = [0u8; 64];
    while out.len() < target {
        fill(&mut buf);
        // Rejection sampling: 248 = 4 * 62, so `b % 62` stays uniform.
        for &b in buf.iter().filter(|&&b| b < 248).take(target - out.len()) {
            out.push(BASE62[usize::from(b % 62)] as char);
        }
    }
}

/// The 6-character base62 encoding of CRC32(prefix + random), zero-padded.
pub fn checksum(prefix: &str, random: &str) -> [u8; CHECKSUM_LEN] {
    let crc = crc32_update(crc32_update(!0, prefix.as_bytes()), random.as_bytes());
    base62_u32(!crc)
}

fn base62_u32(mut n: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// CRC-32/ISO-HDLC (the zlib CRC), table-driven; the table is built at compile time.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

fn crc32_update(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    crc
}

/// CRC32 of `bytes` (exposed for tests against known vectors).
pub fn crc32(bytes: &[u8]) -> u32 {
    !crc32_update(!0, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> impl FnMut(&mut [u8]) {
        let mut n = 0u8;
        move |buf: &mut [u8]| {
            for b in buf {
                *b = n;
                n = n.wrapping_add(7);
            }
        }
    }

    #[track_caller]
    fn check(prefix: &str, presented: &str, expected: Result<(), FormatError>) {
        assert_eq!(
            parse(prefix, presented).map(|_| ()),
            expected,
            "{presented:?}"
        );
    }

    #[test]
    fn crc32_known_vectors() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn ids_hints_and_messages() {
        // Rejection sampling: bytes from 248 up are skipped, the rest taken mod 62.
        let mut rounds = 0;
        let id = generate_id("key_", 4, |b: &mut [u8]| {
            rounds += 1;
            b.fill(248);
            if rounds > 1 {
                b[..4].copy_from_slice(&[0, 61, 62, 247]);
            }
        });
        assert_eq!(id, "key_0z0z");
        let key = generate("kw_", |b: &mut [u8]| b.fill(1));
        assert_eq!(key.hint("kw_"), format!("kw_…{}", &key.expose()[37..]));
        assert_eq!(
            FormatError::Prefix.message("kw_"),
            "the key must start with \"kw_\""
        );
        assert_eq!(
            FormatError::Length.message("kw_"),
            "the key must be 41 characters long"
        );
        assert_eq!(
            FormatError::Length.message("e2e_"),
            "the key must be 42 characters long"
        );
    }

    /// The key format's checksum, pinned: every issued key depends on it (values
    /// from zlib's CRC-32 of prefix + random, in base62).
    #[test]
    fn checksum_known_answers() {
        #[track_caller]
        fn check(prefix: &str, random: &str, expected: &str) {
            assert_eq!(
                &checksum(prefix, random),
                expected.as_bytes(),
                "{prefix}{random}"
            );
        }
        check("kw_", &"0".repeat(32), "1vXtxm");
        check("kw_", "AbCdEfGhIjKlMnOpQrStUvWxYz012345", "2ZGy5c");
        check("e2e_", &"z".repeat(32), "0Ssm0R");
    }

    #[test]
    fn base62_padding() {
        assert_eq!(&base62_u32(0), b"000000");
        assert_eq!(&base62_u32(61), b"00000z");
        assert_eq!(&base62_u32(62), b"000010");
        assert_eq!(&base62_u32(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn formats() {
        let key = generate("kw_", counter());
        let k = key.expose();
        assert_eq!(k.len(), 3 + 32 + 6);
        check("kw_", k, Ok(()));
        check("api_", k, Err(FormatError::Prefix));
        check("kw_", &k[1..], Err(FormatError::Prefix));
        check("kw_", &k[..k.len() - 1], Err(FormatError::Length));
        check("kw_", &format!("{k}0"), Err(FormatError::Length));
        check("kw_", "kw_", Err(FormatError::Length));
        check("kw_", "", Err(FormatError::Prefix));
        check(
            "kw_",
            &k.replacen(&k[3..4], "-", 1),
            Err(FormatError::Alphabet),
        );
        check(
            "kw_",
            &format!("kw_{}é", &k[3..k.len() - 2]),
            Err(FormatError::Alphabet),
        );
        let mut flipped = k.as_bytes().to_vec();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        check(
            "kw_",
            std::str::from_utf8(&flipped).unwrap(),
            Err(FormatError::Checksum),
        );
        let other = generate("acme_live_", counter());
        check("acme_live_", other.expose(), Ok(()));
        check("kw_", other.expose(), Err(FormatError::Prefix));
    }

    #[test]
    fn generation_is_uniform_alphabet_and_distinct() {
        let a = generate("kw_", counter());
        let mut state = 1u8;
        let b = generate("kw_", move |buf: &mut [u8]| {
            for x in buf {
                state = state.wrapping_mul(31).wrapping_add(17);
                *x = state;
            }
        });
        assert_ne!(a, b);
        // Bytes >= 248 are rejected rather than biasing the alphabet.
        let mut calls = 0;
        let c = generate("kw_", |buf: &mut [u8]| {
            calls += 1;
            buf.fill(if calls == 1 { 255 } else { 62 });
        });
        assert_eq!(&c.expose()[3..35], "0".repeat(32));
        assert_eq!(calls, 2);
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_key("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let key = generate("kw_", counter());
        assert_eq!(format!("{key:?}"), "ApiKey(<redacted>)");
        assert_eq!(format!("{:?}", key.hash()), "KeyHash(<redacted>)");
    }

    #[test]
    fn hints() {
        assert_eq!(hint("kw_", "kw_abcdefWXYZ"), "kw_…WXYZ");
        assert_eq!(hint("api_", "ab"), "api_…ab");
    }

    #[track_caller]
    fn check_any(presented: &str, expected: Result<(), &str>) {
        let legacy = [LegacyFormat {
            prefix: "api_".into(),
            length: 20,
        }];
        let got = parse_any("kw_", &legacy, presented)
            .map(|_| ())
            .map_err(|(_, m)| m);
        match expected {
            Ok(()) => assert!(got.is_ok(), "{presented}: {got:?}"),
            Err(part) => assert!(
                got.as_ref().unwrap_err().contains(part),
                "{presented}: {got:?}"
            ),
        }
    }

    #[test]
    fn legacy_formats_are_judged_by_prefix_and_length_only() {
        let native = generate("kw_", |b: &mut [u8]| b.fill(7));
        check_any(native.expose(), Ok(()));
        check_any("api_0123456789abcdef", Ok(()));
        check_any("api_0123456789abcde", Err("20 characters"));
        check_any("api_0123456789abcdefg", Err("20 characters"));
        check_any("kw_0123456789abcdef", Err("characters long"));
        check_any("zz_0123456789abcdef", Err("must start with \"kw_\""));
    }
}
