//! One invalid field, wherever input is validated: a var of the configuration, a
//! part of the route policy or of `CORS`, a field of an admin request. Each names
//! the field (`POLICY.routes[2].path`, `scopes[1]`) and says what is wrong; they are
//! collected, never stopped at the first.

use serde::Serialize;

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, as a path (`POLICY.routes[2].path`, `scopes[2]`).
    pub field: String,
    /// What is wrong, never including a secret's value.
    pub message: String,
}

impl FieldError {
    /// A new error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_names_its_field() {
        let e = FieldError::new("POLICY.routes[0].path", "must start with '/'");
        assert_eq!(e.to_string(), "POLICY.routes[0].path: must start with '/'");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"field": "POLICY.routes[0].path", "message": "must start with '/'"})
        );
    }
}
