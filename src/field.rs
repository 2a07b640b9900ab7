//! One invalid field, wherever input is validated: a var of the configuration, a
//! part of the route policy or of `CORS`, a field of an admin request. Each names
//! the field (`POLICY.routes[2].path`, `scopes[1]`) and says what is wrong; they are
//! collected, never stopped at the first.

use serde::Serialize;
use serde_json::{Map, Value};

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

/// An error for each field of `obj` that is not `known`, named `within.field`
/// (`field` alone when `within` is empty), so that a misspelt field is reported,
/// not ignored.
pub fn unknown_fields(
    obj: &Map<String, Value>,
    within: &str,
    known: &[&str],
    errors: &mut Vec<FieldError>,
) {
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        let name = if within.is_empty() {
            key.clone()
        } else {
            format!("{within}.{key}")
        };
        errors.push(FieldError::new(
            name,
            format!("is not a known field (expected: {})", known.join(", ")),
        ));
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

    #[test]
    fn unknown_fields_are_named_where_they_are() {
        let obj = serde_json::json!({"a": 1, "b": 2, "zz": 3});
        let obj = obj.as_object().unwrap();
        let mut errors = Vec::new();
        unknown_fields(obj, "", &["a", "b"], &mut errors);
        unknown_fields(obj, "credits.refill", &["a"], &mut errors);
        let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "zz: is not a known field (expected: a, b)",
                "credits.refill.b: is not a known field (expected: a)",
                "credits.refill.zz: is not a known field (expected: a)",
            ]
        );
    }
}
