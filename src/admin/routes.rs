//! The admin API's routes: method and path to a [`Route`], or why not.

use crate::field::FieldError;
use crate::problem::{Code, Problem};
use serde_json::json;

/// Path prefix of the admin API.
pub const PREFIX: &str = "/_keyward/v1";
/// An admin API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /me`: who calls, and what it may hand out.
    Me,
    /// `POST /teams/{team}/keys`
    CreateKey {
        /// Team id.
        team: String,
    },
    /// `GET /teams/{team}/keys`
    ListKeys {
        /// Team id.
        team: String,
    },
    /// `POST /teams/{team}/keys/import`
    ImportKey {
        /// Team id.
        team: String,
    },
    /// `GET /teams/{team}/audit`
    Audit {
        /// Team id.
        team: String,
    },
    /// `POST /teams/{team}/keys/{id}/rotate`
    RotateKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
    /// `GET /teams/{team}/keys/{id}`
    GetKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
    /// `PATCH /teams/{team}/keys/{id}`
    UpdateKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
    /// `DELETE /teams/{team}/keys/{id}`: revoke.
    RevokeKey {
        /// Team id.
        team: String,
        /// Key id.
        id: String,
    },
}

impl Route {
    /// The team the call acts on (none for [`Route::Me`]).
    pub fn team(&self) -> Option<&str> {
        Some(match self {
            Route::Me => return None,
            Route::CreateKey { team }
            | Route::ListKeys { team }
            | Route::ImportKey { team }
            | Route::Audit { team }
            | Route::RotateKey { team, .. }
            | Route::GetKey { team, .. }
            | Route::UpdateKey { team, .. }
            | Route::RevokeKey { team, .. } => team,
        })
    }

    /// The method that reaches this endpoint.
    pub fn method(&self) -> &'static str {
        match self {
            Route::CreateKey { .. } | Route::ImportKey { .. } | Route::RotateKey { .. } => "POST",
            Route::Me | Route::ListKeys { .. } | Route::Audit { .. } | Route::GetKey { .. } => {
                "GET"
            }
            Route::UpdateKey { .. } => "PATCH",
            Route::RevokeKey { .. } => "DELETE",
        }
    }

    /// Whether the endpoint reads a JSON body.
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Route::CreateKey { .. }
                | Route::ImportKey { .. }
                | Route::RotateKey { .. }
                | Route::UpdateKey { .. }
        )
    }

    /// The path below [`PREFIX`] that reaches this endpoint: with its method, the
    /// inverse of [`route`]. The team and id are put in as they are (a client
    /// percent-encodes them first).
    pub fn path(&self) -> String {
        let keys = |team: &str| format!("/teams/{team}/keys");
        match self {
            Route::Me => "/me".into(),
            Route::CreateKey { team } | Route::ListKeys { team } => keys(team),
            Route::ImportKey { team } => format!("{}/import", keys(team)),
            Route::Audit { team } => format!("/teams/{team}/audit"),
            Route::RotateKey { team, id } => format!("{}/{id}/rotate", keys(team)),
            Route::GetKey { team, id }
            | Route::UpdateKey { team, id }
            | Route::RevokeKey { team, id } => {
                format!("{}/{id}", keys(team))
            }
        }
    }
}

/// Routes an admin request by method and path (the path after the host, as received).
pub fn route(method: &str, path: &str) -> Result<Route, Problem> {
    let rest = path
        .strip_prefix(PREFIX)
        .ok_or_else(|| not_found("no such admin endpoint"))?;
    if rest == "/me" {
        return match method {
            "GET" => Ok(Route::Me),
            _ => Err(method_not_allowed("GET")),
        };
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let (team, tail) = match parts.as_slice() {
        ["", "teams", team, tail @ ..] if !tail.is_empty() => (*team, tail),
        _ => return Err(not_found("no such admin endpoint")),
    };
    let (id, action) = match tail {
        ["keys"] | ["audit"] | ["keys", "import"] => (None, None),
        ["keys", id] => (Some(*id), None),
        ["keys", id, "rotate"] => (Some(*id), Some("rotate")),
        _ => return Err(not_found("no such admin endpoint")),
    };
    if !crate::ident::valid_team(team) {
        return Err(Problem::validation(vec![FieldError::new(
            "team",
            "a team id is 1 to 64 characters of a-z, 0-9, '_' and '-'",
        )]));
    }
    let team = team.to_string();
    if id.is_some_and(|id| !crate::ident::valid_key_id(id)) {
        return Err(not_found("no such key"));
    }
    match (method, tail, id, action) {
        ("POST", ["keys"], ..) => Ok(Route::CreateKey { team }),
        ("GET", ["keys"], ..) => Ok(Route::ListKeys { team }),
        (_, ["keys"], ..) => Err(method_not_allowed("GET, POST")),
        ("POST", ["keys", "import"], ..) => Ok(Route::ImportKey { team }),
        (_, ["keys", "import"], ..) => Err(method_not_allowed("POST")),
        ("GET", ["audit"], ..) => Ok(Route::Audit { team }),
        (_, ["audit"], ..) => Err(method_not_allowed("GET")),
        ("POST", _, Some(id), Some("rotate")) => Ok(Route::RotateKey {
            team,
            id: id.into(),
        }),
        (_, _, Some(_), Some(_)) => Err(method_not_allowed("POST")),
        (_, _, None, _) => Err(not_found("no such admin endpoint")),
        ("GET", _, Some(id), None) => Ok(Route::GetKey {
            team,
            id: id.into(),
        }),
        ("PATCH", _, Some(id), None) => Ok(Route::UpdateKey {
            team,
            id: id.into(),
        }),
        ("DELETE", _, Some(id), None) => Ok(Route::RevokeKey {
            team,
            id: id.into(),
        }),
        (_, _, Some(_), None) => Err(method_not_allowed("GET, PATCH, DELETE")),
    }
}

/// A 404 with a detail.
pub fn not_found(detail: &str) -> Problem {
    Problem::new(Code::NotFound, detail)
}

fn method_not_allowed(allow: &str) -> Problem {
    Problem::new(Code::MethodNotAllowed, format!("allowed methods: {allow}"))
        .with("allow", json!(allow))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_route(method: &str, path: &str, expected: Result<Route, Code>) {
        assert_eq!(
            route(method, path).map_err(|p| p.code),
            expected,
            "{method} {path}"
        );
    }

    #[test]
    fn every_route_has_its_method_and_path() {
        let (team, id) = ("acme".to_string(), "key_abc123".to_string());
        let all = [
            Route::CreateKey { team: team.clone() },
            Route::ListKeys { team: team.clone() },
            Route::ImportKey { team: team.clone() },
            Route::Audit { team: team.clone() },
            Route::RotateKey {
                team: team.clone(),
                id: id.clone(),
            },
            Route::GetKey {
                team: team.clone(),
                id: id.clone(),
            },
            Route::UpdateKey {
                team: team.clone(),
                id: id.clone(),
            },
            Route::RevokeKey {
                team: team.clone(),
                id: id.clone(),
            },
        ];
        for r in all {
            let path = format!("{PREFIX}{}", r.path());
            assert_eq!(
                route(r.method(), &path).map_err(|p| p.code),
                Ok(r.clone()),
                "{path}"
            );
        }
    }

    #[test]
    fn routes() {
        let team = || "acme".to_string();
        let id = || "key_abc123".to_string();
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/keys",
            Ok(Route::CreateKey { team: team() }),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Ok(Route::GetKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "PATCH",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Ok(Route::UpdateKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "DELETE",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Ok(Route::RevokeKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "PUT",
            "/_keyward/v1/teams/acme/keys",
            Err(Code::MethodNotAllowed),
        );
        assert_eq!(
            route("GET", "/_keyward/v1/teams/acme/audit")
                .unwrap()
                .team(),
            Some("acme")
        );
        check_route("GET", "/_keyward/v1/me", Ok(Route::Me));
        assert_eq!(Route::Me.team(), None);
        check_route("POST", "/_keyward/v1/me", Err(Code::MethodNotAllowed));
        check_route("GET", "/_keyward/v1/me/", Err(Code::NotFound));
        check_route(
            "PUT",
            "/_keyward/v1/teams/acme/keys/key_abc123",
            Err(Code::MethodNotAllowed),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys/nope",
            Err(Code::NotFound),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/ACME/keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/a%2fb/keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/../keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            &format!("/_keyward/v1/teams/{}/keys", "a".repeat(65)),
            Err(Code::ValidationFailed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams//keys",
            Err(Code::ValidationFailed),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys",
            Ok(Route::ListKeys { team: team() }),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/keys/import",
            Ok(Route::ImportKey { team: team() }),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys/import",
            Err(Code::MethodNotAllowed),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/audit",
            Ok(Route::Audit { team: team() }),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/audit",
            Err(Code::MethodNotAllowed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/keys/key_abc123/rotate",
            Ok(Route::RotateKey {
                team: team(),
                id: id(),
            }),
        );
        check_route(
            "GET",
            "/_keyward/v1/teams/acme/keys/key_abc123/rotate",
            Err(Code::MethodNotAllowed),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/keys/nope/rotate",
            Err(Code::NotFound),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/acme/keys/key_abc123/rename",
            Err(Code::NotFound),
        );
        check_route(
            "POST",
            "/_keyward/v1/teams/ACME/audit",
            Err(Code::ValidationFailed),
        );
        check_route("POST", "/_keyward/v1/teams/acme/keys/", Err(Code::NotFound));
        check_route("POST", "/_keyward/v1/teams/acme", Err(Code::NotFound));
        check_route("GET", "/_keyward/v1", Err(Code::NotFound));
        check_route("GET", "/elsewhere", Err(Code::NotFound));
    }
}
