//! A worker process that has been idle a while gives back the memory it keeps only to be quick
//! when busy: the page pool's freed heap pages (up to 8 MiB, resident; `Engine::release_page_pool`)
//! and `malloc`'s free heap. Measured on worker processes idle since their start (README, session
//! 16): private memory 9.4 -> 6.8 MiB. The cost falls on the next isolates the
//! process makes, which fault fresh pages in as the first ones did; a request seldom waits for
//! that, since an idle thread keeps never-used spares (`stock.rs`).
//!
//! Guarantees: no release before [`IDLE_RELEASE`] has passed since the last work any isolate
//! thread took from the socket; at most one per idle period (the next work ends it); a thread
//! with nothing to do waits at most until [`Idle::deadline`], then without a deadline for the
//! rest of the period: an idle process's threads wake once or twice (the one watching the socket
//! hands that over) [`IDLE_RELEASE`] after the last work, and then stay asleep (checked with the
//! threads' context-switch counts).
//! Trusts: nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a process stays idle before it gives the memory back.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);
/// How stale `last_work` may be before [`Idle::worked`] writes it again.
const STORE_EVERY_NS: u64 = 1_000_000;

pub struct Idle {
    origin: Instant,
    /// Nanoseconds since `origin` of the last work taken.
    last_work: AtomicU64,
    /// Whether this idle period's release was made (or taken by a thread making it).
    released: AtomicBool,
    after: Duration,
}

impl Default for Idle {
    /// An idle period that starts now (the process's start counts as work).
    fn default() -> Idle {
        Idle::with(IDLE_RELEASE)
    }
}

impl Idle {
    fn with(after: Duration) -> Idle {
        Idle {
            origin: Instant::now(),
            last_work: AtomicU64::new(0),
            released: AtomicBool::new(false),
            after,
        }
    }

    /// A thread took work: the idle period, if any, ends.
    pub fn worked(&self) {
        let now = self.origin.elapsed().as_nanos() as u64;
        // Called for every message a busy process handles: the shared line is written at most
        // once a millisecond (the deadline moves 1 ms late at worst, against 10 s), and the flag
        // only when set, so busy threads do not bounce it between their CPUs.
        if now.saturating_sub(self.last_work.load(Ordering::Relaxed)) >= STORE_EVERY_NS {
            self.last_work.store(now, Ordering::Relaxed);
        }
        if self.released.load(Ordering::Relaxed) {
            self.released.store(false, Ordering::Relaxed);
        }
    }

    /// When a thread with nothing to do should look again, for this period's release; `None`
    /// once it was made.
    pub fn deadline(&self) -> Option<Instant> {
        if self.released.load(Ordering::Relaxed) {
            return None;
        }
        let last = Duration::from_nanos(self.last_work.load(Ordering::Relaxed));
        Some(self.origin + last + self.after)
    }

    /// Whether the caller should release now: the process has been idle long enough and no
    /// thread did it yet this period (true for one caller only).
    pub fn take_release(&self, now: Instant) -> bool {
        match self.deadline() {
            Some(due) if now >= due => self
                .released
                .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok(),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_release_before_the_idle_time_and_one_after_it() {
        let idle = Idle::with(Duration::from_millis(50));
        let start = Instant::now();
        assert!(!idle.take_release(start), "the process just started");
        let due = idle.deadline().expect("a deadline");
        assert!(due >= start + Duration::from_millis(49));
        assert!(!idle.take_release(due - Duration::from_millis(1)));
        assert!(idle.take_release(due), "idle for the whole time");
        assert!(
            !idle.take_release(due + Duration::from_secs(1)),
            "once per period"
        );
        assert_eq!(idle.deadline(), None, "nothing to wait for after it");
    }

    #[test]
    fn work_ends_the_period_and_starts_the_next() {
        let idle = Idle::with(Duration::from_millis(50));
        let first = idle.deadline().expect("a deadline");
        assert!(idle.take_release(first));
        std::thread::sleep(Duration::from_millis(5));
        idle.worked();
        let next = idle.deadline().expect("a new period");
        assert!(
            next >= first + Duration::from_millis(5),
            "counted from the work"
        );
        assert!(!idle.take_release(next - Duration::from_millis(1)));
        assert!(idle.take_release(next));
    }

    #[test]
    fn work_before_the_deadline_moves_it() {
        let idle = Idle::with(Duration::from_millis(50));
        let first = idle.deadline().expect("a deadline");
        std::thread::sleep(Duration::from_millis(5));
        idle.worked();
        assert!(!idle.take_release(first), "work came since");
    }

    #[test]
    fn of_threads_racing_at_the_deadline_one_releases() {
        let idle = std::sync::Arc::new(Idle::with(Duration::ZERO));
        let now = Instant::now();
        let winners: usize = (0..8)
            .map(|_| {
                let idle = std::sync::Arc::clone(&idle);
                std::thread::spawn(move || idle.take_release(now + Duration::from_millis(1)))
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().expect("thread")))
            .sum();
        assert_eq!(winners, 1);
    }
}
