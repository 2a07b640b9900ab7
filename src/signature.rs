//! HMAC-SHA256 signatures in a header: `t=<unix seconds>,v1=<hex>`, over the
//! timestamp and a message, as expiry notices and the identity headers use them.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// Absent, or not `t=<digits>,v1=<64 hex>`.
    Malformed,
    /// `t` is further than the tolerance from now: a replay or a skewed clock.
    Stale,
    /// The tag does not match the message and the secret.
    Mismatch,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureError::Malformed => "the signature is missing or malformed",
            SignatureError::Stale => "the signature's timestamp is outside the allowed window",
            SignatureError::Mismatch => "the signature does not match",
        })
    }
}

impl std::error::Error for SignatureError {}

fn mac(secret: &[u8], t: i64, parts: &[&[u8]]) -> Hmac<Sha256> {
    let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    m.update(t.to_string().as_bytes());
    m.update(b".");
    for p in parts {
        m.update(p);
    }
    m
}

/// The header value signing the concatenation of `parts` at `t`: an HMAC-SHA256,
/// keyed with `secret`, over `"<t>." + parts`.
pub fn sign(secret: &[u8], t: i64, parts: &[&[u8]]) -> String {
    let tag = mac(secret, t, parts).finalize().into_bytes();
    format!("t={t},v1={}", hex::encode(tag))
}

/// Checks a header value against `parts` at `now`, accepting a timestamp at most
/// `tolerance_s` away; the tag is compared in constant time. Returns `t`.
pub fn verify(
    secret: &[u8],
    header: &str,
    parts: &[&[u8]],
    now: i64,
    tolerance_s: i64,
) -> Result<i64, SignatureError> {
    let (t, tag) = header
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?, v.strip_prefix("v1=")?)))
        .ok_or(SignatureError::Malformed)?;
    if t.is_empty() || t.len() > 12 || !t.bytes().all(|b| b.is_ascii_digit()) || tag.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let t: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    let tag = hex::decode(tag).map_err(|_| SignatureError::Malformed)?;
    if (now - t).abs() > tolerance_s {
        return Err(SignatureError::Stale);
    }
    mac(secret, t, parts)
        .verify_slice(&tag)
        .map(|_| t)
        .map_err(|_| SignatureError::Mismatch)
}
