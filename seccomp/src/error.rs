//! `JailError`: one variant per step of [`enter_namespaces`](crate::enter_namespaces)
//! and [`close`](crate::close), in the order the steps run.
//!
//! Guarantees: an error names the exact step that failed, so a worker that
//! cannot close its jail can say why before it exits. A failed step is never
//! skipped: the caller must treat every error as fatal and exit without
//! reading tenant input (the jail is half-built at that point).

use std::io;

use crate::policy::PolicyError;

/// Why entering the namespaces or closing the jail failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JailError {
    // ---- enter_namespaces(), in order --------------------------------------
    /// Could not count this process's threads (`/proc/self/task`).
    #[error("counting threads in /proc/self/task: {0}")]
    CountThreads(#[source] io::Error),
    /// `unshare(CLONE_NEWUSER)` requires a single-threaded caller.
    #[error("enter_namespaces() must run before any thread is started; found {threads} threads")]
    NotSingleThreaded {
        /// Threads found in the calling process.
        threads: usize,
    },
    /// `unshare(user|pid|net|mount|ipc|uts|cgroup)` failed.
    #[error("unshare(user, pid, net, mount, ipc, uts, cgroup): {0}")]
    Unshare(#[source] io::Error),
    /// Writing `deny` to `/proc/self/setgroups` failed.
    #[error("writing 'deny' to /proc/self/setgroups: {0}")]
    SetgroupsDeny(#[source] io::Error),
    /// Writing `/proc/self/uid_map` failed.
    #[error("writing /proc/self/uid_map: {0}")]
    UidMap(#[source] io::Error),
    /// Writing `/proc/self/gid_map` failed.
    #[error("writing /proc/self/gid_map: {0}")]
    GidMap(#[source] io::Error),
    /// Writing 0 to `/proc/sys/user/max_user_namespaces` (of the new user
    /// namespace) failed.
    #[error("forbidding nested user namespaces (max_user_namespaces = 0): {0}")]
    NestedUserNamespaces(#[source] io::Error),
    /// Creating the reaper-liveness pipe failed.
    #[error("creating the reaper lifeline pipe: {0}")]
    LifelinePipe(#[source] io::Error),
    /// Blocking SIGTERM/SIGCHLD before the fork failed.
    #[error("blocking SIGTERM/SIGCHLD for the reaper: {0}")]
    SignalMask(#[source] io::Error),
    /// `fork()` into the new pid namespace failed.
    #[error("fork into the new pid namespace: {0}")]
    Fork(#[source] io::Error),
    /// `setsid()` in the child failed.
    #[error("setsid() in the jailed child: {0}")]
    NewSession(#[source] io::Error),
    /// `prctl(PR_SET_PDEATHSIG, SIGKILL)` failed.
    #[error("prctl(PR_SET_PDEATHSIG, SIGKILL): {0}")]
    ParentDeathSignal(#[source] io::Error),
    /// The reaper died before the child armed its parent-death signal.
    #[error("the reaper exited before the child armed PR_SET_PDEATHSIG")]
    ReaperGone,

    // ---- close(), in order --------------------------------------------------
    /// `close()` was asked for the namespace layer but `enter_namespaces()`
    /// did not run in this process. Refusing protects the host's mount table.
    #[error(
        "close(): layers.namespaces is set but enter_namespaces() did not run in this process"
    )]
    NamespacesNotEntered,
    /// The descriptor to keep is not open.
    #[error("close(): keep_fd {fd} is not an open descriptor")]
    KeepFdNotOpen {
        /// The configured `keep_fd`.
        fd: i32,
    },
    /// `close_range()` around the kept descriptor failed.
    #[error("close_range() around the kept descriptor: {0}")]
    CloseFds(#[source] io::Error),
    /// Making every mount private (`MS_REC | MS_PRIVATE` on `/`) failed.
    #[error("making mount propagation private: {0}")]
    MountPropagation(#[source] io::Error),
    /// Mounting the empty tmpfs that becomes the new root failed.
    #[error("mounting the empty tmpfs root: {0}")]
    MountTmpfs(#[source] io::Error),
    /// `chdir` + `pivot_root(".", ".")` into the empty tmpfs failed.
    #[error("pivot_root into the empty tmpfs: {0}")]
    PivotRoot(#[source] io::Error),
    /// Detaching the old root failed.
    #[error("unmounting the old root: {0}")]
    UnmountOldRoot(#[source] io::Error),
    /// Remounting the new root read-only failed.
    #[error("remounting the new root read-only: {0}")]
    RemountReadOnly(#[source] io::Error),
    /// `setrlimit` failed.
    #[error("setrlimit({resource}): {source}")]
    Rlimit {
        /// Name of the resource, e.g. `RLIMIT_NPROC`.
        resource: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `prctl(PR_SET_DUMPABLE, 0)` failed.
    #[error("prctl(PR_SET_DUMPABLE, 0): {0}")]
    Undumpable(#[source] io::Error),
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)` failed.
    #[error("prctl(PR_SET_NO_NEW_PRIVS, 1): {0}")]
    NoNewPrivs(#[source] io::Error),
    /// Dropping or verifying the capability sets failed.
    #[error("dropping capabilities: {0}")]
    DropCapabilities(String),
    /// Building or enforcing the Landlock ruleset failed.
    #[error("landlock: {0}")]
    Landlock(#[source] landlock::RulesetError),
    /// The seccomp policy table could not be compiled.
    #[error("compiling the seccomp policy: {0}")]
    SeccompCompile(#[source] PolicyError),
    /// Installing the compiled filters (with TSYNC) failed.
    #[error("installing the seccomp filter on all threads: {0}")]
    SeccompInstall(#[source] seccompiler::Error),
}
