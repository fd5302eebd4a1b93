//! The sockets the daemon serves on when the service manager passed them (socket activation:
//! `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, as a systemd `.socket` unit sets them): the
//! daemon then neither binds `listen` nor `metrics_listen` for what it was given, so it can serve a
//! privileged port without privileges, and a restart loses no connection (they wait in the
//! socket's backlog, which the manager keeps open).
//!
//! Guarantees: a socket named `metrics` serves `/metrics`; exactly one other serves the API, and
//! more than one is refused; a socket that is not a listening TCP socket is refused, naming its
//! descriptor. Every passed descriptor is made close-on-exec before anything else happens, so no
//! worker process inherits a listening socket (the jail closes all descriptors but its own as
//! well). The variables are removed from the environment, which is why [`take`] must run before
//! the daemon starts any thread.
//!
//! Trusts: the service manager that set the variables, for the descriptors they name.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};

use super::StartError;

/// What the service manager passed; `None` where it passed nothing (the daemon binds).
#[derive(Default)]
pub struct Passed {
    pub api: Option<TcpListener>,
    pub metrics: Option<TcpListener>,
}

/// Takes the passed sockets. Call it while the process has one thread (see the module docs).
pub fn take() -> Result<Passed, StartError> {
    let fds = sd_notify::listen_fds_with_names(true).map_err(StartError::Passed)?;
    let mut passed = Passed::default();
    for (fd, name) in fds {
        // SAFETY: the service manager handed this descriptor to this process (LISTEN_PID is
        // ours), and nothing else in it has taken it: this runs once, before any thread.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let listener = TcpListener::from(owned);
        if listener.local_addr().is_err() || !listening(&listener) {
            return Err(StartError::PassedSocket { fd, name });
        }
        let slot = if name == "metrics" {
            &mut passed.metrics
        } else {
            &mut passed.api
        };
        if slot.replace(listener).is_some() {
            return Err(StartError::PassedTwice { name });
        }
    }
    Ok(passed)
}

/// The socket listens (`SO_ACCEPTCONN`).
fn listening(listener: &TcpListener) -> bool {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `value`, which lives through the call.
    let r = unsafe {
        libc::getsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    r == 0 && value != 0
}
