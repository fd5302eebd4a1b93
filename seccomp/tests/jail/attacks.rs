//! Probe side: each attack a compromised V8 would try, as the raw system
//! call it boils down to. Each returns the exact errno, or `Ok` with what it
//! obtained; a seccomp kill never returns.

use std::ffi::CStr;
use std::fmt;
use std::os::fd::RawFd;

use crate::probe::{read_line, say};
use crate::spec::{Attack, FsCall, ProbeSpec};

/// Result of one attempt.
#[derive(Debug)]
pub enum Outcome {
    Errno(i32),
    Ok(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Errno(e) => write!(f, "errno={e}"),
            Outcome::Ok(detail) => write!(f, "ok {detail}"),
        }
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// `Err(Outcome::Errno)` when `ret == -1`.
fn sys(ret: libc::c_long) -> Result<libc::c_long, Outcome> {
    if ret == -1 {
        Err(Outcome::Errno(errno()))
    } else {
        Ok(ret)
    }
}

fn open(path: &CStr, flags: libc::c_int) -> Result<RawFd, Outcome> {
    // SAFETY: NUL-terminated path; the mode is only read with O_CREAT.
    sys(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0o600) }.into())
        .map(|fd| fd as RawFd)
}

/// Runs `spec.attack`.
pub fn run(spec: &ProbeSpec, ipc: RawFd) -> Outcome {
    match attempt(spec, ipc) {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

fn attempt(spec: &ProbeSpec, ipc: RawFd) -> Result<Outcome, Outcome> {
    let ok = |s: String| Ok(Outcome::Ok(s));
    // In every unsafe block below, the pointer arguments point at live,
    // correctly sized locals or NUL-terminated literals; the call being
    // refused (errno or SIGSYS) is the expected result.
    match spec.attack {
        Attack::OpenEtcPasswd => {
            let fd = open(c"/etc/passwd", libc::O_RDONLY)?;
            let mut buf = [0u8; 64];
            // SAFETY: reads at most 64 bytes into `buf`.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            ok(format!("read {} bytes", sys(n as libc::c_long)?))
        }
        Attack::ListRoot => ok(list_dir(open(c"/", libc::O_RDONLY | libc::O_DIRECTORY)?)?),
        Attack::CreateFile => {
            const PATH: &CStr = c"/stockade-jail-pwned";
            let fd = open(PATH, libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY)?;
            // SAFETY: closes the fd we just opened; unlinks a literal path
            // (only reached if the jail failed: clean up the host).
            unsafe {
                libc::close(fd);
                libc::unlink(PATH.as_ptr());
            }
            ok("created /stockade-jail-pwned".into())
        }
        Attack::TcpConnect => {
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: spec.port.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(std::net::Ipv4Addr::LOCALHOST).to_be(),
                },
                sin_zero: [0; 8],
            };
            let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
            // SAFETY: integer arguments; `addr` is a valid sockaddr_in of `len` bytes.
            unsafe {
                let s =
                    sys(
                        libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0)
                            .into(),
                    )?;
                let addr_ptr = (&addr as *const libc::sockaddr_in).cast();
                sys(libc::connect(s as RawFd, addr_ptr, len).into())?;
            }
            ok(format!("connected to 127.0.0.1:{}", spec.port))
        }
        Attack::ExecveSh => {
            let argv = [
                c"/bin/sh".as_ptr(),
                c"-c".as_ptr(),
                c"exit 0".as_ptr(),
                std::ptr::null(),
            ];
            let envp = [std::ptr::null()];
            // SAFETY: NUL-terminated path; argv and envp are NULL-terminated arrays.
            sys(unsafe { libc::execve(c"/bin/sh".as_ptr(), argv.as_ptr(), envp.as_ptr()) }.into())?;
            ok("execve returned".into())
        }
        Attack::Fork => {
            // SAFETY: the probe is single-threaded at this point; the child
            // only calls _exit, the parent only waitpid.
            unsafe {
                let pid = sys(libc::fork().into())?;
                if pid == 0 {
                    libc::_exit(0);
                }
                let mut status = 0;
                libc::waitpid(pid as libc::pid_t, &mut status, 0);
                ok(format!("forked child pid {pid}"))
            }
        }
        Attack::PtraceSupervisor => {
            // SAFETY: integer arguments only; detaches again if it ever worked.
            unsafe {
                sys(libc::ptrace(libc::PTRACE_ATTACH, spec.target_pid, 0, 0))?;
                libc::ptrace(libc::PTRACE_DETACH, spec.target_pid, 0, 0);
            }
            ok("attached to the supervisor".into())
        }
        Attack::KillSupervisor => {
            // SAFETY: integer arguments only.
            sys(unsafe { libc::kill(spec.target_pid, libc::SIGKILL) }.into())?;
            ok("SIGKILL delivered to the supervisor".into())
        }
        Attack::KillProcessGroup => {
            // SAFETY: integer arguments only.
            sys(unsafe { libc::kill(0, libc::SIGKILL) }.into())?;
            ok("SIGKILL delivered to the process group".into())
        }
        Attack::Mount => {
            let (src, target, fstype) = (c"tmpfs".as_ptr(), c"/".as_ptr(), c"tmpfs".as_ptr());
            // SAFETY: NUL-terminated literals and a null data pointer.
            sys(unsafe { libc::mount(src, target, fstype, 0, std::ptr::null()) }.into())?;
            ok("mounted a tmpfs on /".into())
        }
        Attack::UnshareUserns => {
            // SAFETY: flags only.
            sys(unsafe { libc::unshare(libc::CLONE_NEWUSER) }.into())?;
            ok("new user namespace".into())
        }
        Attack::SetuidRoot => {
            // SAFETY: integer argument only (raw syscall: no glibc setxid broadcast).
            sys(unsafe { libc::syscall(libc::SYS_setuid, 0) })?;
            // SAFETY: getuid cannot fail.
            ok(format!("uid is now {}", unsafe { libc::getuid() }))
        }
        Attack::WriteProcSelfMem => {
            let fd = open(c"/proc/self/mem", libc::O_RDWR)?;
            let target = Box::new(0u64);
            let value = 0x4141_4141u64;
            let addr = &*target as *const u64 as libc::off_t;
            // SAFETY: writes 8 bytes from `value` at the address of our own
            // live heap allocation `target`.
            let n = unsafe { libc::pwrite(fd, (&value as *const u64).cast(), 8, addr) };
            sys(n as libc::c_long)?;
            ok(format!("wrote own memory, now {:#x}", *target))
        }
        Attack::Bpf => {
            let attr = [0u8; 128];
            // SAFETY: BPF_PROG_LOAD (5) reads `attr.len()` bytes from `attr`.
            let fd = sys(unsafe { libc::syscall(libc::SYS_bpf, 5, attr.as_ptr(), attr.len()) })?;
            ok(format!("bpf fd {fd}"))
        }
        Attack::IoUringSetup => {
            let mut params = [0u8; 120];
            // SAFETY: io_uring_params is 120 bytes; the kernel reads/writes `params`.
            let fd =
                sys(unsafe { libc::syscall(libc::SYS_io_uring_setup, 8, params.as_mut_ptr()) })?;
            ok(format!("io_uring fd {fd}"))
        }
        Attack::Userfaultfd => {
            // SAFETY: flags only.
            let fd = sys(unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC) })?;
            ok(format!("userfaultfd {fd}"))
        }
        Attack::PerfEventOpen => {
            let mut attr = [0u8; 128];
            attr[0..4].copy_from_slice(&1u32.to_ne_bytes()); // PERF_TYPE_SOFTWARE; config 0 = CPU_CLOCK
            attr[4..8].copy_from_slice(&128u32.to_ne_bytes()); // attr.size
                                                               // SAFETY: the kernel reads `attr.size` = 128 bytes from `attr`.
            let fd = sys(unsafe {
                libc::syscall(libc::SYS_perf_event_open, attr.as_ptr(), 0, -1, -1, 0)
            })?;
            ok(format!("perf fd {fd}"))
        }
        Attack::Keyctl => {
            // SAFETY: KEYCTL_GET_KEYRING_ID(KEY_SPEC_SESSION_KEYRING, 0): integers only.
            let id = sys(unsafe { libc::syscall(libc::SYS_keyctl, 0, -3, 0) })?;
            ok(format!("session keyring {id}"))
        }
        Attack::IoctlOnIpcFd => {
            let mut pending: libc::c_int = 0;
            // SAFETY: FIONREAD writes one c_int into `pending`.
            sys(unsafe { libc::ioctl(ipc, libc::FIONREAD, &mut pending) }.into())?;
            ok(format!("FIONREAD {pending}"))
        }
        Attack::WriteToOtherFd => {
            // SAFETY: writes one byte from a static literal.
            sys(unsafe { libc::write(1, b"x".as_ptr().cast(), 1) } as libc::c_long)?;
            ok("wrote to fd 1".into())
        }
        Attack::Ia32Int80 => {
            let ret: i32;
            // SAFETY: the 32-bit getpid (20) takes no arguments and only
            // writes eax; nothing else is clobbered.
            unsafe { std::arch::asm!("int 0x80", inlateout("eax") 20i32 => ret, options(nostack)) };
            ok(format!("ia32 getpid = {ret}"))
        }
        Attack::X32Syscall => {
            // SAFETY: x32 getpid takes no arguments.
            let pid = sys(unsafe { libc::syscall(libc::SYS_getpid | 0x4000_0000) })?;
            ok(format!("x32 getpid = {pid}"))
        }
        Attack::UnlistedUname => {
            // SAFETY: utsname is plain old data; uname fills it with
            // NUL-terminated strings.
            let sysname = unsafe {
                let mut uts: libc::utsname = std::mem::zeroed();
                sys(libc::syscall(libc::SYS_uname, &mut uts))?;
                CStr::from_ptr(uts.sysname.as_ptr())
                    .to_string_lossy()
                    .into_owned()
            };
            ok(format!("uname {sysname}"))
        }
        Attack::Fs(call) => fs_call(call, ipc),
        Attack::Clone3 => {
            let args = [0u64; 11];
            // SAFETY: a live, zeroed clone_args; size 0 makes the kernel
            // reject it (EINVAL) before it could create anything.
            let pid = sys(unsafe { libc::syscall(libc::SYS_clone3, args.as_ptr(), 0usize) })?;
            ok(format!("clone3 returned {pid}"))
        }
        Attack::TzLocaltime => ok(tz_localtime()),
        Attack::Harmless => ok(crate::harmless::run(ipc)),
        Attack::Exit42 => std::process::exit(42),
        Attack::AwaitSigterm => {
            crate::harmless::exit_7_on_sigterm(ipc);
            say(ipc, "ready");
            read_line(ipc);
            ok("socket closed before SIGTERM".into())
        }
        Attack::IgnoreSigterm => {
            say(ipc, "ready");
            read_line(ipc);
            ok("alive".into())
        }
        Attack::Block => {
            say(ipc, "ready");
            read_line(ipc);
            ok("socket closed".into())
        }
    }
}

/// getdents64 over `fd`; entry names, sorted and comma-joined.
fn list_dir(fd: RawFd) -> Result<String, Outcome> {
    let mut names = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: the kernel writes at most buf.len() bytes into buf.
        let n =
            sys(unsafe { libc::syscall(libc::SYS_getdents64, fd, buf.as_mut_ptr(), buf.len()) })?
                as usize;
        if n == 0 {
            break;
        }
        let mut off = 0;
        while off < n {
            // struct linux_dirent64 { u64 ino; i64 off; u16 reclen; u8 type; char name[]; }
            let reclen = usize::from(u16::from_ne_bytes([buf[off + 16], buf[off + 17]]));
            let name = &buf[off + 19..off + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            names.push(String::from_utf8_lossy(&name[..end]).into_owned());
            off += reclen;
        }
    }
    names.sort();
    Ok(format!("entries {}", names.join(",")))
}

extern "C" {
    /// POSIX tzset(3); the libc crate does not bind it.
    fn tzset();
}

/// Runs before `close()`: the worker's warm-up part of an attack.
pub fn before_close(spec: &ProbeSpec) {
    if spec.attack == Attack::TzLocaltime {
        // Load the host's /etc/localtime, as V8's first Date does: glibc then
        // re-checks that file (stat, then open) on every later tzset().
        std::env::remove_var("TZ");
        // SAFETY: tzset only reads the environment and the zone file; the
        // probe is single-threaded here.
        unsafe { tzset() };
        let _ = local_time(0);
    }
}

/// `zone/offset/hour` of `t` in local time, through glibc's localtime_r.
fn local_time(t: libc::time_t) -> String {
    // SAFETY: `tm` is plain old data that localtime_r fills; tm_zone then
    // points at a NUL-terminated name owned by glibc.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return format!("errno={}", errno());
        }
        let zone = if tm.tm_zone.is_null() {
            "?".to_string()
        } else {
            CStr::from_ptr(tm.tm_zone).to_string_lossy().into_owned()
        };
        let back = libc::mktime(&mut tm);
        format!("{zone}/{}s/{}h/mktime={back}", tm.tm_gmtoff, tm.tm_hour)
    }
}

/// tzset + localtime_r + mktime of the epoch with TZ unset (the zone file
/// loaded before the jail is re-checked: newfstatat, then openat), TZ=UTC
/// (openat of /usr/share/zoneinfo/UTC, then the name parsed as a rule) and
/// a POSIX rule (no file at all).
fn tz_localtime() -> String {
    let cases = [
        ("unset", None),
        ("utc", Some("UTC")),
        ("posix", Some("CET-1CEST,M3.5.0,M10.5.0/3")),
    ];
    let mut seen = Vec::new();
    for (label, tz) in cases {
        match tz {
            Some(value) => std::env::set_var("TZ", value),
            None => std::env::remove_var("TZ"),
        }
        // SAFETY: as in before_close; the attack runs on the only thread.
        unsafe { tzset() };
        seen.push(format!("{label}={}", local_time(0)));
    }
    seen.join(" ")
}

/// "socket", "dir", ... for a stat mode.
fn file_type(mode: u32) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFSOCK => "socket",
        libc::S_IFDIR => "dir",
        libc::S_IFREG => "file",
        libc::S_IFLNK => "link",
        _ => "other",
    }
}

/// One raw file-probing call; see [`FsCall`] for what each one is.
fn fs_call(call: FsCall, ipc: RawFd) -> Result<Outcome, Outcome> {
    let ok = |s: String| Ok(Outcome::Ok(s));
    let root = c"/".as_ptr();
    let empty = c"".as_ptr();
    // In every unsafe block below, `root`/`empty` are NUL-terminated
    // literals and every out-pointer is a live local of the size the kernel
    // writes (stat, statx, or `buf` with its length passed).
    let mut buf = [0u8; 512];
    let text = |buf: &[u8], n: libc::c_long| {
        let len = usize::try_from(n).unwrap_or(0).min(buf.len());
        let end = buf[..len].iter().position(|&b| b == 0).unwrap_or(len);
        String::from_utf8_lossy(&buf[..end]).into_owned()
    };
    // SAFETY: plain old data, filled by the kernel.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: plain old data, filled by the kernel.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    match call {
        FsCall::Open => {
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
            // SAFETY: see above; closes only the descriptor it opened.
            let fd = sys(unsafe { libc::syscall(libc::SYS_open, root, flags) })?;
            // SAFETY: closes the descriptor just opened.
            unsafe { libc::close(fd as RawFd) };
            ok("opened /".into())
        }
        FsCall::Openat2 => {
            // struct open_how { u64 flags, mode, resolve; }
            let how: [u64; 3] = [(libc::O_RDONLY | libc::O_CLOEXEC) as u64, 0, 0];
            // SAFETY: see above; `how` is a live 24-byte open_how.
            let fd = sys(unsafe {
                libc::syscall(
                    libc::SYS_openat2,
                    libc::AT_FDCWD,
                    root,
                    how.as_ptr(),
                    std::mem::size_of_val(&how),
                )
            })?;
            // SAFETY: closes the descriptor just opened.
            unsafe { libc::close(fd as RawFd) };
            ok("opened /".into())
        }
        FsCall::Stat => {
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_stat, root, &mut st) })?;
            ok(format!("type {}", file_type(st.st_mode)))
        }
        FsCall::Lstat => {
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_lstat, root, &mut st) })?;
            ok(format!("type {}", file_type(st.st_mode)))
        }
        FsCall::Newfstatat => {
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_newfstatat, libc::AT_FDCWD, root, &mut st, 0) })?;
            ok(format!("type {}", file_type(st.st_mode)))
        }
        FsCall::NewfstatatEmptyPathOnFd => {
            // SAFETY: see above.
            sys(unsafe {
                libc::syscall(
                    libc::SYS_newfstatat,
                    ipc,
                    empty,
                    &mut st,
                    libc::AT_EMPTY_PATH,
                )
            })?;
            ok(format!("type {}", file_type(st.st_mode)))
        }
        FsCall::Statx | FsCall::StatxEmptyPathOnFd => {
            let (dirfd, path, flags) = if call == FsCall::Statx {
                (libc::AT_FDCWD, root, 0)
            } else {
                (ipc, empty, libc::AT_EMPTY_PATH)
            };
            // SAFETY: see above.
            sys(unsafe {
                libc::syscall(
                    libc::SYS_statx,
                    dirfd,
                    path,
                    flags,
                    libc::STATX_BASIC_STATS,
                    &mut stx,
                )
            })?;
            ok(format!("type {}", file_type(u32::from(stx.stx_mode))))
        }
        FsCall::Access => {
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_access, root, libc::F_OK) })?;
            ok("/ exists".into())
        }
        FsCall::Faccessat => {
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_faccessat, libc::AT_FDCWD, root, libc::F_OK) })?;
            ok("/ exists".into())
        }
        FsCall::Faccessat2 => {
            // SAFETY: see above.
            sys(unsafe {
                libc::syscall(
                    libc::SYS_faccessat2,
                    libc::AT_FDCWD,
                    root,
                    libc::F_OK,
                    libc::AT_EACCESS,
                )
            })?;
            ok("/ exists".into())
        }
        FsCall::Readlink => {
            // SAFETY: see above.
            let n = sys(unsafe {
                libc::syscall(libc::SYS_readlink, root, buf.as_mut_ptr(), buf.len())
            })?;
            ok(format!("target {}", text(&buf, n)))
        }
        FsCall::Readlinkat => {
            // SAFETY: see above.
            let n = sys(unsafe {
                libc::syscall(
                    libc::SYS_readlinkat,
                    libc::AT_FDCWD,
                    root,
                    buf.as_mut_ptr(),
                    buf.len(),
                )
            })?;
            ok(format!("target {}", text(&buf, n)))
        }
        FsCall::Getdents64 => {
            // SAFETY: see above.
            let n = sys(unsafe {
                libc::syscall(libc::SYS_getdents64, ipc, buf.as_mut_ptr(), buf.len())
            })?;
            ok(format!("{n} bytes of entries"))
        }
        FsCall::Chdir => {
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_chdir, root) })?;
            ok("cwd is /".into())
        }
        FsCall::Getcwd => {
            // SAFETY: see above.
            let n = sys(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })?;
            ok(format!("cwd {}", text(&buf, n)))
        }
        FsCall::FstatIpc | FsCall::FstatClosedFd => {
            let fd = if call == FsCall::FstatIpc { ipc } else { 1000 };
            // SAFETY: see above.
            sys(unsafe { libc::syscall(libc::SYS_fstat, fd, &mut st) })?;
            ok(format!("type {}", file_type(st.st_mode)))
        }
    }
}
