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
    (Attack::Harmless, "harmless"),
    (Attack::Exit42, "exit42"),
    (Attack::AwaitSigterm, "await_sigterm"),
    (Attack::IgnoreSigterm, "ignore_sigterm"),
    (Attack::Block, "block"),
];

impl Attack {
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("?", |(_, n)| n)
    }
    pub fn from_name(name: &str) -> Option<Self> {
        NAMES.iter().find(|(_, n)| *n == name).map(|(a, _)| *a)
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
