//! The JSON messages between the worker and its Durable Objects: reading one without
//! ever quoting it in the error.

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
