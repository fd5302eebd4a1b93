//! File probes from ordinary library code (glibc's tzset, ICU's data and
//! time-zone lookup, Rust std, libstdc++): under the jail each one gets an
//! errno entry's answer instead of SIGSYS, and fd-based stat still runs.
//!
//! Every path probe names "/", which exists in every configuration (in the
//! full jail it is the empty root's own directory, and Landlock does not
//! cover stat, readlink, access or chdir): the kernel would succeed, or
//! answer differently (readlink: EINVAL, getdents64 on a socket: ENOTDIR),
//! so the asserted errno can only be seccomp's. The `no_seccomp_*` tests
//! show the kernel's own answers for the same calls.

use libc::{EACCES, EBADF, EINVAL, ENOENT, ENOSYS, ENOTDIR};

use crate::driver::{full, landlock_alone, namespaces_alone, no_seccomp, run, seccomp_alone};
use crate::spec::{Attack, FsCall};

fn full_jail(call: FsCall) -> crate::driver::Finished {
    run(full(Attack::Fs(call)))
}

// ---- the open family: EACCES (openat2: ENOSYS, callers retry with openat) --

pub fn open() {
    full_jail(FsCall::Open).assert_errno(EACCES)
}
pub fn openat2() {
    full_jail(FsCall::Openat2).assert_errno(ENOSYS)
}

// ---- path probes: ENOENT --------------------------------------------------

pub fn stat() {
    full_jail(FsCall::Stat).assert_errno(ENOENT)
}
pub fn lstat() {
    full_jail(FsCall::Lstat).assert_errno(ENOENT)
}
/// glibc's stat(), and ICU's check of its time-zone files.
pub fn newfstatat() {
    full_jail(FsCall::Newfstatat).assert_errno(ENOENT)
}
/// The empty-path form is refused too: BPF cannot tell "" from a path.
pub fn newfstatat_empty_path_on_fd() {
    full_jail(FsCall::NewfstatatEmptyPathOnFd).assert_errno(ENOENT)
}
pub fn access() {
    full_jail(FsCall::Access).assert_errno(ENOENT)
}
pub fn faccessat() {
    full_jail(FsCall::Faccessat).assert_errno(ENOENT)
}
pub fn faccessat2() {
    full_jail(FsCall::Faccessat2).assert_errno(ENOENT)
}
pub fn readlink() {
    full_jail(FsCall::Readlink).assert_errno(ENOENT)
}
pub fn readlinkat() {
    full_jail(FsCall::Readlinkat).assert_errno(ENOENT)
}
pub fn getdents64() {
    full_jail(FsCall::Getdents64).assert_errno(ENOENT)
}
pub fn chdir() {
    full_jail(FsCall::Chdir).assert_errno(ENOENT)
}
pub fn getcwd() {
    full_jail(FsCall::Getcwd).assert_errno(ENOENT)
}

// ---- statx: ENOSYS, so Rust std and libuv fall back to stat/fstat ---------

pub fn statx() {
    full_jail(FsCall::Statx).assert_errno(ENOSYS)
}
pub fn statx_empty_path_on_fd() {
    full_jail(FsCall::StatxEmptyPathOnFd).assert_errno(ENOSYS)
}

// ---- fd-based stat runs ---------------------------------------------------

/// fstat reaches the kernel: it describes the IPC socket.
pub fn fstat_ipc_fd() {
    assert_eq!(full_jail(FsCall::FstatIpc).assert_ok(), "type socket");
}
/// EBADF comes from the kernel, so the call really ran.
pub fn fstat_closed_fd() {
    full_jail(FsCall::FstatClosedFd).assert_errno(EBADF)
}

// ---- glibc's thread and time paths ----------------------------------------

/// glibc (2.34..=2.43) tries clone3 first and falls back to clone on
/// ENOSYS; the kernel itself would answer EINVAL for this size-0 call.
pub fn clone3() {
    run(full(Attack::Clone3)).assert_errno(ENOSYS)
}

/// tzset + localtime_r + mktime through libc after a zone file was loaded
/// before the jail: TZ unset re-checks /etc/localtime (newfstatat, then
/// openat) and falls back to UTC; TZ=UTC tries /usr/share/zoneinfo/UTC
/// (openat) and parses the name; a POSIX rule needs no file. The worker
/// survives all three.
pub fn tzset_localtime() {
    let detail = run(full(Attack::TzLocaltime)).assert_ok();
    assert_eq!(
        detail,
        "unset=UTC/0s/0h/mktime=0 utc=UTC/0s/0h/mktime=0 posix=CET/3600s/1h/mktime=0"
    );
}

// ---- seccomp alone: the host's files exist, the answer is still the errno --

pub fn seccomp_alone_stat() {
    run(seccomp_alone(Attack::Fs(FsCall::Newfstatat))).assert_errno(ENOENT)
}
pub fn seccomp_alone_readlink() {
    run(seccomp_alone(Attack::Fs(FsCall::Readlink))).assert_errno(ENOENT)
}
pub fn seccomp_alone_access() {
    run(seccomp_alone(Attack::Fs(FsCall::Access))).assert_errno(ENOENT)
}
pub fn seccomp_alone_getcwd() {
    run(seccomp_alone(Attack::Fs(FsCall::Getcwd))).assert_errno(ENOENT)
}

// ---- the kernel's own answers, seccomp off (namespaces + Landlock) ---------

pub fn no_seccomp_stat() {
    assert_eq!(
        run(no_seccomp(Attack::Fs(FsCall::Newfstatat))).assert_ok(),
        "type dir"
    );
}
pub fn no_seccomp_readlink() {
    run(no_seccomp(Attack::Fs(FsCall::Readlink))).assert_errno(EINVAL)
}
pub fn no_seccomp_getcwd() {
    assert_eq!(
        run(no_seccomp(Attack::Fs(FsCall::Getcwd))).assert_ok(),
        "cwd /"
    );
}
pub fn no_seccomp_getdents64() {
    run(no_seccomp(Attack::Fs(FsCall::Getdents64))).assert_errno(ENOTDIR)
}
pub fn no_seccomp_statx() {
    assert_eq!(
        run(no_seccomp(Attack::Fs(FsCall::Statx))).assert_ok(),
        "type dir"
    );
}

/// Landlock does not cover stat: alone, it lets the probe through.
pub fn landlock_alone_stat() {
    assert_eq!(
        run(landlock_alone(Attack::Fs(FsCall::Newfstatat))).assert_ok(),
        "type dir"
    );
}
/// The empty root still has its own "/".
pub fn namespaces_alone_stat() {
    assert_eq!(
        run(namespaces_alone(Attack::Fs(FsCall::Newfstatat))).assert_ok(),
        "type dir"
    );
}
