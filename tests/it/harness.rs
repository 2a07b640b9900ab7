//! Starts and stops the real processes the end-to-end tests drive: the echo origin
//! (`demo/origin.mjs`) and `wrangler dev` (workerd, local KV) on ephemeral ports,
//! each with its own state directory. Every wait is bounded; every process is
//! stopped when its handle drops or, for shared instances, when the test binary exits.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A free TCP port on loopback for a child to take: bound, then released. Ports
/// come from 20000-32767, below the kernel's ephemeral range, so no outgoing
/// connection can take one in between, and none is handed out twice per run.
pub fn free_port() -> u16 {
    static NEXT: Mutex<Option<u16>> = Mutex::new(None);
    let mut next = NEXT.lock().unwrap();
    let mut port = next.unwrap_or_else(|| {
        let mut b = [0u8; 2];
        getrandom(&mut b);
        20_000 + u16::from_le_bytes(b) % 10_000
    });
    for _ in 0..2_000 {
        port = if port >= 32_767 { 20_000 } else { port + 1 };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            *next = Some(port);
            return port;
        }
    }
    panic!("no free port in 20000-32767")
}

/// Process groups to kill when the test binary exits.
static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

extern "C" fn kill_groups_at_exit() {
    if let Ok(groups) = GROUPS.lock() {
        for &pgid in groups.iter() {
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}

fn register_group(pgid: i32) {
    static AT_EXIT: OnceLock<()> = OnceLock::new();
    AT_EXIT.get_or_init(|| unsafe {
        libc::atexit(kill_groups_at_exit);
    });
    GROUPS.lock().unwrap().push(pgid);
}

type SpawnRequest = (Command, std::sync::mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from one thread that lives as long as the test binary: a parent-death
/// signal fires when the spawning *thread* ends, so children must not be spawned
/// from the short-lived test threads.
fn spawn_from_keeper(cmd: Command) -> std::io::Result<Child> {
    static KEEPER: OnceLock<Mutex<std::sync::mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let keeper = KEEPER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    keeper
        .lock()
        .unwrap()
        .send((cmd, tx))
        .expect("the spawner thread");
    rx.recv().expect("the spawner thread")
}

/// A child process in its own process group, killed (with its children) on drop.
pub struct Proc {
    child: Child,
    /// Everything the process wrote to stdout and stderr so far.
    pub output: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(
        mut cmd: Command,
        ready: impl Fn(&str) -> bool + Send + Sync + 'static,
    ) -> (Proc, std::sync::mpsc::Receiver<()>) {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.process_group(0);
        unsafe {
            cmd.pre_exec(|| {
                // If the test binary dies, so does the child.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let program = format!("{:?}", cmd.get_program());
        let mut child =
            spawn_from_keeper(cmd).unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        register_group(child.id() as i32);
        let output = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let ready = Arc::new(ready);
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let output = output.clone();
            let tx = tx.clone();
            let ready = ready.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if ready(&line) {
                        let _ = tx.send(());
                    }
                    let mut out = output.lock().unwrap();
                    out.push_str(&line);
                    out.push('\n');
                }
            });
        }
        (Proc { child, output }, rx)
    }

    fn output_text(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pgid = self.child.id() as i32;
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        GROUPS.lock().unwrap().retain(|&g| g != pgid);
    }
}

/// Runs a tool of the project (`node_modules/.bin`, with Node 22 first on PATH)
/// with `args` and `env` in the project's root, to its end, within `limit`: its
/// success, and everything it wrote. One past the limit is killed, and fails.
pub fn run_tool(
    tool: &str,
    args: &[&str],
    env: &[(&str, &str)],
    limit: Duration,
) -> (bool, String) {
    let mut cmd = Command::new(root().join("node_modules/.bin").join(tool));
    cmd.current_dir(root()).env("PATH", tool_path()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let (mut proc_, _) = Proc::spawn(cmd, |_| false);
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Ok(Some(status)) = proc_.child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    // The readers finish what the tool wrote before its end.
    std::thread::sleep(Duration::from_millis(200));
    let output = proc_.output_text();
    match status {
        Some(s) => (s.success(), output),
        None => (
            false,
            format!("{output}\n(killed after {} s)", limit.as_secs()),
        ),
    }
}

/// PATH with the project's `node_modules/.bin` (wrangler, Node 22) first.
fn tool_path() -> String {
    format!(
        "{}:{}",
        root().join("node_modules/.bin").display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The echo origin.
pub struct Origin {
    /// Its base URL.
    pub url: String,
    _proc: Proc,
}

impl Origin {
    /// Starts `demo/origin.mjs` on a free port; waits at most 15 s for it.
    pub fn start() -> Origin {
        let mut cmd = Command::new("node");
        cmd.arg(root().join("demo/origin.mjs"))
            .args(["--port", "0"])
            .env("PATH", tool_path());
        let port = Arc::new(Mutex::new(None::<u16>));
        let p = port.clone();
        let (proc_, rx) = Proc::spawn(cmd, move |line| {
            if let Some(n) = line.strip_prefix("listening ") {
                *p.lock().unwrap() = n.trim().parse().ok();
                return true;
            }
            false
        });
        rx.recv_timeout(Duration::from_secs(15))
            .unwrap_or_else(|_| panic!("the echo origin did not start:\n{}", proc_.output_text()));
        let port = port.lock().unwrap().expect("a port");
        Origin {
            url: format!("http://127.0.0.1:{port}"),
            _proc: proc_,
        }
    }
}

/// How to start one `wrangler dev`.
pub struct WorkerOptions {
    /// Keep the `KEYS` KV binding (false simulates a missing or failing namespace).
    pub kv: bool,
    /// Keep the `KEY_AUTHORITY` Durable Object binding (false: a failing rate limiter).
    pub authority: bool,
    /// `--var NAME:VALUE` overrides.
    pub vars: Vec<(String, String)>,
    /// The state directory (`--persist-to`); a fresh one when `None`.
    pub state: Option<PathBuf>,
    /// Another entry module (relative to the project root) in place of
    /// `src/shell/entry.mjs`: a test's wrapper around the worker.
    pub main: Option<&'static str>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            kv: true,
            authority: true,
            vars: vec![],
            state: None,
            main: None,
        }
    }
}

/// A running `wrangler dev` serving the built worker.
pub struct Worker {
    /// Its base URL.
    pub url: String,
    /// The admin token written to its `.dev.vars`.
    pub admin_token: String,
    /// Its state directory.
    pub state: PathBuf,
    proc_: Arc<Proc>,
    _dir: Arc<TempDir>,
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory under the system temp dir.
    pub fn new(tag: &str) -> TempDir {
        let mut bytes = [0u8; 8];
        getrandom(&mut bytes);
        let dir = std::env::temp_dir().join(format!("keyward-{tag}-{}", hex::encode(bytes)));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Random bytes from the OS.
pub fn getrandom(buf: &mut [u8]) {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .expect("/dev/urandom");
}

/// One request a [`Receiver`] took.
#[derive(Debug, Clone)]
pub struct Received {
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The status it answered.
    pub status: u16,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a [`Receiver`] answers one request, other than 200.
#[derive(Debug, Clone)]
pub enum Answer {
    /// 500.
    Fail,
    /// 307 to this URL.
    Redirect(String),
    /// No answer for this long, then 200.
    Stall(Duration),
}

/// A local webhook receiver: records every request and answers 200, or as told
/// for the next requests ([`Receiver::fail_next`], [`Receiver::answer_next`]).
pub struct Receiver {
    /// Its URL.
    pub url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    next: std::sync::Arc<std::sync::Mutex<std::collections::VecDeque<Answer>>>,
}

impl Receiver {
    /// Listens on a free loopback port.
    pub fn start() -> Receiver {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let next = std::sync::Arc::new(std::sync::Mutex::new(std::collections::VecDeque::new()));
        let (g, f) = (got.clone(), next.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(&stream);
                let mut headers = Vec::new();
                let mut line = String::new();
                let _ = reader.read_line(&mut line); // the request line
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                    }
                }
                let len = headers
                    .iter()
                    .find(|(k, _)| k == "content-length")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                let _ = reader.read_exact(&mut body);
                let answer = f.lock().unwrap().pop_front();
                let (status, extra) = match answer {
                    None => (200, String::new()),
                    Some(Answer::Fail) => (500, String::new()),
                    Some(Answer::Redirect(to)) => (307, format!("location: {to}\r\n")),
                    Some(Answer::Stall(d)) => {
                        std::thread::sleep(d);
                        (200, String::new())
                    }
                };
                g.lock().unwrap().push(Received {
                    headers,
                    body,
                    status,
                });
                let _ = (&stream).write_all(
                    format!(
                        "HTTP/1.1 {status} X\r\n{extra}content-length: 0\r\nconnection: close\r\n\r\n"
                    )
                    .as_bytes(),
                );
            }
        });
        Receiver { url, got, next }
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Answers 500 to the next `n` requests.
    pub fn fail_next(&self, n: usize) {
        for _ in 0..n {
            self.answer_next(Answer::Fail);
        }
    }

    /// Answers the next request (after those already told) with `answer`.
    pub fn answer_next(&self, answer: Answer) {
        self.next.lock().unwrap().push_back(answer);
    }

    /// Waits (at most `timeout`) until `n` requests arrived; returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Sends `head` (the request line and headers, each ending in CRLF, without the
/// blank line) and `body` as they are over a fresh connection to `base`
/// (`http://host:port`), and reads the whole response, within 30 s. For input
/// no HTTP client library would send: duplicate headers, raw bytes, odd paths.
pub fn raw_request(base: &str, head: &[u8], body: &[u8]) -> Resp {
    use std::io::Write;
    use std::net::TcpStream;
    let addr = base.strip_prefix("http://").expect("an http:// base");
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut req = head.to_vec();
    req.extend_from_slice(
        format!(
            "Host: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    req.extend_from_slice(body);
    stream.write_all(&req).expect("write");
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete response: {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = body.as_slice();
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            let start = end + 2;
            out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
            rest = &rest[(start + size + 2).min(rest.len())..];
        }
        body = out;
    }
    Resp {
        status,
        headers,
        body,
    }
}

/// A team id no other test uses: `<tag>-<8 hex>`.
pub fn fresh_team(tag: &str) -> String {
    let mut b = [0u8; 4];
    getrandom(&mut b);
    format!("{tag}-{}", hex::encode(b))
}

/// Refuses to test a build older than its sources: a test run against a stale
/// `build/` would judge yesterday's worker. (`scripts/test.sh` builds first.)
fn assert_fresh_build() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let modified = |p: &std::path::Path| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        };
        let built = modified(&root().join("build/index_bg.wasm"));
        let mut stack = vec![root().join("src")];
        let mut newer = Vec::new();
        for file in ["Cargo.toml", "Cargo.lock"] {
            if modified(&root().join(file)) > built {
                newer.push(file.to_string());
            }
        }
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    // A module of tests alone is no part of the build.
                    && !path.ends_with("tests.rs")
                    && modified(&path) > built
                {
                    newer.push(path.display().to_string());
                }
            }
        }
        assert!(
            newer.is_empty(),
            "build/ is older than {newer:?}: run scripts/build.sh (scripts/test.sh does) before the end-to-end tests"
        );
    });
}

/// The shipped `wrangler.toml`, made runnable from another directory: no build
/// step (the tests run the build that `scripts/test.sh` made), an absolute `main`,
/// and optionally without the KV or the Durable Object binding.
fn test_config(opts: &WorkerOptions) -> String {
    let shipped = std::fs::read_to_string(root().join("wrangler.toml")).expect("wrangler.toml");
    let built = root().join("build/index.js");
    assert!(
        built.exists(),
        "{} is missing: build the worker first (scripts/test.sh does)",
        built.display()
    );
    assert_fresh_build();
    let main = root().join(opts.main.unwrap_or("src/shell/entry.mjs"));
    // Split into blocks, each starting at a `[table]` header, and drop whole blocks.
    let mut blocks: Vec<String> = vec![String::new()];
    for line in shipped.lines() {
        if line.trim().starts_with('[') {
            blocks.push(String::new());
        }
        let last = blocks.last_mut().expect("one block at least");
        if line.trim().starts_with("main = ") {
            last.push_str(&format!("main = {:?}\n", main.display().to_string()));
        } else if line.trim().starts_with("directory = ") {
            let console = root().join("console");
            last.push_str(&format!(
                "directory = {:?}\n",
                console.display().to_string()
            ));
        } else {
            last.push_str(line);
            last.push('\n');
        }
    }
    let mut out = String::new();
    for block in blocks {
        let header = block.lines().next().unwrap_or("").trim();
        let skip = header == "[build]"
            || (!opts.kv && header == "[[kv_namespaces]]")
            || (!opts.authority
                && header == "[[durable_objects.bindings]]"
                && block.contains("\"KEY_AUTHORITY\""));
        if !skip {
            out.push_str(&block);
        }
    }
    out
}

impl Worker {
    /// Starts two workers in one Miniflare (`tests/it/pair.mjs`), each in its own
    /// isolate, sharing one KV namespace and one set of Durable Objects (the second
    /// binds the first's classes), with these vars over the shipped ones; waits at
    /// most 60 s until both answer.
    pub fn pair(vars: &[(String, String)]) -> (Worker, Worker) {
        Worker::pair_with("src/shell/entry.mjs", vars)
    }

    /// [`Worker::pair`] with `main` (relative to the repository) as both
    /// workers' entry module, such as `tests/it/lagging.mjs`.
    pub fn pair_with(main: &str, vars: &[(String, String)]) -> (Worker, Worker) {
        let dir = TempDir::new("pair");
        let mut token = [0u8; 24];
        getrandom(&mut token);
        let admin_token = hex::encode(token);
        let mut all = serde_json::Map::new();
        all.insert("ADMIN_TOKEN".into(), admin_token.clone().into());
        for (k, v) in vars {
            all.insert(k.clone(), v.clone().into());
        }
        let (port_a, port_b) = (free_port(), free_port());
        let state = dir.0.join("state");
        let mut cmd = Command::new("node");
        cmd.env("PATH", tool_path())
            .arg(root().join("tests/it/pair.mjs"))
            .args([port_a.to_string(), port_b.to_string()])
            .arg(&state)
            .arg(serde_json::Value::Object(all).to_string())
            .arg(main);
        let (proc_, ready) = Proc::spawn(cmd, |line| line == "ready");
        if ready.recv_timeout(Duration::from_secs(60)).is_err() {
            panic!(
                "the pair of workers did not start:\n{}",
                proc_.output_text()
            );
        }
        let (proc_, dir) = (Arc::new(proc_), Arc::new(dir));
        let worker = |port: u16| Worker {
            url: format!("http://127.0.0.1:{port}"),
            admin_token: admin_token.clone(),
            state: state.clone(),
            proc_: proc_.clone(),
            _dir: dir.clone(),
        };
        (worker(port_a), worker(port_b))
    }

    /// Starts `wrangler dev` on free ports and waits (at most 90 s) until it answers.
    pub fn start(opts: WorkerOptions) -> Worker {
        let dir = TempDir::new("worker");
        std::fs::write(dir.0.join("wrangler.toml"), test_config(&opts)).unwrap();
        let mut token = [0u8; 24];
        getrandom(&mut token);
        let admin_token = hex::encode(token);
        std::fs::write(
            dir.0.join(".dev.vars"),
            format!("ADMIN_TOKEN=\"{admin_token}\"\n"),
        )
        .unwrap();
        let state = opts.state.clone().unwrap_or_else(|| dir.0.join("state"));
        let port = free_port();
        let mut cmd = Command::new(root().join("node_modules/.bin/wrangler"));
        cmd.current_dir(&dir.0)
            .env("PATH", tool_path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .env("CI", "true")
            .args(["dev", "--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(&state)
            .args(["--log-level", "log", "--show-interactive-dev-session=false"])
            .arg("--test-scheduled");
        for (name, value) in &opts.vars {
            cmd.arg("--var").arg(format!("{name}:{value}"));
        }
        let (proc_, _ready) = Proc::spawn(cmd, |_| false);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let probe = ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(5))
                .build()
                .get(&format!("{url}/_keyward/health"))
                .call();
            // Only keyward's own answer counts: 200, or a problem (a misconfigured
            // worker), never whatever else might hold the port.
            match probe {
                Ok(r) if r.status() == 200 => break,
                Err(ureq::Error::Status(_, r))
                    if r.content_type() == "application/problem+json" =>
                {
                    break
                }
                _ if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(250)),
                other => panic!(
                    "wrangler dev did not answer in 90 s ({:?}):\n{}",
                    other.map(|r| r.status()),
                    proc_.output_text()
                ),
            }
        }
        Worker {
            url,
            admin_token,
            state,
            proc_: Arc::new(proc_),
            _dir: Arc::new(dir),
        }
    }

    /// Writes `value` under `key` in the worker's local `KEYS` namespace, behind its
    /// back (`wrangler kv key put --local` on its state directory): for records that
    /// the admin API would never write.
    pub fn kv_put(&self, key: &str, value: &str) {
        let out = Command::new(root().join("node_modules/.bin/wrangler"))
            .current_dir(&self._dir.0)
            .env("PATH", tool_path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CI", "true")
            .args([
                "kv",
                "key",
                "put",
                "--binding",
                "KEYS",
                "--local",
                "--persist-to",
            ])
            .arg(&self.state)
            .args([key, value])
            .stdin(Stdio::null())
            .output()
            .expect("wrangler kv key put");
        assert!(
            out.status.success(),
            "kv put failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether the worker logs `needle` within 10 s (its output arrives through
    /// wrangler's, a little after the response).
    pub fn logged(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if self.logs().contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Everything wrangler and the worker logged so far.
    pub fn logs(&self) -> String {
        self.proc_.output_text()
    }

    /// A request builder for `path` on this worker.
    pub fn req(&self, method: &str, path: &str) -> ureq::Request {
        agent().request(method, &format!("{}{path}", self.url))
    }

    /// This isolate's calls to its Durable Objects so far, by binding and call
    /// (`TEAM_DIRECTORY/directory`), as `tests/it/lagging.mjs` counts them.
    pub fn object_calls(&self) -> std::collections::BTreeMap<String, u64> {
        let r = send(self.req("GET", "/_test/object-calls"));
        assert_eq!(r.status, 200, "{}", r.text());
        serde_json::from_value(r.json()["calls"].clone()).unwrap()
    }

    /// Throws a switch of `tests/it/flaky.mjs` (`objects/down`, `hold/on`, …).
    pub fn switch(&self, switch: &str) {
        let r = send(self.req("GET", &format!("/_test/{switch}")));
        assert_eq!(r.status, 200, "{switch}: {}", r.text());
    }

    /// Kills the worker's whole process group with SIGKILL, as a crash would:
    /// nothing it holds in memory is written, no request in flight is answered.
    /// Start another on the same `state` to see what survived.
    pub fn crash(&self) {
        let pgid = self.proc_.child.id() as i32;
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }

    /// Sends a request, with `None` for one that got no whole answer (the
    /// worker died under it).
    pub fn try_send(req: ureq::Request) -> Option<Resp> {
        match req.call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => Resp::read(r),
            Err(_) => None,
        }
    }

    /// A request with `key` as its bearer credential.
    pub fn keyed(&self, method: &str, path: &str, key: &str) -> ureq::Request {
        self.req(method, path)
            .set("authorization", &format!("Bearer {key}"))
    }

    /// `GET /documents/1` with `key`: a key's plain use of the origin.
    pub fn read(&self, key: &str) -> Resp {
        send(self.keyed("GET", "/documents/1", key))
    }

    /// The admin view of a key (`GET /teams/{team}/keys/{id}`), which must exist.
    pub fn view(&self, team: &str, id: &str) -> Value {
        let r = send(self.admin("GET", &format!("/teams/{team}/keys/{id}")));
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    /// A request to the admin API, authorized with the admin token.
    pub fn admin(&self, method: &str, path: &str) -> ureq::Request {
        self.req(method, &format!("/_keyward/v1{path}"))
            .set("authorization", &format!("Bearer {}", self.admin_token))
    }

    /// Issues a key for `team` with `body` (JSON) and returns (key, reply).
    pub fn issue(&self, team: &str, body: Value) -> (String, Value) {
        let r = send_json(self.admin("POST", &format!("/teams/{team}/keys")), &body);
        assert_eq!(r.status, 201, "issue failed: {}", r.text());
        let v = r.json();
        let key = v["key"].as_str().expect("a key in the reply").to_string();
        ISSUED.lock().unwrap().push(key.clone());
        (key, v)
    }
}

/// Every plaintext key the suite issued through [`Worker::issue`], so far.
static ISSUED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The keys issued so far in this run.
pub fn issued_keys() -> Vec<String> {
    ISSUED.lock().unwrap().clone()
}

fn agent() -> ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT
        .get_or_init(|| {
            ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(60))
                .redirects(0)
                .build()
        })
        .clone()
}

/// A response, read whole.
pub struct Resp {
    /// HTTP status.
    pub status: u16,
    /// Lowercase header names with their values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Resp {
    fn from(r: ureq::Response) -> Resp {
        Resp::read(r).expect("read the body")
    }

    /// The response, or `None` when its body could not be read whole.
    fn read(r: ureq::Response) -> Option<Resp> {
        let status = r.status();
        let headers = r
            .headers_names()
            .into_iter()
            .flat_map(|n| {
                r.all(&n)
                    .into_iter()
                    .map(|v| (n.to_ascii_lowercase(), v.to_string()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let mut body = Vec::new();
        r.into_reader()
            .take(64 * 1024 * 1024)
            .read_to_end(&mut body)
            .ok()?;
        Some(Resp {
            status,
            headers,
            body,
        })
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): status {} {}", self.status, self.text()))
    }
}

fn finish(result: Result<ureq::Response, ureq::Error>) -> Resp {
    match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => Resp::from(r),
        Err(e) => panic!("request failed: {e}"),
    }
}

/// Sends a request without a body.
pub fn send(req: ureq::Request) -> Resp {
    finish(req.call())
}

/// Sends a request with a JSON body.
pub fn send_json(req: ureq::Request, body: &Value) -> Resp {
    finish(
        req.set("content-type", "application/json")
            .send_bytes(body.to_string().as_bytes()),
    )
}

/// Sends a request with a raw body.
pub fn send_bytes(req: ureq::Request, body: &[u8]) -> Resp {
    finish(req.send_bytes(body))
}

/// Sends a request with a streamed body (chunked).
pub fn send_reader(req: ureq::Request, body: impl Read) -> Resp {
    finish(req.send(body))
}

/// Asserts the response is an RFC 9457 problem with `code` and `status`, and
/// returns its body.
#[track_caller]
pub fn assert_problem(r: &Resp, status: u16, code: &str) -> Value {
    assert_eq!(
        (r.status, r.header("content-type")),
        (status, Some("application/problem+json")),
        "expected {status} {code}, got: {}",
        r.text()
    );
    let v = r.json();
    assert_eq!(v["code"], code, "{v}");
    assert_eq!(v["status"], status, "{v}");
    for field in ["type", "title", "detail", "request_id"] {
        assert!(
            v[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} missing in {v}"
        );
    }
    assert!(v["type"]
        .as_str()
        .unwrap()
        .ends_with(&code.to_ascii_lowercase().replace('_', "-")));
    v
}

/// Unix seconds now.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A WebSocket origin (tungstenite, one thread per connection): echoes every text
/// message as `echo: <message>`, selects the subprotocol `chat` when offered, and
/// answers a plain `200` (`plain`, then closes) to an upgrade of a path ending in
/// `/plain`. It keeps the path (as `:path`) and the headers of every upgrade.
pub struct WsOrigin {
    /// Its base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    seen: Arc<Mutex<Vec<Headers>>>,
}

/// Header names (lowercase) and values, in order.
pub type Headers = Vec<(String, String)>;

/// A stream that first replays bytes already read from it.
struct Replay {
    head: std::io::Cursor<Vec<u8>>,
    stream: std::net::TcpStream,
}

impl Read for Replay {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.head.read(buf)? {
            0 => self.stream.read(buf),
            n => Ok(n),
        }
    }
}

impl std::io::Write for Replay {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

impl WsOrigin {
    /// Listens on a free loopback port.
    #[allow(clippy::result_large_err)] // tungstenite's handshake callback type
    pub fn start() -> WsOrigin {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    // The request head, read here, then replayed to tungstenite.
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match stream.read(&mut byte) {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let mut lines = text.lines();
                    let path = lines
                        .next()
                        .and_then(|l| l.split(' ').nth(1))
                        .unwrap_or("")
                        .to_string();
                    let mut headers = vec![(":path".to_string(), path.clone())];
                    for line in lines {
                        if let Some((k, v)) = line.split_once(':') {
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                        }
                    }
                    let offered = headers
                        .iter()
                        .find(|(k, _)| k == "sec-websocket-protocol")
                        .map(|(_, v)| v.clone())
                        .unwrap_or_default();
                    s.lock().unwrap().push(headers);
                    if path.ends_with("/plain") {
                        let _ = stream.write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 5\r\nconnection: close\r\n\r\nplain",
                        );
                        let _ = stream.shutdown(std::net::Shutdown::Write);
                        let _ = stream.read(&mut [0u8; 64]);
                        return;
                    }
                    let replay = Replay {
                        head: std::io::Cursor::new(head),
                        stream,
                    };
                    let chat = offered.split(',').any(|p| p.trim() == "chat");
                    let callback = |_: &tungstenite::handshake::server::Request,
                                    mut resp: tungstenite::handshake::server::Response| {
                        if chat {
                            resp.headers_mut()
                                .insert("sec-websocket-protocol", "chat".parse().unwrap());
                        }
                        Ok(resp)
                    };
                    let Ok(mut ws) = tungstenite::accept_hdr(replay, callback) else {
                        return;
                    };
                    while let Ok(msg) = ws.read() {
                        let answer = match msg {
                            tungstenite::Message::Text(t) => format!("echo: {t}"),
                            tungstenite::Message::Close(_) => break,
                            _ => continue,
                        };
                        if ws.send(answer.into()).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        WsOrigin { url, seen }
    }

    /// The headers of every upgrade it saw, in order.
    pub fn seen(&self) -> Vec<Headers> {
        self.seen.lock().unwrap().clone()
    }
}
