//! The `keyward` admin CLI end to end: the real binary against the main worker,
//! its output, the keys it manages at work, and its exit codes.

use crate::harness::{assert_problem, free_port, fresh_team, getrandom, send, Resp};
use crate::{main_worker, PREFIX};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What one run of the binary did.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    /// The value of `row` in a key/value block.
    #[track_caller]
    fn row(&self, row: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.strip_prefix(row).filter(|v| v.starts_with(' ')))
            .unwrap_or_else(|| panic!("no row {row:?} in:\n{}", self.stdout))
            .trim()
    }
}

/// Runs `keyward args` with `env` (and nothing of the parent's KEYWARD_*) and
/// `stdin`; gives it 60 s. Neither output may contain the main worker's admin token.
fn keyward_with(env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(args)
        .env_remove("KEYWARD_URL")
        .env_remove("KEYWARD_ADMIN_TOKEN")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start keyward");
    // The child may exit without reading; a broken pipe is no failure.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("wait for keyward"),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("keyward {args:?} did not finish in 60 s");
        }
    };
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let token = &main_worker().admin_token;
    assert!(
        !run.stdout.contains(token.as_str()) && !run.stderr.contains(token.as_str()),
        "the admin token was printed by keyward {args:?}"
    );
    run
}

/// Runs `keyward args` against the main worker with its admin token.
fn keyward(args: &[&str]) -> Run {
    let w = main_worker();
    keyward_with(
        &[
            ("KEYWARD_URL", &w.url),
            ("KEYWARD_ADMIN_TOKEN", &w.admin_token),
        ],
        args,
        "",
    )
}

fn use_key(key: &str) -> Resp {
    send(
        main_worker()
            .req("GET", "/documents/1")
            .set("authorization", &format!("Bearer {key}")),
    )
}

/// Creates a key that may read documents; returns (plaintext, id).
fn create(team: &str) -> (String, String) {
    let v = keyward(&[
        "create",
        team,
        "--name",
        "cli key",
        "--scope",
        "documents.read",
        "--json",
    ])
    .ok()
    .json();
    (
        v["key"].as_str().expect("a key").to_string(),
        v["id"].as_str().expect("an id").to_string(),
    )
}

#[test]
fn create_prints_the_key_once_and_the_key_works() {
    let team = fresh_team("cli");
    let run = keyward(&[
        "create",
        &team,
        "--name",
        "cli deploy",
        "--scope",
        "documents.read,documents.write",
        "--subject",
        "user-7",
        "--expires-in",
        "30d",
        "--rate-limit",
        "burst=50/1m",
        "--ip-allow",
        "203.0.113.0/24",
        "--meta",
        r#"{"tier":"gold"}"#,
    ])
    .ok();
    let key = run.row("key").to_string();
    assert!(key.starts_with(PREFIX), "{}", run.stdout);
    assert_eq!(run.stdout.matches(&key).count(), 1, "{}", run.stdout);
    assert!(!run.stderr.contains(&key), "{}", run.stderr);
    assert!(
        run.stderr.contains("only time the key is shown") && run.stderr.contains("store it now"),
        "{}",
        run.stderr
    );
    assert_eq!(run.row("name"), "cli deploy");
    assert_eq!(run.row("scopes"), "documents.read,documents.write");
    assert_eq!(run.row("subject"), "user-7");
    assert_eq!(run.row("rate_limits"), "burst=50/1m");
    assert_eq!(run.row("ip_allow"), "203.0.113.0/24");
    assert_eq!(run.row("meta"), r#"{"tier":"gold"}"#);
    assert_eq!(run.row("status"), "active");
    let r = send(
        main_worker()
            .req("GET", "/documents/1")
            .set("authorization", &format!("Bearer {key}"))
            .set("cf-connecting-ip", "203.0.113.9"),
    );
    assert_eq!(r.status, 200, "{}", r.text());

    // --json: the reply as it is, the key included, nothing else on stdout.
    let run = keyward(&["--json", "create", &team, "--name", "json key"]).ok();
    let v = run.json();
    assert!(v["key"].as_str().unwrap().starts_with(PREFIX), "{v}");
    assert_eq!(json!([v["team"], v["scopes"]]), json!([team, []]));
    assert!(run.stderr.contains("store it now"), "{}", run.stderr);
}

#[test]
fn list_shows_a_table_pages_and_json() {
    let team = fresh_team("cli");
    let (_, first) = create(&team);
    let (_, second) = create(&team);
    let ids = |v: &Value| -> Vec<String> {
        let items = v["items"].as_array().expect("items");
        items
            .iter()
            .map(|k| k["id"].as_str().unwrap().to_string())
            .collect()
    };
    // The worker's order (newest first, ties by id), which every view keeps.
    let v = keyward(&["list", &team, "--json"]).ok().json();
    let order = ids(&v);
    let mut sorted = order.clone();
    sorted.sort();
    let mut issued = vec![first, second];
    issued.sort();
    assert_eq!((sorted, &v["next_cursor"]), (issued, &Value::Null), "{v}");

    let run = keyward(&["list", &team]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    let header = lines[0];
    for column in [
        "ID",
        "NAME",
        "STATUS",
        "HINT",
        "SCOPES",
        "EXPIRES",
        "LAST USED",
        "REQUESTS",
    ] {
        assert!(header.contains(column), "{header}");
    }
    // Every column starts where its header does.
    let at = |column: &str| header.find(column).unwrap();
    for (line, id) in lines[1..].iter().zip(&order) {
        assert!(line.starts_with(&format!("{id}  ")), "{}", run.stdout);
        assert_eq!(
            &line[at("NAME")..at("STATUS")],
            "cli key  ",
            "{}",
            run.stdout
        );
        assert!(
            line[at("STATUS")..].starts_with("active  e2e_…"),
            "{}",
            run.stdout
        );
        assert!(
            line.contains("  documents.read  ") && line.ends_with("never      0"),
            "{line}"
        );
    }

    let run = keyward(&["list", &team, "--limit", "1"]).ok();
    assert_eq!(run.stdout.lines().count(), 2, "{}", run.stdout);
    assert!(run.stderr.contains("--cursor"), "{}", run.stderr);
    let page = keyward(&["list", &team, "--limit", "1", "--json"])
        .ok()
        .json();
    let cursor = page["next_cursor"].as_str().expect("a cursor");
    let rest = keyward(&["list", &team, "--limit", "1", "--cursor", cursor, "--json"])
        .ok()
        .json();
    assert_eq!([ids(&page), ids(&rest)].concat(), order);

    let all = keyward(&["list", &team, "--limit", "1", "--all", "--json"])
        .ok()
        .json();
    assert_eq!((ids(&all), &all["next_cursor"]), (order, &Value::Null));
    let run = keyward(&["list", &team, "--limit", "1", "--all"]).ok();
    assert_eq!(run.stdout.lines().count(), 3, "{}", run.stdout);
    assert_eq!(run.stderr, "");
}

#[test]
fn get_shows_the_key_and_its_recent_requests() {
    let team = fresh_team("cli");
    let (key, id) = create(&team);
    assert_eq!(use_key(&key).status, 200);
    // Outcomes are recorded by the key's object; give it a bounded moment.
    let deadline = Instant::now() + Duration::from_secs(15);
    let run = loop {
        let run = keyward(&["get", &team, &id]).ok();
        if run.stdout.contains("/documents/1") || Instant::now() > deadline {
            break run;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(run.row("id"), id);
    assert_eq!(run.row("team"), team);
    assert_eq!(run.row("requests"), "1");
    assert!(run.stdout.contains("recent requests:"), "{}", run.stdout);
    let recent = run
        .stdout
        .lines()
        .find(|l| l.contains("/documents/1"))
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(
        recent.contains("GET") && recent.contains("forwarded"),
        "{recent}"
    );
    assert!(!run.stdout.contains(&key));
    let v = keyward(&["get", &team, &id, "--json"]).ok().json();
    assert_eq!(
        json!([v["id"], v["recent"][0]["path"]]),
        json!([id, "/documents/1"])
    );
}

#[test]
fn update_disables_enables_and_changes_a_key() {
    let team = fresh_team("cli");
    let (key, id) = create(&team);
    assert_eq!(use_key(&key).status, 200);
    let run = keyward(&["update", &team, &id, "--disable"]).ok();
    assert_eq!(
        (run.row("status"), run.row("enabled")),
        ("disabled", "false")
    );
    assert_problem(&use_key(&key), 401, "KEY_DISABLED");
    keyward(&["update", &team, &id, "--enable"]).ok();
    assert_eq!(use_key(&key).status, 200);

    let v = keyward(&[
        "update",
        &team,
        &id,
        "--json",
        "--name",
        "renamed",
        "--scope",
        "documents.*",
        "--plan",
        "two",
        "--meta",
        r#"{"a":1}"#,
    ])
    .ok()
    .json();
    assert_eq!(
        json!([v["name"], v["scopes"], v["plan"], v["meta"]]),
        json!(["renamed", ["documents.*"], "two", {"a": 1}])
    );
    let v = keyward(&[
        "update",
        &team,
        &id,
        "--json",
        "--default-limits",
        "--clear-meta",
    ])
    .ok()
    .json();
    assert_eq!(json!([v["plan"], v["meta"]]), json!([null, null]));
}

#[test]
fn revoke_stops_a_key() {
    let team = fresh_team("cli");
    let (key, id) = create(&team);
    let run = keyward(&["revoke", &team, &id]).ok();
    assert_eq!(run.row("status"), "revoked");
    assert_ne!(run.row("revoked_at"), "-");
    assert_problem(&use_key(&key), 401, "KEY_REVOKED");
}

#[test]
fn rotate_prints_the_new_key_once() {
    let team = fresh_team("cli");
    let (old_key, old_id) = create(&team);
    let run = keyward(&["rotate", &team, &old_id, "--grace", "0s"]).ok();
    let key = run.row("key").to_string();
    assert!(key.starts_with(PREFIX) && key != old_key, "{}", run.stdout);
    assert_eq!(run.stdout.matches(&key).count(), 1);
    assert!(run.stderr.contains("store it now"), "{}", run.stderr);
    assert!(run.row("replaces").starts_with(&old_id), "{}", run.stdout);
    assert_ne!(run.row("id"), old_id);
    assert_eq!(use_key(&key).status, 200);
    assert_problem(&use_key(&old_key), 401, "KEY_REVOKED");

    let (_, id) = create(&team);
    let v = keyward(&["rotate", &team, &id, "--grace", "1h", "--json"])
        .ok()
        .json();
    assert!(v["key"].as_str().unwrap().starts_with(PREFIX), "{v}");
    assert_eq!(
        json!([v["replaces"]["id"], v["replaces"]["status"]]),
        json!([id, "active"])
    );
}

#[test]
fn import_hashes_a_key_from_stdin_locally() {
    let w = main_worker();
    let team = fresh_team("cli");
    let mut bytes = [0u8; 16];
    getrandom(&mut bytes);
    let alphabet = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let legacy: String = "api_"
        .chars()
        .chain(
            bytes
                .iter()
                .map(|b| char::from(alphabet[usize::from(*b) % 62])),
        )
        .collect();
    let env = [
        ("KEYWARD_URL", w.url.as_str()),
        ("KEYWARD_ADMIN_TOKEN", w.admin_token.as_str()),
    ];
    let args = [
        "import",
        &team,
        "--key-stdin",
        "--prefix",
        "api_",
        "--name",
        "legacy key",
        "--scope",
        "documents.read",
    ];
    let run = keyward_with(&env, &args, &format!("{legacy}\n")).ok();
    assert!(
        !run.stdout.contains(&legacy) && !run.stderr.contains(&legacy),
        "{}",
        run.stdout
    );
    assert_eq!(run.row("hint"), format!("api_…{}", &legacy[16..]));
    assert_eq!(run.row("imported"), "true");
    let r = use_key(&legacy);
    assert_eq!(r.status, 200, "{}", r.text());

    // The same key twice is a conflict: a client error.
    let run = keyward_with(&env, &args, &legacy);
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("error: CONFLICT: "),
        "{}",
        run.stderr
    );
    // A key that does not start with the prefix is refused before anything is sent.
    let run = keyward_with(&env, &args, "sk_live_0123456789abcdef");
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        !run.stderr.contains("sk_live_0123456789abcdef"),
        "{}",
        run.stderr
    );
}

#[test]
fn audit_lists_what_happened() {
    let team = fresh_team("cli");
    let (_, id) = create(&team);
    keyward(&["revoke", &team, &id]).ok();
    let run = keyward(&["audit", &team]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert!(
        lines[0].starts_with("SEQ") && lines[0].contains("ACTION"),
        "{}",
        run.stdout
    );
    assert!(
        lines[1].contains("key.revoke") && lines[1].contains(&id),
        "{}",
        run.stdout
    );
    assert!(
        lines[2].contains("key.create") && lines[2].contains("admin"),
        "{}",
        run.stdout
    );
    let v = keyward(&["audit", &team, "--all", "--limit", "1", "--json"])
        .ok()
        .json();
    let actions: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["key.revoke", "key.create"]);
}

#[test]
#[rustfmt::skip]
fn exit_codes_name_the_class_of_failure() {
    let w = main_worker();
    let team = fresh_team("cli");
    let url = ("KEYWARD_URL", w.url.as_str());
    let token = ("KEYWARD_ADMIN_TOKEN", w.admin_token.as_str());
    let check = |env: &[(&str, &str)], args: &[&str], code: i32, stderr: &str| {
        let run = keyward_with(env, args, "");
        assert_eq!(run.code, code, "keyward {args:?}:\n{}", run.stderr);
        assert!(run.stderr.contains(stderr), "keyward {args:?}:\n{}", run.stderr);
        assert_eq!(run.stdout, "", "keyward {args:?}");
    };
    // 2: usage.
    check(&[url, token], &["create", &team], 2, "--name <NAME>");
    check(&[url, token], &["frobnicate"], 2, "unrecognized subcommand");
    check(&[url, token], &["create", &team, "--name", "x y z", "--meta", "{oops"], 2, "is not valid JSON");
    check(&[url, token], &["update", &team, "key_abc"], 2, "required");
    check(&[token], &["list", &team], 2, "KEYWARD_URL is not set");
    check(&[url], &["list", &team], 2, "KEYWARD_ADMIN_TOKEN is not set");
    check(&[("KEYWARD_URL", "localhost:8787"), token], &["list", &team], 2, "not a worker URL");
    // 3: denied.
    let wrong = format!("{}x", &w.admin_token[1..]);
    check(&[url, ("KEYWARD_ADMIN_TOKEN", &wrong)], &["list", &team], 3, "error: INVALID_KEY: ");
    assert!(!keyward_with(&[url, ("KEYWARD_ADMIN_TOKEN", &wrong)], &["list", &team], "").stderr.contains(&wrong));
    // 4: other client errors.
    check(&[url, token], &["get", &team, "key_doesnotexist"], 4, "error: NOT_FOUND: ");
    check(&[url, token], &["create", &team, "--name", "x"], 4, "error: VALIDATION_FAILED: ");
    check(&[url, token], &["create", &team, "--name", "x"], 4, "\n  name: ");
    check(&[url, token], &["create", "Not A Team", "--name", "abc"], 4, "\n  team: ");
    // 5: no server.
    let closed = format!("http://127.0.0.1:{}", free_port());
    check(&[("KEYWARD_URL", &closed), token], &["list", &team], 5, "error: no usable reply: ");
    // --url wins over KEYWARD_URL.
    let run = keyward_with(&[("KEYWARD_URL", &closed), token], &["--url", &w.url, "list", &team], "");
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn help_documents_the_environment_and_exit_codes() {
    let run = keyward_with(&[], &["--help"], "").ok();
    for text in [
        "KEYWARD_URL",
        "KEYWARD_ADMIN_TOKEN",
        "Exit codes",
        "3  denied",
        "create",
        "import",
        "audit",
    ] {
        assert!(
            run.stdout.contains(text),
            "{text} missing in:\n{}",
            run.stdout
        );
    }
}
