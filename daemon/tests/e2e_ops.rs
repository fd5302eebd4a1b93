//! Running as a service: `stockade check-config`, refusing a configuration without an operator,
//! a start that fails naming its step, the service manager's notifications and passed sockets, and
//! `SIGHUP` reloading tenants and tokens in a running daemon.
mod common;
#[path = "../src/egress/test_upstream.rs"]
mod upstream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// An empty folder of this test run's own, `stockade-ops-{tag}-{pid}` under the temp dir.
fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stockade-ops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// `text` as `stockade.toml` in the folder of `tag` (made if missing, its other files kept).
fn temp_config(tag: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("stockade-ops-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let path = dir.join("stockade.toml");
    std::fs::write(&path, text).expect("write");
    path
}

fn check_config(path: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["check-config", path.to_str().expect("utf8")])
        .output()
        .expect("check-config");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const TENANT: &str = "[[tenants]]\nid = \"acme\"\ntoken = \"acme-token-0123456789\"\n";

#[test]
fn a_configuration_without_an_operator_is_refused_by_check_config_and_serve() {
    let path = temp_config("no-operator", TENANT);
    let (code, _, stderr) = check_config(&path);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("no operator"), "{stderr}");
    // serve refuses it too, at once, before listening.
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["serve", "--config", path.to_str().expect("utf8")])
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no operator"));
    assert!(start.elapsed() < Duration::from_secs(10));

    // Marking the tenant operator, or giving operator_token, makes it valid.
    let marked = temp_config("marked", &format!("{TENANT}operator = true\n"));
    let (code, stdout, stderr) = check_config(&marked);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("ok") && stdout.contains("operator: tenant(s) acme"),
        "{stdout}"
    );
    let token = temp_config(
        "token",
        &format!("operator_token = \"operator-token-0123456789\"\n{TENANT}"),
    );
    let (code, stdout, _) = check_config(&token);
    assert_eq!(code, 0);
    assert!(stdout.contains("operator: operator_token"), "{stdout}");
    // Anything serve would refuse, check-config refuses, naming it.
    let bad = temp_config(
        "bad",
        &format!("operator_token = \"operator-token-0123456789\"\n{TENANT}trust = \"gold\"\n"),
    );
    let (code, _, stderr) = check_config(&bad);
    assert_eq!(code, 2);
    assert!(stderr.contains("trust must be"), "{stderr}");
    let (code, _, stderr) = check_config(std::path::Path::new("/nonexistent/stockade.toml"));
    assert_eq!(code, 2);
    assert!(stderr.contains("/nonexistent/stockade.toml"), "{stderr}");
}

#[test]
fn a_typo_on_a_secrets_line_is_refused_without_printing_the_secret() {
    let head = "operator_token = \"operator-token-0123456789\"\n";
    // A typo on a secret's line (line 6), or a value of the wrong type there: check-config and
    // serve say where and what, never the value (toml's excerpt of the line used to show it).
    for (tag, line) in [
        ("secret-quote", "api_key = \"TOPSECRET-VALUE"),
        ("secret-type", "api_key = 4242424242"),
        ("secret-bare", "api_key = TOPSECRET-VALUE"),
    ] {
        let path = temp_config(tag, &format!("{head}{TENANT}[tenants.secrets]\n{line}\n"));
        let (code, stdout, stderr) = check_config(&path);
        assert_eq!(code, 2, "{stdout}{stderr}");
        assert!(stderr.contains("line 6, column"), "{stderr}");
        for out in [&stdout, &stderr] {
            assert!(
                !out.contains("TOPSECRET") && !out.contains("4242424242"),
                "{out}"
            );
        }
        let (code, stderr) = serve_to_the_end(&path, &[]);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("line 6, column"), "{stderr}");
        assert!(
            !stderr.contains("TOPSECRET") && !stderr.contains("4242424242"),
            "{stderr}"
        );
    }
}

#[test]
fn an_operator_token_shared_with_a_tenant_or_a_token_no_request_could_present_is_refused() {
    let head = "operator_token = \"operator-token-0123456789\"\n";
    // operator_token equal to a tenant's token would make that tenant the operator silently.
    let shared = temp_config(
        "shared-token",
        &format!("operator_token = \"acme-token-0123456789\"\n{TENANT}"),
    );
    let (code, _, stderr) = check_config(&shared);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("operator_token is also the token of tenant acme")
            && stderr.contains("operator = true"),
        "{stderr}"
    );
    assert!(!stderr.contains("acme-token-0123456789"), "{stderr}");
    let (code, stderr) = serve_to_the_end(&shared, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("operator_token is also the token of tenant acme"),
        "{stderr}"
    );
    // A token with whitespace at an end could never be presented (lookups trim).
    let spaced = temp_config(
        "spaced-token",
        &format!("{head}[[tenants]]\nid = \"acme\"\ntoken = \"acme-token-0123456789 \"\n"),
    );
    let (code, _, stderr) = check_config(&spaced);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("tenant acme: token begins or ends with whitespace"),
        "{stderr}"
    );
}

#[test]
fn a_reload_refused_for_a_typo_does_not_log_the_secret_on_that_line() {
    let d = Daemon::start_raw(
        "ops-sighup-secret",
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
            tenant_token(0)
        ),
        &[],
    );
    let config = std::fs::read_to_string(d.config_path()).expect("config");
    let lines = config.lines().count();
    std::fs::write(
        d.config_path(),
        format!("{config}[tenants.secrets]\napi_key = \"TOPSECRET-VALUE\n"),
    )
    .expect("rewrite");
    hangup(&d);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.stderr().contains("reload refused") {
        assert!(Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    let stderr = d.stderr();
    assert!(!stderr.contains("TOPSECRET"), "{stderr}");
    assert!(
        stderr.contains(&format!("line {}, column", lines + 2)),
        "{stderr}"
    );
    assert_eq!(run_status(&d, &tenant_token(0)), 200);
}

/// `stockade serve --config path [extra...]`, to its end: exit status and stderr.
fn serve_to_the_end(path: &std::path::Path, extra: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["serve", "--config", path.to_str().expect("utf8")])
        .args(extra)
        .output()
        .expect("serve");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_start_that_fails_says_which_step_and_exits_4() {
    let dir = scratch("start-fails");
    let data = dir.join("data");
    let head = format!(
        "workers = 1\noperator_token = \"operator-token-0123456789\"\ndata_dir = \"{}\"\n{TENANT}",
        data.display()
    );
    // The API's address is another socket's.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let path = temp_config("start-fails", &format!("listen = \"{addr}\"\n{head}"));
    let (code, stderr) = serve_to_the_end(&path, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}: Address already in use")),
        "{stderr}"
    );
    // So is the metrics address.
    let path = temp_config(
        "start-fails",
        &format!("listen = \"127.0.0.1:0\"\nmetrics_listen = \"{addr}\"\n{head}"),
    );
    let (code, stderr) = serve_to_the_end(&path, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr} (metrics_listen)")),
        "{stderr}"
    );
    // The address file's folder does not exist.
    let path = temp_config("start-fails", &format!("listen = \"127.0.0.1:0\"\n{head}"));
    let missing = dir.join("no-such-folder").join("address");
    let (code, stderr) = serve_to_the_end(&path, &["--address-file".as_ref(), missing.as_os_str()]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot write the address file {}",
            missing.display()
        )),
        "{stderr}"
    );
    // Written, it holds the API's address, which answers.
    let file = dir.join("address");
    let _ = std::fs::remove_file(&file);
    let _daemon = Running::serve(&path, &file);
    let base = address_written(&file).trim().to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let status = client()
        .get(format!("{base}/v1/admin/workers"))
        .bearer_auth("operator-token-0123456789")
        .send()
        .expect("the written address answers")
        .status();
    assert_eq!(status.as_u16(), 200);
}

#[test]
fn secrets_sealed_with_another_key_stop_the_start_naming_the_key_file() {
    let dir = scratch("sealed");
    let (first, second) = (dir.join("first.key"), dir.join("second.key"));
    std::fs::write(&first, "ab".repeat(32)).expect("key");
    std::fs::write(&second, "cd".repeat(32)).expect("key");
    let tail = |key: &std::path::Path| {
        format!("[store]\nsecret_key_file = \"{}\"\n{TENANT}", key.display())
    };
    let mut d = Daemon::start_in(dir.clone(), 1, &tail(&first), &[]);
    let r = client()
        .put(format!("{}/v1/tenants/acme/secrets/api_key", d.base))
        .bearer_auth("acme-token-0123456789")
        .json(&serde_json::json!({"value": "s3cret"}))
        .send()
        .expect("set a secret");
    assert!(r.status().is_success(), "{}", r.status());
    let config = d.config_path();
    d.keep_dir = true;
    drop(d);
    // The same store, the other key: the start stops at the secrets and says why.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        text.replace(&first.display().to_string(), &second.display().to_string()),
    )
    .expect("config");
    let (code, stderr) = serve_to_the_end(&config, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("the stored secrets")
            && stderr.contains("is [store] secret_key_file the key it was sealed with?"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn run_status(d: &Daemon, token: &str) -> u16 {
    client()
        .post(format!("{}/v1/run", d.base))
        .bearer_auth(token)
        .json(&serde_json::json!({ "code": "export default () => 1" }))
        .send()
        .expect("run")
        .status()
        .as_u16()
}

/// Waits (at most 10 s) until `token`'s tenant is served: a reload has taken it in.
fn wait_until_served(d: &Daemon, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while run_status(d, token) != 200 {
        assert!(
            Instant::now() < deadline,
            "the tenant never appeared:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hangup(d: &Daemon) {
    // SAFETY: kill(2) on the daemon we started.
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) }, 0);
}

/// The next notification the service manager's socket got, its lines sorted.
fn next_notification(manager: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    let mut buf = [0u8; 4096];
    let n = manager.recv(&mut buf).expect("a notification within 60 s");
    let mut lines: Vec<String> = String::from_utf8_lossy(&buf[..n])
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

#[test]
fn the_service_manager_hears_ready_reloading_and_stopping() {
    let dir = scratch("notify");
    let socket = dir.join("notify.sock");
    let manager = std::os::unix::net::UnixDatagram::bind(&socket).expect("bind");
    manager
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let path = socket.to_str().expect("utf8");
    let d = Daemon::start_raw("notify", 1, TENANT, &[("NOTIFY_SOCKET", path)]);
    assert_eq!(
        next_notification(&manager),
        vec![
            "READY=1".to_string(),
            format!("STATUS=listening on {}", d.base)
        ]
    );
    // Worker processes do not inherit the variable (nor anything else of the environment).
    let admin = d.admin();
    let pid = admin["workers"][0]["pid"].as_u64().expect("a worker's pid");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("environ");
    assert!(
        !String::from_utf8_lossy(&environ).contains("NOTIFY_SOCKET"),
        "{environ:?}"
    );
    // A reload says so, with the monotonic clock, then ready again.
    hangup(&d);
    let reloading = next_notification(&manager);
    assert_eq!(reloading.len(), 2, "{reloading:?}");
    assert!(
        reloading[0]
            .strip_prefix("MONOTONIC_USEC=")
            .is_some_and(|v| v.parse::<u64>().is_ok_and(|us| us > 0)),
        "{reloading:?}"
    );
    assert_eq!(reloading[1], "RELOADING=1");
    assert_eq!(next_notification(&manager), vec!["READY=1".to_string()]);
    // SIGTERM (what dropping the daemon sends): stopping.
    drop(d);
    assert_eq!(next_notification(&manager), vec!["STOPPING=1".to_string()]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `stockade serve --config config --address-file address` as a service manager starts it with
/// socket activation: `fds` become descriptors 3, 4, ... named `names` (`LISTEN_FDNAMES`), and
/// `LISTEN_PID` is the daemon's (the shell execs it, keeping its pid). Its stderr is piped.
fn serve_passed(
    config: &std::path::Path,
    address: &std::path::Path,
    fds: &[std::os::fd::RawFd],
    names: &str,
) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    let script = format!(
        "export LISTEN_PID=$$ LISTEN_FDS={} LISTEN_FDNAMES={names}; \
         exec \"$0\" serve --config \"$1\" --address-file \"$2\"",
        fds.len()
    );
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_stockade"))
        .arg(config)
        .arg(address)
        .stderr(std::process::Stdio::piped());
    let fds = fds.to_vec();
    // SAFETY: fcntl(2) and dup2(2) only, between fork and exec.
    unsafe {
        command.pre_exec(move || {
            // Out of the way first (a source may be 3 or 4 already; these copies close at exec),
            // then into place (dup2 leaves those open across exec).
            let mut high = Vec::with_capacity(fds.len());
            for &fd in &fds {
                let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
                if copy < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(copy);
            }
            for (i, &copy) in high.iter().enumerate() {
                if libc::dup2(copy, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    command.spawn().expect("sh")
}

/// A daemon started by hand, killed if the test ends early.
struct Running(std::process::Child);

impl Running {
    /// `stockade serve --config config --address-file address`, its stderr dropped.
    fn serve(config: &std::path::Path, address: &std::path::Path) -> Running {
        Running(
            Command::new(env!("CARGO_BIN_EXE_stockade"))
                .args(["serve", "--config", config.to_str().expect("utf8")])
                .arg("--address-file")
                .arg(address)
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("serve"),
        )
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The socket inode a descriptor link names (`socket:[N]`), if it is a socket.
fn socket_inode(link: &std::path::Path) -> Option<String> {
    let target = std::fs::read_link(link).ok()?;
    let target = target.to_str()?;
    target.starts_with("socket:").then(|| target.to_string())
}

#[test]
fn sockets_the_service_manager_passes_tcp_or_unix_are_served_and_no_worker_inherits_them() {
    use std::os::fd::AsRawFd;
    let dir = scratch("passed");
    let api = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let metrics = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let (api_addr, metrics_addr) = (
        api.local_addr().expect("addr"),
        metrics.local_addr().expect("addr"),
    );
    // `listen` names an address no interface here has: binding it would fail the start.
    let config = dir.join("stockade.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"192.0.2.1:80\"\nworkers = 1\noperator_token = \"{OPERATOR}\"\n\
             data_dir = \"{}\"\n{TENANT}",
            dir.join("data").display()
        ),
    )
    .expect("config");
    let address = dir.join("address");
    let mut daemon = Running(serve_passed(
        &config,
        &address,
        &[api.as_raw_fd(), metrics.as_raw_fd()],
        "stockade:metrics",
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    let written = loop {
        if let Ok(text) = std::fs::read_to_string(&address) {
            break text;
        }
        if let Ok(Some(status)) = daemon.0.try_wait() {
            let mut stderr = String::new();
            let _ = std::io::Read::read_to_string(
                daemon.0.stderr.as_mut().expect("stderr"),
                &mut stderr,
            );
            panic!("the daemon exited ({status}): {stderr}");
        }
        assert!(Instant::now() < deadline, "no address file");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        written,
        format!("http://{api_addr}\nhttp://{metrics_addr}\n")
    );
    // The API on the passed socket, the metrics on the other, without a token.
    let c = client();
    let admin: serde_json::Value = loop {
        let v: serde_json::Value = c
            .get(format!("http://{api_addr}/v1/admin/workers"))
            .bearer_auth(OPERATOR)
            .send()
            .expect("the passed API socket answers")
            .json()
            .expect("json");
        // Ready: jailed, its descriptors closed but its socket to the supervisor.
        if v["workers"][0]["ready"] == true {
            break v;
        }
        assert!(Instant::now() < deadline, "no worker: {v}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let r = c
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .expect("the passed metrics socket answers");
    assert_eq!(r.status().as_u16(), 200);
    // Close-on-exec in the daemon, and in no worker process.
    let pid = daemon.0.id();
    for fd in [3, 4] {
        let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).expect("fdinfo");
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .and_then(|f| u64::from_str_radix(f.trim(), 8).ok())
            .expect("flags");
        assert_ne!(flags & libc::O_CLOEXEC as u64, 0, "descriptor {fd}: {info}");
    }
    let ours: Vec<String> = [api.as_raw_fd(), metrics.as_raw_fd()]
        .iter()
        .filter_map(|fd| socket_inode(std::path::Path::new(&format!("/proc/self/fd/{fd}"))))
        .collect();
    assert_eq!(ours.len(), 2);
    let worker = admin["workers"][0]["pid"].as_u64().expect("pid");
    let held: Vec<String> = std::fs::read_dir(format!("/proc/{worker}/fd"))
        .expect("the worker's descriptors")
        .flatten()
        .filter_map(|e| socket_inode(&e.path()))
        .collect();
    assert!(
        !held.iter().any(|s| ours.contains(s)),
        "a worker holds a listening socket: {held:?} / {ours:?}"
    );
    drop(daemon);

    // A socket that does not listen is refused, naming it.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let mut daemon = Running(serve_passed(
        &config,
        &address,
        &[udp.as_raw_fd()],
        "stockade",
    ));
    let mut stderr = String::new();
    let _ = std::io::Read::read_to_string(daemon.0.stderr.as_mut().expect("stderr"), &mut stderr);
    assert_eq!(daemon.0.wait().expect("wait").code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("descriptor 3 (stockade) is not a listening TCP or Unix stream socket"),
        "{stderr}"
    );

    // A Unix stream socket serves the API as well (a reverse proxy's).
    let path = dir.join("api.sock");
    let unix = std::os::unix::net::UnixListener::bind(&path).expect("unix listener");
    let _ = std::fs::remove_file(&address);
    let daemon = Running(serve_passed(&config, &address, &[unix.as_raw_fd()], "api"));
    assert_eq!(
        address_written(&address),
        format!("unix:{}\n", path.display())
    );
    let (status, answer) = run_over_unix(
        &path,
        r#"{"code":"export default (a: { n: number }) => a.n * 2","arg":{"n":21}}"#,
    );
    assert_eq!(status, 200, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(v["result"], 42, "{v}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unix_socket_listen_addresses_are_served_with_mode_0660_and_removed_at_stop() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("unix");
    let path = dir.join("api.sock");
    let metrics = dir.join("metrics.sock");
    let config = dir.join("stockade.toml");
    // `file`: a configuration listening on `listen` with its own data_dir `data`.
    let write_config_in = |file: &std::path::Path, listen: &str, data: &str| {
        std::fs::write(
            file,
            format!(
                "listen = \"{listen}\"\nmetrics_listen = \"unix:{}\"\nworkers = 1\n\
                 operator_token = \"{OPERATOR}\"\ndata_dir = \"{}\"\n{TENANT}",
                metrics.display(),
                dir.join(data).display()
            ),
        )
        .expect("config");
    };
    let write_config = |listen: &str| write_config_in(&config, listen, "data");
    // A relative path is refused when the configuration is read.
    write_config("unix:api.sock");
    let (code, _, stderr) = check_config(&config);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("must be absolute"), "{stderr}");
    write_config(&format!("unix:{}", path.display()));
    // A socket file an earlier daemon left is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("a stale socket"));
    assert!(path.exists());
    let address = dir.join("address");
    let daemon = Running::serve(&config, &address);
    assert_eq!(
        address_written(&address),
        format!("unix:{}\nunix:{}\n", path.display(), metrics.display())
    );
    for socket in [&path, &metrics] {
        let mode = std::fs::metadata(socket)
            .expect("socket")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o660, "{mode:o}");
    }
    let (status, answer) = run_over_unix(&path, r#"{"code":"export default () => 'over unix'"}"#);
    assert_eq!(status, 200, "{answer}");
    assert!(answer.contains("over unix"), "{answer}");
    // A second daemon on the same path (with a data_dir of its own: one on the same folder is
    // refused before it listens) does not take the live socket over (it would leave the first
    // unreachable, and remove the file when it stops): "address in use", as for TCP.
    let second = dir.join("second.toml");
    write_config_in(&second, &format!("unix:{}", path.display()), "data-second");
    let (code, stderr) = serve_to_the_end(&second, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("another process is listening on this socket"),
        "{stderr}"
    );
    let (status, answer) = run_over_unix(&path, r#"{"code":"export default () => 'still mine'"}"#);
    assert_eq!(status, 200, "the first daemon still serves: {answer}");
    // The metrics on theirs, without a token.
    let (status, page) = unix_http(&metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("stockade_ready 1"), "{page}");
    // SIGTERM: drained, and the socket file is gone.
    let mut daemon = daemon;
    let pid = daemon.0.id() as i32;
    // SAFETY: kill(2) on the daemon this test started, not yet waited for.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
    assert_eq!(sent, 0);
    assert_eq!(daemon.0.wait().expect("wait").code(), Some(0));
    assert!(!path.exists(), "the socket file stayed");
    assert!(!metrics.exists(), "the metrics socket file stayed");
    // A path that is some other file is not replaced: the start stops there.
    std::fs::write(&path, "not a socket").expect("file");
    let (code, stderr) = serve_to_the_end(&config, &[]);
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on unix:{}", path.display()))
            && stderr.contains("not a socket"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("kept"),
        "not a socket"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The address file `address` once the daemon has written it (60 s at most).
fn address_written(address: &std::path::Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(address) {
            return text;
        }
        assert!(Instant::now() < deadline, "no address file");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Over the Unix socket at `path`: waits (60 s at most) until `/readyz` answers 200, then posts
/// `body` to `/v1/run` as the tenant acme; the status and the answer.
fn run_over_unix(path: &std::path::Path, body: &str) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while unix_http(path, "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n").0 != 200 {
        assert!(
            Instant::now() < deadline,
            "never ready over the Unix socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    unix_http(
        path,
        &format!(
            "POST /v1/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer acme-token-0123456789\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
}

/// One HTTP/1.1 request over the Unix socket at `path` (`Connection: close` added): the status
/// and the body (the daemon's answers here carry a length, never chunks).
fn unix_http(path: &std::path::Path, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect");
    let request = request.replacen("\r\n", "\r\nConnection: close\r\n", 1);
    stream.write_all(request.as_bytes()).expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let status = status_of(&text);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

#[test]
fn sighup_reloads_tenants_and_tokens_and_keeps_the_running_config_on_a_bad_file() {
    let t0 = |token: &str| format!("[[tenants]]\nid = \"t0\"\ntoken = \"{token}\"\n");
    let d = Daemon::start_raw("ops-sighup", 1, &t0(&tenant_token(0)), &[]);
    assert_eq!(run_status(&d, &tenant_token(0)), 200);
    let new_t0 = "tenant-0-rotated-token-0123";
    assert_eq!(run_status(&d, new_t0), 401);
    // Rotate t0's token, add t1 with a quota, and reload.
    let config = std::fs::read_to_string(d.config_path()).expect("config");
    let head: String = config
        .lines()
        .take_while(|l| !l.starts_with("[[tenants]]"))
        .map(|l| format!("{l}\n"))
        .collect();
    let next = format!(
        "{head}{}[[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n[tenants.quotas]\nmax_concurrent_requests = 0\nrequests_per_second = 0.01\nburst = 1\n",
        t0(new_t0),
        tenant_token(1)
    );
    std::fs::write(d.config_path(), &next).expect("rewrite");
    hangup(&d);
    wait_until_served(&d, &tenant_token(1));
    assert_eq!(run_status(&d, new_t0), 200);
    assert_eq!(
        run_status(&d, &tenant_token(0)),
        401,
        "the old token still works"
    );
    // t1's quota came with it (one request per 100 s, and it just spent its token).
    assert_eq!(run_status(&d, &tenant_token(1)), 429);
    // A file that does not check is refused whole; the running configuration stays.
    std::fs::write(
        d.config_path(),
        format!("{head}{}trust = \"gold\"\n", t0("x")),
    )
    .expect("rewrite");
    hangup(&d);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.stderr().contains("reload refused") {
        assert!(Instant::now() < deadline, "{}", d.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(run_status(&d, new_t0), 200);
}

#[test]
fn a_tenant_added_by_sighup_reaches_its_key_value_binding() {
    let d = Daemon::start_raw(
        "ops-sighup-storage",
        1,
        &format!(
            "[[tenants]]\nid = \"t0\"\ntoken = \"{}\"\n",
            tenant_token(0)
        ),
        &[],
    );
    let config = std::fs::read_to_string(d.config_path()).expect("config");
    std::fs::write(
        d.config_path(),
        format!(
            "{config}[[tenants]]\nid = \"t1\"\ntoken = \"{}\"\n",
            tenant_token(1)
        ),
    )
    .expect("rewrite");
    hangup(&d);
    wait_until_served(&d, &tenant_token(1));
    let body = serde_json::json!({
        "mainModule": "main.js",
        "modules": { "main.js": "export default { async fetch(req, env) { await env.KV.put('k', 'kept'); return new Response(await env.KV.get('k')); } };" },
        "env": { "KV": { "binding": "kv", "namespace": "n" } },
    });
    let id = load_code(&d, &tenant_token(1), &body);
    assert_eq!(fetch(&d, &tenant_token(1), &id), (200, "kept".into()));
}

/// A reload brings egress rules and the file's secrets: a tenant added by `SIGHUP` reaches the
/// network its rules allow with its secret injected, and a changed secret is the one injected
/// next (the upstream records what it received).
#[test]
fn a_sighup_brings_egress_rules_and_secrets() {
    let up = upstream::Upstream::start(|_| upstream::Answer::ok(b"seen"));
    let p = up.port;
    let tenant = |i: usize, key: &str| {
        format!(
            "[[tenants]]\nid = \"t{i}\"\ntoken = \"{}\"\n[tenants.secrets]\nkey = \"{key}\"\n\
             [[tenants.egress]]\nhost = \"127.0.0.1\"\nports = [{p}]\ninject_headers = {{ \"X-Key\" = \"key\" }}\n",
            tenant_token(i)
        )
    };
    let egress = "[egress]\nallow_private = [\"127.0.0.0/8\"]\n";
    let d = Daemon::start_raw(
        "ops-sighup-egress",
        1,
        &format!("{egress}{}", tenant(0, "first-0")),
        &[],
    );
    let code =
        format!("export default async () => (await fetch('http://127.0.0.1:{p}/x')).status;");
    let fetched = |token: &str| run(&d, token, &code);
    let (status, body) = fetched(&tenant_token(0));
    assert_eq!(
        (status, &body["result"]),
        (200, &serde_json::json!(200)),
        "{body}"
    );
    let config = std::fs::read_to_string(d.config_path()).expect("config");
    std::fs::write(
        d.config_path(),
        format!(
            "{}{}",
            config.replace("first-0", "second-0"),
            tenant(1, "first-1")
        ),
    )
    .expect("rewrite");
    hangup(&d);
    wait_until_served(&d, &tenant_token(1));
    // The egress part of the reload follows the tokens: poll until t1's fetch goes out.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = fetched(&tenant_token(1));
        if status == 200 && body["result"] == serde_json::json!(200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "t1 never got network: {body}\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, body) = fetched(&tenant_token(0));
    assert_eq!(
        (status, &body["result"]),
        (200, &serde_json::json!(200)),
        "{body}"
    );
    let keys: Vec<String> = up
        .requests()
        .iter()
        .filter_map(|r| r.header("x-key").map(str::to_owned))
        .collect();
    assert_eq!(keys.first().map(String::as_str), Some("first-0"));
    assert!(keys.contains(&"first-1".to_string()), "{keys:?}");
    assert_eq!(
        keys.last().map(String::as_str),
        Some("second-0"),
        "{keys:?}"
    );
}

/// With no tenants configured and no `STOCKADE_TOKEN`, the generated token is the process's:
/// a `SIGHUP` reload keeps it (before, each reload printed a new one and every client was
/// locked out).
#[test]
fn a_reload_keeps_the_generated_token() {
    let d = Daemon::start_raw("generated-token", 1, "", &[]);
    let token_of = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split("use token ").nth(1))
            .map(|t| t.trim().to_string())
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let tokens = loop {
        let tokens = token_of(&d.stderr());
        if !tokens.is_empty() || Instant::now() > deadline {
            break tokens;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(tokens.len(), 1, "{}", d.stderr());
    let token = tokens[0].clone();
    assert_eq!(run_status(&d, &token), 200);
    hangup(&d);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.stderr().contains("reloaded") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.stderr().contains("reloaded"), "{}", d.stderr());
    assert_eq!(run_status(&d, &token), 200, "{}", d.stderr());
    assert!(
        token_of(&d.stderr()).iter().all(|t| *t == token),
        "{}",
        d.stderr()
    );
}
