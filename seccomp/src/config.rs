//! What the caller asks of the jail ([`JailConfig`]) and what it got
//! ([`JailReport`]).
//!
//! Guarantees: `JailConfig::new` is the production configuration (every
//! layer on, seccomp enforcing). Switching a layer off is explicit and shows
//! up in the report; the report never claims a layer or a Landlock ABI the
//! kernel did not enforce.

use std::os::fd::RawFd;

/// What seccomp does with a call that is not in the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeccompMode {
    /// Kill the whole worker with SIGSYS (`SECCOMP_RET_KILL_PROCESS`).
    Enforce,
    /// Let the call run and have the kernel write an audit record
    /// (`SECCOMP_RET_LOG`): `type=1326 ... syscall=N` in `dmesg` (or
    /// `ausearch -m SECCOMP` with auditd). For tuning the policy only: it
    /// enforces nothing. Errno entries (`clone3`) still return their errno.
    Log,
    /// No filter.
    Off,
}

/// Which layers [`close`](crate::close) applies. Closing fds, rlimits,
/// non-dumpable, `no_new_privs` and dropping capabilities always happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layers {
    /// Pivot into an empty read-only tmpfs root. Requires a prior
    /// successful [`enter_namespaces`](crate::enter_namespaces) in this process.
    pub namespaces: bool,
    /// Landlock: deny every filesystem right, TCP/UDP bind/connect and, via
    /// scoping, abstract Unix sockets and signals outside the worker.
    pub landlock: bool,
    /// The seccomp filter.
    pub seccomp: SeccompMode,
}

/// Resource limits; soft and hard are set to the same value so the worker
/// (which has no `CAP_SYS_RESOURCE` left, and no `prlimit64`) cannot raise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimits {
    /// `RLIMIT_CORE`: 0, no core file (core dumps are also disabled by
    /// making the worker non-dumpable, which covers piped `core_pattern`s).
    pub core: u64,
    /// `RLIMIT_FSIZE`: 0, no file can grow (SIGXFSZ), should one ever be writable.
    pub fsize: u64,
    /// `RLIMIT_NOFILE`: new descriptors must be numbered below this. The
    /// kept fd stays usable whatever its number.
    pub nofile: u64,
    /// `RLIMIT_NPROC`: the kernel counts tasks (threads included) per
    /// (user namespace, uid) and checks every ancestor namespace too. In the
    /// worker's fresh user namespace the count is the reaper, the worker and
    /// its threads, so this caps thread/fork bombs of this worker alone,
    /// independent of the supervisor's other processes. The kernel exempts
    /// tasks whose real uid is host root (kuid 0): a worker spawned as root
    /// gets no NPROC limit at all, so spawn workers under an unprivileged uid.
    pub nproc: u64,
}

impl Default for Rlimits {
    fn default() -> Self {
        Self {
            core: 0,
            fsize: 0,
            nofile: 16,
            nproc: 32,
        }
    }
}

/// Everything [`close`](crate::close) needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JailConfig {
    /// The one descriptor that survives (the IPC socket).
    pub keep_fd: RawFd,
    /// Layer switches.
    pub layers: Layers,
    /// Resource limits.
    pub rlimits: Rlimits,
}

impl JailConfig {
    /// Production configuration: every layer, seccomp enforcing, default limits.
    pub fn new(keep_fd: RawFd) -> Self {
        Self {
            keep_fd,
            layers: Layers {
                namespaces: true,
                landlock: true,
                seccomp: SeccompMode::Enforce,
            },
            rlimits: Rlimits::default(),
        }
    }
}

/// How much of the requested Landlock ruleset the kernel enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LandlockEnforcement {
    /// Everything requested.
    Full,
    /// The subset the kernel's ABI knows (see `enforced_abi`).
    Partial,
    /// Nothing: the kernel has no (enabled) Landlock.
    None,
}

/// What Landlock actually enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LandlockReport {
    /// Full, partial or none.
    pub enforcement: LandlockEnforcement,
    /// The ABI version the running kernel reports (`None`: no Landlock).
    pub kernel_abi: Option<u32>,
    /// The ABI whose rights are in force: min(kernel ABI, requested ABI),
    /// or `None` when nothing is enforced.
    pub enforced_abi: Option<u32>,
    /// The ABI this crate requested (the newest the landlock crate knows).
    pub requested_abi: u32,
    /// The domain covers every thread (`LANDLOCK_RESTRICT_SELF_TSYNC`,
    /// ABI >= 8). When false, only the thread that called `close()` is
    /// restricted; threads V8 started earlier are not.
    pub all_threads: bool,
}

impl LandlockReport {
    /// TCP bind/connect are denied (ABI >= 4).
    pub fn restricts_tcp(&self) -> bool {
        self.enforced_abi.is_some_and(|abi| abi >= 4)
    }
    /// Abstract Unix sockets and signals outside the domain are denied (ABI >= 6).
    pub fn scopes_signals_and_abstract_unix(&self) -> bool {
        self.enforced_abi.is_some_and(|abi| abi >= 6)
    }
}

/// What [`close`](crate::close) applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JailReport {
    /// Threads in the process when `close()` started. Capabilities and
    /// (below Landlock ABI 8) Landlock are per-thread: threads other than the
    /// caller keep what they had; seccomp (TSYNC) covers them all.
    pub threads_at_close: Option<usize>,
    /// The descriptor kept open.
    pub kept_fd: RawFd,
    /// Empty read-only root in place (namespace layer).
    pub empty_root: bool,
    /// Limits set.
    pub rlimits: Rlimits,
    /// `PR_SET_DUMPABLE` is 0.
    pub non_dumpable: bool,
    /// `PR_SET_NO_NEW_PRIVS` is 1 (read back with `PR_GET_NO_NEW_PRIVS`).
    pub no_new_privs: bool,
    /// Effective, permitted, inheritable and ambient sets are empty on the
    /// calling thread (read back).
    pub capabilities_dropped: bool,
    /// The bounding set is empty too (read back). False only when the
    /// caller never held `CAP_SETPCAP` (namespace layer off, unprivileged
    /// spawn); with `no_new_privs` no execve could use it anyway.
    pub bounding_set_empty: bool,
    /// `None` when the Landlock layer is off.
    pub landlock: Option<LandlockReport>,
    /// Seccomp mode installed.
    pub seccomp: SeccompMode,
    /// Number of BPF programs installed (allow-list + one per errno value).
    pub seccomp_programs: usize,
    /// Total BPF instructions installed.
    pub seccomp_instructions: usize,
}
