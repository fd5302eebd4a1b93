//! A real `stockade serve` on 127.0.0.1 with real jailed worker processes, for end-to-end tests.
#![allow(dead_code)]

pub mod hashing;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Daemon {
    child: Child,
    /// The API's address, as the daemon wrote it once listening (it binds port 0).
    pub base: String,
    /// The metrics listener's address, when the config set `metrics_listen`.
    pub metrics_base: Option<String>,
    pub dir: PathBuf,
    /// Leave `dir` (the data folder among it) when dropped.
    pub keep_dir: bool,
}

pub const OPERATOR: &str = "operator-token-0123456789";

/// Config for tests whose requests are not about CPU: a 5 s CPU cap in place of the 50 ms
/// default. Some requests of a debug build spend a good part of 50 ms (the first use of a lazy
/// group in a fresh process, tens of RPC calls); an audit with the default lowered to 17 ms
/// found them, and a loaded CI machine pushed two past 50 ms (stops 41 and 42).
pub const CPU_NOT_TESTED: &str = "[limits]\ncpu_ms = 5000\n";

pub fn tenant_token(i: usize) -> String {
    format!("tenant-{i}-token-abcdefghij")
}

/// Waits until the daemon has written the addresses it listens on (`--address-file`), or
/// panics if it exits first: a test then never talks to another test's daemon.
fn wait_for_addresses(child: &mut Child, file: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(file) {
            return text;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the daemon exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the daemon did not listen within 60 s");
}

impl Daemon {
    /// Starts a daemon with `tenants` tenants (`t0`..), `workers` processes, jailed.
    pub fn start(tag: &str, tenants: usize, workers: usize, extra: &str) -> Daemon {
        Daemon::start_with(tag, &vec!["normal"; tenants], workers, extra, &[])
    }

    /// Starts a daemon with one tenant `t{i}` per entry of `trust` (`trusted`, `normal`, `low`),
    /// `workers` warm processes, `extra` config and `env` added to the daemon's environment.
    pub fn start_with(
        tag: &str,
        trust: &[&str],
        workers: usize,
        extra: &str,
        env: &[(&str, &str)],
    ) -> Daemon {
        let mut tail = format!("{extra}\n");
        for (i, trust) in trust.iter().enumerate() {
            tail.push_str(&format!(
                "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\ntrust = \"{trust}\"\n",
                tenant_token(i)
            ));
        }
        Daemon::launch(tag, workers, &tail, env, false)
    }

    /// Starts a daemon whose config is `tail` after `listen`, `workers` and `operator_token`
    /// (so it names its own tenants), with its stderr kept in a file (see [`Daemon::stderr`]).
    pub fn start_raw(tag: &str, workers: usize, tail: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::launch(tag, workers, tail, env, true)
    }

    /// [`Daemon::start_raw`], the daemon's file-descriptor limit (soft and hard) set to `nofile`.
    pub fn start_limited(tag: &str, workers: usize, tail: &str, nofile: u64) -> Daemon {
        Daemon::launch_with(tag, workers, tail, &[], true, Some(nofile))
    }

    /// The daemon's configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("stockade.toml")
    }

    fn launch(
        tag: &str,
        workers: usize,
        tail: &str,
        env: &[(&str, &str)],
        capture: bool,
    ) -> Daemon {
        Daemon::launch_with(tag, workers, tail, env, capture, None)
    }

    fn launch_with(
        tag: &str,
        workers: usize,
        tail: &str,
        env: &[(&str, &str)],
        capture: bool,
        nofile: Option<u64>,
    ) -> Daemon {
        // A folder of its own per daemon, also when two tests of one binary start daemons of the
        // same tag at once (stop 33's CI: one's start removed the other's configuration, and both
        // tests talked to one daemon until one's end stopped it).
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("stockade-e2e-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        Daemon::launch_in(dir, workers, tail, env, capture, nofile)
    }

    /// Starts a daemon in `dir` (kept as it is: its `data` folder is the store), whose config
    /// is `tail` after `listen`, `workers`, `operator_token` and `data_dir`; stderr kept in
    /// `dir/stderr.log`.
    pub fn start_in(dir: PathBuf, workers: usize, tail: &str, env: &[(&str, &str)]) -> Daemon {
        Daemon::launch_in(dir, workers, tail, env, true, None)
    }

    fn launch_in(
        dir: PathBuf,
        workers: usize,
        tail: &str,
        env: &[(&str, &str)],
        capture: bool,
        nofile: Option<u64>,
    ) -> Daemon {
        std::fs::create_dir_all(&dir).expect("mkdir");
        let data = dir.join("data");
        let address_file = dir.join("address");
        let _ = std::fs::remove_file(&address_file);
        let config = format!(
            "listen = \"127.0.0.1:0\"\nworkers = {workers}\noperator_token = \"{OPERATOR}\"\ndata_dir = \"{}\"\n{tail}\n",
            data.display()
        );
        let path = dir.join("stockade.toml");
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(config.as_bytes()))
            .expect("config");
        let stderr = if capture {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stderr.log"))
                .expect("stderr file");
            Stdio::from(log)
        } else {
            Stdio::inherit()
        };
        let mut command = Command::new(env!("CARGO_BIN_EXE_stockade"));
        command
            .args(["serve", "--config", path.to_str().expect("utf8")])
            .arg("--address-file")
            .arg(&address_file)
            // Whatever service manager runs the tests is not the daemon's (a test passes its own).
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_FDNAMES")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr);
        if let Some(nofile) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit(2) only, between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit {
                        rlim_cur: nofile,
                        rlim_max: nofile,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().expect("spawn daemon");
        let addresses = wait_for_addresses(&mut child, &address_file);
        let mut lines = addresses.lines().map(str::to_string);
        let daemon = Daemon {
            child,
            base: lines.next().expect("the API's address"),
            metrics_base: lines.next(),
            dir,
            keep_dir: false,
        };
        daemon.wait_ready(workers);
        daemon
    }

    /// What the daemon wrote on stderr so far (a daemon from [`Daemon::start_raw`]).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default()
    }

    fn wait_ready(&self, workers: usize) {
        let client = client();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = client
                .get(format!("{}/v1/admin/workers", self.base))
                .bearer_auth(OPERATOR)
                .send()
            {
                if let Ok(v) = r.json::<serde_json::Value>() {
                    // Ready: the worker has greeted (jail report checked) and warmed up.
                    let up = v["workers"]
                        .as_array()
                        .map_or(0, |a| a.iter().filter(|w| w["ready"] == true).count());
                    if up >= workers {
                        return;
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("daemon did not become ready");
    }

    /// Kills the supervisor with SIGKILL (no drain, no flush) and waits for it; its folder is
    /// kept for a successor.
    pub fn kill9(mut self) -> PathBuf {
        // SAFETY: kill(2) on our own child's pid, which has not been waited for yet.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGKILL) };
        let _ = self.child.wait();
        self.keep_dir = true;
        self.dir.clone()
    }

    /// `GET /metrics` as the operator (which must answer 200): the exposition text.
    pub fn metrics(&self) -> String {
        let r = client()
            .get(format!("{}/metrics", self.base))
            .bearer_auth(OPERATOR)
            .send()
            .expect("metrics");
        assert_eq!(r.status().as_u16(), 200);
        r.text().expect("text")
    }

    /// The supervisor's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn admin(&self) -> serde_json::Value {
        client()
            .get(format!("{}/v1/admin/workers", self.base))
            .bearer_auth(OPERATOR)
            .send()
            .expect("admin")
            .json()
            .expect("json")
    }

    /// The admin listing once `ready` accepts it, polled every 20 ms for up to 20 s (requests
    /// sent from other threads reach the daemon when a loaded machine lets them, so a fixed
    /// sleep is no synchronisation); `what` names the wait in the failure.
    #[allow(dead_code)] // not every test binary waits on the listing
    pub fn until_admin(
        &self,
        what: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let admin = self.admin();
            if ready(&admin) {
                return admin;
            }
            assert!(std::time::Instant::now() < deadline, "{what}: {admin}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// Something with an HTTP API address: a daemon, or a handle on one for other threads.
pub trait Target {
    fn base(&self) -> &str;
}

/// A daemon's address, to share with threads (the `Daemon` itself owns the process).
#[derive(Clone)]
pub struct Handle {
    pub base: String,
}

impl Target for Daemon {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Target for Handle {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Daemon {
    pub fn handle(&self) -> Handle {
        Handle {
            base: self.base.clone(),
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            if !self.keep_dir {
                let _ = std::fs::remove_dir_all(&self.dir);
            }
            return;
        }
        // SAFETY: kill(2) on our own child's pid, still running (not waited for).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                if !self.keep_dir {
                    let _ = std::fs::remove_dir_all(&self.dir);
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// POST /v1/workers with one TypeScript module; returns the id.
pub fn load(d: &impl Target, token: &str, main: &str) -> String {
    let body = serde_json::json!({ "mainModule": "main.ts", "modules": { "main.ts": main } });
    load_code(d, token, &body)
}

/// `s` percent-encoded for a URL's query (unreserved characters kept).
#[allow(dead_code)] // not every test binary builds query strings
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// POST /v1/workers with a whole WorkerCode `body`; returns the id.
#[allow(dead_code)] // not every test binary creates workers this way
pub fn load_code(d: &impl Target, token: &str, body: &serde_json::Value) -> String {
    let r = client()
        .post(format!("{}/v1/workers", d.base()))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("load");
    assert_eq!(r.status().as_u16(), 201);
    r.json::<serde_json::Value>().expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// POST /v1/workers with `body`: the status and the JSON answer, whatever they are.
#[allow(dead_code)] // not every test binary creates workers this way
pub fn create_worker(
    d: &impl Target,
    token: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{}/v1/workers", d.base()))
        .bearer_auth(token)
        .json(body)
        .send()
        .expect("create");
    (r.status().as_u16(), r.json().expect("json"))
}

/// A worker of one module, `main.js` = `code`, with `env`: the status and the JSON answer.
#[allow(dead_code)] // not every test binary creates workers this way
pub fn create_with_env(
    d: &impl Target,
    token: &str,
    code: &str,
    env: serde_json::Value,
) -> (u16, serde_json::Value) {
    let body =
        serde_json::json!({ "mainModule": "main.js", "modules": { "main.js": code }, "env": env });
    create_worker(d, token, &body)
}

/// As [`create_with_env`], which must succeed; the worker's id.
#[allow(dead_code)] // not every test binary creates workers this way
pub fn load_with_env(d: &impl Target, token: &str, code: &str, env: serde_json::Value) -> String {
    let (status, v) = create_with_env(d, token, code, env);
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().expect("id").to_string()
}

/// Script text defining `frame(head)` (a host call's payload: a little-endian u32 length and
/// the head as JSON) and `ask(name, head)` (the test-only direct host call, answered as text or
/// `refused: <message>`): what an attacker calling the host without the runtime would write.
#[allow(dead_code)] // only the binding isolation tests use it
pub const DIRECT_HOST_CALL: &str = "const frame = (head) => { const h = new TextEncoder().encode(JSON.stringify(head)); const out = new Uint8Array(4 + h.length); new DataView(out.buffer).setUint32(0, h.length, true); out.set(h, 4); return out; };
const ask = (name, head) => __stockadeTestHostCall(name, frame(head)).then((b) => new TextDecoder().decode(b.subarray(4)), (e) => 'refused: ' + e.message);
";

/// The worker processes hosting `tenant` (active or draining), from the admin view.
#[allow(dead_code)] // only the placement tests look
pub fn hosting(admin: &serde_json::Value, tenant: &str) -> Vec<serde_json::Value> {
    admin["workers"]
        .as_array()
        .expect("workers")
        .iter()
        .filter(|w| {
            w["tenants"]
                .as_array()
                .is_some_and(|t| t.iter().any(|n| n == tenant))
        })
        .cloned()
        .collect()
}

/// GET a loaded worker's fetch handler at `path` as `token`, which must answer 200 with JSON:
/// that JSON.
#[allow(dead_code)] // not every test binary reads JSON answers
pub fn fetch_json(d: &impl Target, token: &str, id: &str, path: &str) -> serde_json::Value {
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/{path}", d.base()))
        .bearer_auth(token)
        .send()
        .expect("fetch");
    let status = r.status().as_u16();
    let text = r.text().expect("text");
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

/// Asserts that every item of a snippet's JSON `result` is a refusal (`"refused: ..."`).
#[allow(dead_code)] // only the binding tests look for refusals
pub fn assert_all_refused(body: &serde_json::Value) {
    let results = body["result"].as_array().expect("results");
    assert!(
        results
            .iter()
            .all(|r| r.as_str().is_some_and(|s| s.starts_with("refused: "))),
        "{body}"
    );
}

/// The status code of an HTTP/1.1 status line (0 when it has none).
pub fn status_of(line: &str) -> u16 {
    line.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// POST /v1/run as `token`: (status, JSON body).
pub fn run(d: &impl Target, token: &str, code: &str) -> (u16, serde_json::Value) {
    let r = client()
        .post(format!("{}/v1/run", d.base()))
        .bearer_auth(token)
        .json(&serde_json::json!({ "code": code }))
        .send()
        .expect("run");
    (r.status().as_u16(), r.json().expect("json"))
}

/// GET a loaded worker's fetch handler as `token`: (status, body text).
pub fn fetch(d: &impl Target, token: &str, id: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}/v1/workers/{id}/fetch/", d.base()))
        .bearer_auth(token)
        .send()
        .expect("fetch");
    (r.status().as_u16(), r.text().expect("text"))
}

/// GET `path` as `token` (none: unauthenticated): (status, JSON body).
pub fn get_json(d: &impl Target, token: Option<&str>, path: &str) -> (u16, serde_json::Value) {
    let mut request = client().get(format!("{}{path}", d.base()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().expect("get");
    (r.status().as_u16(), r.json().expect("json"))
}

/// PUT `body` (raw JSON text) to `path` as `token`: (status, JSON body).
pub fn put_json(
    d: &impl Target,
    token: Option<&str>,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let mut request = client()
        .put(format!("{}{path}", d.base()))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().expect("put");
    (r.status().as_u16(), r.json().expect("json"))
}

/// Must equal `worker::test_hooks::FORBIDDEN_SYSCALL`: a Code Mode snippet that is exactly this
/// makes a worker started with test hooks call mount(2), which the jail kills with SIGSYS.
#[allow(dead_code)] // not every test binary uses the hooks
pub const FORBIDDEN_SYSCALL: &str = "/* stockade test hook: forbidden syscall */";

/// The daemon environment that turns the test hooks on (debug builds): the forbidden syscall
/// above and `__stockadeTestHostCall` in every isolate.
#[allow(dead_code)] // not every test binary uses the hooks
pub const TEST_HOOKS: &[(&str, &str)] = &[("STOCKADE_TEST_HOOKS", "1")];

/// Code Mode: a snippet that makes one host call (`test.echo`, answered at once) and then sleeps
/// `ms` in a timer before it returns `'late'`: a request that may have acted outside its isolate.
#[allow(dead_code)] // not every test binary uses the hooks
pub fn acting_then_asleep(ms: u32) -> String {
    format!(
        "export default async () => {{ await __stockadeTestHostCall('test.echo', new \
         TextEncoder().encode('{{\"sleepMs\": 0, \"echo\": 1}}')); return new Promise((r) => \
         setTimeout(() => r('late'), {ms})); }};"
    )
}

/// Waits (20 s at most) until the supervisor has dispatched `n` `test.echo` host calls since it
/// started (`stockade_host_calls_total`): a request of [`acting_then_asleep`] has acted by then.
#[allow(dead_code)] // not every test binary uses the hooks
pub fn until_echoes(d: &Daemon, n: u64, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = d.metrics();
        let seen = metrics
            .lines()
            .find_map(|l| l.strip_prefix("stockade_host_calls_total{call=\"test.echo\"} "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if seen >= n as f64 {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {seen} test.echo calls"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// `tenant`'s risk report, asked as `token`.
#[allow(dead_code)] // not every test binary looks at risk
pub fn risk(d: &impl Target, token: &str, tenant: &str) -> serde_json::Value {
    let (status, report) = get_json(d, Some(token), &format!("/v1/tenants/{tenant}/risk"));
    assert_eq!(status, 200, "{report}");
    report
}

/// What `signal` contributes to a risk report (0 when absent).
#[allow(dead_code)] // not every test binary looks at risk
pub fn contribution(report: &serde_json::Value, signal: &str) -> f64 {
    report["signals"]
        .as_array()
        .expect("signals")
        .iter()
        .find(|s| s["signal"] == signal)
        .and_then(|s| s["contribution"].as_f64())
        .unwrap_or(0.0)
}

/// Reads one chunk of a chunked HTTP/1.1 body from a raw connection (empty at the body's end).
#[allow(dead_code)] // only the raw streaming tests read chunks
pub fn next_chunk(reader: &mut std::io::BufReader<std::net::TcpStream>) -> Vec<u8> {
    use std::io::{BufRead, Read};
    let mut line = String::new();
    reader.read_line(&mut line).expect("chunk size");
    let size = usize::from_str_radix(line.trim_end(), 16).expect("hex size");
    let mut chunk = vec![0u8; size + 2];
    reader.read_exact(&mut chunk).expect("chunk");
    chunk.truncate(size);
    chunk
}

/// A PostgreSQL schema of one test's own (runs and suites sharing the database never meet),
/// dropped when this is: declare it before the daemons that use it, so they go first.
#[allow(dead_code)] // only the PostgreSQL tests use it
pub struct PgSchema {
    /// The server's URL (`STOCKADE_TEST_PG_URL`).
    pub base: String,
    /// The schema's name, for SQL that names its tables.
    pub name: String,
    /// The URL whose connections use the schema: a daemon's `[store] url`.
    pub url: String,
}

/// A fresh schema named after `prefix` on `STOCKADE_TEST_PG_URL`'s server; `None` (the test
/// skips, saying so) when the variable is unset outside CI. Under `CI=true` it must be set.
#[allow(dead_code)]
pub fn pg_schema(prefix: &str) -> Option<PgSchema> {
    let Ok(base) = std::env::var("STOCKADE_TEST_PG_URL") else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI must run this test: set STOCKADE_TEST_PG_URL"
        );
        eprintln!("STOCKADE_TEST_PG_URL is not set: skipped");
        return None;
    };
    let name = format!(
        "{prefix}_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    pg_execute(&base, &format!("CREATE SCHEMA {name}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{name}");
    Some(PgSchema { base, name, url })
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            pg_execute(&self.base, &format!("DROP SCHEMA {} CASCADE", self.name));
        }
    }
}

/// Runs `sql` on the PostgreSQL server at `url`.
#[allow(dead_code)]
pub fn pg_execute(url: &str, sql: &str) {
    pg_query(url, sql);
}

/// The rows `sql` (one statement or several, PostgreSQL's simple protocol) answers on the
/// server at `url`, each as its columns' text.
#[allow(dead_code)]
pub fn pg_query(url: &str, sql: &str) -> Vec<Vec<Option<String>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect to PostgreSQL");
        tokio::spawn(conn);
        let messages = client.simple_query(sql).await.expect(sql);
        messages
            .iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => None,
            })
            .collect()
    })
}
