//! When a worker process has been idle long enough to give back the memory it keeps only to be
//! quick when busy, in two steps per isolate thread (`pace.rs`):
//! - after [`IDLE_RELEASE`] the page pool's freed heap pages (up to 8 MiB, resident), the freed
//!   ArrayBuffer stores live isolates keep (up to 8 MiB each; both `Engine::release_page_pool`)
//!   and `malloc`'s free heap go back to the kernel;
//! - after [`IDLE_REST`] the thread *rests*: its stock keeps one never-used spare and disposes the
//!   others and its used isolates (`IsolateStock::rest`), and the pool and heap, which now hold
//!   their memory, go back again.
//!
//! Measured (benches/RESULTS.md, sessions 16 and 17): processes idle since their start 9.4 -> 6.8 MiB
//! private; a process that had served 40 snippets 29.3-31.9 -> 16.8-17.2 MiB once rested. The
//! cost falls on the next isolates, which fault fresh pages in as the first ones did, and, after
//! a rest, on a burst: past each thread's one spare its requests' isolates are made on their way
//! (16 snippets at c8 just after a rest: mean 4.4-5.3 -> 6.7-9.9 ms). Hence the longer wait for
//! the second step.
//!
//! Guarantees: no step before its time has passed since the last work any isolate thread took
//! from the socket (work moves both later and starts the thread over: [`Rest::Active`]); each
//! step once per idle period per thread; a thread waits at most until its next step, a rested
//! one without a deadline: an idle process's threads wake twice, [`IDLE_RELEASE`] and
//! [`IDLE_REST`] after the last work, and then stay asleep.
//! Trusts: nothing.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long a process stays idle before its threads give the page pool and free heap back.
pub const IDLE_RELEASE: Duration = Duration::from_secs(10);
/// How long a process stays idle before its threads rest (one spare each).
pub const IDLE_REST: Duration = Duration::from_secs(60);
/// How stale `last_work` may be before [`Idle::worked`] writes it again.
const STORE_EVERY_NS: u64 = 1_000_000;

/// Where one thread is in the idle period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rest {
    /// It took work since the last step (or the process just started).
    Active,
    /// The page pool and free heap went back.
    Released,
    /// Its stock keeps one spare; nothing is left to give back.
    Rested,
}

/// The process's idle clock, shared by its isolate threads.
pub struct Idle {
    origin: Instant,
    /// Nanoseconds since `origin` of the last work taken.
    last_work: AtomicU64,
    release_after: Duration,
    rest_after: Duration,
}

impl Default for Idle {
    /// An idle period that starts now (the process's start counts as work).
    fn default() -> Idle {
        Idle::with(IDLE_RELEASE, IDLE_REST)
    }
}

impl Idle {
    fn with(release_after: Duration, rest_after: Duration) -> Idle {
        Idle {
            origin: Instant::now(),
            last_work: AtomicU64::new(0),
            release_after,
            rest_after: rest_after.max(release_after),
        }
    }

    /// A thread took work: the idle period, if any, ends.
    pub fn worked(&self) {
        let now = self.origin.elapsed().as_nanos() as u64;
        // Called for every message a busy process handles: the shared line is written at most
        // once a millisecond (the steps move 1 ms late at worst, against seconds), so busy
        // threads do not bounce it between their CPUs.
        if now.saturating_sub(self.last_work.load(Ordering::Relaxed)) >= STORE_EVERY_NS {
            self.last_work.store(now, Ordering::Relaxed);
        }
    }

    fn idle_since(&self) -> Instant {
        self.origin + Duration::from_nanos(self.last_work.load(Ordering::Relaxed))
    }

    /// When a thread at `rest` takes its next step; `None` once rested.
    pub fn next_at(&self, rest: Rest) -> Option<Instant> {
        match rest {
            Rest::Active => Some(self.idle_since() + self.release_after),
            Rest::Released => Some(self.idle_since() + self.rest_after),
            Rest::Rested => None,
        }
    }

    /// The step a thread at `rest` takes at `now`, if one is due: the furthest reached (a thread
    /// that slept through both rests at once).
    pub fn due(&self, rest: Rest, now: Instant) -> Option<Rest> {
        let idle = now.saturating_duration_since(self.idle_since());
        let reached = if idle >= self.rest_after {
            Rest::Rested
        } else if idle >= self.release_after {
            Rest::Released
        } else {
            Rest::Active
        };
        (reached > rest).then_some(reached)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: Duration = Duration::from_millis(50);
    const REST: Duration = Duration::from_millis(200);

    #[test]
    fn each_step_comes_at_its_time_once() {
        let idle = Idle::with(RELEASE, REST);
        let start = Instant::now();
        assert_eq!(
            idle.due(Rest::Active, start),
            None,
            "the process just started"
        );
        let release = idle.next_at(Rest::Active).expect("a first step");
        assert!(release >= start + RELEASE - Duration::from_millis(1));
        assert_eq!(
            idle.due(Rest::Active, release - Duration::from_millis(1)),
            None
        );
        assert_eq!(idle.due(Rest::Active, release), Some(Rest::Released));
        assert_eq!(idle.due(Rest::Released, release), None, "once per period");
        let rest = idle.next_at(Rest::Released).expect("a second step");
        assert_eq!(rest - release, REST - RELEASE);
        assert_eq!(idle.due(Rest::Released, rest), Some(Rest::Rested));
        assert_eq!(idle.due(Rest::Rested, rest + REST), None);
        assert_eq!(idle.next_at(Rest::Rested), None, "nothing to wait for");
        // A thread that slept through both takes the second at once.
        assert_eq!(idle.due(Rest::Active, rest), Some(Rest::Rested));
    }

    #[test]
    fn work_moves_both_steps_later() {
        let idle = Idle::with(RELEASE, REST);
        let first = idle.next_at(Rest::Active).expect("a step");
        std::thread::sleep(Duration::from_millis(5));
        idle.worked();
        let next = idle.next_at(Rest::Active).expect("a step");
        assert!(
            next >= first + Duration::from_millis(5),
            "counted from the work"
        );
        assert_eq!(idle.due(Rest::Active, first), None, "work came since");
        assert_eq!(idle.due(Rest::Active, next), Some(Rest::Released));
        assert!(idle.next_at(Rest::Released).expect("a step") >= next + (REST - RELEASE));
    }
}
