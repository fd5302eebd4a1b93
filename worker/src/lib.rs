//! The worker: the process that runs tenant code. Spawned by the supervisor with exactly one
//! inherited Unix socket; never started by hand.
//!
//! This crate is a shared object (`libstockade_worker.so`), the only artifact of the project that
//! maps V8. The supervisor starts a worker as the V8 runtime root's loader running the `stockade`
//! binary's `worker` subcommand on the root's libc (`--library-path`); that subcommand loads this
//! object and calls [`stockade_worker_main`] with its arguments. The supervisor and the CLI are
//! ordinary binaries on the system's libc and never map V8.
//!
//! Order of events (each step before the next; the jail closes before any tenant byte is read):
//! 0. when started as root, become `nobody` (uid/gid 65534, no supplementary groups): inside
//!    its namespaces a worker has no capabilities either way, but on the host a uid-0 process
//!    is the supervisor's peer for every same-uid rule, and RLIMIT_NPROC does not bind it;
//! 1. enter fresh user/pid/net/mount/ipc/uts/cgroup namespaces (fork: we become pid 1 of the
//!    new pid namespace; the parent stays behind as a reaper);
//! 2. initialise V8 (flags, platform, the startup snapshot with the runtime baked in), as
//!    Chrome's zygote does: everything that needs files is done here, single-threaded (no
//!    tenant-like code runs before the jail: the watchdog thread, born on the first run, must be
//!    born inside it). ICU and the C library read the time zone from `TZ` (set by the
//!    supervisor; `UTC` by default) when first asked; whatever they probe in the jail gets an
//!    errno, never a kill (see `stockade_seccomp::policy`);
//! 3. close the jail: fds, empty read-only root, rlimits, no_new_privs, capabilities, Landlock,
//!    seccomp (see `stockade_seccomp`). The process has one thread at this point, so the
//!    per-thread layers (capabilities, Landlock below ABI 8) cover every thread it will ever
//!    have: the watchdog thread is born afterwards and inherits them;
//! 4. warm up by running one snippet inside the jail (a policy gap shows up here, at start, not
//!    in a tenant's request), greet the supervisor with what the jail enforced, start the
//!    isolate threads (born inside the jail, so they inherit every per-thread layer) and serve
//!    many requests at once (`serve.rs` starts them, `inbox.rs` is how they read the socket and
//!    hand each other work, `thread.rs` runs each thread's event loop, at the pace `pace.rs`
//!    sets).
//!
//! Trusts: nothing it reads from tenants; the supervisor's messages are decoded with the same
//! size-capped decoder the supervisor uses on ours.

mod convert;
mod idle;
mod inbox;
mod pace;
mod router;
mod serve;
mod shared;
mod start;
mod stock;
mod sync_call;
#[cfg(debug_assertions)]
mod test_hooks;
mod thread;

use std::ffi::{c_char, c_int, CStr, OsString};
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use clap::Parser;

use stockade_isolate::{
    Compat, Engine, LoadOptions, Module, ModuleSet, Unresponsive, V8Profile, Worker, DEFAULT_GRACE,
};
use stockade_seccomp::{JailConfig, SeccompMode};

/// The exit code of a worker that could not start or serve.
const EXIT_FAILED: c_int = 70;

#[derive(Parser, Debug)]
#[command(name = "stockade-worker")]
pub struct WorkerArgs {
    /// This shared object's path (read by the `stockade` binary that loads it; unused here).
    #[arg(long)]
    pub engine: Option<PathBuf>,
    /// The inherited IPC socket.
    #[arg(long)]
    pub ipc_fd: RawFd,
    /// `standard` or `strict` (jitless, no WebAssembly).
    #[arg(long, default_value = "standard")]
    pub profile: String,
    /// Skip the jail (debugging only).
    #[arg(long)]
    pub no_jail: bool,
    /// Seccomp in log mode: report instead of kill (development only).
    #[arg(long)]
    pub seccomp_log: bool,
    /// Isolate threads (0: one per CPU this process may run on).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Microseconds an isolate thread looks for a host call's reply before it sleeps (0: it
    /// sleeps at once; see `pace.rs`, `REPLY_SPIN_US`).
    #[arg(long, default_value_t = pace::REPLY_SPIN_US)]
    pub reply_spin_us: u32,
    /// Isolates created between renewals of V8's shared heap (see `stock.rs`); twice this
    /// without one while a Loader worker lives here (`RENEWAL_GRACE` more without one), the
    /// supervisor is told (`RenewalOverdue`) and replaces the process.
    #[arg(long, default_value_t = stockade_isolate::RENEW_SHARED_HEAP_AFTER)]
    pub renew_after: u64,
    /// Enable the test-only hooks of `test_hooks` (debug builds only; the flag does not exist in
    /// release builds).
    #[cfg(debug_assertions)]
    #[arg(long, hide = true)]
    pub test_hooks: bool,
}

/// The worker's `main`: parses `argv` (the `worker` subcommand and its flags) and serves until the
/// supervisor closes the socket. Returns the process exit code; never unwinds into the caller.
///
/// # Safety
/// `argv` must point to `argc` valid NUL-terminated strings that outlive the call.
#[no_mangle]
pub unsafe extern "C" fn stockade_worker_main(argc: c_int, argv: *const *const c_char) -> c_int {
    let mut args: Vec<OsString> = Vec::new();
    for i in 0..usize::try_from(argc).unwrap_or(0) {
        // SAFETY: the caller promises argc valid NUL-terminated strings at argv.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        args.push(OsString::from_vec(arg.to_bytes().to_vec()));
    }
    let outcome = std::panic::catch_unwind(move || {
        let args = match WorkerArgs::try_parse_from(args) {
            Ok(args) => args,
            Err(e) => return Err(e.to_string()),
        };
        run(&args)
    });
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("stockade worker: {e}");
            EXIT_FAILED
        }
        Err(_) => {
            eprintln!("stockade worker: panicked");
            EXIT_FAILED
        }
    }
}

fn run(args: &WorkerArgs) -> Result<(), String> {
    let profile = match args.profile.as_str() {
        "standard" => V8Profile::Standard,
        "strict" => V8Profile::Strict,
        other => return Err(format!("unknown profile {other:?}")),
    };
    // SAFETY: fcntl on an fd number has no memory effects; F_GETFD only checks it is open.
    if unsafe { libc::fcntl(args.ipc_fd, libc::F_GETFD) } < 0 {
        return Err(format!(
            "--ipc-fd {} is not an open descriptor",
            args.ipc_fd
        ));
    }
    // Counted before the jail: the affinity mask is a system call, the cgroup quota a file.
    let threads = if args.threads > 0 {
        args.threads.min(MAX_THREADS)
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
    };
    if !args.no_jail {
        drop_root()?;
        stockade_seccomp::enter_namespaces().map_err(|e| format!("namespaces: {e}"))?;
    }
    let engine = Engine::init(profile).map_err(|e| format!("V8: {e}"))?;
    // Limits V8 cannot enforce in-process end the process with a status the supervisor reads as
    // the running request's limit (every request in flight in this process is lost with it; see
    // the supervisor's process.rs for what it tells them).
    engine.set_unresponsive_policy(
        Unresponsive::ExitProcess(stockade_ipc::exit::CPU_LIMIT),
        DEFAULT_GRACE,
    );
    engine.set_out_of_memory_exit(stockade_ipc::exit::MEMORY_LIMIT);
    // Either exit names the request whose limit it enforces in the marks file, so that with
    // several requests in flight the supervisor answers that one with its limit.
    engine.set_limit_exit_hook(shared::blame);
    // With memory protection keys, heap pages must never pass from one isolate to another under
    // the wrong key; V8's page pool moves pages between isolates by itself, and the bridge closes
    // that route only while one thread runs isolates (bridge/engine.cc, DrainPagePool). So a process
    // whose isolates are keyed runs one isolate thread: its requests still interleave on timers
    // and host calls, but its CPU work is on one core.
    let threads = if engine.mpk_status().is_available() && threads > 1 {
        eprintln!(
            "stockade worker: memory protection keys are on: one isolate thread, not {threads}"
        );
        1
    } else {
        threads
    };
    let report = if args.no_jail {
        None
    } else {
        let mut config = JailConfig::new(args.ipc_fd);
        if args.seccomp_log {
            config.layers.seccomp = SeccompMode::Log;
        }
        Some(stockade_seccomp::close(&config).map_err(|e| format!("jail: {e}"))?)
    };
    warm(engine)?;
    give_back_free_heap();
    // SAFETY: the supervisor passed us this fd as our one IPC socket; nothing else owns it.
    let stream = unsafe { UnixStream::from_raw_fd(args.ipc_fd) };
    #[cfg(debug_assertions)]
    let test_hooks = args.test_hooks;
    #[cfg(not(debug_assertions))]
    let test_hooks = false;
    let reply_spin = std::time::Duration::from_micros(u64::from(args.reply_spin_us.min(1000)));
    serve::serve(
        engine,
        stream,
        report.as_ref(),
        test_hooks,
        threads,
        reply_spin,
        args.renew_after.clamp(MIN_RENEW_AFTER, MAX_RENEW_AFTER),
    )
}

/// Bounds of `--renew-after` (the supervisor's `worker_renew_after` has the same): renewing
/// costs an isolate's creation, so not too often; and a process must not grow without bound.
const MIN_RENEW_AFTER: u64 = 50;
const MAX_RENEW_AFTER: u64 = 1_000_000;

/// Isolate threads one worker may run: the jail's `RLIMIT_NPROC` (32 tasks) must also hold the
/// reaper, the main thread, the watchdog and the TypeScript helper threads.
const MAX_THREADS: usize = 16;

/// The unprivileged identity a worker started as root takes.
const WORKER_UID: libc::uid_t = 65534;
const WORKER_GID: libc::gid_t = 65534;

/// If running as root, become `nobody` for good (real, effective and saved ids), and check it.
fn drop_root() -> Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    // SAFETY: setgroups with a zero-length list reads no memory; the set*id calls take plain ids.
    let ok = unsafe {
        libc::setgroups(0, std::ptr::null()) == 0
            && libc::setresgid(WORKER_GID, WORKER_GID, WORKER_GID) == 0
            && libc::setresuid(WORKER_UID, WORKER_UID, WORKER_UID) == 0
    };
    if !ok {
        return Err(format!(
            "cannot drop root: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: setuid(0) takes a plain id; it must fail now that no id is 0.
    if unsafe { libc::setuid(0) } == 0 {
        return Err("dropped root but could regain it".into());
    }
    // Changing ids cleared the dumpable flag, which leaves /proc/self owned by root and the
    // uid_map/setgroups files unwritable for the namespace step; the jail clears it again.
    // SAFETY: PR_SET_DUMPABLE takes an integer argument only.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) } != 0 {
        return Err(format!(
            "PR_SET_DUMPABLE: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Runs the warm-up (`warm_up.js`, which says why, and `warm_up_node.js`), each in an isolate of its
/// own that no tenant code ever reaches, and leaves the lazy groups' code caches they made for the
/// process's isolates.
fn warm(engine: &'static Engine) -> Result<(), String> {
    warm_one(
        engine,
        include_str!("warm_up.js"),
        &LoadOptions::default(),
        &[
            "w,z,",
            "false,12,true",
            "<p>a.</p><a href=\\\"X\\\">y!</a>",
            "socket:1000:101",
            "sse=bok",
            "rpc:4:r:2:true",
        ],
    )?;
    let node = LoadOptions {
        compat: Compat::parse(
            "2025-06-01",
            &[
                "nodejs_compat".to_string(),
                "enable_nodejs_fs_module".to_string(),
            ],
        )
        .map_err(|e| format!("warm-up: {e}"))?,
        env: serde_json::Value::Null,
    };
    warm_one(
        engine,
        include_str!("warm_up_node.js"),
        &node,
        &[
            "d2FybQ==,5,30561,1,a=1",
            "q=w%20a%20r&m=1&m=2,warm streamx",
            "200 GET /up?x=1 Not Found,4true open TypeError,fs",
        ],
    )
}

/// Returns to the kernel the pages `malloc` holds free (all arenas). Called after the warm-up:
/// its isolates, disposed, leave about 2.3 MiB of freed but resident heap behind, a fifth of an
/// idle worker process's private memory (11.7 → 9.4 MiB, `Private_Dirty`), which the process
/// would otherwise keep until it happens to reuse it; and at the steps of an idle period
/// (`idle.rs`). Not after requests: a trim after 10 s of fresh isolates at c8 gave back 0.2 MiB,
/// after 40 Loader workers loaded nothing beyond the warm-up's part (benches/RESULTS.md, session 16).
pub(crate) fn give_back_free_heap() {
    // SAFETY: malloc_trim only releases free memory of malloc's arenas (madvise and brk, both
    // allowed by the jail's policy); no live allocation moves or changes.
    unsafe { libc::malloc_trim(0) };
}

/// Loads `main` (with a `d.json` beside it) in a warm-up worker, calls it with `1`, checks that its
/// answer (JSON text) contains each of `expect`, and leaves its caches.
fn warm_one(
    engine: &'static Engine,
    main: &str,
    options: &LoadOptions,
    expect: &[&str],
) -> Result<(), String> {
    let mut worker = Worker::for_warm_up(engine).map_err(|e| e.to_string())?;
    let mut set = ModuleSet::new([Module::new("main.ts", main), Module::new("d.json", "1")])
        .map_err(|e| e.to_string())?;
    worker
        .load_with("main.ts", &mut set, options)
        .result
        .map_err(|e| format!("warm-up load: {e}"))?;
    let answer = worker
        .call("1")
        .result
        .map_err(|e| format!("warm-up call: {e}"))?;
    if !expect.iter().all(|e| answer.contains(e)) {
        return Err(format!("warm-up call: unexpected answer {answer}"));
    }
    worker.leave_lazy_caches();
    Ok(())
}

#[cfg(test)]
mod warm_up_tests {
    //! The warm-up against a real engine. A lazy group's code cache is process-wide and made
    //! once, so the check runs in a process of its own: this test binary again, with the ignored
    //! test selected (it is that child, not a skipped check).
    use super::*;

    /// The lazy groups the warm-up uses; the Cache API needs a host, which the warm-up has not.
    const WARMED: [&str; 13] = [
        "streams",
        "crypto",
        "urlpattern",
        "rewriter",
        "node",
        "nodestream",
        "nodefs",
        "nodehttp",
        "nodenet",
        "sockets",
        "websocket",
        "eventsource",
        "rpc",
    ];

    #[test]
    fn the_warm_up_leaves_a_code_cache_for_each_lazy_group_it_uses_and_no_free_heap() {
        let exe = std::env::current_exe().expect("the test binary");
        let name = "warm_up_tests::warm_up_child";
        let out = std::process::Command::new(exe)
            .args(["--ignored", "--exact", name, "--nocapture"])
            .output()
            .expect("the test binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("1 passed"),
            "{name} failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    #[ignore = "run by the_warm_up_leaves_a_code_cache_for_each_lazy_group_it_uses_and_no_free_heap, alone in its process"]
    fn warm_up_child() {
        let engine = Engine::init(V8Profile::Standard).expect("V8 initialises");
        for group in WARMED.into_iter().chain(["cache"]) {
            assert_eq!(engine.lazy_cache_bytes(group), 0, "{group}: a cache before");
        }
        warm(engine).expect("the warm-up runs");
        for group in WARMED {
            let bytes = engine.lazy_cache_bytes(group);
            assert!(bytes > 0, "{group}: no cache after the warm-up");
            println!("{group} cache bytes: {bytes}");
        }
        assert_eq!(
            engine.lazy_cache_bytes("cache"),
            0,
            "the Cache API is not warmed"
        );
        // What the disposed warm-up isolates left in malloc's arenas goes back to the kernel.
        let before = private_dirty_kib();
        give_back_free_heap();
        let after = private_dirty_kib();
        println!("private dirty after the warm-up: {before} KiB, after giving back: {after} KiB");
        assert!(
            before >= after + 1024,
            "giving back the free heap returned {} KiB, not at least 1 MiB",
            before.saturating_sub(after)
        );
    }

    /// This process's private dirty memory (`/proc/self/smaps_rollup`), in KiB.
    fn private_dirty_kib() -> u64 {
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").expect("smaps_rollup");
        rollup
            .lines()
            .find_map(|l| l.strip_prefix("Private_Dirty:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("a Private_Dirty line")
    }
}
