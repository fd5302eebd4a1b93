//! The reaper: what the process that called [`enter_namespaces`] turns into.
//!
//! Guarantees:
//! - it holds no descriptor but the lifeline pipe (so the IPC socket reaches
//!   EOF exactly when the jailed child dies, and nothing the child could
//!   reach is held open on its behalf);
//! - SIGTERM sent to it is forwarded to the child. Note: the child is pid 1
//!   of its pid namespace, and the kernel drops signals whose action is
//!   SIG_DFL for such an init process, except SIGKILL/SIGSTOP from an
//!   ancestor namespace. A worker that wants SIGTERM must install a handler;
//!   otherwise the supervisor escalates to SIGKILL on the reaper, which
//!   takes the child down through `PR_SET_PDEATHSIG`;
//! - it exits with the child's exit code, or dies of the child's fatal
//!   signal (re-raised with core dumps disabled), or exits 128+signal if the
//!   re-raise somehow fails. An internal failure exits [`REAPER_FAILURE`].
//!
//! Trusts: nothing from the child but its wait status.
//!
//! [`enter_namespaces`]: crate::enter_namespaces

use std::os::fd::RawFd;

use crate::sys;

/// Exit code of the reaper when it cannot wait for its child (never a code
/// the kernel reports for the child itself being killed).
pub const REAPER_FAILURE: i32 = 125;

/// Runs the reaper loop; never returns.
pub(crate) fn run(child: libc::pid_t, lifeline_write: RawFd, waited: &libc::sigset_t) -> ! {
    // The reaper has no business with the IPC socket or anything else.
    let _ = sys::close_all_except(lifeline_write);
    loop {
        // SAFETY: `waited` is an initialised sigset; a null siginfo is allowed.
        let sig = unsafe { libc::sigwaitinfo(waited, std::ptr::null_mut()) };
        match sig {
            libc::SIGTERM => {
                // SAFETY: plain kill(2) of our own child, which we have not reaped yet.
                unsafe { libc::kill(child, libc::SIGTERM) };
            }
            libc::SIGCHLD => reap_if_exited(child),
            _ if last_errno() == libc::EINTR => {}
            _ => exit(REAPER_FAILURE),
        }
    }
}

fn reap_if_exited(child: libc::pid_t) {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer.
        let pid = unsafe { libc::waitpid(child, &mut status, libc::WNOHANG) };
        match pid {
            0 => return,
            -1 if last_errno() == libc::EINTR => continue,
            -1 => exit(REAPER_FAILURE),
            _ => forward(status),
        }
    }
}

/// Leaves the way the child left.
fn forward(status: libc::c_int) -> ! {
    if libc::WIFEXITED(status) {
        exit(libc::WEXITSTATUS(status));
    }
    if libc::WIFSIGNALED(status) {
        let sig = libc::WTERMSIG(status);
        // No core file of the reaper: it would be a copy of the worker's
        // pre-jail memory. RLIMIT_CORE=0 alone does not stop a piped
        // core_pattern; non-dumpable does.
        let _ = sys::set_rlimit(libc::RLIMIT_CORE, 0);
        let _ = sys::prctl(libc::PR_SET_DUMPABLE, 0);
        // SAFETY: resetting the disposition, unblocking and raising `sig` in
        // this single-threaded process; if the signal does not kill us we
        // fall through to exit.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
            libc::kill(libc::getpid(), sig);
        }
        exit(128 + sig);
    }
    exit(REAPER_FAILURE)
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn exit(code: i32) -> ! {
    // SAFETY: _exit skips atexit handlers and stdio flushing, which belong to
    // the pre-fork process image, not to the reaper.
    unsafe { libc::_exit(code) }
}
