//! The sockets the daemon serves on when the service manager passed them (socket activation:
//! `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, as a systemd `.socket` unit sets them): the
//! daemon then neither binds `listen` nor `metrics_listen` for what it was given, so it can serve a
//! privileged port without privileges, and a restart loses no connection (they wait in the
//! socket's backlog, which the manager keeps open). A passed socket may be TCP or a Unix stream
//! socket (a reverse proxy's, with the mode and owner the `.socket` unit gives it).
//!
//! Guarantees: a socket named `metrics` serves `/metrics`; exactly one other serves the API, and
//! more than one is refused; a socket that is not a listening TCP or Unix stream socket is
//! refused, naming its descriptor. Every passed descriptor is made close-on-exec before anything
//! else happens, so no worker process inherits a listening socket (the jail closes all
//! descriptors but its own as well). The variables are removed from the environment, which is why
//! [`take`] must run before the daemon starts any thread.
//!
//! Trusts: the service manager that set the variables, for the descriptors they name.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::StartError;
use crate::http::Listener;

/// One passed listening socket.
pub enum Socket {
    Tcp(std::net::TcpListener),
    Unix(std::os::unix::net::UnixListener),
}

impl Socket {
    /// For tokio: nonblocking, registered with the runtime (call it inside the runtime).
    pub fn listener(self) -> std::io::Result<Listener> {
        match self {
            Socket::Tcp(socket) => {
                socket.set_nonblocking(true)?;
                Ok(Listener::Tcp(tokio::net::TcpListener::from_std(socket)?))
            }
            Socket::Unix(socket) => {
                socket.set_nonblocking(true)?;
                Ok(Listener::Unix(tokio::net::UnixListener::from_std(socket)?))
            }
        }
    }
}

/// What the service manager passed; `None` where it passed nothing (the daemon binds).
#[derive(Default)]
pub struct Passed {
    pub api: Option<Socket>,
    pub metrics: Option<Socket>,
}

/// Takes the passed sockets. Call it while the process has one thread (see the module docs).
pub fn take() -> Result<Passed, StartError> {
    let fds = sd_notify::listen_fds_with_names(true).map_err(StartError::Passed)?;
    let mut passed = Passed::default();
    for (fd, name) in fds {
        // SAFETY: the service manager handed this descriptor to this process (LISTEN_PID is
        // ours), and nothing else in it has taken it: this runs once, before any thread.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let socket = match (option(&owned, libc::SO_DOMAIN), listening_stream(&owned)) {
            (Some(libc::AF_INET | libc::AF_INET6), true) => Socket::Tcp(owned.into()),
            (Some(libc::AF_UNIX), true) => Socket::Unix(owned.into()),
            _ => return Err(StartError::PassedSocket { fd, name }),
        };
        let slot = if name == "metrics" {
            &mut passed.metrics
        } else {
            &mut passed.api
        };
        if slot.replace(socket).is_some() {
            return Err(StartError::PassedTwice { name });
        }
    }
    Ok(passed)
}

/// A stream socket that listens (`SO_TYPE`, `SO_ACCEPTCONN`).
fn listening_stream(fd: &OwnedFd) -> bool {
    option(fd, libc::SO_TYPE) == Some(libc::SOCK_STREAM)
        && option(fd, libc::SO_ACCEPTCONN).is_some_and(|v| v != 0)
}

/// An integer socket option at `SOL_SOCKET`; `None` when the descriptor is no socket.
fn option(fd: &OwnedFd, name: libc::c_int) -> Option<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt(2) writes at most `len` bytes into `value`, which lives through the call.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(value)
}
