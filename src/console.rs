//! The key console's serving rules, as plain data: which path under
//! `/_keyward/console/` names which of its static files, and the headers every
//! console response carries. The files themselves (`console/`) are served by
//! the runtime's static assets, asked only by the worker, after these rules.

/// Where the console is served.
pub const PREFIX: &str = "/_keyward/console/";

/// The headers of every console response: a strict CSP (no inline script or
/// style, no framing, calls to this origin only), no sniffing, no referrer, and
/// nothing stored by caches (the page holds no secret itself, but it is the way
/// to them).
pub const HEADERS: [(&str, &str); 6] = [
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
];

/// What a request under `/_keyward/console` is answered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serve {
    /// The static file at this path of the console's files.
    File(String),
    /// `/_keyward/console` without its slash: a redirect to [`PREFIX`], so that
    /// the page's relative links resolve.
    Redirect,
    /// No such file.
    NotFound,
}

/// The console's files (`console/`), each served under [`PREFIX`] by its path
/// there: the page, its entry script and style, the modules the views share
/// (`types.js` holds types only, for the checker), and the views.
pub const FILES: [&str; 17] = [
    "index.html",
    "app.js",
    "app.css",
    "api.js",
    "model.js",
    "types.js",
    "dom.js",
    "session.js",
    "views/signin.js",
    "views/team.js",
    "views/keys.js",
    "views/key.js",
    "views/usage.js",
    "views/create.js",
    "views/reveal.js",
    "views/dialogs.js",
    "views/audit.js",
];

/// Judges `path` (the request's path, as received) and `method`: `GET` and
/// `HEAD` of one of [`FILES`] (`index.html` also as the directory), or
/// nothing. Only names the console ships are served, so no path can name
/// another file.
pub fn serve(method: &str, path: &str) -> Serve {
    if path == PREFIX.trim_end_matches('/') {
        return Serve::Redirect;
    }
    let Some(name) = path.strip_prefix(PREFIX) else {
        return Serve::NotFound;
    };
    if !matches!(method, "GET" | "HEAD") {
        return Serve::NotFound;
    }
    match name {
        "" => Serve::File("/index.html".into()),
        name if FILES.contains(&name) => Serve::File(format!("/{name}")),
        _ => Serve::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_consoles_own_files_are_served() {
        let file = |f: &str| Serve::File(f.into());
        for (method, path, expected) in [
            ("GET", "/_keyward/console/", file("/index.html")),
            ("HEAD", "/_keyward/console/index.html", file("/index.html")),
            ("GET", "/_keyward/console/app.js", file("/app.js")),
            ("GET", "/_keyward/console/app.css", file("/app.css")),
            ("GET", "/_keyward/console/api.js", file("/api.js")),
            ("GET", "/_keyward/console/model.js", file("/model.js")),
            (
                "GET",
                "/_keyward/console/views/keys.js",
                file("/views/keys.js"),
            ),
            ("GET", "/_keyward/console/views/", Serve::NotFound),
            ("GET", "/_keyward/console/views/../api.js", Serve::NotFound),
            ("GET", "/_keyward/console/views/other.js", Serve::NotFound),
            ("GET", "/_keyward/console/other.js", Serve::NotFound),
            ("GET", "/_keyward/console", Serve::Redirect),
            ("POST", "/_keyward/console/", Serve::NotFound),
            ("get", "/_keyward/console/", Serve::NotFound),
            ("GET", "/_keyward/console/../v1/teams", Serve::NotFound),
            (
                "GET",
                "/_keyward/console/%2e%2e/wrangler.toml",
                Serve::NotFound,
            ),
            ("GET", "/_keyward/console/app.js/", Serve::NotFound),
            ("GET", "/_keyward/console/APP.JS", Serve::NotFound),
            ("GET", "/_keyward/console//app.js", Serve::NotFound),
            ("GET", "/_keyward/consolex", Serve::NotFound),
            ("GET", "/_keyward/console/.dev.vars", Serve::NotFound),
        ] {
            assert_eq!(serve(method, path), expected, "{method} {path}");
        }
    }

    #[test]
    fn the_policy_forbids_inline_script_framing_and_other_origins() {
        let csp = HEADERS[0].1;
        for part in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(part), "{part}");
        }
        assert!(!csp.contains("unsafe"));
        let names: Vec<&str> = HEADERS.iter().map(|(n, _)| *n).collect();
        assert!(names.contains(&"cache-control") && names.contains(&"referrer-policy"));
    }
}
