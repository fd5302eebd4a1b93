//! `stockade run` end to end: the real binary, real files, real exit codes.

use std::path::Path;
use std::process::{Command, Output};

fn stockade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(args)
        .output()
        .expect("run stockade")
}

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

/// A scratch folder removed when the test ends, passed or failed.
struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir(tag: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("stockade-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    TempDir(dir)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn runs_typescript_with_imports_and_prints_json_and_logs() {
    let dir = tempdir("ok");
    write(&dir, "main.ts", "import { twice } from './lib/math.ts';\nexport default async (a: { n: number }) => { console.log('got', a.n); console.warn('careful'); return { r: twice(a.n) }; };\n");
    write(
        &dir,
        "lib/math.ts",
        "export const twice = (n: number): number => n * 2;\n",
    );
    let out = stockade(&[
        "run",
        dir.join("main.ts").to_str().expect("utf8"),
        "--arg",
        r#"{"n":21}"#,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), r#"{"r":42}"#);
    // Console output, in order, after anything the engine reports about itself (e.g. MPK).
    assert!(
        text(&out.stderr).ends_with("got 21\nwarn: careful\n"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_throwing_script_exits_1_with_message_and_ts_position() {
    let dir = tempdir("throw");
    write(&dir, "main.ts", "type T = number;\nexport default (): T => {\n  throw new RangeError('out of range');\n};\n");
    let out = stockade(&["run", dir.join("main.ts").to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("RangeError: out of range"), "{err}");
    assert!(err.contains("main.ts:3:"), "{err}");
}

#[test]
fn usage_and_invalid_input_exit_2() {
    let dir = tempdir("usage");
    write(&dir, "bad.js", "export default () => {");
    write(&dir, "ok.js", "export default (x) => x;");
    write(
        &dir,
        "escape.js",
        "import s from '../../../../etc/passwd'; export default () => s;",
    );
    write(&dir, "utf8.js", "");
    std::fs::write(dir.join("utf8.js"), [0x65u8, 0xff, 0xfe]).expect("write");
    for args in [
        vec!["run", dir.join("missing.js").to_str().expect("utf8")],
        vec!["run", dir.join("bad.js").to_str().expect("utf8")],
        vec![
            "run",
            dir.join("ok.js").to_str().expect("utf8"),
            "--arg",
            "{not json",
        ],
        vec!["run", dir.join("escape.js").to_str().expect("utf8")],
        vec!["run", dir.join("utf8.js").to_str().expect("utf8")],
        vec!["run", "--bogus-flag"],
    ] {
        let out = stockade(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}

#[test]
fn a_limit_exits_3_and_names_it() {
    let dir = tempdir("limit");
    write(&dir, "loop.js", "export default () => { for (;;) {} };");
    write(
        &dir,
        "mem.js",
        "export default () => { const a = []; for (;;) a.push(new Array(1000).fill(1)); };",
    );
    write(
        &dir,
        "wall.js",
        "export default () => new Promise((r) => setTimeout(r, 10000));",
    );
    for (file, flag, value, name) in [
        ("loop.js", "--cpu-ms", "50", "cpu"),
        ("mem.js", "--memory-mb", "32", "memory"),
        ("wall.js", "--wall-ms", "100", "wall"),
    ] {
        let out = stockade(&["run", dir.join(file).to_str().expect("utf8"), flag, value]);
        assert_eq!(out.status.code(), Some(3), "{file}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(&format!("({name})")),
            "{file}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn a_file_larger_than_a_frame_carries_is_the_source_limit() {
    // 33 MiB: under the whole set's 64 MiB but over what one frame field carries to the jailed
    // worker (32 MiB). Before, exit 4: "encoding frame: ModuleCode is ... over the limit".
    let dir = tempdir("huge");
    let mut source = String::from("export default () => 1;");
    source.push_str(&" ".repeat(33 << 20));
    write(&dir, "huge.js", &source);
    let out = stockade(&["run", dir.join("huge.js").to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("(source)"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_directory_is_named_as_one() {
    let dir = tempdir("dir");
    std::fs::create_dir_all(dir.join("lib.js")).expect("mkdir");
    let out = stockade(&["run", dir.join("lib.js").to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("a directory, not a file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn deeply_nested_source_is_a_compile_error_not_a_crash() {
    // 20 KB of nesting: the CLI's import scan runs outside the jail and must not overflow its
    // stack; the worker's compiler must not either.
    let dir = tempdir("nested");
    for (name, open, close) in [("deep.js", "(", ")"), ("deep.ts", "[", "]")] {
        write(
            &dir,
            name,
            &format!(
                "export default () => {}1{};\n",
                open.repeat(10_000),
                close.repeat(10_000)
            ),
        );
        let out = stockade(&["run", dir.join(name).to_str().expect("utf8")]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).to_lowercase().contains("syntax")
                || text(&out.stderr).contains("nest"),
            "{name}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
fn tenant_output_cannot_drive_the_terminal() {
    use std::io::Read;
    use std::os::fd::{FromRawFd, OwnedFd};
    let dir = tempdir("tty");
    write(
        &dir,
        "main.js",
        "export default () => { console.log('\\x1b]0;pwned\\x07\\x1b[2J'); return '\\u009b31m'; };\n",
    );
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two descriptors into the given ints; the other pointers may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: openpty returned two fresh descriptors that nothing else owns.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    let status = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["run", dir.join("main.js").to_str().expect("utf8")])
        .stdout(slave.try_clone().expect("dup"))
        .stderr(slave)
        .status()
        .expect("run stockade");
    assert_eq!(status.code(), Some(0));
    let mut shown = Vec::new();
    let mut master = std::fs::File::from(master);
    let mut buf = [0u8; 4096];
    // The child is gone and holds no slave: read until the pty reports EIO (no writer left).
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        shown.extend_from_slice(&buf[..n]);
    }
    let shown = String::from_utf8_lossy(&shown);
    assert!(shown.contains("\\u{1b}]0;pwned"), "{shown:?}");
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{9b}') && !shown.contains('\u{7}'),
        "{shown:?}"
    );
}

/// Parent pid of `pid`, from /proc.
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name's closing parenthesis: state, then the parent pid.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn status_field(pid: u32, key: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map(|v| v.trim().to_string())
}

/// Every live descendant of `root`.
fn descendants(root: u32) -> Vec<u32> {
    let pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.into_iter()
        .filter(|&pid| {
            let mut at = pid;
            for _ in 0..16 {
                match parent_of(at) {
                    Some(p) if p == root => return true,
                    Some(p) if p > 1 => at = p,
                    _ => return false,
                }
            }
            false
        })
        .collect()
}

#[test]
fn the_worker_of_stockade_run_is_jailed_like_the_daemons() {
    let dir = tempdir("jail");
    write(
        &dir,
        "sleepy.ts",
        "export default async () => { await new Promise((r) => setTimeout(r, 2000)); return 'done'; };",
    );
    let child = Command::new(env!("CARGO_BIN_EXE_stockade"))
        .args(["run", dir.join("sleepy.ts").to_str().expect("utf8")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("stockade run");
    // While the script sleeps, its worker (a descendant of `stockade run`) is under seccomp,
    // without privileges, in a user namespace of its own.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let jailed = loop {
        let found = descendants(child.id())
            .into_iter()
            .find(|&pid| status_field(pid, "Seccomp").as_deref() == Some("2"));
        if let Some(pid) = found {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no jailed worker");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status_field(jailed, "NoNewPrivs").as_deref(), Some("1"));
    assert_eq!(
        status_field(jailed, "CapEff").as_deref(),
        Some("0000000000000000")
    );
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/user")).expect("user ns");
    assert_ne!(
        ns(&jailed.to_string()),
        ns("self"),
        "its own user namespace"
    );
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "\"done\"");
}

#[test]
fn host_calls_fail_with_a_clear_error_and_the_script_goes_on() {
    // `stockade run` has no supervisor: a `fetch()` (a host call) is refused with a message the
    // script can catch, instead of breaking the conversation with the worker; nothing leaves.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().expect("addr").port();
    let dir = tempdir("hostcall");
    write(
        &dir,
        "main.js",
        &format!(
            "export default async () => {{\n  const seen = [];\n  for (let i = 0; i < 3; i++) {{\n    try {{ await fetch('http://127.0.0.1:{port}/'); seen.push('fetched'); }}\n    catch (e) {{ seen.push(e.constructor.name + ': ' + e.message); }}\n  }}\n  return seen;\n}};\n"
        ),
    );
    let out = stockade(&["run", dir.join("main.js").to_str().expect("utf8")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let seen: Vec<String> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    assert_eq!(seen.len(), 3, "{seen:?}");
    for line in &seen {
        assert!(
            line.starts_with(
                "TypeError: fetch failed: `fetch` is not available under `stockade run`"
            ),
            "{line}"
        );
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a connection reached the listener"
    );
}
