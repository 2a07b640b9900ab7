//! The command line (subcommands and flags) and the admin API call each command makes.

use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use keyward::admin::Route;
use keyward::{directory::PAGE_MAX, expiry::CHOICES, key::hash_key};
use serde_json::{json, Map, Value};

const AFTER_HELP: &str = "\
Environment:
  KEYWARD_URL          The worker's base URL, e.g. https://api.example.com (or --url)
  KEYWARD_ADMIN_TOKEN  The worker's ADMIN_TOKEN, or a key holding keys:manage.
                       Read from the environment only, never from a flag.

Exit codes:
  0  success
  2  usage error: bad flags, KEYWARD_URL or KEYWARD_ADMIN_TOKEN not set, invalid --meta JSON
  3  denied: the token was refused (HTTP 401 or 403)
  4  any other client error (HTTP 400, 404, 405, 409, 413, ...)
  5  server error (HTTP 5xx), or no usable reply (connection refused, timeout)

On an API error, stderr shows `error: <CODE>: <detail>` and one line per invalid field.";

const GLOBAL: &str = "Global options";

/// Manage the API keys of a keyward worker through its admin API.
#[derive(Debug, Parser)]
#[command(name = "keyward", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// The worker's base URL
    #[arg(long, global = true, env = "KEYWARD_URL", hide_env_values = true, help_heading = GLOBAL)]
    pub url: Option<String>,
    /// Print the server's JSON reply (pretty) instead of tables
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Issue a key; its plaintext is printed this once
    #[command(
        after_help = "Example:\n  keyward create acme --name 'CI deploy' --scope documents.read --expires-in 90d"
    )]
    Create {
        /// Team id (a-z, 0-9, '_' and '-')
        team: String,
        #[command(flatten)]
        key: KeyFields,
    },
    /// List a team's keys, newest first
    #[command(
        after_help = "Examples:\n  keyward list acme --all\n  keyward list acme --credits-below 100"
    )]
    List {
        /// Team id
        team: String,
        #[command(flatten)]
        page: Page,
        #[command(flatten)]
        credits: CreditsFilter,
    },
    /// Show one key, its usage and its recent outcomes
    #[command(after_help = "Example:\n  keyward get acme key_3fZk8wQm1aB2cD4e")]
    Get {
        /// Team id
        team: String,
        /// Key id (key_...)
        id: String,
    },
    /// Change a key's name, scopes, state, limits, networks or metadata
    #[command(
        after_help = "Examples:\n  keyward update acme key_3fZk8wQm1aB2cD4e --disable\n  keyward update acme key_3fZk8wQm1aB2cD4e --plan pro --clear-ip-allow"
    )]
    Update {
        /// Team id
        team: String,
        /// Key id (key_...)
        id: String,
        #[command(flatten)]
        changes: Changes,
    },
    /// Revoke a key: it stops working at once, for good
    #[command(after_help = "Example:\n  keyward revoke acme key_3fZk8wQm1aB2cD4e")]
    Revoke {
        /// Team id
        team: String,
        /// Key id (key_...)
        id: String,
    },
    /// Replace a key with a new one, printed this once; the old one works for the grace period
    #[command(after_help = "Example:\n  keyward rotate acme key_3fZk8wQm1aB2cD4e --grace 1h")]
    Rotate {
        /// Team id
        team: String,
        /// Key id (key_...)
        id: String,
        /// How long the old key keeps working: 0s (a leaked key), 1h, 7d, ...
        #[arg(long, value_name = "DURATION")]
        grace: String,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// Register a key issued elsewhere, by its SHA-256 hash
    #[command(
        after_help = "Examples:\n  keyward import acme --hash 9f86d08188... --prefix api_ --last4 x9Qz --name legacy --scope documents.read\n  keyward import acme --key-stdin --prefix api_ --name legacy --scope documents.read < legacy-key.txt"
    )]
    Import {
        /// Team id
        team: String,
        #[command(flatten)]
        source: Source,
        /// The key's prefix: KEY_PREFIX or a prefix in LEGACY_KEY_FORMATS
        #[arg(long)]
        prefix: String,
        /// The key's last 4 characters, shown in its hint
        #[arg(long, conflicts_with = "key_stdin")]
        last4: Option<String>,
        #[command(flatten)]
        key: KeyFields,
    },
    /// Show who the token is: the admin token, or a keys:manage key and its team
    #[command(after_help = "Example:\n  keyward whoami")]
    Whoami,
    /// Show a team's audit log, newest first
    #[command(
        after_help = "Examples:\n  keyward audit acme --limit 50\n  keyward audit acme --key key_3fZk8wQm1aB2cD4e"
    )]
    Audit {
        /// Team id
        team: String,
        /// Only the entries of this key
        #[arg(long, value_name = "KEY_ID")]
        key: Option<String>,
        #[command(flatten)]
        page: Page,
    },
}

/// The fields of a new or imported key.
#[derive(Debug, Args)]
pub struct KeyFields {
    /// A name for people, 3 to 100 characters
    #[arg(long)]
    name: String,
    /// A scope the key holds, e.g. documents.read or documents.* (repeat, or separate with commas)
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Whom the key acts for, forwarded to the origin
    #[arg(long)]
    subject: Option<String>,
    #[command(flatten)]
    expiry: Expiry,
    #[command(flatten)]
    limits: Limits,
    /// A network the key may be used from, e.g. 203.0.113.0/24 (repeat; default: anywhere)
    #[arg(long = "ip-allow", value_name = "CIDR", value_delimiter = ',')]
    ip_allow: Vec<String>,
    /// A JSON object forwarded to the origin in X-Keyward-Meta
    #[arg(long, value_name = "JSON", value_parser = parse_meta)]
    meta: Option<Map<String, Value>>,
    /// How its requests are admitted (default: its plan's, or the worker's ADMISSION)
    #[arg(long, value_parser = PossibleValuesParser::new(["exact", "leased"]))]
    admission: Option<String>,
    /// Where its Durable Object is created (default: its plan's, or where its first request comes from)
    #[arg(long, value_parser = PossibleValuesParser::new(keyward::record::REGIONS))]
    region: Option<String>,
    /// Credits the key may spend (default: its plan's, or unlimited)
    #[arg(long, value_name = "AMOUNT")]
    credits: Option<u64>,
    /// Set the credits back to AMOUNT every day or month: daily:AMOUNT, monthly:AMOUNT or monthly:AMOUNT:DAY
    #[arg(long, value_name = "SPEC", requires = "credits", value_parser = parse_refill)]
    refill: Option<Value>,
}

/// When a key expires.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct Expiry {
    /// Lifetime from now (default: the worker's DEFAULT_EXPIRES_IN; for rotate, the old key's expiry)
    #[arg(long, value_name = "DURATION", value_parser = PossibleValuesParser::new(CHOICES))]
    expires_in: Option<String>,
    /// Expiry as an RFC 3339 timestamp, e.g. 2030-01-31T00:00:00Z
    #[arg(long, value_name = "TIME")]
    expires_at: Option<String>,
}

/// A plan, or the key's own limits.
#[derive(Debug, Args)]
pub struct Limits {
    /// A plan from the worker's PLANS
    #[arg(long, conflicts_with = "rate_limits")]
    plan: Option<String>,
    /// An own rate limit, e.g. burst=100/1m (repeat for several)
    #[arg(long = "rate-limit", value_name = "NAME=LIMIT/WINDOW", value_parser = parse_rate_limit)]
    rate_limits: Vec<Value>,
}

/// What `update` changes: at least one. (Its limit flags are not a flattened
/// [`Limits`]: clap's derive would then leave this group without members.)
#[derive(Debug, Args)]
#[group(id = "change", required = true, multiple = true)]
pub struct Changes {
    /// A new name
    #[arg(long)]
    name: Option<String>,
    /// The new scopes, replacing all (repeat, or separate with commas)
    #[arg(long = "scope", value_name = "SCOPE", value_delimiter = ',')]
    scopes: Vec<String>,
    /// Remove every scope
    #[arg(long, conflicts_with = "scopes")]
    clear_scopes: bool,
    /// Enable the key
    #[arg(long)]
    enable: bool,
    /// Disable the key: requests with it fail with KEY_DISABLED until --enable
    #[arg(long, conflicts_with = "enable")]
    disable: bool,
    /// A plan from the worker's PLANS
    #[arg(long, conflicts_with = "rate_limits")]
    plan: Option<String>,
    /// Own rate limits, replacing the plan or the current ones (repeat for several)
    #[arg(long = "rate-limit", value_name = "NAME=LIMIT/WINDOW", value_parser = parse_rate_limit)]
    rate_limits: Vec<Value>,
    /// Return to the worker's RATE_LIMITS (drop the plan or own limits)
    #[arg(long, conflicts_with_all = ["plan", "rate_limits"])]
    default_limits: bool,
    /// Networks the key may be used from, replacing all (repeat, or separate with commas)
    #[arg(long = "ip-allow", value_name = "CIDR", value_delimiter = ',')]
    ip_allow: Vec<String>,
    /// Allow every address again
    #[arg(long, conflicts_with = "ip_allow")]
    clear_ip_allow: bool,
    /// A new JSON object for X-Keyward-Meta
    #[arg(long, value_name = "JSON", value_parser = parse_meta)]
    meta: Option<Map<String, Value>>,
    /// Remove the meta
    #[arg(long, conflicts_with = "meta")]
    clear_meta: bool,
    /// How its requests are admitted
    #[arg(long, value_parser = PossibleValuesParser::new(["exact", "leased"]))]
    admission: Option<String>,
    /// Return to its plan's admission mode, or the worker's ADMISSION
    #[arg(long, conflicts_with = "admission")]
    default_admission: bool,
    /// Set the credits left to AMOUNT (gives a key without credits some)
    #[arg(long, value_name = "AMOUNT")]
    credits: Option<u64>,
    /// Add AMOUNT to the credits left
    #[arg(long, value_name = "AMOUNT", conflicts_with = "credits")]
    add_credits: Option<u64>,
    /// A new refill: daily:AMOUNT, monthly:AMOUNT or monthly:AMOUNT:DAY
    #[arg(long, value_name = "SPEC", value_parser = parse_refill)]
    refill: Option<Value>,
    /// Remove the refill (the credits left stay)
    #[arg(long, conflicts_with = "refill")]
    no_refill: bool,
    /// Remove the credits: the key is no longer limited by them
    #[arg(long, conflicts_with_all = ["credits", "add_credits", "refill", "no_refill"])]
    no_credits: bool,
}

/// Where an imported key's hash comes from.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Source {
    /// The key's SHA-256, 64 hexadecimal characters
    #[arg(long, value_name = "SHA256")]
    hash: Option<String>,
    /// Read the plaintext key from stdin and send only its SHA-256 and last 4
    /// characters: the key never leaves this machine
    #[arg(long)]
    key_stdin: bool,
}

/// One page, or all of them.
#[derive(Debug, Args)]
pub struct Page {
    /// Items per page (the worker's default: 20)
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=i64::from(PAGE_MAX)))]
    limit: Option<u32>,
    /// Start where a previous page ended (its next_cursor)
    #[arg(long)]
    cursor: Option<String>,
    /// Follow the cursors to the end and print everything
    #[arg(long)]
    all: bool,
}

/// Which keys a list shows, by their credits.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub struct CreditsFilter {
    /// Only keys with credits and none left
    #[arg(long)]
    credits_exhausted: bool,
    /// Only keys with credits and fewer than AMOUNT left
    #[arg(long, value_name = "AMOUNT", value_parser = clap::value_parser!(u64).range(1..))]
    credits_below: Option<u64>,
}

/// One admin API request: method, path below `/_keyward/v1`, query and JSON body.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: &'static str,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<Value>,
}

impl Call {
    fn new(method: &'static str, path: String, body: Option<Value>) -> Call {
        Call {
            method,
            path,
            query: vec![],
            body,
        }
    }

    /// The same call for the page after `cursor`.
    pub fn with_cursor(mut self, cursor: &str) -> Call {
        self.query.retain(|(k, _)| *k != "cursor");
        self.query.push(("cursor", cursor.to_string()));
        self
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)?;
        for (i, (k, v)) in self.query.iter().enumerate() {
            write!(f, "{}{k}={v}", if i == 0 { '?' } else { '&' })?;
        }
        match &self.body {
            Some(body) => write!(f, " {body}"),
            None => Ok(()),
        }
    }
}

impl Command {
    /// Whether the reply is every page (`--all`).
    pub fn follows_cursors(&self) -> bool {
        matches!(self, Command::List { page, .. } | Command::Audit { page, .. } if page.all)
    }

    /// The request this command makes. `stdin` is read for `import --key-stdin` only;
    /// an error is a usage error.
    pub fn call(&self, stdin: impl FnOnce() -> std::io::Result<String>) -> Result<Call, String> {
        let route = self.route();
        let call = Call::new(route.method(), route.path(), self.body(stdin)?);
        Ok(self.query(call))
    }

    /// The admin route this command calls: the worker's own router's paths, team
    /// and id percent-encoded here, so that the worker judges what the user typed.
    fn route(&self) -> Route {
        let key_of = |team: &str, id: &str| (segment(team), segment(id));
        match self {
            Command::Whoami => Route::Me,
            Command::Create { team, .. } => Route::CreateKey {
                team: segment(team),
            },
            Command::List { team, .. } => Route::ListKeys {
                team: segment(team),
            },
            Command::Get { team, id } => {
                let (team, id) = key_of(team, id);
                Route::GetKey { team, id }
            }
            Command::Update { team, id, .. } => {
                let (team, id) = key_of(team, id);
                Route::UpdateKey { team, id }
            }
            Command::Revoke { team, id } => {
                let (team, id) = key_of(team, id);
                Route::RevokeKey { team, id }
            }
            Command::Rotate { team, id, .. } => {
                let (team, id) = key_of(team, id);
                Route::RotateKey { team, id }
            }
            Command::Import { team, .. } => Route::ImportKey {
                team: segment(team),
            },
            Command::Audit { team, .. } => Route::Audit {
                team: segment(team),
            },
        }
    }

    /// The JSON body of this command's request, if it sends one; `import
    /// --key-stdin` reads the key from `stdin` and sends only its hash and last 4.
    fn body(
        &self,
        stdin: impl FnOnce() -> std::io::Result<String>,
    ) -> Result<Option<Value>, String> {
        Ok(match self {
            Command::Create { key, .. } => Some(key.body()),
            Command::Update { changes, .. } => Some(changes.body()),
            Command::Rotate { grace, expiry, .. } => {
                let mut body = json!({ "grace": grace });
                expiry.add_to(&mut body);
                Some(body)
            }
            Command::Import {
                source,
                prefix,
                last4,
                key,
                ..
            } => {
                let (hash, last4) = match &source.hash {
                    Some(hash) => (hash.clone(), last4.clone()),
                    None => hash_stdin(prefix, stdin)?,
                };
                let mut body = key.body();
                body["hash"] = json!(hash);
                body["prefix"] = json!(prefix);
                if let Some(last4) = last4 {
                    body["last4"] = json!(last4);
                }
                Some(body)
            }
            Command::Whoami
            | Command::List { .. }
            | Command::Get { .. }
            | Command::Revoke { .. }
            | Command::Audit { .. } => None,
        })
    }

    /// `call` with this command's query: a list's page and credits filter, or the
    /// audit log's page and key.
    fn query(&self, call: Call) -> Call {
        match self {
            Command::List { page, credits, .. } => credits.query(page.query(call)),
            Command::Audit { key, page, .. } => {
                let mut call = page.query(call);
                if let Some(key) = key {
                    call.query.push(("key", segment(key)));
                }
                call
            }
            Command::Whoami
            | Command::Create { .. }
            | Command::Get { .. }
            | Command::Update { .. }
            | Command::Revoke { .. }
            | Command::Rotate { .. }
            | Command::Import { .. } => call,
        }
    }
}

/// Reads a plaintext key from `stdin` and returns its SHA-256 and last 4
/// characters. Errors never quote the key.
fn hash_stdin(
    prefix: &str,
    stdin: impl FnOnce() -> std::io::Result<String>,
) -> Result<(String, Option<String>), String> {
    let text = stdin().map_err(|e| format!("--key-stdin: cannot read stdin: {e}"))?;
    let key = text.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err("--key-stdin: stdin must hold exactly one key".into());
    }
    if !key.starts_with(prefix) {
        return Err(format!(
            "--key-stdin: the key does not start with --prefix {prefix:?}"
        ));
    }
    let last4 = key
        .len()
        .checked_sub(4)
        .filter(|&at| at >= prefix.len())
        .and_then(|at| key.get(at..))
        .filter(|l| l.bytes().all(|b| b.is_ascii_graphic()));
    Ok((hash_key(key).0, last4.map(str::to_string)))
}

impl KeyFields {
    fn body(&self) -> Value {
        let mut body = json!({ "name": self.name, "scopes": self.scopes });
        set(
            &mut body,
            "subject",
            self.subject.as_ref().map(|s| json!(s)),
        );
        self.expiry.add_to(&mut body);
        self.limits.add_to(&mut body);
        set(&mut body, "ip_allow", list(&self.ip_allow));
        set(&mut body, "meta", self.meta.clone().map(Value::Object));
        set(
            &mut body,
            "admission",
            self.admission.as_ref().map(|a| json!(a)),
        );
        set(&mut body, "region", self.region.as_ref().map(|r| json!(r)));
        if let Some(remaining) = self.credits {
            let mut credits = json!({ "remaining": remaining });
            set(&mut credits, "refill", self.refill.clone());
            body["credits"] = credits;
        }
        body
    }
}

impl Expiry {
    fn add_to(&self, body: &mut Value) {
        set(
            body,
            "expires_in",
            self.expires_in.as_ref().map(|e| json!(e)),
        );
        set(
            body,
            "expires_at",
            self.expires_at.as_ref().map(|e| json!(e)),
        );
    }
}

impl Limits {
    fn add_to(&self, body: &mut Value) {
        set(body, "plan", self.plan.as_ref().map(|p| json!(p)));
        set(body, "rate_limits", list(&self.rate_limits));
    }
}

impl Changes {
    fn body(&self) -> Value {
        let mut body = json!({});
        set(&mut body, "name", self.name.as_ref().map(|n| json!(n)));
        let scopes = self.clear_scopes || !self.scopes.is_empty();
        set(&mut body, "scopes", scopes.then(|| json!(self.scopes)));
        let enabled = self.enable || self.disable;
        set(&mut body, "enabled", enabled.then(|| json!(self.enable)));
        set(&mut body, "plan", self.plan.as_ref().map(|p| json!(p)));
        set(&mut body, "rate_limits", list(&self.rate_limits));
        set(
            &mut body,
            "plan",
            self.default_limits.then_some(Value::Null),
        );
        let clear = |yes: bool| yes.then_some(Value::Null);
        set(
            &mut body,
            "ip_allow",
            list(&self.ip_allow).or(clear(self.clear_ip_allow)),
        );
        set(
            &mut body,
            "meta",
            (self.meta.clone().map(Value::Object)).or(clear(self.clear_meta)),
        );
        set(
            &mut body,
            "admission",
            (self.admission.as_ref().map(|a| json!(a))).or(clear(self.default_admission)),
        );
        let mut credits = json!({});
        set(&mut credits, "remaining", self.credits.map(|n| json!(n)));
        set(&mut credits, "add", self.add_credits.map(|n| json!(n)));
        set(
            &mut credits,
            "refill",
            self.refill.clone().or(clear(self.no_refill)),
        );
        let credits = Some(credits).filter(|c| c != &json!({}));
        set(&mut body, "credits", credits.or(clear(self.no_credits)));
        body
    }
}

impl CreditsFilter {
    fn query(&self, mut call: Call) -> Call {
        if self.credits_exhausted {
            call.query.push(("credits", "exhausted".into()));
        }
        if let Some(n) = self.credits_below {
            call.query.push(("credits_below", n.to_string()));
        }
        call
    }
}

impl Page {
    fn query(&self, mut call: Call) -> Call {
        if let Some(limit) = self.limit {
            call.query.push(("limit", limit.to_string()));
        }
        match &self.cursor {
            Some(cursor) => call.with_cursor(cursor),
            None => call,
        }
    }
}

/// Sets `body[field]` when `value` is `Some` (which may hold `null`).
fn set(body: &mut Value, field: &str, value: Option<Value>) {
    if let Some(value) = value {
        body[field] = value;
    }
}

/// A non-empty list as JSON.
fn list<T: serde::Serialize>(items: &[T]) -> Option<Value> {
    (!items.is_empty()).then(|| json!(items))
}

/// A path segment, percent-encoded but for unreserved characters.
fn segment(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `NAME=LIMIT/WINDOW`, as in `burst=100/1m`.
fn parse_rate_limit(s: &str) -> Result<Value, String> {
    let shape = "expected NAME=LIMIT/WINDOW, as in burst=100/1m";
    let (name, rest) = s.split_once('=').ok_or(shape)?;
    let (limit, window) = rest.split_once('/').ok_or(shape)?;
    let limit: u64 = limit
        .parse()
        .map_err(|_| format!("{limit:?} is not a whole number; {shape}"))?;
    if name.is_empty() || window.is_empty() {
        return Err(shape.into());
    }
    Ok(json!({ "name": name, "limit": limit, "window": window }))
}

/// `daily:AMOUNT`, `monthly:AMOUNT` or `monthly:AMOUNT:DAY`, as a refill.
fn parse_refill(s: &str) -> Result<Value, String> {
    let shape = "expected daily:AMOUNT, monthly:AMOUNT or monthly:AMOUNT:DAY";
    let parts: Vec<&str> = s.split(':').collect();
    let number = |p: &str| {
        p.parse::<u64>()
            .map_err(|_| format!("{p:?} is not a whole number; {shape}"))
    };
    match parts.as_slice() {
        ["daily", amount] => Ok(json!({"interval": "daily", "amount": number(amount)?})),
        ["monthly", amount] => Ok(json!({"interval": "monthly", "amount": number(amount)?})),
        ["monthly", amount, day] => {
            Ok(json!({"interval": "monthly", "amount": number(amount)?, "day": number(day)?}))
        }
        _ => Err(shape.into()),
    }
}

/// A JSON object.
fn parse_meta(s: &str) -> Result<Map<String, Value>, String> {
    match serde_json::from_str(s) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(r#"must be a JSON object, as in {"tier":"gold"}"#.into()),
        Err(e) => Err(format!("is not valid JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// The request `args` (after `keyward`, split on spaces) make, or the usage error.
    #[track_caller]
    fn check(args: &str, expected: &str) {
        let stdin = || Ok("api_abcdefghijklmnop\n".to_string());
        let got = Cli::try_parse_from(std::iter::once("keyward").chain(args.split(' ')))
            .map_err(|e| format!("usage: {:?}", e.kind()))
            .and_then(|cli| cli.command.call(stdin).map_err(|e| format!("usage: {e}")))
            .map_or_else(|e| e, |call| call.to_string());
        assert_eq!(got, expected, "keyward {args}");
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    #[rustfmt::skip]
    fn requests() {
        check("create acme --name ci --scope documents.read", r#"POST /teams/acme/keys {"name":"ci","scopes":["documents.read"]}"#);
        check("create acme --name ci", r#"POST /teams/acme/keys {"name":"ci","scopes":[]}"#);
        check("create acme --name ci --scope a.b,c:d --scope e.*", r#"POST /teams/acme/keys {"name":"ci","scopes":["a.b","c:d","e.*"]}"#);
        check("create acme --name ci --subject u1 --expires-in 30d --plan pro", r#"POST /teams/acme/keys {"expires_in":"30d","name":"ci","plan":"pro","scopes":[],"subject":"u1"}"#);
        check("create acme --name ci --expires-at 2030-01-01T00:00:00Z", r#"POST /teams/acme/keys {"expires_at":"2030-01-01T00:00:00Z","name":"ci","scopes":[]}"#);
        check("create acme --name ci --rate-limit burst=5/1m --rate-limit day=100/1d", r#"POST /teams/acme/keys {"name":"ci","rate_limits":[{"limit":5,"name":"burst","window":"1m"},{"limit":100,"name":"day","window":"1d"}],"scopes":[]}"#);
        check("create acme --name ci --ip-allow 203.0.113.0/24,2001:db8::/32 --meta {\"t\":1}", r#"POST /teams/acme/keys {"ip_allow":["203.0.113.0/24","2001:db8::/32"],"meta":{"t":1},"name":"ci","scopes":[]}"#);
        check("create a/b --name ci", r#"POST /teams/a%2Fb/keys {"name":"ci","scopes":[]}"#);
        check("create acme --name ci --admission leased --region weur", r#"POST /teams/acme/keys {"admission":"leased","name":"ci","region":"weur","scopes":[]}"#);
        check("update acme key_1 --admission exact", r#"PATCH /teams/acme/keys/key_1 {"admission":"exact"}"#);
        check("update acme key_1 --default-admission", r#"PATCH /teams/acme/keys/key_1 {"admission":null}"#);
        check("whoami", "GET /me");
        check("list acme", "GET /teams/acme/keys");
        check("list acme --credits-exhausted", "GET /teams/acme/keys?credits=exhausted");
        check("list acme --limit 5 --credits-below 100", "GET /teams/acme/keys?limit=5&credits_below=100");
        check("create acme --name ci --credits 1000", r#"POST /teams/acme/keys {"credits":{"remaining":1000},"name":"ci","scopes":[]}"#);
        check("create acme --name ci --credits 5 --refill daily:5", r#"POST /teams/acme/keys {"credits":{"refill":{"amount":5,"interval":"daily"},"remaining":5},"name":"ci","scopes":[]}"#);
        check("create acme --name ci --credits 5 --refill monthly:50:31", r#"POST /teams/acme/keys {"credits":{"refill":{"amount":50,"day":31,"interval":"monthly"},"remaining":5},"name":"ci","scopes":[]}"#);
        check("update acme key_1 --add-credits 500", r#"PATCH /teams/acme/keys/key_1 {"credits":{"add":500}}"#);
        check("update acme key_1 --credits 0 --no-refill", r#"PATCH /teams/acme/keys/key_1 {"credits":{"refill":null,"remaining":0}}"#);
        check("update acme key_1 --refill monthly:10", r#"PATCH /teams/acme/keys/key_1 {"credits":{"refill":{"amount":10,"interval":"monthly"}}}"#);
        check("update acme key_1 --no-credits", r#"PATCH /teams/acme/keys/key_1 {"credits":null}"#);
        check("list acme --limit 5 --cursor 17.key_a", "GET /teams/acme/keys?limit=5&cursor=17.key_a");
        check("get acme key_1", "GET /teams/acme/keys/key_1");
        check("revoke acme key_1", "DELETE /teams/acme/keys/key_1");
        check("update acme key_1 --disable", r#"PATCH /teams/acme/keys/key_1 {"enabled":false}"#);
        check("update acme key_1 --enable --name new", r#"PATCH /teams/acme/keys/key_1 {"enabled":true,"name":"new"}"#);
        check("update acme key_1 --scope a.b,c.d", r#"PATCH /teams/acme/keys/key_1 {"scopes":["a.b","c.d"]}"#);
        check("update acme key_1 --clear-scopes", r#"PATCH /teams/acme/keys/key_1 {"scopes":[]}"#);
        check("update acme key_1 --plan pro", r#"PATCH /teams/acme/keys/key_1 {"plan":"pro"}"#);
        check("update acme key_1 --rate-limit b=1/1s", r#"PATCH /teams/acme/keys/key_1 {"rate_limits":[{"limit":1,"name":"b","window":"1s"}]}"#);
        check("update acme key_1 --default-limits", r#"PATCH /teams/acme/keys/key_1 {"plan":null}"#);
        check("update acme key_1 --ip-allow 10.0.0.0/8", r#"PATCH /teams/acme/keys/key_1 {"ip_allow":["10.0.0.0/8"]}"#);
        check("update acme key_1 --clear-ip-allow --clear-meta", r#"PATCH /teams/acme/keys/key_1 {"ip_allow":null,"meta":null}"#);
        check("update acme key_1 --meta {}", r#"PATCH /teams/acme/keys/key_1 {"meta":{}}"#);
        check("rotate acme key_1 --grace 1h", r#"POST /teams/acme/keys/key_1/rotate {"grace":"1h"}"#);
        check("rotate acme key_1 --grace 0s --expires-in never", r#"POST /teams/acme/keys/key_1/rotate {"expires_in":"never","grace":"0s"}"#);
        check("import acme --hash ab12 --prefix api_ --last4 wxyz --name old", r#"POST /teams/acme/keys/import {"hash":"ab12","last4":"wxyz","name":"old","prefix":"api_","scopes":[]}"#);
        check("import acme --key-stdin --prefix api_ --name old --scope x", r#"POST /teams/acme/keys/import {"hash":"a198074474b3215c1f85c511664ce94a991eb433040cb60a410030f51d86ecad","last4":"mnop","name":"old","prefix":"api_","scopes":["x"]}"#);
        check("audit acme --limit 100", "GET /teams/acme/audit?limit=100");
        check("audit acme --key key_1", "GET /teams/acme/audit?key=key_1");
    }

    #[test]
    #[rustfmt::skip]
    fn usage_errors() {
        check("create acme", "usage: MissingRequiredArgument");
        check("create acme --name ci --refill daily:5", "usage: MissingRequiredArgument");
        check("create acme --name ci --credits 5 --refill weekly:5", "usage: ValueValidation");
        check("create acme --name ci --credits -5", "usage: UnknownArgument");
        check("update acme key_1 --credits 5 --add-credits 1", "usage: ArgumentConflict");
        check("update acme key_1 --no-credits --add-credits 1", "usage: ArgumentConflict");
        check("list acme --credits-exhausted --credits-below 5", "usage: ArgumentConflict");
        check("list acme --credits-below 0", "usage: ValueValidation");
        check("create acme --name ci --expires-in 7d", "usage: InvalidValue");
        check("create acme --name ci --region mars", "usage: InvalidValue");
        check("create acme --name ci --admission fast", "usage: InvalidValue");
        check("create acme --name ci --expires-in 30d --expires-at 2030-01-01T00:00:00Z", "usage: ArgumentConflict");
        check("create acme --name ci --plan pro --rate-limit b=1/1m", "usage: ArgumentConflict");
        check("create acme --name ci --rate-limit b=x/1m", "usage: ValueValidation");
        check("create acme --name ci --rate-limit burst", "usage: ValueValidation");
        check("create acme --name ci --meta [1]", "usage: ValueValidation");
        check("create acme --name ci --meta {bad", "usage: ValueValidation");
        check("create acme --name ci --token x", "usage: UnknownArgument");
        check("update acme key_1", "usage: MissingRequiredArgument");
        check("update acme key_1 --enable --disable", "usage: ArgumentConflict");
        check("update acme key_1 --scope a --clear-scopes", "usage: ArgumentConflict");
        check("update acme key_1 --plan p --default-limits", "usage: ArgumentConflict");
        check("update acme key_1 --meta {} --clear-meta", "usage: ArgumentConflict");
        check("rotate acme key_1", "usage: MissingRequiredArgument");
        check("import acme --prefix api_ --name old", "usage: MissingRequiredArgument");
        check("import acme --hash ab --key-stdin --prefix api_ --name old", "usage: ArgumentConflict");
        check("import acme --key-stdin --last4 abcd --prefix api_ --name old", "usage: ArgumentConflict");
        check("import acme --key-stdin --prefix key_ --name old", r#"usage: --key-stdin: the key does not start with --prefix "key_""#);
        check("list acme --limit 0", "usage: ValueValidation");
        check("list acme --limit 101", "usage: ValueValidation");
    }

    #[track_caller]
    fn check_stdin(stdin: &str, expected: Result<Option<&str>, &str>) {
        let got = hash_stdin("api_", || Ok(stdin.to_string()));
        assert_eq!(
            got.as_ref()
                .map(|(_, l)| l.as_deref())
                .map_err(String::as_str),
            expected,
            "{stdin:?}"
        );
        if let Ok((hash, _)) = got {
            assert_eq!(hash, hash_key(stdin.trim()).0);
        }
    }

    #[test]
    #[rustfmt::skip]
    fn keys_from_stdin() {
        check_stdin("api_abcdefgh\n", Ok(Some("efgh")));
        check_stdin("  api_abcdefgh  ", Ok(Some("efgh")));
        check_stdin("api_abc", Ok(None));
        check_stdin("", Err("--key-stdin: stdin must hold exactly one key"));
        check_stdin("api_a\napi_b", Err("--key-stdin: stdin must hold exactly one key"));
        check_stdin("sk_abcdefgh", Err(r#"--key-stdin: the key does not start with --prefix "api_""#));
    }

    #[test]
    fn all_follows_cursors() {
        let follows = |args: &str| {
            Cli::try_parse_from(std::iter::once("keyward").chain(args.split(' ')))
                .unwrap()
                .command
                .follows_cursors()
        };
        assert!(follows("list acme --all"));
        assert!(follows("audit acme --all --limit 5"));
        assert!(!follows("list acme"));
        let call = Call::new("GET", "/x".into(), None);
        let next = call.with_cursor("1.a").with_cursor("2.b");
        assert_eq!(next.to_string(), "GET /x?cursor=2.b");
    }
}
