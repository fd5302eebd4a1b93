//! The worker's seccomp policy, as data (firecracker style).
//!
//! Guarantees: [`WORKER_POLICY`] is the complete list of system calls a
//! jailed worker may make. Anything not listed gets the mode's default
//! action (`SECCOMP_RET_KILL_PROCESS` in [`SeccompMode::Enforce`]). Every
//! entry carries the reason it exists; argument checks narrow an entry where
//! the kernel hands BPF a register worth checking (BPF cannot dereference
//! pointers, so struct arguments such as `clone3`'s or `sendmsg`'s are
//! unreadable and the entry says so).
//!
//! Trusts: the `libc::SYS_*` numbers for x86_64 (the only target this crate
//! builds for), and the reasoning in each `reason`.
//!
//! Adding a system call is one line: `allow("name", libc::SYS_name, "why")`.
//! Several entries for the same call are OR-ed (any matching entry allows);
//! the checks inside one entry are AND-ed. Tune with [`SeccompMode::Log`] and
//! read the audit records (`dmesg | grep type=1326`, field `syscall=`).
//!
//! [`SeccompMode::Enforce`]: crate::SeccompMode::Enforce
//! [`SeccompMode::Log`]: crate::SeccompMode::Log

/// What happens when an entry matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The call runs.
    Allow,
    /// The call fails with this errno and never reaches the kernel proper.
    /// For calls libc probes and falls back from (e.g. `clone3` → `clone`).
    Errno(i32),
}

/// Which part of a 64-bit syscall register is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgWidth {
    /// Low 32 bits: for `int`/`unsigned int` parameters, which the kernel
    /// itself truncates (so the high half is attacker-controlled noise).
    Dword,
    /// All 64 bits: for `unsigned long` flags and pointers.
    Qword,
}

/// The value an argument is compared with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgValue {
    /// A constant.
    Const(u64),
    /// The descriptor the jail keeps open ([`JailConfig::keep_fd`](crate::JailConfig::keep_fd)).
    KeptFd,
    /// The worker's own pid as seen from inside the jail (1 in a fresh pid
    /// namespace). Fixed for the process lifetime since the jail forbids fork.
    OwnPid,
}

/// How the argument is compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgOp {
    /// `arg == value`.
    Eq,
    /// `arg & mask == value`.
    MaskedEq(u64),
}

/// One condition on one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgCheck {
    /// Argument index, 0..=5.
    pub index: u8,
    /// Compared width.
    pub width: ArgWidth,
    /// Comparison.
    pub op: ArgOp,
    /// Right-hand side.
    pub value: ArgValue,
}

/// One entry of the policy table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRule {
    /// Human name (audit records show the number; this is for people).
    pub name: &'static str,
    /// x86_64 syscall number.
    pub nr: libc::c_long,
    /// Conditions, all of which must hold (empty: any arguments).
    pub when: &'static [ArgCheck],
    /// What a match does.
    pub verdict: Verdict,
    /// Why the worker needs this.
    pub reason: &'static str,
}

/// Why a policy table cannot be compiled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Two entries for the same call disagree on the verdict.
    #[error("syscall {name} ({nr}) has entries with different verdicts")]
    ConflictingVerdicts {
        /// Name of the first entry.
        name: &'static str,
        /// Syscall number.
        nr: libc::c_long,
    },
    /// An argument index above 5.
    #[error("syscall {name}: argument index {index} out of range")]
    BadArgIndex {
        /// Entry name.
        name: &'static str,
        /// Offending index.
        index: u8,
    },
    /// A [`Verdict::Errno`] outside 1..=4095.
    #[error("errno {0} is not a valid errno value")]
    BadErrno(i32),
    /// seccompiler rejected the filter (e.g. too long).
    #[error("seccompiler: {0}")]
    Backend(#[from] seccompiler::BackendError),
    /// This crate only knows x86_64 syscall numbers.
    #[error("unsupported target architecture: {0}")]
    UnsupportedArch(&'static str),
}

// ---- constructors, so the table below reads like a table -------------------

/// Allows `nr` with any arguments.
pub const fn allow(name: &'static str, nr: libc::c_long, reason: &'static str) -> SyscallRule {
    allow_when(name, nr, &[], reason)
}

/// Allows `nr` when every check in `when` holds.
pub const fn allow_when(
    name: &'static str,
    nr: libc::c_long,
    when: &'static [ArgCheck],
    reason: &'static str,
) -> SyscallRule {
    SyscallRule {
        name,
        nr,
        when,
        verdict: Verdict::Allow,
        reason,
    }
}

/// Makes `nr` fail with `errno` without running it.
pub const fn fail(
    name: &'static str,
    nr: libc::c_long,
    errno: i32,
    reason: &'static str,
) -> SyscallRule {
    SyscallRule {
        name,
        nr,
        when: &[],
        verdict: Verdict::Errno(errno),
        reason,
    }
}

/// `int` argument `index` equals `value`.
pub const fn int_eq(index: u8, value: u64) -> ArgCheck {
    ArgCheck {
        index,
        width: ArgWidth::Dword,
        op: ArgOp::Eq,
        value: ArgValue::Const(value),
    }
}

/// `int` argument `index`, masked, equals `value`.
pub const fn int_masked(index: u8, mask: u64, value: u64) -> ArgCheck {
    ArgCheck {
        index,
        width: ArgWidth::Dword,
        op: ArgOp::MaskedEq(mask),
        value: ArgValue::Const(value),
    }
}

/// `unsigned long`/pointer argument `index` equals `value`.
pub const fn long_eq(index: u8, value: u64) -> ArgCheck {
    ArgCheck {
        index,
        width: ArgWidth::Qword,
        op: ArgOp::Eq,
        value: ArgValue::Const(value),
    }
}

/// `unsigned long` argument `index`, masked, equals `value`.
pub const fn long_masked(index: u8, mask: u64, value: u64) -> ArgCheck {
    ArgCheck {
        index,
        width: ArgWidth::Qword,
        op: ArgOp::MaskedEq(mask),
        value: ArgValue::Const(value),
    }
}

/// Descriptor argument `index` is the kept IPC descriptor.
pub const fn fd_is_kept(index: u8) -> ArgCheck {
    ArgCheck {
        index,
        width: ArgWidth::Dword,
        op: ArgOp::Eq,
        value: ArgValue::KeptFd,
    }
}

/// Pid argument `index` is the worker itself.
pub const fn pid_is_own(index: u8) -> ArgCheck {
    ArgCheck {
        index,
        width: ArgWidth::Dword,
        op: ArgOp::Eq,
        value: ArgValue::OwnPid,
    }
}

// ---- constants the table needs ---------------------------------------------

/// Flags glibc's `pthread_create` always passes to `clone`: a thread shares
/// memory, fs info, the descriptor table and signal handlers with its creator.
const CLONE_THREAD_SHAPE: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD) as u64;
/// Flags a thread-creating `clone` must NOT carry: new namespaces, tracing,
/// vfork, pidfds, re-parenting, and an exit signal (the low byte, CSIGNAL).
const CLONE_FORBIDDEN: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWTIME
    | libc::CLONE_PTRACE
    | libc::CLONE_VFORK
    | libc::CLONE_UNTRACED
    | libc::CLONE_PIDFD
    | libc::CLONE_PARENT
    | 0xff) as u64;

/// `FUTEX_CMD_MASK`: the op with the PRIVATE and CLOCK_REALTIME flags cleared.
const FUTEX_CMD_MASK: u64 =
    !((libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME) as u32) as u64;
const fn futex_op(op: libc::c_int) -> [ArgCheck; 1] {
    [int_masked(1, FUTEX_CMD_MASK, op as u64)]
}

const PR_SET_VMA: u64 = 0x5356_4d41;
const PR_SET_VMA_ANON_NAME: u64 = 0;
const MEMBARRIER_CMD_QUERY: u64 = 0;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: u64 = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: u64 = 1 << 4;

const IPC: &[ArgCheck] = &[fd_is_kept(0)];
const STDERR: &[ArgCheck] = &[int_eq(0, 2)];
const CONNECTED_SEND: &[ArgCheck] = &[fd_is_kept(0), long_eq(4, 0)];
const OWN_PROCESS: &[ArgCheck] = &[pid_is_own(0)];

/// Everything a warmed, single-threaded-platform V8 worker needs to serve
/// requests over its one Unix socket. Nothing allowed here creates a
/// descriptor, touches a path, or names another process: the calls that name
/// a path are errno entries, which never run.
pub const WORKER_POLICY: &[SyscallRule] = &[
    // -- IPC: the kept socket is the only descriptor, and the only one usable.
    allow_when("read", libc::SYS_read, IPC, "IPC: blocking reads of requests"),
    allow_when("readv", libc::SYS_readv, IPC, "IPC: scatter reads of framed requests"),
    allow_when("recvfrom", libc::SYS_recvfrom, IPC, "IPC: std's UnixStream::read is recv() = recvfrom(.., NULL, NULL)"),
    allow_when("recvmsg", libc::SYS_recvmsg, IPC, "IPC: framed reads, SCM_RIGHTS from the (trusted) supervisor"),
    allow_when("write", libc::SYS_write, IPC, "IPC: responses"),
    allow_when("writev", libc::SYS_writev, IPC, "IPC: header + body responses without a copy"),
    allow_when("write", libc::SYS_write, STDERR, "stderr, which close() has closed: eprintln!/panic messages get EBADF (ignored by std) instead of turning an orderly error exit into SIGSYS"),
    allow_when("writev", libc::SYS_writev, STDERR, "stderr as above (glibc's fatal-error messages use writev)"),
    allow_when("sendto", libc::SYS_sendto, CONNECTED_SEND, "IPC: std's UnixStream::write is send() = sendto(.., NULL, 0); a destination address is refused"),
    allow_when("sendmsg", libc::SYS_sendmsg, IPC, "IPC: framed responses (msghdr is a pointer BPF cannot read; the socket is connected)"),
    allow("poll", libc::SYS_poll, "IPC: wait for the socket with a timeout; creates nothing, the pollfd array is unreadable to BPF but only the kept fd exists"),
    allow("ppoll", libc::SYS_ppoll, "IPC: as poll, with a signal mask (glibc's poll() may use it)"),
    allow("close", libc::SYS_close, "closing a descriptor only reduces what the worker holds"),
    allow_when("fcntl", libc::SYS_fcntl, &[int_eq(1, libc::F_GETFD as u64)], "F_GETFD only: Rust std checks a descriptor is still open when an OwnedFd drops (debug builds; measured on the worker's exit path). Reads one flag"),
    // -- paths: none exist in the jail, but V8, ICU and glibc still look.
    // Every call below that names a path is an errno entry: it never runs, so it protects exactly
    // as a kill would, and library code that probes for a file takes its fallback instead of
    // killing the worker. EACCES for the open family (what Landlock answers); ENOENT for probes
    // (what the empty root itself answers, and what probing code reads as "not installed, use the
    // fallback"); ENOSYS where the caller's documented fallback is a call listed here.
    fail("openat", libc::SYS_openat, libc::EACCES, "V8 10.2 reads /proc/self/maps (CodeRangeAddressHint -> OS::GetFreeMemoryRangesWithin) when an isolate is created with no recently freed code range, e.g. after a heap OOM (measured); refused, it falls back to a default hint. glibc's open()/fopen()/opendir() are this call: tzset reading /etc/localtime or /usr/share/zoneinfo/<TZ> falls back to UTC or to parsing TZ as a POSIX rule. Errno, not kill: the call never runs either way"),
    fail("open", libc::SYS_open, libc::EACCES, "legacy open(2): glibc's open() is openat, but static or hand-rolled code may still issue it; answered exactly like openat (EACCES), never runs"),
    fail("openat2", libc::SYS_openat2, libc::ENOSYS, "no library in the worker uses it, and its open_how struct is unreadable to BPF; ENOSYS is the pre-5.6-kernel answer every openat2 caller handles by retrying with openat, which gets EACCES. Never runs"),
    fail("stat", libc::SYS_stat, libc::ENOENT, "legacy stat(2) (glibc's stat() is newfstatat): a path probe, answered like newfstatat. Never runs"),
    fail("lstat", libc::SYS_lstat, libc::ENOENT, "legacy lstat(2) (glibc's lstat() is newfstatat with AT_SYMLINK_NOFOLLOW): a path probe, answered like newfstatat. Never runs"),
    fail("newfstatat", libc::SYS_newfstatat, libc::ENOENT, "glibc 2.43's stat()/lstat()/fstatat() (measured). ICU 78 stats /usr/share/zoneinfo-icu/44/le/{zoneinfo64,timezoneTypes,metaZones}.res before mapping them (uprv_mapFile; measured: the SIGSYS behind new Date().getHours() in the jail) and on ENOENT uses the zone data built into libicudata; glibc's tzset, TZ unset, re-stats /etc/localtime once a zone file was loaded before the jail, then falls back to UTC. Every form is refused, fstatat(fd, \"\", AT_EMPTY_PATH) too: BPF cannot tell \"\" from \"/etc/passwd\" (glibc <= 2.38's fstat() is that form; 2.43's is the fstat entry). Never runs"),
    fail("statx", libc::SYS_statx, libc::ENOSYS, "not used by glibc on x86_64; Rust std (fs::metadata, File::metadata) and libuv try it first and on ENOSYS fall back to stat/fstat (glibc 2.43: newfstatat -> ENOENT for paths, the allowed fstat for descriptors). Path unreadable to BPF, so every form is refused; never runs"),
    fail("access", libc::SYS_access, libc::ENOENT, "glibc 2.43's access() (measured: syscall 21): existence probes (F_OK) read ENOENT as \"absent\" and fall back. Never runs"),
    fail("faccessat", libc::SYS_faccessat, libc::ENOENT, "glibc's faccessat() when faccessat2 is missing; answered like access. Never runs"),
    fail("faccessat2", libc::SYS_faccessat2, libc::ENOENT, "glibc 2.43's faccessat() (measured: tried first). ENOENT, not ENOSYS, so glibc returns at once instead of retrying through faccessat and an fstatat emulation. Never runs"),
    fail("readlink", libc::SYS_readlink, libc::ENOENT, "glibc 2.43's readlink() and realpath() (measured: syscall 89). With TZ unset the host-zone lookup resolves /etc/localtime link by link (measured: /etc, /etc/localtime, /usr, ... after tzset's file read); ENOENT ends the walk and the zone falls back to tzset's (UTC in the jail). Never runs"),
    fail("readlinkat", libc::SYS_readlinkat, libc::ENOENT, "glibc's readlinkat() (gnulib and libstdc++ filesystem code): answered like readlink. Never runs"),
    fail("getdents64", libc::SYS_getdents64, libc::ENOENT, "readdir(): ICU searches /usr/share/zoneinfo for a file equal to /etc/localtime, but opendir already fails (openat: EACCES) and close() closed every directory, so no directory stream exists; should one be used, ENOENT (\"directory removed\", a documented getdents error) ends the listing. Never runs"),
    fail("chdir", libc::SYS_chdir, libc::ENOENT, "libstdc++'s filesystem::current_path(p) and setup code that changes directory: there is no directory to change to. Never runs"),
    fail("getcwd", libc::SYS_getcwd, libc::ENOENT, "libstdc++'s filesystem::current_path()/absolute() and glibc's realpath() of a relative path. ENOENT is the kernel's own answer for an unlinked cwd; glibc's getcwd() then returns NULL without its fallback directory walk (which it runs only after ENAMETOOLONG or a non-absolute answer). Never runs"),
    allow("fstat", libc::SYS_fstat, "metadata of a descriptor the worker already holds, no path: glibc 2.43's fstat() is this call (measured: fstat@@GLIBC_2.33 is syscall 5), used by stdio before buffering a stream and by Rust's File::metadata after statx's ENOSYS. Only the IPC socket is open; a closed descriptor gets EBADF from the kernel"),
    // -- memory: V8 heap, JIT code space, malloc.
    allow("brk", libc::SYS_brk, "malloc: small-object arena growth"),
    allow("mmap", libc::SYS_mmap, "V8 heap pages, code space reservations, malloc large chunks, thread stacks (no file can be opened, so no file mapping)"),
    allow("munmap", libc::SYS_munmap, "V8 heap shrinking, malloc trimming"),
    allow("mremap", libc::SYS_mremap, "malloc realloc of large chunks"),
    allow("mprotect", libc::SYS_mprotect, "V8 JIT W^X flips (RW <-> RX) and guard pages; PROT_EXEC cannot be denied without disabling the JIT"),
    allow("pkey_mprotect", libc::SYS_pkey_mprotect, "V8 code-space protection with memory protection keys (see stockade-mpk)"),
    allow("pkey_alloc", libc::SYS_pkey_alloc, "allocating a protection key for the JIT/heap cordon"),
    allow("pkey_free", libc::SYS_pkey_free, "releasing a protection key"),
    allow("madvise", libc::SYS_madvise, "V8 discards freed heap pages (MADV_DONTNEED/FREE); glibc frees thread stacks"),
    allow("mincore", libc::SYS_mincore, "the page allocator's pool of freed heap pages zeroes the resident pages of a page in place and drops the others (isolate/src/bridge/memory.cc); it reports residency of the process's own anonymous mappings"),
    // -- threads and synchronisation.
    allow_when("clone", libc::SYS_clone, &[long_masked(0, CLONE_THREAD_SHAPE | CLONE_FORBIDDEN, CLONE_THREAD_SHAPE)], "threads only: must carry VM|FS|FILES|SIGHAND|THREAD and no namespace/ptrace/vfork/pidfd/parent/exit-signal flag, so fork and vfork die"),
    fail("clone3", libc::SYS_clone3, libc::ENOSYS, "glibc >= 2.34 (2.43 included, measured) tries clone3 first; its flags live in memory BPF cannot read, so answer ENOSYS and glibc falls back to the checked clone"),
    allow("rseq", libc::SYS_rseq, "glibc >= 2.35 registers restartable sequences in every new thread and aborts the process if that fails once the main thread has one (measured: 'Fatal glibc error: rseq registration failed')"),
    // Reviewed for glibc 2.43 (the calls its libc.so.6 can issue and 2.36's cannot) and left
    // unlisted, so they kill: mseal (only the mseal() wrapper; the loader does not seal),
    // map_shadow_stack (thread shadow stacks, used only when CET shadow stacks are enabled, which
    // needs every loaded object SHSTK-marked; the worker binary, libnode137, ICU and Debian's
    // libc are not), sched_setattr/sched_getattr (wrappers only), fchmodat2 (fchmodat: a write,
    // not a probe). glibc uses neither futex_waitv nor the futex2 calls.
    allow("set_robust_list", libc::SYS_set_robust_list, "glibc start_thread registers the robust-futex list head (stores one pointer)"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_WAIT), "mutex/condvar wait (V8 platform, std)"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_WAKE), "mutex/condvar wake"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_REQUEUE), "condvar broadcast (old glibc)"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_CMP_REQUEUE), "condvar broadcast"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_WAKE_OP), "condvar signal (old glibc)"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_WAIT_BITSET), "timed waits on CLOCK_MONOTONIC/REALTIME"),
    allow_when("futex", libc::SYS_futex, &futex_op(libc::FUTEX_WAKE_BITSET), "wake for bitset waits"),
    // (all priority-inheritance futex ops stay denied: a history of root exploits, e.g. CVE-2014-3153, and unused by V8)
    allow_when("membarrier", libc::SYS_membarrier, &[int_eq(0, MEMBARRIER_CMD_QUERY)], "membarrier feature probe"),
    allow_when("membarrier", libc::SYS_membarrier, &[int_eq(0, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED)], "register for process-private barriers (JIT code publication)"),
    allow_when("membarrier", libc::SYS_membarrier, &[int_eq(0, MEMBARRIER_CMD_PRIVATE_EXPEDITED)], "process-private barrier; the GLOBAL commands (system-wide RCU) stay denied"),
    allow("sched_yield", libc::SYS_sched_yield, "spin-lock back-off"),
    allow("sched_getparam", libc::SYS_sched_getparam, "abseil's Mutex inside libnode reads a blocking thread's scheduling parameters (pthread_getschedparam) when two isolate threads contend for one of V8's locks (measured: RandomNumberGenerator in Context::New, under load); read-only, and only the worker's own tasks are nameable in its pid namespace"),
    allow("sched_getscheduler", libc::SYS_sched_getscheduler, "the same pthread_getschedparam reads the thread's policy on its first call; read-only, own tasks only"),
    allow("sched_getaffinity", libc::SYS_sched_getaffinity, "pthread_getattr_np (V8's and std's stack-bounds lookup in every thread) reads the thread's CPU mask (measured); read-only, and only the worker's own tasks are nameable in its pid namespace"),
    // -- time and randomness.
    allow("clock_gettime", libc::SYS_clock_gettime, "Date.now/performance.now when the vDSO falls back to the syscall"),
    allow("clock_nanosleep", libc::SYS_clock_nanosleep, "timed sleeps (std::thread::sleep)"),
    allow("nanosleep", libc::SYS_nanosleep, "timed sleeps (older libc)"),
    allow("getrandom", libc::SYS_getrandom, "V8 hash seeds, Math.random, crypto.getRandomValues; std HashMap keys"),
    // -- signals, to self only.
    allow("rt_sigaction", libc::SYS_rt_sigaction, "V8 installs SIGSEGV/SIGBUS handlers (trap-based bounds checks); a SIGSYS handler cannot catch KILL_PROCESS"),
    allow("rt_sigprocmask", libc::SYS_rt_sigprocmask, "signal masking around critical sections and thread start"),
    allow("rt_sigreturn", libc::SYS_rt_sigreturn, "return from any signal handler"),
    allow("sigaltstack", libc::SYS_sigaltstack, "std's stack-overflow handler runs on an alternate stack in every thread"),
    allow("restart_syscall", libc::SYS_restart_syscall, "kernel-driven restart of an interrupted sleep"),
    allow_when("kill", libc::SYS_kill, OWN_PROCESS, "signals to self only: arg0 must equal the worker's own pid (pid 0 / negative = process group, and any other pid, die)"),
    allow_when("tgkill", libc::SYS_tgkill, OWN_PROCESS, "abort()/raise() and V8's thread interrupts: thread-group id must be the worker's own pid"),
    // -- identity and lifetime.
    allow("getpid", libc::SYS_getpid, "raise()/abort() need the pid for tgkill"),
    allow("gettid", libc::SYS_gettid, "raise()/abort(), thread ids for V8 logging"),
    allow_when("prctl", libc::SYS_prctl, &[int_eq(0, libc::PR_SET_NAME as u64)], "name threads (pthread_setname_np on self)"),
    allow_when("prctl", libc::SYS_prctl, &[int_eq(0, libc::PR_GET_NAME as u64)], "read a thread's name"),
    allow_when("prctl", libc::SYS_prctl, &[int_eq(0, PR_SET_VMA), long_eq(1, PR_SET_VMA_ANON_NAME)], "name anonymous mappings (V8 heap spaces in /proc/pid/maps)"),
    allow("exit", libc::SYS_exit, "thread exit"),
    allow("exit_group", libc::SYS_exit_group, "process exit"),
];
