//! The JSON messages between the worker and its Durable Objects: reading one without
//! ever quoting it in the error.
//!
//! During a gradual deployment a worker of one release calls objects of another,
//! either way round. What lets them read each other:
//! - **The envelope.** Each call is `keywardCall(call, message, version)`: what
//!   is asked, its JSON, and the caller's [`VERSION`] (absent: 1, the releases
//!   before versions), so that an object can answer an older caller in the form
//!   it reads.
//! - **Unknown fields are ignored**, and a missing field has one default on both
//!   sides (a missing `cost` is [`crate::policy::default_cost`] everywhere).
//! - **Unknown enum values are typed**, and each reader handles them on purpose:
//!   a status this release does not know is `KeyStatus::Unknown`, refused and
//!   never admitted; a problem code it does not know reads as none
//!   ([`crate::problem::known_code`]) where the status still says refused.
//! - **Golden fixtures** (`tests/wire/`, `golden.rs`): each release reads every
//!   earlier release's messages and stored forms.

/// The version of the messages this release writes: 2, since calls carry
/// versions and readers take unknown values as typed unknowns.
pub const VERSION: u32 = 2;

/// The version of a caller that sent `version` (none: 1, the releases before
/// versions).
pub fn caller_version(version: Option<u32>) -> u32 {
    version.unwrap_or(1)
}

/// Parses one message. An unreadable message is an error that says where, never
/// what: serde's own messages can quote a value (a key hash, say), and this error
/// ends up in a log line.
pub fn read<T: serde::de::DeserializeOwned>(message: &str) -> Result<T, String> {
    serde_json::from_str(message).map_err(|e| {
        format!(
            "unreadable message (line {} column {})",
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(message: &str, expected: Result<u32, &str>) {
        assert_eq!(
            read::<u32>(message),
            expected.map_err(String::from),
            "{message:?}"
        );
    }

    #[test]
    fn errors_say_where_never_what() {
        check("7", Ok(7));
        check(
            "\"0f1e2d3c4b5a\"",
            Err("unreadable message (line 1 column 14)"),
        );
        check(
            "{\"hash\": \"0f1e2d\"}",
            Err("unreadable message (line 1 column 0)"),
        );
        check("", Err("unreadable message (line 1 column 0)"));
    }
}

#[cfg(test)]
mod golden;
