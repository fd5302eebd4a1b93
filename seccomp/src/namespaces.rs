//! Step 1: fresh namespaces, and the fork that makes the worker pid 1.
//!
//! Guarantees, when [`enter_namespaces`] returns `Ok(())` (in the child only):
//! - the process is pid 1 of a new pid namespace, inside new user, network,
//!   mount, IPC, UTS and cgroup namespaces. The user namespace maps exactly
//!   one uid and one gid, each to itself (the worker keeps the supervisor's
//!   kernel uid: an unprivileged process can map nothing else), with
//!   `setgroups` denied;
//! - the new user namespace cannot create nested user namespaces
//!   (`max_user_namespaces = 0` in it), so even a worker without seccomp
//!   cannot mint itself a fresh set of capabilities;
//! - the parent has become the reaper (see [`crate::reaper`]): it outlives the
//!   child, forwards SIGTERM to it and exits with the child's status. If the
//!   reaper dies first, the kernel SIGKILLs the child (`PR_SET_PDEATHSIG`);
//! - the child leads a new session (no controlling terminal).
//!
//! Trusts: the kernel's namespace implementation, and the caller to be
//! single-threaded (checked: `unshare(CLONE_NEWUSER)` refuses threaded
//! callers, so this must run before V8 starts any thread).
//!
//! Any error leaves the process half-entered; the caller must exit.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::JailError;
use crate::reaper;
use crate::sys::{self, cvt};

/// Set in the child once `enter_namespaces` succeeded; `close()` refuses to
/// touch mounts without it (on the host it would re-plumb the real root).
static ENTERED: AtomicBool = AtomicBool::new(false);

pub(crate) fn namespaces_entered() -> bool {
    ENTERED.load(Ordering::SeqCst)
}

const NAMESPACES: libc::c_int = libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP;

/// Enters fresh namespaces and forks; returns only in the child, which is
/// pid 1 of the new pid namespace. The calling process becomes the reaper and
/// never returns from this function.
///
/// Must be called while the process is still single-threaded (before V8
/// initialises), and before [`close`](crate::close) with
/// `layers.namespaces = true`.
pub fn enter_namespaces() -> Result<(), JailError> {
    // 0. unshare(CLONE_NEWUSER) fails with EINVAL in a threaded process; say so.
    let threads = sys::thread_count().map_err(JailError::CountThreads)?;
    if threads != 1 {
        return Err(JailError::NotSingleThreaded { threads });
    }
    // SAFETY: getuid/getgid cannot fail and have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };

    // 1. All seven namespaces in one call; the kernel creates the user
    //    namespace first, so it owns the others.
    // SAFETY: unshare takes only flags.
    cvt(unsafe { libc::unshare(NAMESPACES) }).map_err(JailError::Unshare)?;

    // 2. Identity maps for our single uid/gid. `setgroups deny` is required
    //    before an unprivileged gid_map, and makes supplementary groups
    //    unchangeable (they can only ever be dropped by the host).
    std::fs::write("/proc/self/setgroups", "deny").map_err(JailError::SetgroupsDeny)?;
    std::fs::write("/proc/self/uid_map", format!("{uid} {uid} 1\n")).map_err(JailError::UidMap)?;
    std::fs::write("/proc/self/gid_map", format!("{gid} {gid} 1\n")).map_err(JailError::GidMap)?;

    // 3. This sysctl is per user namespace and writable with CAP_SYS_RESOURCE
    //    in it (which we hold right now). 0 means: no user namespace can be
    //    created below this one.
    std::fs::write("/proc/sys/user/max_user_namespaces", "0")
        .map_err(JailError::NestedUserNamespaces)?;

    // 4. Lifeline: the reaper keeps the write end; the child sees POLLHUP on
    //    the read end iff the reaper is gone. Closes the race between fork
    //    and PR_SET_PDEATHSIG.
    let (lifeline_read, lifeline_write) = pipe().map_err(JailError::LifelinePipe)?;

    // 5. Block SIGTERM/SIGCHLD before the fork, so none can slip past the
    //    reaper's sigwaitinfo loop; the child restores the old mask. SIGCHLD
    //    goes back to SIG_DFL first: inherited as SIG_IGN, the kernel would
    //    auto-reap the child and its status would be lost.
    let (waited, old_mask) = block_reaper_signals().map_err(JailError::SignalMask)?;

    // 6. The first child of the unsharing process is pid 1 of the new pid namespace.
    // SAFETY: the process is single-threaded (checked above), so the child
    // is a complete copy and may keep running arbitrary Rust code.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => {
            let err = io::Error::last_os_error();
            close_quietly(lifeline_read);
            close_quietly(lifeline_write);
            Err(JailError::Fork(err))
        }
        0 => {
            close_quietly(lifeline_write);
            child_after_fork(&old_mask, lifeline_read)
        }
        child => {
            close_quietly(lifeline_read);
            reaper::run(child, lifeline_write, &waited)
        }
    }
}

fn child_after_fork(old_mask: &libc::sigset_t, lifeline_read: RawFd) -> Result<(), JailError> {
    // SAFETY: old_mask was filled by sigprocmask; a null oldset is allowed.
    cvt(unsafe { libc::sigprocmask(libc::SIG_SETMASK, old_mask, std::ptr::null_mut()) })
        .map_err(JailError::SignalMask)?;
    // SAFETY: setsid has no arguments; the child of a fork is never a group leader.
    cvt(unsafe { libc::setsid() }).map_err(JailError::NewSession)?;
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
        .map_err(JailError::ParentDeathSignal)?;
    let reaper_alive = lifeline_is_up(lifeline_read);
    close_quietly(lifeline_read);
    if !reaper_alive {
        return Err(JailError::ReaperGone);
    }
    ENTERED.store(true, Ordering::SeqCst);
    Ok(())
}

/// True unless the pipe's write end (held by the reaper) has been closed.
fn lifeline_is_up(read_end: RawFd) -> bool {
    let mut pfd = libc::pollfd {
        fd: read_end,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: pfd is one valid pollfd; zero timeout never blocks.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
    !(ready == 1 && pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0)
}

fn pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [-1; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

fn block_reaper_signals() -> io::Result<(libc::sigset_t, libc::sigset_t)> {
    // SAFETY: resets one disposition to the default; sigset_t is plain data,
    // sigemptyset initialises it before use, and sigprocmask writes the
    // previous mask into `old`.
    unsafe {
        if libc::signal(libc::SIGCHLD, libc::SIG_DFL) == libc::SIG_ERR {
            return Err(io::Error::last_os_error());
        }
        let mut waited: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut waited);
        libc::sigaddset(&mut waited, libc::SIGTERM);
        libc::sigaddset(&mut waited, libc::SIGCHLD);
        cvt(libc::sigprocmask(libc::SIG_BLOCK, &waited, &mut old))?;
        Ok((waited, old))
    }
}

fn close_quietly(fd: RawFd) {
    // SAFETY: fd was returned by pipe2 in this function's caller and is
    // closed exactly once.
    unsafe { libc::close(fd) };
}
