//! Fresh isolates for Code Mode (and for Loader workers whose limits match), made off the
//! request path, one stock per isolate thread.
//!
//! Every snippet runs in an isolate nothing has run in before. Creating one costs most of a
//! snippet's time (V8 deserialises its startup snapshot), so each thread keeps a few spares,
//! made while it has nothing else to do (one, once the process has been idle for a minute:
//! [`IsolateStock::rest`], `idle.rs`); and it disposes used isolates at such times too. A
//! spare is handed out only to a request with the limits it was made with (the heap limit is
//! fixed at creation); otherwise a new one is made on the spot. Nothing about a spare is
//! tenant-specific: it has run no code at all.
//!
//! Guarantees: at most [`MAX_SPARES`] spares per thread, and no more than [`SPARE_BUDGET`] bytes
//! of them as V8 counts an isolate's memory (heap committed, external and malloc'd bytes); at
//! most [`MAX_RETIRED`] used isolates wait for disposal (a thread under sustained load, never
//! idle, disposes them on the request path rather than accumulating them); one chore (one
//! disposal or one creation) at a time, so the thread checks its inbox between them.
//!
//! V8's shared heap grows with every isolate created until it is renewed
//! ([`Engine::renew_shared_heap`]), which needs a moment when no isolate lives in the process.
//! Every `renew_after` isolates ([`RENEW_SHARED_HEAP_AFTER`] unless configured), a thread that
//! hosts nothing else drops its spares and retired isolates at an idle moment and tries; if an
//! isolate lives elsewhere (another thread's, a Loader worker's) it makes no spares for
//! [`RENEWAL_GRACE`] more isolates (or until any renewal), so the other threads can drop theirs
//! and renew, then carries on and tries again `renew_after` isolates later. A process that always
//! hosts some isolate is never renewed: a Loader worker's isolate never goes, and a process kept
//! busy without a pause (fresh isolates at full load, one request always in flight on some
//! thread) never has the idle moment either (measured: 48 → 259 MiB in 9 minutes at 826 req/s,
//! about 475 bytes per isolate). Once it is overdue ([`Overdue`]: twice `renew_after` with a
//! Loader worker, [`RENEWAL_GRACE`] later without one), it tells the supervisor, which replaces
//! it (`RenewalOverdue` in the protocol).

use std::sync::Mutex;

use stockade_isolate::{Engine, RenewalCounters, RunError, Worker};

use super::convert;

/// Spares one thread keeps at most.
pub const MAX_SPARES: usize = 4;
/// Spares a resting thread keeps (one idle for [`crate::idle::IDLE_REST`]): the next request
/// still finds one; a burst makes the rest on its way, as after a start.
pub const RESTING_SPARES: usize = 1;
/// Memory one thread's spares may hold, in bytes.
pub const SPARE_BUDGET: usize = 8 << 20;
/// Used isolates a thread may keep waiting for an idle moment; past this they are disposed at
/// once, so a thread that is never idle (sustained load) holds no more than this many.
pub const MAX_RETIRED: usize = 2;
/// Isolates created (process-wide) after a failed renewal during which this thread makes no
/// spares, leaving the other threads a chance to renew (a renewal ends it sooner). Not scaled
/// with `renew_after`: at a small threshold a short grace leaves two busy threads taking turns
/// to hold spares, and neither ever renews.
pub const RENEWAL_GRACE: u64 = 1_000;

pub struct IsolateStock {
    spares: Vec<(stockade_ipc::Limits, Worker, usize)>,
    retired: Vec<Worker>,
    last_limits: Option<stockade_ipc::Limits>,
    /// The engine's renewal count this thread's schedule below was made for.
    renewals_seen: u64,
    /// Try to renew once the engine has created this many isolates since its last renewal.
    renew_at: u64,
    /// Make no spares until the engine has created this many since its last renewal.
    spares_from: u64,
    /// Isolates between renewals ([`stockade_isolate::RENEW_SHARED_HEAP_AFTER`] by default).
    renew_after: u64,
    /// The thread rests ([`Self::rest`]) until it takes work again ([`Self::wake`]).
    resting: bool,
}

/// The memory an isolate holds: heap committed, external (ArrayBuffer backing stores included)
/// and `malloc`'d bytes as V8 counts them, and the freed stores its arena keeps for reuse.
pub fn footprint(worker: &Worker) -> usize {
    let s = worker.heap_stats();
    s.total_heap_bytes + s.external_bytes + s.malloced_bytes + s.arena_cached_bytes
}

impl IsolateStock {
    /// An empty stock that renews V8's shared heap every `renew_after` isolates (at least 1).
    pub fn new(renew_after: u64) -> Self {
        let renew_after = renew_after.max(1);
        IsolateStock {
            spares: Vec::new(),
            retired: Vec::new(),
            last_limits: None,
            renewals_seen: 0,
            renew_at: renew_after,
            spares_from: 0,
            renew_after,
            resting: false,
        }
    }

    /// A never-used isolate with `limits`.
    pub fn take(
        &mut self,
        engine: &'static Engine,
        limits: &stockade_ipc::Limits,
    ) -> Result<Worker, RunError> {
        if self.last_limits != Some(*limits) {
            // Spares made for other limits would wait for a request that may not come.
            self.retired
                .extend(self.spares.drain(..).map(|(_, worker, _)| worker));
            self.last_limits = Some(*limits);
        }
        match self.spares.pop() {
            Some((_, worker, _)) => Ok(worker),
            None => Worker::new(engine, convert::limits(limits)),
        }
    }

    /// A never-used isolate with `limits` for a Loader worker: a spare made with the same
    /// limits if there is one, else a new one. Unlike [`Self::take`], other limits leave the
    /// spares alone (they are kept for Code Mode); a thread that has made no spares yet starts
    /// making them for these limits.
    pub fn take_if_spare(
        &mut self,
        engine: &'static Engine,
        limits: &stockade_ipc::Limits,
    ) -> Result<Worker, RunError> {
        self.last_limits.get_or_insert(*limits);
        match self.spares.iter().rposition(|(l, _, _)| l == limits) {
            Some(at) => Ok(self.spares.remove(at).1),
            None => Worker::new(engine, convert::limits(limits)),
        }
    }

    /// Keeps a used isolate until a chore disposes of it, off the request's latency; disposes
    /// the oldest at once when more than [`MAX_RETIRED`] wait.
    pub fn retire(&mut self, worker: Worker) {
        self.retired.push(worker);
        while self.retired.len() > MAX_RETIRED {
            drop(self.retired.remove(0));
        }
    }

    /// Whether there is work for an idle moment; `hosts_nothing`: the thread holds no isolate
    /// but this stock's.
    pub fn has_chores(&mut self, engine: &'static Engine, hosts_nothing: bool) -> bool {
        let memory = self.schedule(engine);
        !self.retired.is_empty()
            || self.wants_spare(&memory)
            || (hosts_nothing && memory.created_since_renewal >= self.renew_at)
    }

    /// The engine's renewal counters (atomic loads, no lock: this runs on every pass of the
    /// thread's loop), with this thread's schedule reset after any renewal.
    fn schedule(&mut self, engine: &'static Engine) -> RenewalCounters {
        let memory = engine.renewal_counters();
        if memory.renewals != self.renewals_seen {
            self.renewals_seen = memory.renewals;
            self.renew_at = self.renew_after;
            self.spares_from = 0;
        }
        memory
    }

    /// The thread has been idle a while: spares beyond [`RESTING_SPARES`] and used isolates
    /// waiting for disposal go now (their pages into the page pool, which the caller releases
    /// next), and no spare beyond that is made until [`Self::wake`].
    pub fn rest(&mut self) {
        self.retired.clear();
        self.spares.truncate(RESTING_SPARES);
        self.resting = true;
    }

    /// The thread took work: the stock fills up to [`MAX_SPARES`] again at idle moments.
    pub fn wake(&mut self) {
        self.resting = false;
    }

    #[cfg(test)]
    pub fn resting(&self) -> bool {
        self.resting
    }

    /// Spares held now.
    #[cfg(test)]
    pub fn spares(&self) -> usize {
        self.spares.len()
    }

    fn wants_spare(&self, memory: &RenewalCounters) -> bool {
        let held: usize = self.spares.iter().map(|(_, _, bytes)| bytes).sum();
        let most = if self.resting {
            RESTING_SPARES
        } else {
            MAX_SPARES
        };
        self.last_limits.is_some()
            && self.spares.len() < most
            && held < SPARE_BUDGET
            && memory.created_since_renewal >= self.spares_from
    }

    /// One chore: renew V8's shared heap when due (see the module documentation), dispose one
    /// used isolate, or make one spare.
    pub fn chore(&mut self, engine: &'static Engine, hosts_nothing: bool) {
        let memory = self.schedule(engine);
        if hosts_nothing && memory.created_since_renewal >= self.renew_at {
            self.spares.clear();
            self.retired.clear();
            match engine.renew_shared_heap(self.renew_after) {
                Ok(true) => {
                    self.schedule(engine);
                }
                Ok(false) => {
                    let created = engine.renewal_counters().created_since_renewal;
                    self.renew_at = created.saturating_add(self.renew_after);
                    self.spares_from = created.saturating_add(RENEWAL_GRACE);
                }
                // No anchor: every creation now fails and says so; nothing to retry.
                Err(_) => self.renew_at = u64::MAX,
            }
            return;
        }
        if let Some(worker) = self.retired.pop() {
            drop(worker);
            return;
        }
        if !self.wants_spare(&memory) {
            return;
        }
        if let Some(limits) = self.last_limits {
            // A failure here is not a request's failure: `take` will try again and report it.
            match Worker::new(engine, convert::limits(&limits)) {
                Ok(worker) => {
                    let bytes = footprint(&worker);
                    self.spares.push((limits, worker, bytes));
                }
                Err(_) => self.last_limits = None,
            }
        }
    }
}

/// When to tell the supervisor that renewal is overdue, process-wide (one per worker process,
/// shared by its isolate threads): once `2 × renew_after` isolates were created since the last
/// renewal while a Loader worker's isolate lives in the process (it cannot renew), or
/// `2 × renew_after + RENEWAL_GRACE` without one (the time a process that renews by itself may
/// need, its threads taking turns at the grace; past it, the process has had no idle moment),
/// then again every `renew_after` more, until a renewal happens.
pub struct Overdue {
    renew_after: u64,
    /// (the renewal count the mark is for, the next mark).
    mark: Mutex<(u64, u64)>,
}

impl Overdue {
    pub fn new(renew_after: u64) -> Overdue {
        let renew_after = renew_after.max(1);
        Overdue {
            renew_after,
            mark: Mutex::new((0, renew_after.saturating_mul(2))),
        }
    }

    /// Whether `memory` passes the next mark (then the mark moves on): the caller reports it.
    /// Lock-free below the first mark, which is every process that renews.
    pub fn passed(&self, memory: &RenewalCounters, loader_lives: impl FnOnce() -> bool) -> bool {
        let with_loader = self.renew_after.saturating_mul(2);
        if memory.created_since_renewal < with_loader {
            return false;
        }
        let first = if loader_lives() {
            with_loader
        } else {
            with_loader.saturating_add(RENEWAL_GRACE)
        };
        if memory.created_since_renewal < first {
            return false;
        }
        let mut mark = self.mark.lock().unwrap_or_else(|p| p.into_inner());
        if mark.0 != memory.renewals {
            *mark = (memory.renewals, first);
        }
        if memory.created_since_renewal < mark.1 {
            return false;
        }
        mark.1 = memory
            .created_since_renewal
            .saturating_add(self.renew_after);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(created: u64, renewals: u64) -> RenewalCounters {
        RenewalCounters {
            created_since_renewal: created,
            renewals,
        }
    }

    #[test]
    fn overdue_is_reported_at_twice_the_threshold_then_every_threshold() {
        let overdue = Overdue::new(50);
        let loader = || true;
        assert!(!overdue.passed(&counters(99, 0), loader));
        assert!(overdue.passed(&counters(100, 0), loader));
        assert!(!overdue.passed(&counters(100, 0), loader), "once per mark");
        assert!(!overdue.passed(&counters(149, 0), loader));
        assert!(overdue.passed(&counters(150, 0), loader));
        // A renewal starts over.
        assert!(!overdue.passed(&counters(60, 1), loader));
        assert!(overdue.passed(&counters(100, 1), loader));
    }

    #[test]
    fn a_process_without_a_loader_worker_is_overdue_once_it_had_its_grace_too() {
        let overdue = Overdue::new(50);
        let none = || false;
        assert!(
            !overdue.passed(&counters(100, 0), none),
            "it may still renew by itself"
        );
        assert!(!overdue.passed(&counters(100 + RENEWAL_GRACE - 1, 0), none));
        assert!(overdue.passed(&counters(100 + RENEWAL_GRACE, 0), none));
        assert!(
            !overdue.passed(&counters(100 + RENEWAL_GRACE, 0), none),
            "once per mark"
        );
        assert!(overdue.passed(&counters(150 + RENEWAL_GRACE, 0), none));
    }

    /// A resting stock keeps one spare, disposes the others and its used isolates at once, and
    /// makes no more until the thread takes work; then it fills up again.
    #[test]
    fn a_resting_stock_keeps_one_spare_until_the_thread_takes_work() {
        let engine = Engine::init(stockade_isolate::V8Profile::Standard).expect("V8");
        let limits = stockade_ipc::Limits::default();
        let mut stock = IsolateStock::new(u64::MAX);
        let used = stock.take(engine, &limits).expect("an isolate");
        stock.retire(used);
        while stock.has_chores(engine, true) {
            stock.chore(engine, true);
        }
        let full = stock.spares();
        assert!(full > RESTING_SPARES && full <= MAX_SPARES, "{full} spares");
        stock.rest();
        assert!(stock.resting());
        assert_eq!(stock.spares(), RESTING_SPARES);
        assert!(stock.retired.is_empty(), "used isolates go too");
        assert!(
            !stock.has_chores(engine, true),
            "no spare made while resting"
        );
        // The one spare is taken: a resting thread makes one again, and no more.
        let _request = stock.take(engine, &limits).expect("the spare");
        assert!(stock.has_chores(engine, true));
        stock.chore(engine, true);
        assert_eq!(stock.spares(), RESTING_SPARES);
        assert!(!stock.has_chores(engine, true));
        stock.wake();
        while stock.has_chores(engine, true) {
            stock.chore(engine, true);
        }
        assert_eq!(stock.spares(), full);
    }
}
