//! The sockets the daemon serves on beyond a TCP `listen`: a Unix socket it binds itself
//! (`listen = "unix:/path"`, mode 0660, a stale socket file replaced), and those the service
//! manager passed (socket activation: `LISTEN_PID`, `LISTEN_FDS`, `LISTEN_FDNAMES`, as a systemd
//! `.socket` unit sets them). For what it was passed the daemon binds neither `listen` nor
//! `metrics_listen`, so it can serve a privileged port without privileges, and a restart loses no
//! connection (they wait in the socket's backlog, which the manager keeps open). A passed socket
//! may be TCP or a Unix stream socket (with the mode and owner the `.socket` unit gives it).
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

/// Mode of a Unix socket the daemon makes (`listen = "unix:..."`): the daemon's user and group
/// may connect (give a reverse proxy the group), nobody else.
const UNIX_SOCKET_MODE: u32 = 0o660;

/// A Unix stream socket bound at `path` (`listen = "unix:..."`), mode [`UNIX_SOCKET_MODE`]. A
/// socket file left there by an earlier daemon that is gone is replaced; one a live process
/// still accepts on is "address in use", as a TCP port is (replacing it would leave that process
/// unreachable, and this one would remove the file when it stops); any other file is refused.
pub fn bind_unix(path: &std::path::Path) -> std::io::Result<tokio::net::UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process is listening on this socket",
                ));
            }
            std::fs::remove_file(path)?
        }
        Ok(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "the path exists and is not a socket",
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(UNIX_SOCKET_MODE))?;
    Ok(listener)
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
