//! Test side: spawns a probe (this binary, re-executed), speaks its line
//! protocol, and turns the result into exact assertions. The test process
//! plays the supervisor: its pid is the ptrace/kill target.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use stockade_seccomp::SeccompMode;

use crate::spec::{Attack, ProbeSpec};

/// Hang guard only; never a timing assertion.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The six layer configurations the tests exercise.
pub fn full(attack: Attack) -> ProbeSpec {
    ProbeSpec::new(true, true, SeccompMode::Enforce, attack)
}
pub fn no_seccomp(attack: Attack) -> ProbeSpec {
    ProbeSpec::new(true, true, SeccompMode::Off, attack)
}
pub fn no_landlock(attack: Attack) -> ProbeSpec {
    ProbeSpec::new(true, false, SeccompMode::Enforce, attack)
}
pub fn namespaces_alone(attack: Attack) -> ProbeSpec {
    ProbeSpec::new(true, false, SeccompMode::Off, attack)
}
pub fn landlock_alone(attack: Attack) -> ProbeSpec {
    ProbeSpec::new(false, true, SeccompMode::Off, attack)
}
pub fn seccomp_alone(attack: Attack) -> ProbeSpec {
    ProbeSpec::new(false, false, SeccompMode::Enforce, attack)
}

/// A running probe that has closed its jail and waits for "go".
pub struct Probe {
    child: Child,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    /// The `jailed k=v ...` line, parsed.
    pub report: HashMap<String, String>,
    spec: ProbeSpec,
}

/// Spawns a probe; returns it before reading anything.
fn spawn(spec: &ProbeSpec) -> (Child, BufReader<UnixStream>, UnixStream) {
    let (ours, theirs) = UnixStream::pair().expect("socketpair");
    ours.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
    let fd = theirs.as_raw_fd();
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env("STOCKADE_JAIL_PROBE", "1")
        .arg("--ipc-fd")
        .arg(fd.to_string())
        .arg("--spec")
        .arg(spec.to_arg())
        .stdin(Stdio::null());
    // SAFETY: runs between fork and exec; fcntl is async-signal-safe and
    // only clears FD_CLOEXEC on the probe's end of the socketpair.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().expect("spawn probe");
    drop(theirs);
    let writer = ours.try_clone().expect("clone socket");
    (child, BufReader::new(ours), writer)
}

/// `child.wait()` with the same hang guard as the reads: a probe (or its
/// reaper) that never exits is killed and the test fails instead of hanging.
fn wait(child: &mut Child) -> ExitStatus {
    let deadline = std::time::Instant::now() + READ_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("probe {} did not exit", child.id());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn read_line(reader: &mut BufReader<UnixStream>) -> Option<String> {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => None,
        Ok(_) => Some(line.trim_end().to_string()),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => None,
        Err(e) => panic!("reading from probe: {e}"),
    }
}

/// Runs a probe that is expected to fail before `jailed`: returns its first
/// line and exit status.
pub fn expect_setup_failure(spec: &ProbeSpec) -> (String, ExitStatus) {
    let (mut child, mut reader, _writer) = spawn(spec);
    let line = read_line(&mut reader).unwrap_or_default();
    let status = wait(&mut child);
    (line, status)
}

impl Probe {
    /// Spawns and waits until the jail is closed.
    pub fn start(spec: &ProbeSpec) -> Probe {
        let (mut child, mut reader, writer) = spawn(spec);
        let first = read_line(&mut reader);
        let Some(line) = first.as_deref().and_then(|l| l.strip_prefix("jailed ")) else {
            let status = wait(&mut child);
            panic!("probe did not close its jail: {first:?}, {status:?}");
        };
        let report = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Probe {
            child,
            reader,
            writer,
            report,
            spec: spec.clone(),
        }
    }

    /// A report field.
    pub fn field(&self, key: &str) -> &str {
        self.report.get(key).map_or("<missing>", String::as_str)
    }

    /// Host pid of the process the test spawned (the reaper when namespaced).
    pub fn spawned_pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Host pid of the jailed process: the reaper's only child when
    /// namespaced, else the spawned process itself.
    pub fn jailed_pid(&self) -> i32 {
        if !self.spec.namespaces {
            return self.spawned_pid();
        }
        let reaper = self.spawned_pid();
        let needle = format!("PPid:\t{reaper}\n");
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
            .find(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .is_ok_and(|s| s.contains(&needle))
            })
            .expect("the reaper has a child")
    }

    pub fn send(&mut self, line: &str) {
        self.writer
            .write_all(format!("{line}\n").as_bytes())
            .expect("send to probe");
    }

    pub fn read_line(&mut self) -> Option<String> {
        read_line(&mut self.reader)
    }

    /// Sends "go", then collects every line until EOF and the exit status.
    pub fn go(mut self) -> Finished {
        self.send("go");
        self.finish()
    }

    /// Closes our sending side: the probe reads EOF instead of "go" or of
    /// its next line, then finishes; collects everything like `finish`.
    pub fn hang_up(self) -> Finished {
        self.writer
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
        self.finish()
    }

    /// Collects the remaining lines and the exit status.
    pub fn finish(mut self) -> Finished {
        let mut lines = Vec::new();
        while let Some(line) = self.read_line() {
            lines.push(line);
        }
        let status = wait(&mut self.child);
        Finished {
            lines,
            status,
            attack: self.spec.attack,
        }
    }
}

/// Everything a probe said after "go", and how it ended.
#[derive(Debug)]
pub struct Finished {
    pub lines: Vec<String>,
    pub status: ExitStatus,
    attack: Attack,
}

impl Finished {
    pub fn attempted(&self) -> bool {
        self.lines
            .iter()
            .any(|l| *l == format!("attempt {}", self.attack.name()))
    }

    pub fn outcome(&self) -> Option<&str> {
        self.lines.iter().find_map(|l| l.strip_prefix("outcome "))
    }

    /// Died of SIGSYS during the attempt (seccomp KILL_PROCESS, forwarded
    /// by the reaper), without reporting any outcome.
    pub fn assert_sigsys(&self) {
        assert!(self.attempted(), "never reached the attempt: {self:?}");
        assert_eq!(self.outcome(), None, "the attempt returned: {self:?}");
        assert_eq!(self.status.signal(), Some(libc::SIGSYS), "{self:?}");
    }

    /// The attempt failed with exactly `errno`, and the probe exited cleanly.
    pub fn assert_errno(&self, errno: i32) {
        assert!(self.attempted(), "never reached the attempt: {self:?}");
        let expected = format!("errno={errno}");
        assert_eq!(
            self.outcome(),
            Some(expected.as_str()),
            "expected {} ({expected}): {self:?}",
            io::Error::from_raw_os_error(errno)
        );
        assert_eq!(self.status.code(), Some(0), "{self:?}");
    }

    /// The attempt succeeded; returns its detail.
    pub fn assert_ok(&self) -> String {
        assert!(self.attempted(), "never reached the attempt: {self:?}");
        let detail = self.outcome().and_then(|o| o.strip_prefix("ok "));
        let detail = detail
            .unwrap_or_else(|| panic!("expected success: {self:?}"))
            .to_string();
        assert_eq!(self.status.code(), Some(0), "{self:?}");
        detail
    }
}

/// Runs one attack to completion.
pub fn run(spec: ProbeSpec) -> Finished {
    Probe::start(&spec).go()
}

/// Runs a TCP-connect attack against a fresh listener on the host's
/// 127.0.0.1; returns the result and whether any connection arrived.
pub fn run_tcp_connect(mut spec: ProbeSpec) -> (Finished, bool) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    spec.port = listener.local_addr().expect("addr").port();
    let finished = run(spec);
    listener.set_nonblocking(true).expect("nonblocking");
    let arrived = match listener.accept() {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(e) => panic!("accept: {e}"),
    };
    (finished, arrived)
}

/// The Landlock ABI of the running kernel, asked directly (not through the
/// crate under test).
pub fn kernel_landlock_abi() -> Option<u32> {
    // SAFETY: LANDLOCK_CREATE_RULESET_VERSION with a null attr returns the ABI.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0,
            1u32,
        )
    };
    u32::try_from(v).ok().filter(|&v| v > 0)
}

/// Is the test process root (CI) or an unprivileged user?
pub fn running_as_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}
