//! Every layer on (production): every attack meets seccomp first. Most
//! die of SIGSYS (KILL_PROCESS), forwarded by the reaper: a dead worker
//! cannot retry, and the supervisor sees the signal. Opening a file meets
//! `openat`'s errno entry (EACCES, because V8 itself probes
//! /proc/self/maps): the call never runs, so it reports EACCES where the
//! empty root alone would say ENOENT (compare `namespaces_alone_*`). The
//! other path calls' errno entries are proved in `probing.rs`.

use libc::EACCES;

use crate::driver::{full, run, run_tcp_connect};
use crate::spec::Attack;

fn dies(attack: Attack) {
    run(full(attack)).assert_sigsys();
}

pub fn open_etc_passwd() {
    run(full(Attack::OpenEtcPasswd)).assert_errno(EACCES)
}
pub fn list_root() {
    run(full(Attack::ListRoot)).assert_errno(EACCES)
}
pub fn create_file() {
    run(full(Attack::CreateFile)).assert_errno(EACCES)
}
pub fn execve_sh() {
    dies(Attack::ExecveSh)
}
pub fn fork() {
    dies(Attack::Fork)
}
pub fn ptrace_supervisor() {
    dies(Attack::PtraceSupervisor)
}
pub fn kill_supervisor() {
    dies(Attack::KillSupervisor)
}
pub fn kill_process_group() {
    dies(Attack::KillProcessGroup)
}
pub fn mount() {
    dies(Attack::Mount)
}
pub fn unshare_userns() {
    dies(Attack::UnshareUserns)
}
pub fn setuid_root() {
    dies(Attack::SetuidRoot)
}
pub fn write_proc_self_mem() {
    run(full(Attack::WriteProcSelfMem)).assert_errno(EACCES)
}
pub fn bpf() {
    dies(Attack::Bpf)
}
pub fn io_uring_setup() {
    dies(Attack::IoUringSetup)
}
pub fn userfaultfd() {
    dies(Attack::Userfaultfd)
}
pub fn perf_event_open() {
    dies(Attack::PerfEventOpen)
}
pub fn keyctl() {
    dies(Attack::Keyctl)
}
/// ioctl is denied outright, even on the one descriptor the worker owns.
pub fn ioctl_on_ipc_fd() {
    dies(Attack::IoctlOnIpcFd)
}
/// write is allowed on the kept fd only: fd 1 (closed anyway) kills.
pub fn write_to_other_fd() {
    dies(Attack::WriteToOtherFd)
}
/// The 32-bit entry point reports AUDIT_ARCH_I386: the arch check kills.
pub fn ia32_int80() {
    dies(Attack::Ia32Int80)
}
/// x32 numbers (bit 30 set) match no entry, even for an allowed call.
pub fn x32_syscall() {
    dies(Attack::X32Syscall)
}
/// A harmless but unlisted call (uname) kills too: default-deny.
pub fn unlisted_syscall() {
    dies(Attack::UnlistedUname)
}

pub fn tcp_connect() {
    let (finished, arrived) = run_tcp_connect(full(Attack::TcpConnect));
    finished.assert_sigsys(); // socket() itself is not in the policy
    assert!(!arrived, "the listener saw a connection");
}
