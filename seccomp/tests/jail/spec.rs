//! What a probe run should do: shared by the test side (which serialises it
//! into the probe's argv) and the probe side (which parses it).

use stockade_seccomp::SeccompMode;

/// One attack (or benign program) per probe run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attack {
    OpenEtcPasswd,
    ListRoot,
    CreateFile,
    TcpConnect,
    ExecveSh,
    Fork,
    PtraceSupervisor,
    KillSupervisor,
    KillProcessGroup,
    Mount,
    UnshareUserns,
    SetuidRoot,
    WriteProcSelfMem,
    Bpf,
    IoUringSetup,
    Userfaultfd,
    PerfEventOpen,
    Keyctl,
    IoctlOnIpcFd,
    WriteToOtherFd,
    Ia32Int80,
    X32Syscall,
    UnlistedUname,
    /// One file-probing or descriptor-stat call (errno entries, fstat).
    Fs(FsCall),
    /// clone3 with a zero-sized argument struct (the kernel would say EINVAL).
    Clone3,
    /// tzset + localtime_r through libc, TZ unset, "UTC" and a POSIX rule;
    /// a zone file is loaded before the jail closes.
    TzLocaltime,
    /// The benign end-to-end program.
    Harmless,
    /// exit(42) right away.
    Exit42,
    /// Install a SIGTERM handler, say "ready", block on the socket.
    AwaitSigterm,
    /// No handler: say "ready", block until a line arrives, say "alive".
    IgnoreSigterm,
    /// Say "ready" and block on the socket forever.
    Block,
}

const NAMES: &[(Attack, &str)] = &[
    (Attack::OpenEtcPasswd, "open_etc_passwd"),
    (Attack::ListRoot, "list_root"),
    (Attack::CreateFile, "create_file"),
    (Attack::TcpConnect, "tcp_connect"),
    (Attack::ExecveSh, "execve_sh"),
    (Attack::Fork, "fork"),
    (Attack::PtraceSupervisor, "ptrace_supervisor"),
    (Attack::KillSupervisor, "kill_supervisor"),
    (Attack::KillProcessGroup, "kill_process_group"),
    (Attack::Mount, "mount"),
    (Attack::UnshareUserns, "unshare_userns"),
    (Attack::SetuidRoot, "setuid_root"),
    (Attack::WriteProcSelfMem, "write_proc_self_mem"),
    (Attack::Bpf, "bpf"),
    (Attack::IoUringSetup, "io_uring_setup"),
    (Attack::Userfaultfd, "userfaultfd"),
    (Attack::PerfEventOpen, "perf_event_open"),
    (Attack::Keyctl, "keyctl"),
    (Attack::IoctlOnIpcFd, "ioctl_on_ipc_fd"),
    (Attack::WriteToOtherFd, "write_to_other_fd"),
    (Attack::Ia32Int80, "ia32_int80"),
    (Attack::X32Syscall, "x32_syscall"),
    (Attack::UnlistedUname, "unlisted_uname"),
    (Attack::Clone3, "clone3"),
    (Attack::TzLocaltime, "tz_localtime"),
    (Attack::Harmless, "harmless"),
    (Attack::Exit42, "exit42"),
    (Attack::AwaitSigterm, "await_sigterm"),
    (Attack::IgnoreSigterm, "ignore_sigterm"),
    (Attack::Block, "block"),
];

/// A file-probing call as library code makes it, issued as the raw system
/// call so the test pins the syscall number whatever the libc version.
/// Paths name "/", which exists in every layer configuration (the empty
/// root's own directory), so the kernel would succeed where seccomp answers
/// an errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsCall {
    /// open("/", O_RDONLY|O_DIRECTORY) (legacy syscall 2).
    Open,
    /// openat2(AT_FDCWD, "/", {O_RDONLY}).
    Openat2,
    /// stat("/") (legacy syscall 4).
    Stat,
    /// lstat("/") (legacy syscall 6).
    Lstat,
    /// newfstatat(AT_FDCWD, "/", 0): glibc's stat().
    Newfstatat,
    /// newfstatat(ipc, "", AT_EMPTY_PATH): glibc <= 2.38's fstat().
    NewfstatatEmptyPathOnFd,
    /// statx(AT_FDCWD, "/").
    Statx,
    /// statx(ipc, "", AT_EMPTY_PATH): Rust std's File::metadata.
    StatxEmptyPathOnFd,
    /// access("/", F_OK).
    Access,
    /// faccessat(AT_FDCWD, "/", F_OK).
    Faccessat,
    /// faccessat2(AT_FDCWD, "/", F_OK, AT_EACCESS).
    Faccessat2,
    /// readlink("/") (the kernel: EINVAL, not a link).
    Readlink,
    /// readlinkat(AT_FDCWD, "/").
    Readlinkat,
    /// getdents64 on the IPC socket (the kernel: ENOTDIR).
    Getdents64,
    /// chdir("/").
    Chdir,
    /// getcwd (the kernel: "/").
    Getcwd,
    /// fstat on the IPC socket.
    FstatIpc,
    /// fstat on a descriptor number that is not open.
    FstatClosedFd,
}

const FS_NAMES: &[(FsCall, &str)] = &[
    (FsCall::Open, "fs_open"),
    (FsCall::Openat2, "fs_openat2"),
    (FsCall::Stat, "fs_stat"),
    (FsCall::Lstat, "fs_lstat"),
    (FsCall::Newfstatat, "fs_newfstatat"),
    (
        FsCall::NewfstatatEmptyPathOnFd,
        "fs_newfstatat_empty_path_on_fd",
    ),
    (FsCall::Statx, "fs_statx"),
    (FsCall::StatxEmptyPathOnFd, "fs_statx_empty_path_on_fd"),
    (FsCall::Access, "fs_access"),
    (FsCall::Faccessat, "fs_faccessat"),
    (FsCall::Faccessat2, "fs_faccessat2"),
    (FsCall::Readlink, "fs_readlink"),
    (FsCall::Readlinkat, "fs_readlinkat"),
    (FsCall::Getdents64, "fs_getdents64"),
    (FsCall::Chdir, "fs_chdir"),
    (FsCall::Getcwd, "fs_getcwd"),
    (FsCall::FstatIpc, "fs_fstat_ipc"),
    (FsCall::FstatClosedFd, "fs_fstat_closed_fd"),
];

impl Attack {
    pub fn name(self) -> &'static str {
        if let Attack::Fs(call) = self {
            return FS_NAMES
                .iter()
                .find(|(c, _)| *c == call)
                .map_or("?", |(_, n)| n);
        }
        NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("?", |(_, n)| n)
    }
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(a, _)| *a)
            .or_else(|| {
                FS_NAMES
                    .iter()
                    .find(|(_, n)| *n == name)
                    .map(|(c, _)| Attack::Fs(*c))
            })
    }
}

/// A probe run's configuration.
#[derive(Clone, Debug)]
pub struct ProbeSpec {
    pub namespaces: bool,
    pub landlock: bool,
    pub seccomp: SeccompMode,
    pub attack: Attack,
    /// Host pid of the "supervisor" (the test process).
    pub target_pid: i32,
    /// A TCP port listening on the host's 127.0.0.1.
    pub port: u16,
    /// Drop to uid/gid 65534 before entering namespaces (when root), like a
    /// supervisor spawning workers under an unprivileged uid.
    pub as_nobody: bool,
    pub nproc: Option<u64>,
    /// Threads to start before `enter_namespaces()` (must be refused).
    pub threads_before_enter: usize,
    /// Start one "V8" thread between enter and close, and run the attack on it.
    pub attack_from_preexisting_thread: bool,
    /// Ask close() for the namespace layer without calling enter_namespaces().
    pub skip_enter: bool,
    /// Override `keep_fd` (to a closed descriptor).
    pub keep_fd_override: Option<i32>,
    /// Inherit SIGCHLD as SIG_IGN, as from a careless supervisor.
    pub sigchld_ignored: bool,
}

impl ProbeSpec {
    pub fn new(namespaces: bool, landlock: bool, seccomp: SeccompMode, attack: Attack) -> Self {
        Self {
            namespaces,
            landlock,
            seccomp,
            attack,
            target_pid: std::process::id() as i32,
            port: 0,
            as_nobody: false,
            nproc: None,
            threads_before_enter: 0,
            attack_from_preexisting_thread: false,
            skip_enter: false,
            keep_fd_override: None,
            sigchld_ignored: false,
        }
    }

    pub fn to_arg(&self) -> String {
        let seccomp = match self.seccomp {
            SeccompMode::Enforce => "enforce",
            SeccompMode::Log => "log",
            SeccompMode::Off => "off",
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        format!(
            "ns={} landlock={} seccomp={} attack={} target={} port={} nobody={} nproc={} \
             threads_before={} from_thread={} skip_enter={} keep_fd={} sigchld_ign={}",
            u8::from(self.namespaces),
            u8::from(self.landlock),
            seccomp,
            self.attack.name(),
            self.target_pid,
            self.port,
            u8::from(self.as_nobody),
            opt(self.nproc.map(|n| n.to_string())),
            self.threads_before_enter,
            u8::from(self.attack_from_preexisting_thread),
            u8::from(self.skip_enter),
            opt(self.keep_fd_override.map(|n| n.to_string())),
            u8::from(self.sigchld_ignored),
        )
    }

    pub fn parse(arg: &str) -> Option<Self> {
        let mut spec = Self::new(false, false, SeccompMode::Off, Attack::Block);
        for pair in arg.split_whitespace() {
            let (key, value) = pair.split_once('=')?;
            let flag = value == "1";
            match key {
                "ns" => spec.namespaces = flag,
                "landlock" => spec.landlock = flag,
                "seccomp" => {
                    spec.seccomp = match value {
                        "enforce" => SeccompMode::Enforce,
                        "log" => SeccompMode::Log,
                        "off" => SeccompMode::Off,
                        _ => return None,
                    }
                }
                "attack" => spec.attack = Attack::from_name(value)?,
                "target" => spec.target_pid = value.parse().ok()?,
                "port" => spec.port = value.parse().ok()?,
                "nobody" => spec.as_nobody = flag,
                "nproc" => spec.nproc = value.parse().ok(),
                "threads_before" => spec.threads_before_enter = value.parse().ok()?,
                "from_thread" => spec.attack_from_preexisting_thread = flag,
                "skip_enter" => spec.skip_enter = flag,
                "keep_fd" => spec.keep_fd_override = value.parse().ok(),
                "sigchld_ign" => spec.sigchld_ignored = flag,
                _ => return None,
            }
        }
        Some(spec)
    }
}
