//! The supervisor's lookout: before one of its runtime threads sleeps, it keeps looking at the
//! worker sockets for a moment while host calls are being made.
//!
//! Why: a host call crosses the supervisor twice when it is a binding (the caller's call in, the
//! target's answer back), and a caller making calls in sequence sends the next one a few
//! microseconds after its reply. A runtime thread that went to sleep in between is woken by the
//! kernel, and on a virtual machine that halts idle virtual CPUs that wake-up costs more than
//! the work (measured on this project's 2-vCPU hosts: a blocking ping-pong over a Unix socket
//! 43-45 us per round trip, 13-15 us when one side looks instead of sleeping,
//! `benches/floor/unix_pingpong.c`). A thread that is still looking when the bytes arrive
//! returns to the runtime, whose reactor then finds them without sleeping.
//!
//! Guarantees:
//! - a thread looks only within the configured window after the last host call routed or
//!   answered ([`Lookout::noted`]); a daemon that serves no host calls never looks, and an idle
//!   one makes no system call at all here;
//! - one thread looks at a time; the others sleep at once;
//! - a look that finds the CPU wanted (a `yield` that gave it away for longer than
//!   [`CONTENDED`]) ends the looking, and none starts again for a cooldown: 1 ms, or 64 ms
//!   when the last such look was recent ([`cooldown`], [`LOOKOUT_COOLDOWN`]): on a busy machine
//!   the CPU is worth more to the thread that wants it than a wake-up saved;
//! - a socket is looked at from its link's start to its router's end ([`Lookout::watch`],
//!   [`Lookout::unwatch`]).
//!
//! Trusts: nothing. What it sees is only a reason to stop looking: the runtime's reactor reads
//! the sockets, and a socket that stays readable (a closed one, say) only ends the looks early.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

// The worker's isolate threads use the same bound and rule, with a longer cooldown after an
// isolated contended spin (`worker/src/pace.rs`).
use stockade_ipc::pace::{cooldown, CONTENDED, LOOKOUT_COOLDOWN};

/// How a [`Lookout::look`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Looked {
    /// No host call within the window (or in a cooldown): no look was made.
    Idle,
    /// Another thread is looking.
    Busy,
    /// A watched socket became readable.
    Ready,
    /// The window passed with nothing to read.
    Quiet,
    /// The CPU was wanted: looking stopped, and a cooldown started.
    Contended,
}

pub struct Lookout {
    /// An epoll instance of the watched sockets (level-triggered, readable), only ever waited
    /// on with a zero timeout.
    epoll: OwnedFd,
    window: Duration,
    /// [`CONTENDED`], but for tests.
    contended: Duration,

    origin: Instant,
    /// Nanoseconds since `origin` of the last host call routed or answered; 0: never.
    last_noted: AtomicU64,
    /// Nanoseconds since `origin` before which no look starts.
    cooldown_until: AtomicU64,
    /// Nanoseconds since `origin` of the last look that found the CPU contended; 0: never.
    last_contended: AtomicU64,
    looking: AtomicBool,
}

static LOOKOUT: OnceLock<Lookout> = OnceLock::new();

/// Sets the daemon's lookout up (once, before its runtime starts); a zero window sets none.
pub fn start(window: Duration) -> io::Result<()> {
    if window.is_zero() || LOOKOUT.get().is_some() {
        return Ok(());
    }
    let _ = LOOKOUT.set(Lookout::new(window)?);
    Ok(())
}

/// The daemon's lookout, if it has one (not in most tests).
pub fn get() -> Option<&'static Lookout> {
    LOOKOUT.get()
}

/// The runtime's `on_thread_park` hook.
pub fn before_park() {
    if let Some(lookout) = get() {
        lookout.look();
    }
}

impl Lookout {
    pub fn new(window: Duration) -> io::Result<Lookout> {
        Lookout::with_contended(window, CONTENDED)
    }

    fn with_contended(window: Duration, contended: Duration) -> io::Result<Lookout> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new descriptor
        // that nothing else owns.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Lookout {
            // SAFETY: `fd` was just created and is owned by nothing else.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            window,
            contended,
            origin: Instant::now(),
            last_noted: AtomicU64::new(0),
            cooldown_until: AtomicU64::new(0),
            last_contended: AtomicU64::new(0),
            looking: AtomicBool::new(false),
        })
    }

    fn now(&self) -> u64 {
        // At least 1: 0 means "never". u64 nanoseconds last 584 years.
        (self.origin.elapsed().as_nanos() as u64).max(1)
    }

    /// Looks at `fd` until [`Lookout::unwatch`] (or until it is closed).
    pub fn watch(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd.as_raw_fd() as u64,
        };
        // SAFETY: both descriptors are open for the call; `event` outlives it.
        let rc = unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut event,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Stops looking at `fd` (before it is closed: its number may be reused).
    pub fn unwatch(&self, fd: BorrowedFd<'_>) {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: both descriptors are open for the call; DEL ignores the event pointer (non-null
        // for kernels before 2.6.9). A descriptor never watched is refused with ENOENT, harmless.
        unsafe {
            libc::epoll_ctl(
                self.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                fd.as_raw_fd(),
                &mut event,
            )
        };
    }

    /// A host call came in or was answered: looks are worth it for the next `window`.
    pub fn noted(&self) {
        self.last_noted.store(self.now(), Ordering::Relaxed);
    }

    /// Whether any watched socket is readable now.
    fn readable(&self) -> bool {
        let mut event = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: the epoll descriptor is open; `event` has room for the one event asked for;
        // a zero timeout never blocks.
        unsafe { libc::epoll_wait(self.epoll.as_raw_fd(), &mut event, 1, 0) > 0 }
    }

    /// Looks at the watched sockets, yielding the CPU between looks, until one is readable or
    /// the window after the last noted host call has passed.
    pub fn look(&self) -> Looked {
        let window = self.window.as_nanos() as u64;
        let mut now = self.now();
        let noted = self.last_noted.load(Ordering::Relaxed);
        if noted == 0
            || now >= noted.saturating_add(window)
            || now < self.cooldown_until.load(Ordering::Relaxed)
        {
            return Looked::Idle;
        }
        if self.looking.swap(true, Ordering::Acquire) {
            return Looked::Busy;
        }
        let looked = loop {
            if self.readable() {
                break Looked::Ready;
            }
            // Re-read: a call noted meanwhile (by another thread) extends the window.
            if now
                >= self
                    .last_noted
                    .load(Ordering::Relaxed)
                    .saturating_add(window)
            {
                break Looked::Quiet;
            }
            std::thread::yield_now();
            let after = self.now();
            if after.saturating_sub(now) > self.contended.as_nanos() as u64 {
                let last = self.last_contended.swap(after, Ordering::Relaxed);
                let since = (last != 0).then(|| Duration::from_nanos(after.saturating_sub(last)));
                self.cooldown_until.store(
                    after.saturating_add(cooldown(since, LOOKOUT_COOLDOWN).as_nanos() as u64),
                    Ordering::Relaxed,
                );
                break Looked::Contended;
            }
            now = after;
        };
        self.looking.store(false, Ordering::Release);
        looked
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    /// A lookout that never finds the CPU contended (the tests run beside each other).
    fn lookout(window: Duration) -> Lookout {
        Lookout::with_contended(window, Duration::from_secs(3600)).expect("epoll")
    }

    #[test]
    fn without_a_host_call_no_look_is_made() {
        let l = lookout(Duration::from_millis(500));
        let (a, mut b) = UnixStream::pair().expect("pair");
        l.watch(a.as_fd()).expect("watch");
        b.write_all(b"x").expect("write");
        // Readable, but nothing was noted: the thread sleeps at once.
        assert_eq!(l.look(), Looked::Idle);
    }

    #[test]
    fn after_a_host_call_a_readable_socket_ends_the_look() {
        let l = lookout(Duration::from_secs(30));
        let (a, mut b) = UnixStream::pair().expect("pair");
        l.watch(a.as_fd()).expect("watch");
        l.noted();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            b.write_all(b"x").expect("write");
            b
        });
        // The window is 30 s: only the bytes end this look.
        let looked = l.look();
        let _b = writer.join().expect("writer");
        assert_eq!(looked, Looked::Ready);
    }

    #[test]
    fn the_window_ends_a_quiet_look_and_then_none_is_made() {
        let l = lookout(Duration::from_millis(2));
        let (a, _b) = UnixStream::pair().expect("pair");
        l.watch(a.as_fd()).expect("watch");
        l.noted();
        assert_eq!(l.look(), Looked::Quiet);
        assert_eq!(l.look(), Looked::Idle, "the window has passed");
    }

    #[test]
    fn an_unwatched_socket_is_not_looked_at() {
        let l = lookout(Duration::from_millis(2));
        let (a, mut b) = UnixStream::pair().expect("pair");
        l.watch(a.as_fd()).expect("watch");
        b.write_all(b"x").expect("write");
        l.unwatch(a.as_fd());
        l.noted();
        assert_eq!(l.look(), Looked::Quiet);
    }

    #[test]
    fn one_thread_looks_at_a_time() {
        let l = std::sync::Arc::new(lookout(Duration::from_secs(30)));
        let (a, mut b) = UnixStream::pair().expect("pair");
        l.watch(a.as_fd()).expect("watch");
        l.noted();
        let first = {
            let l = std::sync::Arc::clone(&l);
            std::thread::spawn(move || l.look())
        };
        while !l.looking.load(Ordering::Acquire) {
            std::thread::yield_now();
        }
        assert_eq!(l.look(), Looked::Busy);
        b.write_all(b"x").expect("write");
        assert_eq!(first.join().expect("first"), Looked::Ready);
    }

    #[test]
    fn a_contended_cpu_stops_the_looks_for_a_cooldown() {
        // Every yield counts as contended here.
        let l = Lookout::with_contended(Duration::from_secs(30), Duration::ZERO).expect("epoll");
        let (a, _b) = UnixStream::pair().expect("pair");
        l.watch(a.as_fd()).expect("watch");
        l.noted();
        assert_eq!(l.look(), Looked::Contended);
        let first_at = l.last_contended.load(Ordering::Relaxed);
        let first = l.cooldown_until.load(Ordering::Relaxed) - first_at;
        assert_eq!(first, LOOKOUT_COOLDOWN.as_nanos() as u64);
        l.noted();
        assert_eq!(l.look(), Looked::Idle, "cooling down");
        // After the cooldown, looks resume; contended again, the cooldown is the one `pace`'s
        // rule gives for the time since the first (the long one when that is under 4 ms, which
        // a loaded machine may not give this test: the rule itself is `pace`'s unit test).
        l.cooldown_until.store(1, Ordering::Relaxed);
        assert_eq!(l.look(), Looked::Contended);
        let second_at = l.last_contended.load(Ordering::Relaxed);
        let second = l.cooldown_until.load(Ordering::Relaxed) - second_at;
        let since = Duration::from_nanos(second_at - first_at);
        assert_eq!(
            second,
            cooldown(Some(since), LOOKOUT_COOLDOWN).as_nanos() as u64
        );
        assert!(second >= first);
    }
}
