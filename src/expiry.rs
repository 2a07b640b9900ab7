//! Key expiry: the `expires_in` choices, and RFC 3339 timestamps to and from Unix seconds.

use chrono::{DateTime, SecondsFormat};

/// The expiry choices offered at issue time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiresIn {
    /// Expires this many days after issue.
    Days(u32),
    /// Never expires.
    Never,
}

/// The accepted spellings of [`ExpiresIn`].
pub const CHOICES: &[&str] = &["30d", "90d", "180d", "365d", "never"];

impl ExpiresIn {
    /// Parses one of [`CHOICES`].
    pub fn parse(s: &str) -> Result<ExpiresIn, String> {
        match s {
            "30d" => Ok(ExpiresIn::Days(30)),
            "90d" => Ok(ExpiresIn::Days(90)),
            "180d" => Ok(ExpiresIn::Days(180)),
            "365d" => Ok(ExpiresIn::Days(365)),
            "never" => Ok(ExpiresIn::Never),
            _ => Err(format!("must be one of {}", CHOICES.join(", "))),
        }
    }

    /// Its spelling, one of [`CHOICES`].
    pub fn as_str(self) -> &'static str {
        match self {
            ExpiresIn::Days(30) => "30d",
            ExpiresIn::Days(90) => "90d",
            ExpiresIn::Days(180) => "180d",
            ExpiresIn::Days(365) => "365d",
            // Only parse makes one: its days are one of the choices.
            ExpiresIn::Days(_) | ExpiresIn::Never => "never",
        }
    }

    /// The expiry time, in Unix seconds, of a key issued at `now` (Unix seconds).
    pub fn at(self, now: i64) -> Option<i64> {
        match self {
            ExpiresIn::Days(d) => Some(now + i64::from(d) * 86_400),
            ExpiresIn::Never => None,
        }
    }
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-23T13:04:05Z`).
pub fn rfc3339(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

/// Formats Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339_ms(ms: i64) -> String {
    DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// Parses an RFC 3339 timestamp (any offset) to Unix seconds; a fractional
/// second is dropped, so a key never outlives the time asked for.
pub fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let t = DateTime::parse_from_rfc3339(s)
        .map_err(|_| "must be an RFC 3339 timestamp such as 2027-01-31T00:00:00Z".to_string())?;
    Ok(t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(s: &str, expected: Result<Option<i64>, ()>) {
        assert_eq!(
            ExpiresIn::parse(s).map(|e| e.at(1_000)).map_err(|_| ()),
            expected,
            "{s}"
        );
    }

    #[test]
    fn choices() {
        check("30d", Ok(Some(1_000 + 30 * 86_400)));
        check("90d", Ok(Some(1_000 + 90 * 86_400)));
        check("180d", Ok(Some(1_000 + 180 * 86_400)));
        check("365d", Ok(Some(1_000 + 365 * 86_400)));
        check("never", Ok(None));
        check("7d", Err(()));
        check("90D", Err(()));
        check("", Err(()));
    }

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_438_245), "2026-11-23T12:50:45Z");
        assert_eq!(rfc3339_ms(1_795_438_245_007), "2026-11-23T12:50:45.007Z");
        assert_eq!(parse_rfc3339("2026-11-23T12:50:45Z"), Ok(1_795_438_245));
        assert_eq!(
            parse_rfc3339("2026-11-23T13:50:45+01:00"),
            Ok(1_795_438_245)
        );
        assert_eq!(parse_rfc3339("2026-11-23T12:50:45.9Z"), Ok(1_795_438_245));
        assert!(parse_rfc3339("2026-11-22").is_err());
        assert!(parse_rfc3339("tomorrow").is_err());
    }
}
