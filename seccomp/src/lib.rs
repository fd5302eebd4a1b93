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
//!      7. seccomp-bpf allow-list, TSYNC, default KILL_PROCESS
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
//! attack for real under each layer alone and under all of them:
//!
//! | attack                         | namespaces alone | Landlock alone | seccomp |
//! |--------------------------------|------------------|----------------|---------|
//! | open `/etc/passwd`             | ENOENT (empty root) | EACCES      | SIGSYS  |
//! | list `/`                       | only `.` `..`    | EACCES         | SIGSYS  |
//! | TCP connect to host 127.0.0.1  | ENETUNREACH (own netns, lo down) | EACCES | SIGSYS |
//! | execve `/bin/sh`               | ENOENT           | EACCES         | SIGSYS  |
//! | ptrace / kill the supervisor   | ESRCH (invisible in own pidns) | EPERM | SIGSYS |
//! | fork                           | NPROC: EAGAIN (non-root uid) | —  | SIGSYS  |
//! | mount, unshare, setuid, bpf, io_uring, userfaultfd, perf, keyctl | caps gone, nested userns forbidden | mount: EPERM | SIGSYS |
//!
//! With everything on, the first layer an attack meets is seccomp, so every
//! attack ends in SIGSYS (the process dies; the reaper re-raises it for the
//! supervisor). The exact outcome per configuration is asserted by the tests.
//!
//! # Known limits (read before relying on this)
//!
//! - **Per-thread state.** Capabilities, and Landlock below ABI 8, apply
//!   only to the thread that calls [`close`]. Threads V8 started earlier
//!   keep full capabilities *inside the worker's own user namespace* and no
//!   Landlock domain; only seccomp (installed with TSYNC) covers them.
//!   [`JailReport::threads_at_close`] and [`LandlockReport::all_threads`]
//!   say whether this applies. Prefer a V8 platform that starts no thread.
//! - **Host root.** The user namespace maps the supervisor's own uid (an
//!   unprivileged process can map nothing else). A worker spawned as root is
//!   host kuid 0 without capabilities: the kernel then ignores RLIMIT_NPROC,
//!   and same-uid rules (kill, ptrace, file owner permissions) treat it as
//!   the supervisor's peer. Spawn workers under a dedicated unprivileged uid.
//! - **pid 1.** The worker is init of its pid namespace, so the kernel drops
//!   SIG_DFL signals sent to it (SIGTERM included) unless it installs a
//!   handler; SIGKILL to the reaper always works (PDEATHSIG).
//! - **Log mode enforces nothing**: it exists to tune [`policy::WORKER_POLICY`].
//!
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
