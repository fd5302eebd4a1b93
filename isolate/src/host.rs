//! The host side of the isolate: the functions its runtime script may call (console output,
//! random bytes, timers, module resolution, host calls), each bounded.
//!
//! Guarantees: every callback checks its pointers and sizes, never panics across the FFI
//! boundary (a panic would abort), and enforces its budget (output bytes per task, pending timers
//! per isolate, host calls in flight and waiting per task). What a callback does is attributed to
//! the task the running code belongs to: the bridge names it from the async context (a promise
//! reaction runs as the task that created it, whichever task's entry runs it: see
//! `stk_enter_task` in bridge.h), else the task the current bridge entry works for ([`HostState::current`]). That
//! task owns the console lines, the timers it arms (a timer's callback then runs for the same
//! task) and its host calls. Output made for no task (0), or for a task that is over, is dropped;
//! such a task's timers never fire and its host calls are refused. Synchronous native operations ([`crate::ops`]) run inside
//! the entry that asks for them, under `catch_unwind`.
//!
//! Host calls: a task has at most [`MAX_HOST_CALLS_PER_TASK`] in flight (handed to the host's
//! owner and not yet answered; the supervisor allows a request no more). Its further calls wait
//! here, in a FIFO queue of the task's, and each answer sends the next one (before the answer
//! runs any JavaScript), so a task's calls leave in the order it made them and a fan-out of any
//! width completes. The queue is bounded ([`MAX_QUEUED_HOST_CALLS_PER_TASK`] calls,
//! [`MAX_QUEUED_HOST_CALL_BYTES_PER_TASK`] payload bytes): a call past either is refused (a
//! `RangeError` naming the bound). Waiting costs the task wall-clock time only. A task that ends
//! drops its queued calls with those in flight: their promises never settle.
//!
//! Synchronous host calls (`callSync`, [`SyncHost`]): only [`SYNC_HOST_CALLS`] (a Durable
//! Object's storage) are accepted, whatever the JavaScript asks; the owner's `SyncHost` sends the
//! call and waits for its answer inside the entry, which holds the isolate's thread: the CPU the
//! host spent answering is charged to the entry's watch, the rest of the wait is free up to
//! [`SYNC_WAIT_ALLOWANCE`] per task and charged as CPU past it, so a request holds the thread no
//! longer than its CPU budget and that allowance in all (`host/sync.rs`). The call counts among the
//! task's calls in flight while it waits.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::c_void;
use std::time::{Duration, Instant};

use crate::ffi;
use crate::ops;
use crate::typescript::SourceMap;
use crate::worker::{LogLevel, LogLine};

mod op;
mod sync;

use op::host_op;
use sync::host_call_sync;
pub use sync::{may_call_synchronously, SyncEnd, SyncHost, SYNC_HOST_CALLS, SYNC_WAIT_ALLOWANCE};

/// Per-isolate state the callbacks reach through `userdata`. Lives in a `Box` owned by the
/// worker, so its address is stable for the isolate's lifetime.
/// The most dropped timers that wait for the runtime to forget them (their ids, 4 bytes each);
/// past it, the runtime keeps records of timers that cannot fire (each request that leaves that
/// many pending timers behind).
pub(crate) const MAX_DROPPED_TIMERS: usize = 1 << 20;

pub(crate) struct HostState {
    /// The task the running bridge entry works for; 0 for none.
    pub current: u32,
    /// Console output by task, and the bytes it counts against the per-task budget.
    pub logs: HashMap<u32, (Vec<LogLine>, usize)>,
    pub log_limit: usize,
    /// Pending timers by due time (ties broken by arming order): (timer id, task).
    pub timers: BTreeMap<(Instant, u64), (u32, u32)>,
    pub timer_keys: HashMap<u32, (Instant, u64)>,
    /// How many of `timers` each task has (only tasks with some): `task_has_work` in O(1).
    pub timers_by_task: HashMap<u32, usize>,
    /// Timers the runtime recorded that will never fire (their task ended first): handed back
    /// through `take_dropped_timer` so the runtime forgets their callbacks (a reused isolate
    /// would otherwise keep every ended request's pending callbacks, and what they hold).
    /// At most [`MAX_DROPPED_TIMERS`] wait.
    pub dropped_timers: Vec<u32>,
    /// Host calls made during entries and not yet handed to the host's owner.
    pub calls_out: Vec<HostCallOut>,
    /// Host calls in flight: call id -> task.
    pub calls_pending: HashMap<u32, u32>,
    /// Those of them that continue a stream (see [`continues_a_stream`]): not counted.
    pub calls_uncounted: HashSet<u32>,
    /// How many of `calls_uncounted` each task has (only tasks with some).
    pub uncounted_by_task: HashMap<u32, usize>,
    /// Each task's calls in flight (counted) and waiting for a place (queued), while it has any.
    pub task_calls: HashMap<u32, TaskCalls>,
    /// Tasks that may make host calls: alive (running, or answered with work going on).
    pub calling_tasks: HashSet<u32>,
    /// Outbound requests (host calls named `fetch`) made by each task, and the most one may make.
    pub sub_requests: HashMap<u32, usize>,
    pub sub_request_limit: usize,
    pub timer_seq: u64,
    pub timer_limit: usize,
    /// Module names by bridge index (built-ins included), and the reverse for the worker's own
    /// modules.
    pub module_names: Vec<String>,
    pub module_index: HashMap<String, i32>,
    /// Built-in modules by canonical name (`node:buffer`), and what the worker's compatibility
    /// date and flags make available (see `stockade_source::builtins`).
    pub builtin_index: HashMap<String, i32>,
    pub features: stockade_source::Features,
    /// The isolate these callbacks serve (set once it exists): `resolve_index` creates a
    /// built-in an `import()` asks for first through it, inside the bridge's entry.
    pub raw: *mut ffi::StkIsolate,
    /// The native objects ops keep between calls (compressors, streaming decoders), dropped with
    /// the isolate. Behind an `Rc` so that an op holds its own reference, never one into this
    /// struct, while it runs (an op may call back into JavaScript, which may reach other
    /// callbacks).
    pub ops: std::rc::Rc<ops::state::OpState>,
    /// The worker's modules for node:fs's `/bundle` (empty unless its flags give it node:fs),
    /// read by the bundle ops (`crate::bundle`).
    pub bundle: std::rc::Rc<crate::bundle::Bundle>,
    /// The source maps of the worker's transformed modules (`map_position`).
    pub maps: SourceMaps,
    /// Each live task's tag (the embedder's name for its request): a synchronous host call goes
    /// out for its task's request.
    pub tags: HashMap<u32, u64>,
    /// Who sends a synchronous host call and waits for its answer (the worker process's isolate
    /// thread); none: such calls are refused.
    pub sync_host: Option<Box<dyn SyncHost>>,
    /// The running entry's budget while one runs (set and cleared by the worker around it).
    pub entry: Option<EntryBudget>,
    /// The last synchronous answer (or error message), valid until the next callback.
    pub sync_answer: Vec<u8>,
    /// What each task's synchronous calls have waited so far beyond the CPU their host spent (a
    /// disk's `fsync`, the object's queue), free up to [`SYNC_WAIT_ALLOWANCE`] per task.
    pub sync_waited: HashMap<u32, Duration>,
}

/// The running entry's watch and what it may still spend: a synchronous host call's wait is
/// charged to it as `host/sync.rs` says and ends by its deadline.
pub(crate) struct EntryBudget {
    /// The entry's watch, alive on the worker's stack for as long as this is set.
    pub guard: *const crate::watchdog::WatchGuard<'static>,
    /// The CPU time the entry may spend (what its task had left when it started).
    pub cpu: Duration,
    /// The task's wall-clock deadline.
    pub deadline: Instant,
}

/// The source maps of a worker's transformed modules (TypeScript, lowered decorators) by module
/// name: shared by the worker, which adds one as it compiles a module and maps an uncaught
/// error's location, and the bridge's stack formatting (`map_position`), which only reads.
#[derive(Clone, Default)]
pub(crate) struct SourceMaps(std::rc::Rc<std::cell::RefCell<HashMap<String, SourceMap>>>);

impl SourceMaps {
    /// Keeps `map` for module `name` (replacing an earlier one).
    pub(crate) fn insert(&self, name: String, map: SourceMap) {
        // Nothing else borrows it across this call (the bridge reads only inside V8 calls).
        if let Ok(mut maps) = self.0.try_borrow_mut() {
            maps.insert(name, map);
        }
    }

    /// The written (line, column) of a 1-based generated position of module `name`; `None`
    /// when the module has no map or the map does not know the position.
    pub(crate) fn original(&self, name: &str, line: u32, column: u32) -> Option<(u32, u32)> {
        let maps = self.0.try_borrow().ok()?;
        maps.get(name)?.original(line, column)
    }
}

/// One task's host calls: how many are in flight, and those waiting for a place, oldest first.
#[derive(Debug, Default)]
pub(crate) struct TaskCalls {
    in_flight: usize,
    queued: VecDeque<HostCallOut>,
    /// The payload bytes `queued` holds.
    queued_bytes: usize,
}

/// A host call made by a task, for the host's owner to forward.
#[derive(Debug)]
pub(crate) struct HostCallOut {
    pub task: u32,
    pub call: u32,
    pub name: String,
    pub payload: Vec<u8>,
}

// What `host_call` answers: 0 accepted (sent, or queued), 1 refused, 2 refused because the task
// made its limit of outbound requests, 3 (4) refused because the task's queue holds its most
// calls (payload bytes) (see bridge.h).

/// Host calls one task may have in flight at once (the supervisor's cap per request is the same);
/// its further calls wait in its queue.
pub const MAX_HOST_CALLS_PER_TASK: usize = ffi::STK_HOST_CALLS_IN_FLIGHT_MAX;
/// Host calls one task may have waiting for a place in flight.
pub const MAX_QUEUED_HOST_CALLS_PER_TASK: usize = ffi::STK_HOST_CALLS_QUEUED_MAX;
/// The payload bytes one task's waiting host calls may hold together.
pub const MAX_QUEUED_HOST_CALL_BYTES_PER_TASK: usize = ffi::STK_HOST_CALL_BYTES_QUEUED_MAX;
/// Whether a host call named `name` continues a stream its request already holds (the body it
/// reads or writes, an upload or answer of one of its fetches, a body piped over RPC, or ends
/// one): such a call never
/// waits for a place and is not counted among the calls in flight, here or by the supervisor
/// (`daemon/src/supervisor/link/host.rs` has the same list). Each stream has a few in flight at
/// most (the runtime keeps 4 writes of a response body or a pipe in flight, and awaits each
/// other call) and a request's streams are few (`Resources`), so they stay bounded; and a
/// request whose places are all held by fetches waiting for their uploads can still send those
/// uploads.
pub fn continues_a_stream(name: &str) -> bool {
    matches!(
        name,
        "body.read"
            | "body.write"
            | "body.end"
            | "fetch.read"
            | "fetch.write"
            | "fetch.cancel"
            | "fetch.abort"
            | "pipe.write"
            | "pipe.close"
            | "pipe.read"
            | "pipe.cancel"
    )
}

/// The longest host call name.
pub const MAX_HOST_CALL_NAME: usize = 64;
/// The largest host call payload.
pub const MAX_HOST_CALL_PAYLOAD: usize = 16 << 20;

impl HostState {
    /// The task the bridge named, or the current entry's when it named none.
    fn task_or_current(&self, named: u32) -> u32 {
        if named == 0 {
            self.current
        } else {
            named
        }
    }

    pub(crate) fn new(log_limit: usize, timer_limit: usize, sub_request_limit: usize) -> Self {
        HostState {
            current: 0,
            logs: HashMap::new(),
            log_limit,
            timers: BTreeMap::new(),
            timer_keys: HashMap::new(),
            timers_by_task: HashMap::new(),
            dropped_timers: Vec::new(),
            calls_out: Vec::new(),
            calls_pending: HashMap::new(),
            calls_uncounted: HashSet::new(),
            uncounted_by_task: HashMap::new(),
            task_calls: HashMap::new(),
            calling_tasks: HashSet::new(),
            sub_requests: HashMap::new(),
            sub_request_limit,
            timer_seq: 0,
            timer_limit,
            module_names: Vec::new(),
            module_index: HashMap::new(),
            builtin_index: HashMap::new(),
            features: stockade_source::Features::default(),
            raw: std::ptr::null_mut(),
            ops: std::rc::Rc::new(ops::state::OpState::new()),
            bundle: std::rc::Rc::default(),
            maps: SourceMaps::default(),
            tags: HashMap::new(),
            sync_host: None,
            entry: None,
            sync_answer: Vec::new(),
            sync_waited: HashMap::new(),
        }
    }

    pub(crate) fn callbacks(self: &mut Box<Self>) -> ffi::StkHost {
        ffi::StkHost {
            userdata: (&mut **self as *mut HostState).cast(),
            log: host_log,
            random_fill: host_random_fill,
            set_timer: host_set_timer,
            clear_timer: host_clear_timer,
            take_dropped_timer: host_take_dropped_timer,
            resolve: host_resolve,
            host_call,
            host_call_sync,
            op: host_op,
            map_position: host_map_position,
        }
    }

    /// When the earliest timer is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.timers.keys().next().map(|k| k.0)
    }

    /// Records that timer `id`, which the runtime knows, will never fire.
    pub(crate) fn timer_dropped(&mut self, id: u32) {
        if self.dropped_timers.len() < MAX_DROPPED_TIMERS {
            self.dropped_timers.push(id);
        }
    }

    /// Removes and returns the earliest timer if it is due at `now`: (timer id, task).
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<(u32, u32)> {
        let (&key, &(id, task)) = self.timers.iter().next()?;
        if key.0 > now {
            return None;
        }
        self.timers.remove(&key);
        self.timer_keys.remove(&id);
        uncount(&mut self.timers_by_task, task);
        Some((id, task))
    }

    /// Sends `out`, a call that continues a stream: in flight at once, taking no place.
    fn send_uncounted(&mut self, out: HostCallOut) {
        self.calls_uncounted.insert(out.call);
        *self.uncounted_by_task.entry(out.task).or_default() += 1;
        self.calls_pending.insert(out.call, out.task);
        self.calls_out.push(out);
    }

    /// Arms timer `id` for `task` at `key` (its due time and arming order).
    fn arm_timer(&mut self, key: (Instant, u64), id: u32, task: u32) {
        self.timers.insert(key, (id, task));
        self.timer_keys.insert(id, key);
        *self.timers_by_task.entry(task).or_default() += 1;
    }

    /// Disarms timer `id`, if it is armed.
    fn disarm_timer(&mut self, id: u32) {
        if let Some(key) = self.timer_keys.remove(&id) {
            if let Some((_, task)) = self.timers.remove(&key) {
                uncount(&mut self.timers_by_task, task);
            }
        }
    }

    /// Host call `call` was answered: forgets it and returns its task, after sending the task's
    /// next waiting call in its place (`None`: not a call in flight).
    pub(crate) fn call_answered(&mut self, call: u32) -> Option<u32> {
        let task = self.calls_pending.remove(&call)?;
        if self.calls_uncounted.remove(&call) {
            uncount(&mut self.uncounted_by_task, task);
            return Some(task); // it held no place
        }
        let Some(calls) = self.task_calls.get_mut(&task) else {
            return Some(task);
        };
        calls.in_flight = calls.in_flight.saturating_sub(1);
        if let Some(next) = calls.queued.pop_front() {
            calls.queued_bytes -= next.payload.len();
            calls.in_flight += 1;
            self.calls_pending.insert(next.call, task);
            self.calls_out.push(next);
        } else if calls.in_flight == 0 {
            self.task_calls.remove(&task);
        }
        Some(task)
    }

    /// Whether any host call is in flight or waiting in this isolate (something may wake a task).
    pub(crate) fn calls_outstanding(&self) -> bool {
        !self.calls_pending.is_empty() || !self.task_calls.is_empty()
    }

    /// Whether something could still run for `task`: a timer it armed, or a host call it made
    /// (not yet handed out, in flight, or waiting for a place).
    /// O(1): a poll looks at every lingering task after each entry.
    pub(crate) fn task_has_work(&self, task: u32) -> bool {
        self.timers_by_task.contains_key(&task)
            || self.task_calls.contains_key(&task)
            || self.uncounted_by_task.contains_key(&task)
    }

    /// Forgets everything of `task`: its timers, its console lines, its right to call the host;
    /// returns its host calls in flight and waiting (for the bridge to drop). The calls it made
    /// that are not handed out yet stay to go out when `sent` (a task that ended well: what it
    /// did before its end is sent before its end is reported, as an RPC callee's callbacks it
    /// did not await must reach their caller before its answer; their answers are ignored), else
    /// go with it; calls waiting for a place go with it either way.
    pub(crate) fn end_task(&mut self, task: u32, sent: bool) -> Vec<u32> {
        let mut dropped = Vec::new();
        self.timers.retain(|_, (id, t)| {
            if *t == task {
                self.timer_keys.remove(id);
                dropped.push(*id);
                false
            } else {
                true
            }
        });
        for id in dropped {
            self.timer_dropped(id);
        }
        self.timers_by_task.remove(&task);
        self.uncounted_by_task.remove(&task);
        self.logs.remove(&task);
        self.tags.remove(&task);
        self.sync_waited.remove(&task);
        self.calling_tasks.remove(&task);
        self.sub_requests.remove(&task);
        let mut calls: Vec<u32> = self
            .calls_pending
            .iter()
            .filter(|(_, t)| **t == task)
            .map(|(c, _)| *c)
            .collect();
        for c in &calls {
            self.calls_pending.remove(c);
            self.calls_uncounted.remove(c);
        }
        if let Some(waiting) = self.task_calls.remove(&task) {
            calls.extend(waiting.queued.iter().map(|c| c.call));
        }
        if !sent {
            self.calls_out.retain(|c| c.task != task);
        }
        calls
    }

    /// The console lines `task` made so far.
    pub(crate) fn take_logs(&mut self, task: u32) -> Vec<LogLine> {
        self.logs
            .get_mut(&task)
            .map(|(lines, _)| std::mem::take(lines))
            .unwrap_or_default()
    }

    /// The bridge index `specifier` imported from module `referrer` names: a module of the set,
    /// a built-in, or -1 (none), -2 (a Node.js built-in without `nodejs_compat`), -3 (a built-in
    /// Stockade does not support), -4 (a built-in that could not be created now), as bridge.h
    /// has it.
    pub(crate) fn resolve_index(&mut self, referrer: i32, specifier: &str) -> i32 {
        use stockade_source::builtins::{target, Target, Unavailable};
        let from = usize::try_from(referrer)
            .ok()
            .and_then(|i| self.module_names.get(i));
        if specifier.starts_with(crate::kinds::HIDDEN) {
            // A hidden module (kinds.rs) is named by its exact name.
            return self.module_index.get(specifier).copied().unwrap_or(-1);
        }
        let from = from.map_or("", String::as_str);
        match target(from, specifier, &self.features, |n| {
            self.module_index.contains_key(n)
        }) {
            Target::Module(name) => self.module_index.get(&name).copied().unwrap_or(-1),
            Target::Builtin(name) => self.builtin_in_import(&name),
            Target::Unavailable(Unavailable::NeedsNodejsCompat) => -2,
            // node:fs (or a module of node_dated.rs) off by date or flag: not supported in this
            // configuration (a static import's error names the date and flag; compile.rs).
            Target::Unavailable(
                Unavailable::Unsupported | Unavailable::NeedsFsModule | Unavailable::NeedsDate(_),
            ) => -3,
            Target::NotFound => -1,
        }
    }

    /// Built-in `name` is module `index` of the bridge (created at its first import).
    pub(crate) fn add_builtin(&mut self, name: &str, index: i32) {
        self.module_names.push(name.to_owned());
        self.builtin_index.insert(name.to_owned(), index);
    }

    /// Built-in `name`'s index, created now when an `import()` is its first import (the bridge
    /// refuses to create one at any other time: a static import's was created by the load's
    /// walk, `Worker::builtin`); -4 when creating it failed (the bridge keeps why, for the
    /// import()'s error), -1 when it cannot be created at all.
    fn builtin_in_import(&mut self, name: &str) -> i32 {
        if let Some(index) = self.builtin_index.get(name) {
            return *index;
        }
        if self.raw.is_null() {
            return -1;
        }
        let mut out = crate::worker::Outcome::new();
        // SAFETY: `raw` is the live isolate calling us back (set by Worker::with_mpk, which
        // keeps this state alive until after disposal); name and out outlive the call; the
        // bridge checks that an import() is resolving, inside its entry.
        let index = unsafe {
            ffi::stk_module_builtin_in_import(
                self.raw,
                name.as_ptr().cast(),
                name.len(),
                &mut out.0,
            )
        };
        if index < 0 {
            return -4;
        }
        self.add_builtin(name, index);
        index
    }
}

/// # Safety
/// `ud` must be the `HostState` registered with the isolate making the call.
unsafe fn state<'a>(ud: *mut c_void) -> &'a mut HostState {
    // SAFETY: guaranteed by the caller (the bridge passes back the userdata we registered, on
    // the isolate's thread, while the owning Worker is alive and not otherwise borrowed).
    unsafe { &mut *ud.cast::<HostState>() }
}

unsafe extern "C" fn host_log(
    ud: *mut c_void,
    task: u32,
    level: i32,
    text: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    let text_bytes = if text.is_null() || len == 0 {
        &[][..]
    } else {
        // SAFETY: the bridge passes a buffer of `len` bytes valid for this call.
        unsafe { std::slice::from_raw_parts(text, len) }
    };
    // Output of a task that is over (a continuation of an ended request run by a neighbour's
    // entry), or of none, goes nowhere.
    let task = st.task_or_current(task);
    if task == 0 || !st.calling_tasks.contains(&task) {
        return 0;
    }
    let limit = st.log_limit;
    let (lines, bytes) = st.logs.entry(task).or_default();
    *bytes = bytes.saturating_add(len + 1);
    if *bytes > limit {
        return 1;
    }
    let level = match level {
        0 => LogLevel::Debug,
        2 => LogLevel::Warn,
        3 => LogLevel::Error,
        4 => LogLevel::Info,
        _ => LogLevel::Log,
    };
    lines.push(LogLine {
        level,
        text: String::from_utf8_lossy(text_bytes).into_owned(),
    });
    0
}

unsafe extern "C" fn host_random_fill(_ud: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    if buf.is_null() {
        return -1;
    }
    let mut filled = 0;
    while filled < len {
        // SAFETY: buf has `len` writable bytes (bridge contract); we write inside [filled, len).
        let n = unsafe { libc::getrandom(buf.add(filled).cast(), len - filled, 0) };
        if n < 0 {
            if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return -1;
        }
        filled += n as usize;
    }
    0
}

/// One fewer of `task`'s in `counts` (its entry goes at zero).
fn uncount(counts: &mut HashMap<u32, usize>, task: u32) {
    if let Some(n) = counts.get_mut(&task) {
        *n -= 1;
        if *n == 0 {
            counts.remove(&task);
        }
    }
}

unsafe extern "C" fn host_set_timer(ud: *mut c_void, task: u32, id: u32, delay_ms: f64) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    st.disarm_timer(id);
    // A timer armed for a task that is over never fires (as the task's other timers).
    let task = st.task_or_current(task);
    if task != 0 && !st.calling_tasks.contains(&task) {
        st.timer_dropped(id);
        return 0;
    }
    if st.timers.len() >= st.timer_limit {
        return 1;
    }
    let delay = Duration::from_secs_f64((delay_ms.clamp(0.0, 1e12)) / 1000.0);
    st.timer_seq += 1;
    let key = (Instant::now() + delay, st.timer_seq);
    st.arm_timer(key, id, task);
    0
}

unsafe extern "C" fn host_take_dropped_timer(ud: *mut c_void) -> u32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    st.dropped_timers.pop().unwrap_or(0)
}

unsafe extern "C" fn host_clear_timer(ud: *mut c_void, id: u32) {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    st.disarm_timer(id);
}

unsafe extern "C" fn host_resolve(
    ud: *mut c_void,
    referrer: i32,
    spec: *const u8,
    len: usize,
) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    if spec.is_null() {
        return -1;
    }
    // SAFETY: the bridge passes a buffer of `len` bytes valid for this call.
    let bytes = unsafe { std::slice::from_raw_parts(spec, len) };
    let Ok(specifier) = std::str::from_utf8(bytes) else {
        return -1;
    };
    st.resolve_index(referrer, specifier)
}

/// Maps a position of a transformed module in place (bridge.h `map_position`): 1 when mapped.
unsafe extern "C" fn host_map_position(
    ud: *mut c_void,
    name: *const u8,
    len: usize,
    line: *mut u32,
    column: *mut u32,
) -> i32 {
    if ud.is_null() || name.is_null() || line.is_null() || column.is_null() {
        return 0;
    }
    // SAFETY: the bridge passes our userdata; only the shared maps are read, through their own
    // `Rc` (no reference into the rest of the state is held).
    let maps = unsafe { &*ud.cast::<HostState>() }.maps.clone();
    // SAFETY: the bridge passes a buffer of `len` bytes valid for this call.
    let bytes = unsafe { std::slice::from_raw_parts(name, len) };
    let Ok(name) = std::str::from_utf8(bytes) else {
        return 0;
    };
    // SAFETY: line and column point to the bridge's two u32s, valid for this call.
    let (l, c) = unsafe { (*line, *column) };
    match maps.original(name, l, c) {
        Some((sl, sc)) => {
            // SAFETY: as above.
            unsafe {
                *line = sl;
                *column = sc;
            }
            1
        }
        None => 0,
    }
}

unsafe extern "C" fn host_call(
    ud: *mut c_void,
    call: u32,
    task: u32,
    name: *const u8,
    name_len: usize,
    payload: *const u8,
    payload_len: usize,
) -> i32 {
    // SAFETY: the bridge passes our userdata.
    let st = unsafe { state(ud) };
    // The runtime names the task when the entry may run for another one (see bridge.h); a task
    // that is over (or never was) may not call.
    let task = st.task_or_current(task);
    if !st.calling_tasks.contains(&task)
        || name.is_null()
        || name_len > MAX_HOST_CALL_NAME
        || payload_len > MAX_HOST_CALL_PAYLOAD
    {
        return 1;
    }
    // SAFETY: the bridge passes buffers of the given lengths, valid for this call.
    let name = unsafe { std::slice::from_raw_parts(name, name_len) };
    let Ok(name) = std::str::from_utf8(name) else {
        return 1;
    };
    // A call waits while the task has its most in flight, or calls waiting before it (so that
    // its calls leave in the order it made them); one that continues a stream never does.
    let uncounted = continues_a_stream(name);
    let waits = !uncounted
        && st
            .task_calls
            .get(&task)
            .is_some_and(|c| c.in_flight >= MAX_HOST_CALLS_PER_TASK || !c.queued.is_empty());
    if waits {
        let calls = &st.task_calls[&task];
        if calls.queued.len() >= MAX_QUEUED_HOST_CALLS_PER_TASK {
            return 3;
        }
        if calls.queued_bytes + payload_len > MAX_QUEUED_HOST_CALL_BYTES_PER_TASK {
            return 4;
        }
    }
    // A fetch (a WebSocket handshake is one) and a `cloudflare:sockets` connection are each an
    // outbound request of the invocation's.
    if name == "fetch" || name == "tcp.connect" {
        let made = st.sub_requests.entry(task).or_insert(0);
        if *made >= st.sub_request_limit {
            return 2;
        }
        *made += 1;
    }
    let payload = if payload.is_null() || payload_len == 0 {
        Vec::new()
    } else {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts(payload, payload_len) }.to_vec()
    };
    let out = HostCallOut {
        task,
        call,
        name: name.to_string(),
        payload,
    };
    if uncounted {
        st.send_uncounted(out);
        return 0;
    }
    let calls = st.task_calls.entry(task).or_default();
    if waits {
        calls.queued_bytes += out.payload.len();
        calls.queued.push_back(out);
    } else {
        calls.in_flight += 1;
        st.calls_pending.insert(call, task);
        st.calls_out.push(out);
    }
    0
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
