//! The watchdog: one thread per process that terminates an isolate whose invocation has spent
//! its CPU or wall-clock budget. `TerminateExecution` is the one V8 call that is safe from
//! another thread; V8 acts on it when JavaScript next checks for interrupts: at function entry,
//! loop back edges and in compiled regular expressions (so microtask-only loops and backtracking
//! regular expressions stop), but not inside builtins that loop in C++ or Torque. V8 13.6 runs
//! these to completion: a global replace with a one-character pattern or a string
//! (`'a'.repeat(1e7).replace(/a/g, 'bb')`, `replaceAll('a', 'bb')`), `split` by a string,
//! `encodeURIComponent` and `indexOf` on long inputs (measured: about 1 s past a 20 ms limit for
//! the replace). Their work is bounded by the heap only; no V8 flag makes them interruptible
//! except `--default-to-experimental-regexp-engine`, which covers the regular-expression ones at
//! a 30 to 40 times slowdown of every regular expression, so it is not used.
//!
//! What the watchdog does about such an isolate is the engine's [`Unresponsive`] policy: after
//! the isolate has run [`Watchdog::grace`] of CPU time past its termination, the watchdog reports
//! it (a count and one line on stderr) and, under [`Unresponsive::ExitProcess`], ends the process
//! with the status it names: the only bound on a thread V8 will not stop.
//!
//! Guarantees: a `Watch` is removed under the lock before its guard returns, and the watchdog
//! terminates isolates only while holding that lock, so it never touches a disposed isolate.
//! The thread sleeps until the earliest deadline could pass (CPU time never runs faster than
//! the wall clock), so an idle engine costs no wake-ups, and arming a watch wakes it only when
//! the new watch could run out before the thread's next look (not once per entry). It starts on
//! the first `arm`, not at engine init, so that in a worker process it is born inside the jail
//! and inherits every per-thread restriction (Landlock below ABI 8, capabilities) of the thread
//! that closed it; if it cannot start, `arm` fails and no code runs unwatched. It only ever
//! touches the isolate's C++ object (TerminateExecution), never a tenant's heap pages.
//! CPU time spent for an invocation on another thread (TypeScript transformation) is charged to
//! the same budget ([`WatchGuard::charge`]).

use std::sync::atomic::{AtomicI32, AtomicU64, AtomicU8, Ordering};
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

/// What the watchdog does when an isolate keeps running after it was terminated (see the module
/// documentation): V8 is inside a builtin that does not check for termination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unresponsive {
    /// Count it ([`crate::Engine::unresponsive_isolates`]) and print one line on stderr; the
    /// builtin runs to completion, bounded by the heap limit only.
    #[default]
    Report,
    /// Report it, then end the process at once with this exit status: every isolate of the
    /// process dies with it. For worker processes whose supervisor restarts them and reads the
    /// status as a CPU limit of a request it was running (`stockade_ipc::exit`); every request in
    /// flight in the process is lost with it.
    ExitProcess(i32),
}

/// CPU time an isolate may run past its termination before the [`Unresponsive`] policy applies,
/// unless the engine sets another.
pub const DEFAULT_GRACE: Duration = Duration::from_millis(100);

struct Watch {
    id: u64,
    isolate: TerminateHandle,
    cpu_clock: libc::clockid_t,
    cpu_start: Duration,
    cpu_budget: Duration,
    /// CPU time spent for this invocation on other threads.
    charged: Duration,
    wall_deadline: Instant,
    fired: Arc<AtomicU8>,
    /// The embedder's tag of the task this entry runs for (see `Engine::set_limit_exit_hook`).
    tag: u64,
    /// The isolate thread's CPU clock when the watchdog terminated it.
    terminated_at: Option<Duration>,
    reported: bool,
}

impl Watch {
    fn cpu_spent(&self, now: Duration) -> Duration {
        now.saturating_sub(self.cpu_start) + self.charged
    }
}

#[derive(Default)]
struct State {
    next_id: u64,
    watches: Vec<Watch>,
    /// When the watchdog thread wakes next, while it waits (set under the lock before each
    /// wait); `None` before its first wait. A new watch that cannot end before then needs no
    /// wake-up: the thread looks at every watch when it wakes.
    wakes_at: Option<Instant>,
    /// How many times the thread has looked at the watches (each wake-up is one): what the
    /// tests count wake-ups by.
    #[cfg(test)]
    looks: u64,
}

pub(crate) struct Watchdog {
    shared: Arc<(Mutex<State>, Condvar)>,
    thread: std::sync::OnceLock<Result<(), String>>,
    policy: Arc<Policy>,
}

/// The [`Unresponsive`] policy and its count, shared with the watchdog thread.
#[derive(Default)]
struct Policy {
    /// The exit status under [`Unresponsive::ExitProcess`]; 0 for [`Unresponsive::Report`].
    exit: AtomicI32,
    /// Called with the watch's tag before such an exit.
    exit_hook: std::sync::OnceLock<extern "C" fn(u64)>,
    grace_us: AtomicU64,
    unresponsive: AtomicU64,
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
        let policy = Policy::default();
        policy
            .grace_us
            .store(DEFAULT_GRACE.as_micros() as u64, Ordering::Relaxed);
        Watchdog {
            shared,
            thread: std::sync::OnceLock::new(),
            policy: Arc::new(policy),
        }
    }

    /// Sets what happens to an isolate that runs `grace` of CPU time past its termination.
    pub(crate) fn set_policy(&self, policy: Unresponsive, grace: Duration) {
        let grace_us = u64::try_from(grace.as_micros()).unwrap_or(u64::MAX);
        self.policy.grace_us.store(grace_us, Ordering::Relaxed);
        let code = match policy {
            Unresponsive::Report => 0,
            Unresponsive::ExitProcess(code) => code,
        };
        self.policy.exit.store(code, Ordering::Relaxed);
        self.shared.1.notify_one();
    }

    /// The hook called with an unresponsive watch's tag before the process exits for it.
    /// Set once: a later call changes nothing.
    pub(crate) fn set_exit_hook(&self, hook: extern "C" fn(u64)) {
        let _ = self.policy.exit_hook.set(hook);
    }

    /// Isolates that kept running a grace period past their termination, since the process
    /// started.
    pub(crate) fn unresponsive(&self) -> u64 {
        self.policy.unresponsive.load(Ordering::Relaxed)
    }

    fn ensure_thread(&self) -> Result<(), RunError> {
        let started = self.thread.get_or_init(|| {
            let thread_shared = Arc::clone(&self.shared);
            let policy = Arc::clone(&self.policy);
            std::thread::Builder::new()
                .name("stockade-watchdog".into())
                .spawn(move || run(&thread_shared, &policy))
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

    /// Starts watching the calling thread's isolate, running for the task tagged `tag`. Must be
    /// called on the isolate's thread.
    pub(crate) fn arm(
        &self,
        isolate: TerminateHandle,
        cpu: Duration,
        wall: Duration,
        tag: u64,
    ) -> Result<WatchGuard<'_>, RunError> {
        self.ensure_thread()?;
        let clock = current_thread_clock();
        let fired = Arc::new(AtomicU8::new(FIRED_NONE));
        // The calling thread's own clock: the time `clock` tells the watchdog thread, read
        // without the kernel looking the thread up by its id (twice per entry into an isolate).
        let cpu_start = cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
        let now = Instant::now();
        // The earliest moment this watch can run out: its thread's CPU clock never runs faster
        // than the wall clock.
        let earliest_end = now + cpu.min(wall);
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.watches.push(Watch {
            id,
            isolate,
            cpu_clock: clock,
            cpu_start,
            cpu_budget: cpu,
            charged: Duration::ZERO,
            wall_deadline: now + wall,
            fired: Arc::clone(&fired),
            tag,
            terminated_at: None,
            reported: false,
        });
        // Wake the thread only when it would sleep past this watch's earliest end (every entry
        // into an isolate arms a watch: a wake-up each would cost a context switch per entry).
        let wake = state.wakes_at.is_none_or(|at| earliest_end < at);
        drop(state);
        if wake {
            self.shared.1.notify_one();
        }
        Ok(WatchGuard {
            dog: self,
            id,
            fired,
            cpu_start,
            charged: std::cell::Cell::new(Duration::ZERO),
            on_arming_thread: std::marker::PhantomData,
        })
    }
}

/// Disarms on drop. Reports which budget fired, if any, and what was spent. Stays on the
/// thread that armed it (not `Send`): it reads that thread's CPU clock as its own.
pub(crate) struct WatchGuard<'a> {
    dog: &'a Watchdog,
    id: u64,
    fired: Arc<AtomicU8>,
    cpu_start: Duration,
    charged: std::cell::Cell<Duration>,
    on_arming_thread: std::marker::PhantomData<*const ()>,
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
        cpu_time(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(self.cpu_start) + self.charged.get()
    }
    /// Adds CPU time spent for this invocation on another thread to its budget; when that
    /// exhausts it, the watch fires (CPU) at once.
    ///
    /// The watchdog thread is woken only when that fired the watch (it then watches the
    /// termination's grace) or moved its earliest end before the thread's next look; nothing is
    /// done for no time at all (a transformation on the isolate's own thread, whose clock
    /// already has it: every Code Mode snippet), which used to wake it once per snippet.
    pub(crate) fn charge(&self, cpu: Duration) {
        if cpu.is_zero() {
            return;
        }
        self.charged.set(self.charged.get() + cpu);
        let mut state = self.dog.lock();
        let mut earliest_end = None;
        if let Some(w) = state.watches.iter_mut().find(|w| w.id == self.id) {
            w.charged += cpu;
            if w.terminated_at.is_none() {
                let spent = w.cpu_spent(cpu_time(w.cpu_clock));
                if spent >= w.cpu_budget {
                    fire(w, FIRED_CPU);
                    earliest_end = Some(Instant::now());
                } else {
                    earliest_end = Some(Instant::now() + (w.cpu_budget - spent));
                }
            }
        }
        let wake = earliest_end.is_some_and(|end| state.wakes_at.is_none_or(|at| end < at));
        drop(state);
        if wake {
            self.dog.shared.1.notify_one();
        }
    }

    /// Ends the watched entry now for `kind` (CPU or wall), as if its budget had run out: a
    /// wait inside the entry that reached the budget's end (a synchronous host call). Nothing
    /// when the watch fired already.
    pub(crate) fn expire(&self, kind: LimitKind) {
        let why = if kind == LimitKind::Wall {
            FIRED_WALL
        } else {
            FIRED_CPU
        };
        let mut state = self.dog.lock();
        let fired = match state.watches.iter_mut().find(|w| w.id == self.id) {
            Some(w) if w.terminated_at.is_none() => {
                fire(w, why);
                true
            }
            _ => false,
        };
        drop(state);
        if fired {
            // It watches the termination's grace from here.
            self.dog.shared.1.notify_one();
        }
    }
}

impl Drop for WatchGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.dog.lock();
        state.watches.retain(|w| w.id != self.id);
    }
}

/// Terminates the watch's isolate and remembers when (on the isolate thread's CPU clock).
fn fire(w: &mut Watch, why: u8) {
    w.fired.store(why, Ordering::Release);
    w.terminated_at = Some(cpu_time(w.cpu_clock));
    // SAFETY: the watch is still registered (the caller holds the lock), so the isolate has not
    // been disposed: its owner removes the watch under this lock before disposing.
    unsafe { ffi::stk_isolate_terminate(w.isolate.0) };
}

/// The isolate of `w` ran the grace period past its termination: apply the policy.
fn unresponsive(w: &mut Watch, policy: &Policy, grace: Duration) {
    w.reported = true;
    policy.unresponsive.fetch_add(1, Ordering::Relaxed);
    let code = policy.exit.load(Ordering::Relaxed);
    let exit = code != 0;
    let spent = w.cpu_spent(cpu_time(w.cpu_clock));
    let line = format!(
        "stockade: an isolate ran {} ms of CPU past its termination inside a V8 builtin that \
         ignores it (cpu_limit_ms={} cpu_spent_ms={}){}\n",
        grace.as_millis(),
        w.cpu_budget.as_millis(),
        spent.as_millis(),
        if exit { "; ending the process" } else { "" }
    );
    // One write(2), no locks: the process may be about to end.
    // SAFETY: `line` is a valid buffer of `line.len()` bytes.
    let _ = unsafe { libc::write(2, line.as_ptr().cast(), line.len()) };
    if exit {
        if let Some(hook) = policy.exit_hook.get() {
            hook(w.tag);
        }
        // SAFETY: _exit ends the process without running destructors or atexit handlers, which
        // could touch V8 while another thread is inside it.
        unsafe { libc::_exit(code) };
    }
}

fn run(shared: &(Mutex<State>, Condvar), policy: &Policy) {
    let (lock, cond) = shared;
    let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        #[cfg(test)]
        {
            state.looks += 1;
        }
        let now = Instant::now();
        let grace = Duration::from_micros(policy.grace_us.load(Ordering::Relaxed));
        let mut sleep = Duration::from_secs(3600);
        for w in state.watches.iter_mut() {
            let cpu_now = cpu_time(w.cpu_clock);
            if let Some(at) = w.terminated_at {
                // Terminated: watch for an isolate that keeps running (until its guard drops).
                if w.reported {
                    continue;
                }
                let past = cpu_now.saturating_sub(at);
                if past >= grace {
                    unresponsive(w, policy, grace);
                } else {
                    sleep = sleep.min(grace - past);
                }
                continue;
            }
            let cpu_left = w.cpu_budget.saturating_sub(w.cpu_spent(cpu_now));
            let wall_left = w.wall_deadline.saturating_duration_since(now);
            if cpu_left.is_zero() {
                fire(w, FIRED_CPU);
                sleep = sleep.min(grace);
            } else if wall_left.is_zero() {
                fire(w, FIRED_WALL);
                sleep = sleep.min(grace);
            } else {
                sleep = sleep.min(cpu_left).min(wall_left);
            }
        }
        // Granularity: wake at least every 2 ms past a budget's earliest possible end.
        let wait = sleep.max(Duration::from_micros(500));
        // `arm` wakes the thread for a watch that may end before this; a spurious or late wake
        // only makes the next look later than `wakes_at`, never earlier than a watch needs.
        state.wakes_at = Some(now + wait);
        state = cond
            .wait_timeout(state, wait)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{TerminateHandle, Watchdog};

    fn looks(dog: &Watchdog) -> u64 {
        dog.lock().looks
    }

    /// Waits until the thread has made its first look and gone to sleep.
    fn settled(dog: &Watchdog) -> u64 {
        let until = Instant::now() + Duration::from_secs(10);
        while dog.lock().wakes_at.is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        looks(dog)
    }

    // The watches below have budgets of a minute and end long before: nothing fires, so the
    // null isolate is never touched.
    fn armed(dog: &Watchdog) -> super::WatchGuard<'_> {
        dog.arm(
            TerminateHandle(std::ptr::null_mut()),
            Duration::from_secs(60),
            Duration::from_secs(60),
            0,
        )
        .expect("the watchdog starts")
    }

    #[test]
    fn charging_no_time_does_not_wake_the_watchdog_and_charging_time_is_counted() {
        let dog = Watchdog::new();
        let guard = armed(&dog);
        let before = settled(&dog);
        for _ in 0..100 {
            guard.charge(Duration::ZERO);
        }
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(looks(&dog), before, "a zero charge woke the watchdog");
        // Time charged that leaves the watch far from its end needs no look either, but counts.
        let spent = guard.cpu_spent();
        guard.charge(Duration::from_millis(5));
        assert!(guard.cpu_spent() >= spent + Duration::from_millis(5));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            looks(&dog),
            before,
            "a charge far from the end woke the watchdog"
        );
        assert_eq!(guard.fired(), None);
    }

    #[test]
    fn a_new_watch_that_may_end_before_the_next_look_wakes_the_watchdog_and_a_later_one_does_not() {
        let dog = Watchdog::new();
        let _long = armed(&dog);
        let before = settled(&dog);
        let _also_long = armed(&dog);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            looks(&dog),
            before,
            "a watch ending after the next look woke the watchdog"
        );
        let _short = dog
            .arm(
                TerminateHandle(std::ptr::null_mut()),
                Duration::from_secs(30),
                Duration::from_secs(30),
                0,
            )
            .expect("armed");
        let until = Instant::now() + Duration::from_secs(10);
        while looks(&dog) == before && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(
            looks(&dog) > before,
            "a watch that may end sooner did not wake the watchdog"
        );
    }
}
