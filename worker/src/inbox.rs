//! Where an isolate thread takes its work from: a channel the dispatcher fills (a process with
//! several isolate threads), or the supervisor's socket itself (a process with one, as every
//! process whose isolates are keyed: no dispatcher thread, so a message wakes one thread, not
//! two).
//!
//! Guarantees: both give the same work in the same order (the socket's messages go through the
//! same `Router`); a wait returns by its deadline when nothing arrives; the socket's end, a
//! `Shutdown`, a decode error or a confused message closes the inbox, and the direct inbox
//! keeps why (`Direct::ended`). Trusts: the supervisor to write each frame whole (a frame begun
//! is read to its end, blocking).

use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::Instant;

use stockade_ipc::{read_frame, ToWorker};

use super::router::{Routed, Router};
use super::thread::Work;

/// What one look at an inbox found.
// Returned and consumed at once: boxing the work would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
pub enum Next {
    Work(Work),
    /// Nothing arrived (at once, or by the deadline).
    Empty,
    /// Nothing will ever arrive: the thread's loop ends.
    Closed,
}

pub trait Inbox {
    /// Work that is already there, without waiting.
    fn try_next(&mut self) -> Next;
    /// Work, waiting for it until `deadline` (for ever when `None`).
    fn next_until(&mut self, deadline: Option<Instant>) -> Next;
}

impl Inbox for Receiver<Work> {
    fn try_next(&mut self) -> Next {
        match self.try_recv() {
            Ok(work) => Next::Work(work),
            Err(TryRecvError::Empty) => Next::Empty,
            Err(TryRecvError::Disconnected) => Next::Closed,
        }
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Next {
        let Some(deadline) = deadline else {
            return self.recv().map_or(Next::Closed, Next::Work);
        };
        match self.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(work) => Next::Work(work),
            Err(RecvTimeoutError::Timeout) => Next::Empty,
            Err(RecvTimeoutError::Disconnected) => Next::Closed,
        }
    }
}

/// The socket read by the isolate thread itself (one isolate thread in the process).
pub struct Direct<'a> {
    socket: BufReader<&'a UnixStream>,
    router: Router,
    /// Why the inbox closed: `Ok` for a `Shutdown` or the socket's end.
    pub ended: Option<Result<(), String>>,
}

impl<'a> Direct<'a> {
    pub fn new(stream: &'a UnixStream, router: Router, buffer: usize) -> Direct<'a> {
        Direct {
            socket: BufReader::with_capacity(buffer, stream),
            router,
            ended: None,
        }
    }

    /// Whether a frame's bytes are there (buffered, or readable on the socket) by `deadline`.
    fn readable_by(&self, deadline: Option<Instant>) -> bool {
        if !self.socket.buffer().is_empty() {
            return true;
        }
        loop {
            let timeout = match deadline {
                None => -1,
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    // Rounded up: a wake a little late is better than a busy loop of zero waits.
                    i32::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i32::MAX)
                }
            };
            let mut fd = libc::pollfd {
                fd: self.socket.get_ref().as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd for the duration of the call; poll writes only revents.
            let ready = unsafe { libc::poll(&mut fd, 1, timeout) };
            if ready > 0 {
                // Readable, or hung up / in error: the read that follows says which.
                return true;
            }
            if ready == 0 {
                return false;
            }
            if std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
                // poll itself failed: let the read report the socket's state.
                return true;
            }
        }
    }

    fn close(&mut self, why: Result<(), String>) -> Next {
        self.ended.get_or_insert(why);
        Next::Closed
    }

    /// Reads and routes frames while they are there by `deadline`, until one is work.
    fn take(&mut self, deadline: Option<Instant>) -> Next {
        if self.ended.is_some() {
            return Next::Closed;
        }
        loop {
            if !self.readable_by(deadline) {
                return Next::Empty;
            }
            // Filling the buffer reads whatever the supervisor has written (several frames,
            // often); the frame's decoder then reads its rest, if any, blocking.
            if self.socket.buffer().is_empty() {
                match self.socket.fill_buf() {
                    Ok([]) => return self.close(Ok(())),
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return self.close(Err(format!("read: {e}"))),
                }
            }
            let message = match read_frame::<ToWorker, _>(&mut self.socket) {
                Ok(Some(m)) => m,
                Ok(None) => return self.close(Ok(())),
                Err(e) => return self.close(Err(format!("read: {e}"))),
            };
            match self.router.route(message) {
                // One isolate thread: everything is this thread's.
                Routed::Give(_, work) => return Next::Work(work),
                Routed::Done => {}
                Routed::Stop(why) => return self.close(why),
            }
        }
    }
}

impl Inbox for Direct<'_> {
    fn try_next(&mut self) -> Next {
        self.take(Some(Instant::now()))
    }

    fn next_until(&mut self, deadline: Option<Instant>) -> Next {
        self.take(deadline)
    }
}
