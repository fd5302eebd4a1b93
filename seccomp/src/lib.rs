//! `stockade-seccomp`: the jail a Stockade worker closes around itself before
//! it reads any tenant input. Modelled on firecracker's jailer and seccomp
//! policy; the warm-then-seal shape is Chrome's zygote.
//!
//! # Threat model
//!
//! The attacker is tenant JavaScript that has fully compromised V8: it runs
//! arbitrary machine code, on any thread of the worker, and can issue any
//! system call with any arguments. The worker's only legitimate channel is
//! the IPC socket it inherited from the supervisor. The jail must stop that
//! attacker from reading or writing any file, opening any network
//! connection, executing anything, creating processes, signalling or
//! tracing any other process (the supervisor above all), gaining any
//! privilege, and reaching the kernel's riskier interfaces (bpf, io_uring,
//! userfaultfd, perf, keyrings, ptrace, mount, namespaces). It does not
//! protect against kernel bugs in the system calls it allows, CPU side
//! channels, or resource exhaustion beyond the rlimits (memory and CPU
//! belong to the supervisor's cgroup).
//!
//! Trusted: the kernel; the supervisor; the worker code that runs before
//! [`close`] (V8 initialisation); this crate and its dependencies.
//!
//! # Layer order
//!
//! ```text
//! supervisor ──spawn──▶ stockade worker --ipc-fd N          (single-threaded)
//!   1. enter_namespaces()   unshare user+pid+net+mnt+ipc+uts+cgroup, map own
//!                           uid/gid (setgroups deny), max_user_namespaces=0,
//!                           fork: the parent becomes the reaper, the child
//!                           (pid 1, new session, PDEATHSIG=SIGKILL) returns
//!      …V8 initialises and warms up here (may start threads)…
//!   2. close(&config)
//!      1. close every fd but the IPC fd              close_range
//!      2. empty read-only root                       MS_PRIVATE, tmpfs, pivot_root,
//!                                                    umount old root, remount ro
//!      3. rlimits CORE=0 FSIZE=0 NOFILE NPROC; non-dumpable
//!      4. no_new_privs
//!      5. drop every capability, bounding set included
//!      6. Landlock: all fs rights, TCP bind/connect, abstract-unix and signal
//!                   scopes handled, zero rules (= all denied)
//!      7. seccomp-bpf allow-list (+ errno filters), TSYNC, default KILL_PROCESS
//!      …serve requests over the IPC fd…
//! ```
//!
//! Each step needs something the next one takes away (a path, a
//! capability, `/proc`, the mount syscall), which fixes the order.
//!
//! # What stops what
//!
//! The layers overlap on purpose, so a bug or a missing kernel feature in
//! one leaves the others standing. The tests in `tests/jail/` try each
//! attack for real, per layer and all together, and assert these exact
//! outcomes (namespaces column: namespaces + rlimits, Landlock off):
//!
//! | attack                        | namespaces alone     | Landlock alone | seccomp (alone or full jail) |
//! |-------------------------------|----------------------|----------------|------------------------------|
//! | open `/etc/passwd`            | ENOENT (empty root)  | EACCES         | EACCES (errno entry: never runs) |
//! | list `/`                      | only `.` and `..`    | EACCES         | EACCES (openat)              |
//! | create `/file`                | EROFS                | EACCES         | EACCES (openat)              |
//! | TCP connect, host 127.0.0.1   | ENETUNREACH          | EACCES         | SIGSYS (`socket`)            |
//! | execve `/bin/sh`              | ENOENT               | EACCES         | SIGSYS                       |
//! | ptrace the supervisor         | ESRCH (not in pidns) | EPERM          | SIGSYS                       |
//! | kill the supervisor           | ESRCH                | EPERM (ABI ≥ 6)| SIGSYS (`kill` only to self) |
//! | fork                          | EAGAIN at NPROC (non-root uid) | —    | SIGSYS (`clone` threads only)|
//! | mount                         | EPERM (no caps)      | EPERM          | SIGSYS                       |
//! | unshare(CLONE_NEWUSER)        | ENOSPC (max_user_namespaces=0) | —    | SIGSYS                       |
//! | setuid(0)                     | EINVAL (uid 0 unmapped, non-root uid) | — | SIGSYS               |
//! | write `/proc/self/mem`        | ENOENT               | —              | EACCES (openat)              |
//! | stat `/` (exists in any root) | runs                 | runs (not covered) | ENOENT (errno entry)     |
//! | bpf, io_uring, userfaultfd, perf_event_open, keyctl, ioctl, write to another fd, `int 0x80`, x32, any unlisted call | — | — | SIGSYS |
//!
//! A SIGSYS death is forwarded by the reaper, so the supervisor sees it.
//!
//! **Errno entries.** Ordinary library code probes for files: V8 reads
//! `/proc/self/maps` when it creates an isolate without a recycled code
//! range, ICU 78 stats its time-zone resource files, glibc's `tzset`
//! re-checks `/etc/localtime`, the host-zone lookup resolves that link. A
//! kill there would turn `new Date().getHours()` into a dead worker, so the
//! calls that name a path are errno entries instead: the call never runs,
//! which protects exactly as a kill, and the library takes its fallback.
//! The open family (`openat`, `open`) answers EACCES; path probes (`stat`,
//! `lstat`, `newfstatat`, `access`, `faccessat`, `faccessat2`, `readlink`,
//! `readlinkat`, `getdents64`, `chdir`, `getcwd`) answer ENOENT, as the empty
//! root would; `statx`, `openat2` and `clone3` answer ENOSYS, which their
//! callers handle by falling back to calls listed in the policy. `fstat` on a
//! descriptor is allowed. Process-dangerous calls (exec, ptrace, mount, …)
//! stay a kill.
//!
//! # Tuning the policy
//!
//! [`policy::WORKER_POLICY`] is a table: one line per allowed call, with a
//! reason. Run the worker with [`SeccompMode::Log`]; every call outside the
//! table runs and leaves an audit record (`dmesg | grep type=1326`, or
//! `ausearch -m SECCOMP` with auditd; field `syscall=` is the x86_64
//! number). Without auditd the kernel log rate-limits these records
//! (printk_ratelimit: 10 per 5 s), so repeat the workload rather than trust
//! a single quiet run. Kills in `Enforce` mode are audited the same way.
//! Checked so far against the real `stockade` worker (V8 10.2): snippets
//! with timers, crypto, WebAssembly, JSON, thrown errors, CPU-limit
//! termination and heap OOM, and `fetch` workers — no record left.
//! V8 13.6 with ICU 78 on glibc 2.43 (Enforce, traced): `localeCompare`,
//! local `Date`, and `Intl` DateTimeFormat, NumberFormat, Collator,
//! Segmenter, PluralRules, RelativeTimeFormat, ListFormat and DisplayNames
//! met only errno entries (ICU's `newfstatat` of
//! `/usr/share/zoneinfo-icu/44/le/*.res`, glibc's `openat` of a zone file,
//! `clone3`).
//!
//! # Known limits (read before relying on this)
//!
//! - **Per-thread state.** Capabilities, and Landlock below ABI 8, apply
//!   only to the thread that calls [`close`]. Threads V8 started earlier
//!   (the stockade worker has a watchdog thread) keep full capabilities
//!   *inside the worker's own user namespace* and no Landlock domain; the
//!   empty root and the namespaces (process-wide) and seccomp (installed
//!   with TSYNC) cover them. [`JailReport::threads_at_close`] and
//!   [`LandlockReport::all_threads`] say whether this applies.
//! - **Host root.** The user namespace maps the supervisor's own uid (an
//!   unprivileged process can map nothing else). A worker spawned as root is
//!   host kuid 0 without capabilities: the kernel then ignores RLIMIT_NPROC,
//!   and same-uid rules (kill, ptrace, file owner permissions) treat it as
//!   the supervisor's peer. Spawn workers under a dedicated unprivileged uid.
//! - **pid 1.** The worker is init of its pid namespace, so the kernel drops
//!   SIG_DFL signals sent to it (SIGTERM included) unless it installs a
//!   handler; SIGKILL to the reaper always works (PDEATHSIG). For the same
//!   reason `abort()` cannot kill it with SIGABRT: glibc's fallback then
//!   faults, so an aborting worker is reported as SIGSEGV.
//! - **No stderr.** After [`close`] only the IPC descriptor exists;
//!   writes to fd 2 get EBADF, and anything else a worker wants the
//!   supervisor to know must go over IPC.
//! - **Log mode enforces nothing**: it exists to tune the table. The
//!   architecture check kills foreign-ABI calls (`int 0x80`) even there.

//! # Using it
//!
//! ```no_run
//! use stockade_seccomp::{close, enter_namespaces, JailConfig};
//! # fn init_v8() {}
//! # fn serve(_: i32) {}
//! # fn main() -> Result<(), stockade_seccomp::JailError> {
//! let ipc_fd = 3;
//! enter_namespaces()?;                  // still single-threaded
//! init_v8();                            // warm everything up
//! let report = close(&JailConfig::new(ipc_fd))?;
//! serve(ipc_fd);                        // no file, no network, no new process
//! # let _ = report; Ok(()) }
//! ```

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("stockade-seccomp's policy is written for Linux x86_64 syscall numbers");

mod config;
mod error;
pub mod filter;
mod jail;
mod landlock_layer;
mod namespaces;
pub mod policy;
mod privileges;
mod reaper;
mod rootfs;
mod sys;

pub use config::{
    JailConfig, JailReport, LandlockEnforcement, LandlockReport, Layers, Rlimits, SeccompMode,
};
pub use error::JailError;
pub use jail::close;
pub use namespaces::enter_namespaces;
pub use reaper::REAPER_FAILURE;
