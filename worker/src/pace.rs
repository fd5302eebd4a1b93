//! An isolate thread's pace: what it does next (the work in its inbox, the timers that are due,
//! or a chore of its isolate stock) and how it waits for the next thing: looking for a host
//! call's reply without sleeping for a moment, sleeping until its next timer otherwise, and
//! leaving chores for a lull after a load.
//!
//! Guarantees: a chore (one isolate made or disposed, a renewal) starts only when the inbox is
//! empty and nothing is due, and not within [`CHORE_LULL`] of a load's answer; the steps of an
//! idle period (`idle.rs`: the page pool and free heap given back, then one spare kept) are
//! taken once each per period, when the inbox is empty and nothing is due, before any chore of
//! that moment; spinning is
//! bounded by the configured reply window and stops for a cooldown once the CPU is found
//! contended, a long one when that happens often (`stockade_ipc::pace::cooldown`). Trusts: the
//! inbox to report a closed socket.

use std::time::{Duration, Instant};

use stockade_ipc::pace::{cooldown, CONTENDED, ISOLATE_THREAD_COOLDOWN};

use super::idle::Rest;
use super::inbox::{Next, ThreadInbox};
use super::thread::{Thread, Work};

/// How long a thread with chores pending (a spare to make, a used isolate to dispose) waits
/// after answering a load before it starts one. A chore cannot be interrupted (an isolate's
/// creation takes about 1 ms), and a load is followed by the call that asked for it as soon as
/// the supervisor reads the answer: without the lull the thread spent that moment making a spare
/// in place of the one the load took, and the call waited for it (measured: a new Loader
/// worker's first fetch 6.4 / 6.6 → 3.0 / 3.1 ms). Only after loads: after a snippet, the next
/// request of a client is a network round trip away, and making the spare meanwhile is what
/// keeps the following snippet off an isolate's creation (a lull after every request measured
/// Code Mode at c1 636 → 400 req/s).
const CHORE_LULL: Duration = Duration::from_millis(1);

/// How long an isolate thread keeps looking for work without sleeping after it forwarded a
/// host call, or answered a binding's method call (whose caller usually makes the next at once),
/// by default (`worker_reply_spin_us`; 0 turns it off). A supervisor answers a host
/// call in tens of microseconds; a thread that sleeps meanwhile pays a wake-up on top (an idle
/// virtual CPU is halted, and waking it costs more than the answer: measured on a quiet 2-vCPU
/// VM, a bare host call 120 → 60 us). Bounded: at most this much CPU per host call, and only
/// while the CPU is not wanted (see `stockade_ipc::pace::CONTENDED`).
pub const REPLY_SPIN_US: u32 = 150;

impl Thread {
    /// Serves until its inbox closes (the socket's end, a `Shutdown`, or a message that makes no
    /// sense).
    pub fn run(mut self, inbox: &mut ThreadInbox) {
        self.sync_inbox = Some(inbox.handle());
        loop {
            self.shared
                .set_hosts_loader(self.index, !self.loaders.is_empty());
            self.shared.check_overdue(self.engine);
            let chores = self.stock.has_chores(self.engine, self.isolates.is_empty());
            // After a load, chores wait for CHORE_LULL (its call is on its way).
            let lull_ends = self
                .last_load
                .map(|at| at + CHORE_LULL)
                .filter(|&end| end > Instant::now());
            let first = match (chores, lull_ends) {
                (true, None) => inbox.try_next(),
                (true, Some(end)) => self.wait(inbox, Some(end)),
                // Nothing to do: sleep, but look again when the process has been idle long
                // enough for this thread's next step (`idle.rs`).
                (false, _) => self.wait(inbox, self.shared.idle.next_at(self.rest)),
            };
            let idle = match first {
                Next::Closed => return,
                Next::Empty => true,
                Next::Work(work) => {
                    self.shared.idle.worked();
                    self.rest = Rest::Active;
                    self.stock.wake();
                    let mut loaded = matches!(work, Work::Load(_));
                    self.take(inbox, work);
                    loop {
                        match inbox.try_next() {
                            Next::Work(work) => {
                                loaded |= matches!(work, Work::Load(_));
                                self.take(inbox, work)
                            }
                            Next::Empty => break,
                            Next::Closed => return,
                        }
                    }
                    if loaded {
                        self.last_load = Some(Instant::now());
                    }
                    false
                }
            };
            let due = self.advance_due();
            if idle && !due {
                if let Some(step) = self.shared.idle.due(self.rest, Instant::now()) {
                    if step == Rest::Rested {
                        // Disposing spares takes a moment: a message meanwhile is not left
                        // waiting for this thread.
                        inbox.before_long_work();
                    }
                    self.step(step);
                    continue;
                }
            }
            let lulled = self.last_load.is_none_or(|at| at.elapsed() >= CHORE_LULL);
            if idle && !due && chores && lulled {
                inbox.before_long_work();
                self.shared.set_chore(self.index, true);
                self.stock.chore(self.engine, self.isolates.is_empty());
                self.shared.set_chore(self.index, false);
            }
        }
    }

    /// A step of the idle period (`idle.rs`): at [`Rest::Rested`] the stock keeps one spare and
    /// drops the rest first; then the page pool (holding their pages too) and `malloc`'s free
    /// heap go back to the kernel.
    fn step(&mut self, to: Rest) {
        if to == Rest::Rested {
            self.stock.rest();
        }
        self.engine.release_page_pool();
        crate::give_back_free_heap();
        self.rest = to;
    }

    /// Handles one piece of work; before one that takes milliseconds (a fresh isolate's snippet,
    /// a load), another thread is asked to watch the socket meanwhile.
    fn take(&mut self, inbox: &mut ThreadInbox, work: Work) {
        if matches!(work, Work::Snippet { .. } | Work::Load(_)) {
            inbox.before_long_work();
        }
        self.handle(work);
    }

    /// The next work, by the next wake (or `until`, if sooner) at the latest: looked for without
    /// sleeping while a host call's reply is due soon (`REPLY_SPIN_US`), then waited for.
    fn wait(&mut self, inbox: &mut ThreadInbox, until: Option<Instant>) -> Next {
        let wake = match (self.next_wake(), until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(until) = self.spin_until.take() {
            let until = wake.map_or(until, |w| w.min(until));
            let mut now = Instant::now();
            if self.spin_cooldown.is_some_and(|c| now < c) {
                return inbox.next_until(wake);
            }
            while now < until {
                match inbox.try_next() {
                    Next::Empty => std::thread::yield_now(),
                    found => return found,
                }
                let after = Instant::now();
                if after.saturating_duration_since(now) > CONTENDED {
                    let since = self.last_contended.map(|at| after.duration_since(at));
                    self.last_contended = Some(after);
                    self.spin_cooldown = Some(after + cooldown(since, ISOLATE_THREAD_COOLDOWN));
                    break;
                }
                now = after;
            }
        }
        inbox.next_until(wake)
    }

    fn next_wake(&self) -> Option<Instant> {
        self.isolates
            .values()
            .filter_map(|h| h.worker.next_wake())
            .min()
    }

    /// Advances every isolate with something due; whether there was any.
    fn advance_due(&mut self) -> bool {
        let now = Instant::now();
        let due: Vec<u64> = self
            .isolates
            .iter()
            .filter(|(_, h)| h.worker.next_wake().is_some_and(|w| w <= now))
            .map(|(slot, _)| *slot)
            .collect();
        for slot in &due {
            if let Some(h) = self.isolates.get_mut(slot) {
                h.worker.advance(now);
            }
            self.after(*slot);
        }
        !due.is_empty()
    }
}
