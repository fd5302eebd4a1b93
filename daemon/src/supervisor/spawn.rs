//! Starting one worker process: `stockade worker --ipc-fd N` with one end of a socketpair, and
//! nothing else inherited: no other descriptor (std opens every other descriptor close-on-exec;
//! the worker's jail closes anything that slipped through) and no environment variable (the
//! supervisor's environment may hold `STOCKADE_TOKEN`, which tenant code must never be able to
//! read from its own process memory).

use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;

use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// How to start workers.
#[derive(Debug, Clone)]
pub struct SpawnConfig {
    /// The `stockade` binary (the running one, normally).
    pub program: PathBuf,
    /// Close the jail around the worker (`false` only for debugging).
    pub jail: bool,
    /// `standard` or `strict`.
    pub profile: &'static str,
    /// Pass `--test-hooks` (debug builds only; see `worker::test_hooks`).
    pub test_hooks: bool,
}

pub struct Spawned {
    pub child: Child,
    pub stream: UnixStream,
}

/// The command that starts one worker on inherited descriptor `fd` (cleared of close-on-exec
/// in the child only).
pub fn worker_command(config: &SpawnConfig, fd: RawFd) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut command = std::process::Command::new(&config.program);
    command
        .arg("worker")
        .arg("--ipc-fd")
        .arg(fd.to_string())
        .arg("--profile")
        .arg(config.profile)
        .env_clear()
        .stdin(std::process::Stdio::null());
    if !config.jail {
        command.arg("--no-jail");
    }
    #[cfg(debug_assertions)]
    if config.test_hooks {
        command.arg("--test-hooks");
    }
    // SAFETY: the closure runs between fork and exec and only calls fcntl, which is
    // async-signal-safe; the caller keeps `fd` open until the child has been spawned.
    unsafe {
        command.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
}

pub fn spawn(config: &SpawnConfig) -> std::io::Result<Spawned> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let mut command = Command::from(worker_command(config, theirs.as_raw_fd()));
    command.kill_on_drop(true);
    let child = command.spawn()?;
    drop(theirs);
    ours.set_nonblocking(true)?;
    let stream = UnixStream::from_std(ours)?;
    Ok(Spawned { child, stream })
}

/// The process that runs tenant code: with the jail, the spawned process is a reaper whose one
/// child is the worker (pid 1 of its pid namespace); without it, the spawned process itself.
pub fn tenant_pid(spawned_pid: u32, jailed: bool) -> u32 {
    if !jailed {
        return spawned_pid;
    }
    let path = format!("/proc/{spawned_pid}/task/{spawned_pid}/children");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(spawned_pid)
}

/// Resident set size of a process, from /proc.
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
