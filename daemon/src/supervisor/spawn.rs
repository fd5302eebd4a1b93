//! Starting one worker process: the V8 runtime root's loader running `stockade worker --engine
//! libstockade_worker.so --ipc-fd N` on the root's libc (see `crate::worker`), with one end of a
//! socketpair, and nothing else inherited: no other descriptor (std opens every other descriptor close-on-exec;
//! the worker's jail closes anything that slipped through) and no environment variable (the
//! supervisor's environment may hold `STOCKADE_TOKEN`, which tenant code must never be able to
//! read from its own process memory).

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use tokio::net::UnixStream;
use tokio::process::{Child, Command};

/// What a worker process is made of: the runtime root's loader and libraries, this binary, and
/// the worker's shared object.
#[derive(Debug, Clone)]
pub struct WorkerRuntime {
    /// `ld-linux-x86-64.so.2` of the V8 runtime root.
    pub loader: PathBuf,
    /// The root's library folder (its libc, libstdc++, libnode).
    pub libdir: PathBuf,
    /// The `stockade` binary (the running one).
    pub stockade: PathBuf,
    /// `libstockade_worker.so`.
    pub engine: PathBuf,
}

impl WorkerRuntime {
    /// Finds the pieces: the root where the build put it (`STOCKADE_V8_ROOT` overrides), the
    /// shared object in this binary's `deps/` folder (cargo's layout), beside it (an install), or
    /// where the build wrote it.
    pub fn locate() -> Result<WorkerRuntime, LocateError> {
        let stockade = std::env::current_exe().map_err(LocateError::Binary)?;
        let (loader, libdir) = match std::env::var_os("STOCKADE_V8_ROOT") {
            Some(root) => {
                let libdir = Path::new(&root).join("usr/lib/x86_64-linux-gnu");
                (libdir.join("ld-linux-x86-64.so.2"), libdir)
            }
            None => (
                PathBuf::from(env!("STOCKADE_V8_LOADER")),
                PathBuf::from(env!("STOCKADE_V8_LIBDIR")),
            ),
        };
        if !loader.is_file() || !libdir.join("libnode.so.137").is_file() {
            return Err(LocateError::V8Root { loader, libdir });
        }
        const SO: &str = "libstockade_worker.so";
        let dir = stockade.parent().map(Path::to_path_buf).unwrap_or_default();
        // In cargo's layout the copy in `deps/` is the one built with this binary (the one beside
        // it is refreshed only when the worker package itself is built, and may be older); an
        // installed binary has the shared object beside it.
        let engine = [
            dir.join("deps").join(SO),
            dir.join(SO),
            PathBuf::from(env!("STOCKADE_WORKER_SO")),
        ]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| LocateError::WorkerLibrary(stockade.clone()))?;
        Ok(WorkerRuntime {
            loader,
            libdir,
            stockade,
            engine,
        })
    }
}

/// Why [`WorkerRuntime::locate`] found no runtime for worker processes.
#[derive(Debug, thiserror::Error)]
pub enum LocateError {
    #[error("cannot find the stockade binary: {0}")]
    Binary(std::io::Error),
    #[error(
        "the V8 runtime root is missing ({} or {}/libnode.so.137); rebuild, or set \
         STOCKADE_V8_ROOT to the folder the build unpacked",
        loader.display(),
        libdir.display()
    )]
    V8Root { loader: PathBuf, libdir: PathBuf },
    #[error("cannot find libstockade_worker.so beside {} or in its deps/ folder", .0.display())]
    WorkerLibrary(PathBuf),
}

/// How to start workers.
#[derive(Debug, Clone)]
pub struct SpawnConfig {
    /// The programs a worker process runs.
    pub runtime: WorkerRuntime,
    /// The worker's time zone (`TZ`), `UTC` unless configured.
    pub timezone: String,
    /// Close the jail around the worker (`false` only for debugging).
    pub jail: bool,
    /// `standard` or `strict`.
    pub profile: &'static str,
    /// Pass `--test-hooks` (debug builds only; see `worker::test_hooks`).
    pub test_hooks: bool,
    /// Isolate threads per worker process (`--threads`; 0: one per CPU it may use).
    pub threads: usize,
    /// Microseconds an isolate thread looks for a host call's reply before sleeping
    /// (`--reply-spin-us`).
    pub reply_spin_us: u32,
    /// Isolates between renewals of V8's shared heap (`--renew-after`; the config's
    /// `worker_renew_after`).
    pub renew_after: u64,
    /// The memory cap of each worker process (`None`: none, as for `stockade run`).
    pub memory: Option<std::sync::Arc<super::memory_cap::MemoryCap>>,
}

pub struct Spawned {
    pub child: Child,
    pub stream: UnixStream,
}

/// The command that starts one worker on inherited descriptor `fd` (cleared of close-on-exec
/// in the child only).
pub fn worker_command(config: &SpawnConfig, fd: RawFd) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let runtime = &config.runtime;
    let mut command = std::process::Command::new(&runtime.loader);
    command
        .arg("--argv0")
        .arg("stockade-worker")
        .arg("--library-path")
        .arg(&runtime.libdir)
        .arg(&runtime.stockade)
        .arg("worker")
        .arg("--engine")
        .arg(&runtime.engine)
        .arg("--ipc-fd")
        .arg(fd.to_string())
        .arg("--profile")
        .arg(config.profile)
        .arg("--threads")
        .arg(config.threads.to_string())
        .arg("--reply-spin-us")
        .arg(config.reply_spin_us.to_string())
        .arg("--renew-after")
        .arg(config.renew_after.to_string())
        .env_clear()
        // ICU and the C library read the zone from here, once, before the jail closes.
        .env("TZ", &config.timezone)
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

/// Starts a worker; with `cgroup` (a group's `cgroup.procs`), the process joins that group
/// between fork and exec, before it runs any code of its own.
pub fn spawn(config: &SpawnConfig, cgroup: Option<&CString>) -> std::io::Result<Spawned> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    let mut command = worker_command(config, theirs.as_raw_fd());
    if let Some(procs) = cgroup {
        use std::os::unix::process::CommandExt;
        let procs = procs.clone();
        // SAFETY: the closure runs between fork and exec and only calls open, write and close,
        // which are async-signal-safe, on a path allocated before the fork.
        unsafe {
            command.pre_exec(move || join_cgroup(&procs));
        }
    }
    let mut command = Command::from(command);
    command.kill_on_drop(true);
    let child = command.spawn()?;
    drop(theirs);
    ours.set_nonblocking(true)?;
    let stream = UnixStream::from_std(ours)?;
    Ok(Spawned { child, stream })
}

/// Moves the calling process into the cgroup whose `cgroup.procs` is `procs` (writing `0`
/// names the writer). Async-signal-safe: no allocation.
pub(super) fn join_cgroup(procs: &CStr) -> std::io::Result<()> {
    // SAFETY: `procs` is a valid NUL-terminated path; the descriptor is closed before return.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let written = libc::write(fd, b"0".as_ptr().cast(), 1);
        let error = std::io::Error::last_os_error();
        libc::close(fd);
        if written != 1 {
            return Err(error);
        }
    }
    Ok(())
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
