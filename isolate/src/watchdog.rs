//! The watchdog: one thread per process that terminates an isolate whose invocation has spent
//! its CPU or wall-clock budget. `TerminateExecution` is the one V8 call that is safe from
//! another thread; it also interrupts microtask-only loops and backtracking regular expressions.
//!
//! Guarantees: a `Watch` is removed under the lock before its guard returns, and the watchdog
//! terminates isolates only while holding that lock, so it never touches a disposed isolate.
//! The thread sleeps until the earliest deadline could pass (CPU time never runs faster than
//! the wall clock), so an idle engine costs no wake-ups. It starts on the first `arm`, not at
//! engine init, so that in a worker process it is born inside the jail and inherits every
//! per-thread restriction (Landlock below ABI 8, capabilities) of the thread that closed it; if
//! it cannot start, `arm` fails and no code runs unwatched. It only ever touches the isolate's
//! C++ object (TerminateExecution), never a tenant's heap pages.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{LimitKind, RunError};
use crate::ffi;

/// The raw isolate pointer, sendable to the watchdog thread only for `stk_isolate_terminate`.
#[derive(Clone, Copy)]
pub(crate) struct TerminateHandle(pub(crate) *mut ffi::StkIsolate);
// SAFETY: the bridge documents stk_isolate_terminate as callable from any thread while the
// isolate lives; liveness is guaranteed by the disarm-under-lock protocol described above.
unsafe impl Send for TerminateHandle {}

struct Watch {
    id: u64,
    isolate: TerminateHandle,
    cpu_clock: libc::clockid_t,
    cpu_start: Duration,
    cpu_budget: Duration,
    wall_deadline: Instant,
    fired: Arc<AtomicU8>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    watches: Vec<Watch>,
}

pub(crate) struct Watchdog {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: std::sync::OnceLock<Result<(), String>>,
}

const FIRED_NONE: u8 = 0;
const FIRED_CPU: u8 = 1;
const FIRED_WALL: u8 = 2;

/// Reads a thread's CPU clock.
pub(crate) fn cpu_time(clock: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; an invalid clock id makes the call fail, not UB.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The CPU clock of the calling thread.
pub(crate) fn current_thread_clock() -> libc::clockid_t {
    let mut clock: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
    // SAFETY: pthread_self() is always a valid thread; `clock` is a valid out-pointer.
    let rc = unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) };
    if rc != 0 {
        clock = libc::CLOCK_THREAD_CPUTIME_ID;
    }
    clock
}

impl Watchdog {
    pub(crate) fn new() -> Watchdog {
        let shared = Arc::new((Mutex::new(State::default()), Condvar::new()));
        Watchdog {
            shared,
            thread: std::sync::OnceLock::new(),
        }
    }

    fn ensure_thread(&self) -> Result<(), RunError> {
        let started = self.thread.get_or_init(|| {
            let thread_shared = Arc::clone(&self.shared);
            std::thread::Builder::new()
                .name("stockade-watchdog".into())
                .spawn(move || run(&thread_shared))
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        started
            .clone()
            .map_err(|e| RunError::Internal(format!("cannot start the watchdog thread: {e}")))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts watching the calling thread's isolate. Must be called on the isolate's thread.
    pub(crate) fn arm(
        &self,
        isolate: TerminateHandle,
        cpu: Duration,
        wall: Duration,
    ) -> Result<WatchGuard<'_>, RunError> {
        self.ensure_thread()?;
        let clock = current_thread_clock();
        let fired = Arc::new(AtomicU8::new(FIRED_NONE));
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.watches.push(Watch {
            id,
            isolate,
            cpu_clock: clock,
            cpu_start: cpu_time(clock),
            cpu_budget: cpu,
            wall_deadline: Instant::now() + wall,
            fired: Arc::clone(&fired),
        });
        drop(state);
        self.shared.1.notify_one();
        Ok(WatchGuard {
            dog: self,
            id,
            fired,
            clock,
            cpu_start: cpu_time(clock),
            wall_start: Instant::now(),
        })
    }
}

/// Disarms on drop. Reports which budget fired, if any, and what was spent.
pub(crate) struct WatchGuard<'a> {
    dog: &'a Watchdog,
    id: u64,
    fired: Arc<AtomicU8>,
    clock: libc::clockid_t,
    cpu_start: Duration,
    wall_start: Instant,
}

impl WatchGuard<'_> {
    pub(crate) fn fired(&self) -> Option<LimitKind> {
        match self.fired.load(Ordering::Acquire) {
            FIRED_CPU => Some(LimitKind::Cpu),
            FIRED_WALL => Some(LimitKind::Wall),
            _ => None,
        }
    }
    pub(crate) fn cpu_spent(&self) -> Duration {
        cpu_time(self.clock).saturating_sub(self.cpu_start)
    }
    pub(crate) fn wall_spent(&self) -> Duration {
        self.wall_start.elapsed()
    }
}

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.dog.lock();
        state.watches.retain(|w| w.id != self.id);
    }
}

fn run(shared: &(Mutex<State>, Condvar)) {
    let (lock, cond) = shared;
    let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        let mut sleep = Duration::from_secs(3600);
        state.watches.retain(|w| {
            let cpu_left = w
                .cpu_budget
                .saturating_sub(cpu_time(w.cpu_clock).saturating_sub(w.cpu_start));
            let wall_left = w.wall_deadline.saturating_duration_since(now);
            let fired = if cpu_left.is_zero() {
                FIRED_CPU
            } else if wall_left.is_zero() {
                FIRED_WALL
            } else {
                sleep = sleep.min(cpu_left).min(wall_left);
                return true;
            };
            w.fired.store(fired, Ordering::Release);
            // SAFETY: the watch is still registered (we hold the lock), so the isolate has not
            // been disposed: its owner removes the watch under this lock before disposing.
            unsafe { ffi::stk_isolate_terminate(w.isolate.0) };
            false
        });
        // Granularity: wake at least every 2 ms past a budget's earliest possible end.
        let wait = sleep.max(Duration::from_micros(500));
        state = cond
            .wait_timeout(state, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}
