//! Each layer alone, and the jail minus one layer: proves the layers are
//! independent, so one failing (a kernel without Landlock, a policy
//! mistake) does not open the jail. Every assertion is the exact errno;
//! the comment says which kernel check produces it.

use libc::{EACCES, EAGAIN, EINVAL, ENETUNREACH, ENOENT, ENOSPC, EPERM, EROFS, ESRCH};

use crate::driver::{
    landlock_alone, namespaces_alone, no_landlock, no_seccomp, run, run_tcp_connect, seccomp_alone,
};
use crate::spec::Attack;

// ---- seccomp off: namespaces + Landlock still hold --------------------------

/// Path lookup in the empty tmpfs root fails before Landlock's file_open
/// hook is reached, so ENOENT (not EACCES).
pub fn no_seccomp_open_etc_passwd() {
    run(no_seccomp(Attack::OpenEtcPasswd)).assert_errno(ENOENT)
}
/// "/" exists; opening it needs LANDLOCK_ACCESS_FS_READ_DIR, handled and
/// never granted.
pub fn no_seccomp_list_root() {
    run(no_seccomp(Attack::ListRoot)).assert_errno(EACCES)
}
/// The read-only mount is checked (mnt_want_write) before Landlock's
/// path_mknod hook gets a say, so EROFS.
pub fn no_seccomp_create_file() {
    run(no_seccomp(Attack::CreateFile)).assert_errno(EROFS)
}
/// socket() works in the private netns; Landlock's socket_connect hook
/// (CONNECT_TCP, ABI >= 4) refuses before routing would (ENETUNREACH).
pub fn no_seccomp_tcp_connect() {
    let (finished, arrived) = run_tcp_connect(no_seccomp(Attack::TcpConnect));
    finished.assert_errno(EACCES);
    assert!(!arrived);
}
pub fn no_seccomp_execve_sh() {
    run(no_seccomp(Attack::ExecveSh)).assert_errno(ENOENT)
}
/// The host pid of the supervisor names nothing in the worker's pid
/// namespace: the lookup fails before any permission check.
pub fn no_seccomp_ptrace_supervisor() {
    run(no_seccomp(Attack::PtraceSupervisor)).assert_errno(ESRCH)
}
pub fn no_seccomp_kill_supervisor() {
    run(no_seccomp(Attack::KillSupervisor)).assert_errno(ESRCH)
}
/// No CAP_SYS_ADMIN left (and a Landlock domain forbids mount anyway).
pub fn no_seccomp_mount() {
    run(no_seccomp(Attack::Mount)).assert_errno(EPERM)
}
/// unshare(CLONE_NEWUSER) needs no capability, but max_user_namespaces is
/// 0 in the worker's user namespace: ENOSPC from the ucount limit.
pub fn no_seccomp_unshare_userns() {
    run(no_seccomp(Attack::UnshareUserns)).assert_errno(ENOSPC)
}
/// As a non-root worker uid: uid 0 is not mapped in the worker's user
/// namespace, so setuid(0) fails the mapping check (EINVAL) before the
/// capability check (EPERM).
pub fn no_seccomp_setuid_root() {
    let mut spec = no_seccomp(Attack::SetuidRoot);
    spec.as_nobody = true;
    run(spec).assert_errno(EINVAL);
}
/// No /proc in the empty root.
pub fn no_seccomp_write_proc_self_mem() {
    run(no_seccomp(Attack::WriteProcSelfMem)).assert_errno(ENOENT)
}
/// RLIMIT_NPROC counts tasks of (worker userns, uid): reaper + worker
/// already reach a limit of 1, so fork fails with EAGAIN. Needs a non-root
/// uid: the kernel exempts host root from RLIMIT_NPROC.
pub fn no_seccomp_fork_over_nproc() {
    let mut spec = no_seccomp(Attack::Fork);
    spec.as_nobody = true;
    spec.nproc = Some(1);
    run(spec).assert_errno(EAGAIN);
}
/// Control for the test above: the same fork with the default limit works
/// (the child is pid 2 of the worker's pid namespace). Only seccomp stops
/// fork outright.
pub fn no_seccomp_fork_under_nproc() {
    let mut spec = no_seccomp(Attack::Fork);
    spec.as_nobody = true;
    assert_eq!(run(spec).assert_ok(), "forked child pid 2");
}

// ---- namespaces alone --------------------------------------------------------

pub fn namespaces_alone_open_etc_passwd() {
    run(namespaces_alone(Attack::OpenEtcPasswd)).assert_errno(ENOENT)
}
/// The root really is empty: only "." and "..".
pub fn namespaces_alone_list_root() {
    assert_eq!(
        run(namespaces_alone(Attack::ListRoot)).assert_ok(),
        "entries .,.."
    );
}
pub fn namespaces_alone_create_file() {
    run(namespaces_alone(Attack::CreateFile)).assert_errno(EROFS)
}
/// Own network namespace: only a loopback that is down, no route at all.
pub fn namespaces_alone_tcp_connect() {
    let (finished, arrived) = run_tcp_connect(namespaces_alone(Attack::TcpConnect));
    finished.assert_errno(ENETUNREACH);
    assert!(!arrived);
}
pub fn namespaces_alone_execve_sh() {
    run(namespaces_alone(Attack::ExecveSh)).assert_errno(ENOENT)
}
pub fn namespaces_alone_ptrace_supervisor() {
    run(namespaces_alone(Attack::PtraceSupervisor)).assert_errno(ESRCH)
}
pub fn namespaces_alone_kill_supervisor() {
    run(namespaces_alone(Attack::KillSupervisor)).assert_errno(ESRCH)
}
pub fn namespaces_alone_mount() {
    run(namespaces_alone(Attack::Mount)).assert_errno(EPERM)
}
pub fn namespaces_alone_unshare_userns() {
    run(namespaces_alone(Attack::UnshareUserns)).assert_errno(ENOSPC)
}

// ---- Landlock alone (host filesystem, host network, host pids) -------------

/// The file exists and DAC would allow it; Landlock's file_open hook says no.
pub fn landlock_alone_open_etc_passwd() {
    run(landlock_alone(Attack::OpenEtcPasswd)).assert_errno(EACCES)
}
pub fn landlock_alone_list_root() {
    run(landlock_alone(Attack::ListRoot)).assert_errno(EACCES)
}
/// MAKE_REG is handled and not granted (path_mknod hook).
pub fn landlock_alone_create_file() {
    run(landlock_alone(Attack::CreateFile)).assert_errno(EACCES)
}
/// The listener is reachable on this network; only Landlock stands between.
pub fn landlock_alone_tcp_connect() {
    let (finished, arrived) = run_tcp_connect(landlock_alone(Attack::TcpConnect));
    finished.assert_errno(EACCES);
    assert!(!arrived);
}
/// EXECUTE is handled and not granted.
pub fn landlock_alone_execve_sh() {
    run(landlock_alone(Attack::ExecveSh)).assert_errno(EACCES)
}
/// The supervisor is visible here; a Landlock domain may only ptrace
/// processes inside it (ptrace_access_check hook).
pub fn landlock_alone_ptrace_supervisor() {
    run(landlock_alone(Attack::PtraceSupervisor)).assert_errno(EPERM)
}
/// Signal scoping (ABI >= 6): no signal leaves the domain. Without it the
/// same-uid probe could kill the test process, so check the ABI first.
pub fn landlock_alone_kill_supervisor() {
    let probe = crate::driver::Probe::start(&landlock_alone(Attack::KillSupervisor));
    let abi: u32 = probe.field("landlock_abi").parse().unwrap_or(0);
    assert!(
        abi >= 6,
        "kernel lacks Landlock signal scoping (ABI {abi}); refusing to run"
    );
    probe.go().assert_errno(EPERM);
}
/// A Landlock domain forbids every mount operation.
pub fn landlock_alone_mount() {
    run(landlock_alone(Attack::Mount)).assert_errno(EPERM)
}

// ---- seccomp alone, and Landlock off ---------------------------------------

/// The host file exists and the uid could read it: EACCES here can only
/// be seccomp's errno entry for openat.
pub fn seccomp_alone_open_etc_passwd() {
    run(seccomp_alone(Attack::OpenEtcPasswd)).assert_errno(EACCES)
}
pub fn seccomp_alone_execve_sh() {
    run(seccomp_alone(Attack::ExecveSh)).assert_sigsys()
}
pub fn seccomp_alone_ptrace_supervisor() {
    run(seccomp_alone(Attack::PtraceSupervisor)).assert_sigsys()
}
/// kill is allowed only with the worker's own pid as target.
pub fn seccomp_alone_kill_supervisor() {
    run(seccomp_alone(Attack::KillSupervisor)).assert_sigsys()
}
pub fn seccomp_alone_fork() {
    run(seccomp_alone(Attack::Fork)).assert_sigsys()
}
pub fn seccomp_alone_tcp_connect() {
    let (finished, arrived) = run_tcp_connect(seccomp_alone(Attack::TcpConnect));
    finished.assert_sigsys();
    assert!(!arrived);
}
/// The empty root alone answers ENOENT; EACCES proves seccomp refused
/// first, without the call ever reaching the path walk.
pub fn no_landlock_open_etc_passwd() {
    run(no_landlock(Attack::OpenEtcPasswd)).assert_errno(EACCES)
}
pub fn no_landlock_tcp_connect() {
    let (finished, arrived) = run_tcp_connect(no_landlock(Attack::TcpConnect));
    finished.assert_sigsys();
    assert!(!arrived);
}
