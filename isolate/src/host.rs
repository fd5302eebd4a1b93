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
//! call and waits for its answer inside the entry, which holds the isolate's thread, so the wait
//! is charged to the entry's watch as CPU time and ends at the smaller of the entry's CPU budget
//! and the task's wall deadline, where the watch fires as if JavaScript had spent it. The call
//! counts among the task's calls in flight while it waits.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ffi::c_void;
use std::time::{Duration, Instant};

use crate::ffi;
use crate::ops;
use crate::typescript::SourceMap;
use crate::worker::{LogLevel, LogLine};

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
}

/// The running entry's watch and what it may still spend: a synchronous host call's wait is
/// charged to it as CPU time and ends by its deadline.
pub(crate) struct EntryBudget {
    /// The entry's watch, alive on the worker's stack for as long as this is set.
    pub guard: *const crate::watchdog::WatchGuard<'static>,
    /// The CPU time the entry may spend (what its task had left when it started).
    pub cpu: Duration,
    /// The task's wall-clock deadline.
    pub deadline: Instant,
}

/// How a synchronous host call's wait ended.
#[derive(Debug)]
pub enum SyncEnd {
    /// The host's answer: bytes, or its error message.
    Answered(Result<Vec<u8>, String>),
    /// The deadline passed first.
    TimedOut,
    /// The wait ended for another reason (the request was cancelled, the host went away): why.
    Ended(String),
}

/// Sends a synchronous host call and waits for its answer, on the isolate's thread, inside the
/// entry that made it (see [`crate::Worker::set_sync_host`]). It must not enter any isolate.
pub trait SyncHost {
    /// Sends call `call` named `name` for the request tagged `tag`, and waits for its answer
    /// until `deadline` at the latest.
    fn call(
        &mut self,
        tag: u64,
        call: u32,
        name: &str,
        payload: Vec<u8>,
        deadline: Instant,
    ) -> SyncEnd;
}

/// The host calls that may be synchronous (`__stockade_host.callSync`): a Durable Object's
/// storage operations, which answer from the object's own file. Anything else (an outbound
/// `fetch`, a binding's call to another worker) is refused here, whatever the JavaScript asks.
pub const SYNC_HOST_CALLS: &[&str] = &[
    "do.get",
    "do.put",
    "do.delete",
    "do.deleteAll",
    "do.list",
    "do.sql",
    "do.getAlarm",
    "do.setAlarm",
    "do.deleteAlarm",
    "do.txn",
];

/// Whether a host call named `name` may be made synchronously.
pub fn may_call_synchronously(name: &str) -> bool {
    SYNC_HOST_CALLS.contains(&name)
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
/// reads or writes, an upload or answer of one of its fetches, or ends one): such a call never
/// waits for a place and is not counted among the calls in flight, here or by the supervisor
/// (`daemon/src/supervisor/link/host.rs` has the same list). Each stream has at most one in
/// flight (the runtime awaits each) and a request's streams are few (`Resources`), so they stay
/// bounded; and a request whose places are all held by fetches waiting for their uploads can
/// still send those uploads.
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
            ops: std::rc::Rc::new(ops::state::OpState::new()),
            bundle: std::rc::Rc::default(),
            maps: SourceMaps::default(),
            tags: HashMap::new(),
            sync_host: None,
            entry: None,
            sync_answer: Vec::new(),
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
    /// returns its host calls in flight and waiting (for the bridge to drop).
    pub(crate) fn end_task(&mut self, task: u32) -> Vec<u32> {
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
        self.calls_out.retain(|c| c.task != task);
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
    /// Stockade does not support), as bridge.h has it.
    pub(crate) fn resolve_index(&self, referrer: i32, specifier: &str) -> i32 {
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
            Target::Builtin(name) => self.builtin_index.get(&name).copied().unwrap_or(-1),
            Target::Unavailable(Unavailable::NeedsNodejsCompat) => -2,
            // node:fs off by date or flag: not supported in this configuration (a static import's
            // error names the date and flag; compile.rs).
            Target::Unavailable(Unavailable::Unsupported | Unavailable::NeedsFsModule) => -3,
            Target::NotFound => -1,
        }
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

/// `stk_host.host_call_sync`: sends the call through the owner's [`SyncHost`] and waits for its
/// answer inside the entry, its wait charged to the entry's CPU budget and ended by the smaller
/// of that budget and the task's wall deadline (past it, the entry's watch fires as if
/// JavaScript had spent the time). Only [`SYNC_HOST_CALLS`] are accepted.
#[allow(clippy::too_many_arguments)]
unsafe extern "C" fn host_call_sync(
    ud: *mut c_void,
    call: u32,
    task: u32,
    name: *const u8,
    name_len: usize,
    payload: *const u8,
    payload_len: usize,
    answer: *mut *const u8,
    answer_len: *mut usize,
) -> i32 {
    if ud.is_null() || answer.is_null() || answer_len.is_null() {
        return ffi::STK_SYNC_REFUSED;
    }
    // SAFETY: the bridge passes our userdata, on the isolate's thread, inside an entry; no other
    // reference to the state is live during this callback (the wait below enters no isolate).
    let st = unsafe { state(ud) };
    let (status, message) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the bridge passes buffers of the given lengths, valid for this call.
        let name = (!name.is_null() && name_len <= MAX_HOST_CALL_NAME)
            .then(|| unsafe { std::slice::from_raw_parts(name, name_len) });
        let payload = if payload.is_null() || payload_len == 0 {
            Some(&[][..])
        } else {
            // SAFETY: as above.
            (payload_len <= MAX_HOST_CALL_PAYLOAD)
                .then(|| unsafe { std::slice::from_raw_parts(payload, payload_len) })
        };
        sync_call(st, call, task, name, payload)
    }))
    .unwrap_or_else(|_| {
        (
            ffi::STK_SYNC_REFUSED,
            Err("internal error in a synchronous host call".to_owned()),
        )
    });
    st.sync_answer = match message {
        Ok(bytes) => bytes,
        Err(text) => text.into_bytes(),
    };
    // SAFETY: the out-pointers are the bridge's, valid for this call; the bytes live in the
    // state until the next callback (bridge.h).
    unsafe {
        *answer = st.sync_answer.as_ptr();
        *answer_len = st.sync_answer.len();
    }
    status
}

/// The work of [`host_call_sync`]: its status and answer bytes (or message).
fn sync_call(
    st: &mut HostState,
    call: u32,
    task: u32,
    name: Option<&[u8]>,
    payload: Option<&[u8]>,
) -> (i32, Result<Vec<u8>, String>) {
    let refuse = |why: String| (ffi::STK_SYNC_REFUSED, Err(why));
    let task = st.task_or_current(task);
    let Some(name) = name.and_then(|n| std::str::from_utf8(n).ok()) else {
        return refuse("a host call needs a name".into());
    };
    if !may_call_synchronously(name) {
        return refuse(format!(
            "the host call `{name}` cannot be made synchronously (only a Durable Object's storage calls can)"
        ));
    }
    let Some(payload) = payload else {
        return refuse(format!(
            "a host call carries at most {MAX_HOST_CALL_PAYLOAD} bytes"
        ));
    };
    if !st.calling_tasks.contains(&task) {
        return refuse("this invocation is over: it can make no host call".into());
    }
    let (Some(tag), Some(entry)) = (st.tags.get(&task).copied(), st.entry.as_ref()) else {
        return refuse("a synchronous host call needs a running invocation".into());
    };
    let in_flight = st.task_calls.get(&task).map_or(0, |c| c.in_flight);
    if in_flight >= MAX_HOST_CALLS_PER_TASK {
        return refuse(format!(
            "this request has {MAX_HOST_CALLS_PER_TASK} host calls in flight: a synchronous one must wait for them"
        ));
    }
    // SAFETY: `guard` points to the running entry's watch, which outlives the entry (the worker
    // clears `entry` before dropping it), and this callback runs inside that entry.
    let guard = unsafe { &*entry.guard };
    let now = Instant::now();
    let cpu_left = entry.cpu.saturating_sub(guard.cpu_spent());
    let wall_left = entry.deadline.saturating_duration_since(now);
    let Some(mut host) = st.sync_host.take() else {
        return refuse("host calls need a worker process; this isolate has no host".into());
    };
    st.task_calls.entry(task).or_default().in_flight += 1;
    let cpu_before = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID);
    let end = host.call(
        tag,
        call,
        name,
        payload.to_vec(),
        now + cpu_left.min(wall_left),
    );
    // The wait held the thread: its time is the request's CPU (what the thread itself ran
    // meanwhile, reading its socket, its clock has already).
    let ran = crate::watchdog::cpu_time(libc::CLOCK_THREAD_CPUTIME_ID).saturating_sub(cpu_before);
    guard.charge(now.elapsed().saturating_sub(ran));
    st.sync_host = Some(host);
    if let Some(calls) = st.task_calls.get_mut(&task) {
        calls.in_flight = calls.in_flight.saturating_sub(1);
        if calls.in_flight == 0 && calls.queued.is_empty() {
            st.task_calls.remove(&task);
        }
    }
    match end {
        SyncEnd::Answered(Ok(bytes)) => (ffi::STK_SYNC_OK, Ok(bytes)),
        SyncEnd::Answered(Err(message)) => (ffi::STK_SYNC_FAILED, Err(message)),
        SyncEnd::TimedOut => {
            let kind = if cpu_left <= wall_left {
                crate::error::LimitKind::Cpu
            } else {
                crate::error::LimitKind::Wall
            };
            guard.expire(kind);
            (
                ffi::STK_SYNC_ENDED,
                Err(format!(
                    "`{name}` did not answer within the request's limits"
                )),
            )
        }
        SyncEnd::Ended(why) => (ffi::STK_SYNC_ENDED, Err(why)),
    }
}

/// `stk_host.op`: runs native operation `code` (see [`crate::ops`]) on the call's input and writes
/// its answer into memory the bridge allocates from the isolate's arena, or its error message
/// into the call. Returns 0, an [`ops::ErrorKind`], or -1 when the isolate was terminated.
unsafe extern "C" fn host_op(ud: *mut c_void, code: u32, call: *mut ffi::StkOpCall) -> i32 {
    if call.is_null() || ud.is_null() {
        return ops::ErrorKind::Operation as i32;
    }
    // SAFETY: `ud` is the HostState this isolate was created with (see `callbacks`), alive for the
    // isolate's lifetime; the shared borrow ends with this block (the op holds its own `Rc`s).
    let (state, bundle) = unsafe {
        let host = &*ud.cast::<HostState>();
        let bundle = crate::bundle::owns(code).then(|| host.bundle.clone());
        (host.ops.clone(), bundle)
    };
    // SAFETY: the bridge passes a valid, exclusive stk_op_call for the duration of this call.
    let call = unsafe { &mut *call };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if call.cancel.is_null() || (call.input.is_null() && call.input_len != 0) {
            return Err(ops::OpError::operation("malformed op call"));
        }
        let input = if call.input_len == 0 {
            &[][..]
        } else {
            // SAFETY: the bridge passes `input_len` readable bytes that no JavaScript can touch
            // while the op runs (it runs synchronously inside the entry).
            unsafe { std::slice::from_raw_parts(call.input, call.input_len) }
        };
        // SAFETY: `cancel` points to the isolate's std::atomic<uint32_t> (same size and alignment
        // as AtomicU32), alive for the isolate's lifetime; it is only ever accessed atomically.
        let cancel = unsafe { std::sync::atomic::AtomicU32::from_ptr(call.cancel.cast_mut()) };
        let callback = call.callback.map(|f| {
            std::rc::Rc::new(JsCallback {
                f,
                sink: call.sink,
                live: std::cell::Cell::new(true),
            })
        });
        let ctx = ops::OpCtx::with_state(cancel, &state).with_callback(
            callback
                .clone()
                .map(|c| c as std::rc::Rc<dyn ops::Callback>),
        );
        let result = match &bundle {
            Some(bundle) => bundle.run(code, input),
            None => ops::run(code, input, &ctx),
        };
        if let Some(c) = callback {
            c.live.set(false); // whatever kept a clone can no longer call into a finished op
        }
        result
    }));
    let result = outcome.unwrap_or_else(|_| {
        Err(ops::OpError::operation(
            "internal error in a native operation",
        ))
    });
    match result {
        Ok(bytes) => {
            // SAFETY: `alloc` and `sink` come from the bridge for this call; it returns null or
            // `len` writable bytes.
            let out = unsafe { (call.alloc)(call.sink, bytes.len()) };
            if out.is_null() && !bytes.is_empty() {
                set_message(call, "the answer exceeds the memory limit");
                return ops::ErrorKind::RangeError as i32;
            }
            if !bytes.is_empty() {
                // SAFETY: `out` has `bytes.len()` writable bytes (alloc contract), disjoint from
                // `bytes`.
                unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
            }
            call.output = out;
            call.output_len = bytes.len();
            ffi::STK_OP_OK
        }
        Err(e) if e.kind == ops::ErrorKind::Cancelled => ffi::STK_OP_CANCELLED,
        Err(e) => {
            set_message(call, &e.message);
            e.kind as i32
        }
    }
}

/// The JavaScript callback the bridge gave an op (`stk_op_call.callback`), as [`ops::Callback`].
struct JsCallback {
    f: unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut *const u8, *mut usize) -> i32,
    sink: *mut c_void,
    /// True while the op it was given to runs; `call` refuses afterwards.
    live: std::cell::Cell<bool>,
}

impl ops::Callback for JsCallback {
    fn call(&self, input: &[u8]) -> ops::OpResult<Vec<u8>> {
        if !self.live.get() {
            return Err(ops::OpError::operation("the op's callback has ended"));
        }
        let mut out: *const u8 = std::ptr::null();
        let mut out_len = 0usize;
        // SAFETY: `f` and `sink` come from the bridge for the op still running (`live`, cleared
        // when `host_op` returns); `input` is readable for its length; `out`/`out_len` are valid
        // for writes.
        let status = unsafe {
            (self.f)(
                self.sink,
                input.as_ptr(),
                input.len(),
                &mut out,
                &mut out_len,
            )
        };
        match status {
            ffi::STK_OP_OK if out_len == 0 || out.is_null() => Ok(Vec::new()),
            // SAFETY: on success the bridge answers `out_len` readable bytes that stay valid
            // until its next callback of this op; they are copied at once.
            ffi::STK_OP_OK => Ok(unsafe { std::slice::from_raw_parts(out, out_len) }.to_vec()),
            ffi::STK_OP_CANCELLED => Err(ops::OpError::cancelled()),
            _ => Err(ops::OpError::operation(
                "a JavaScript callback of a native operation failed",
            )),
        }
    }
}

/// Copies `message` into the call, cut at a character boundary to fit.
fn set_message(call: &mut ffi::StkOpCall, message: &str) {
    let mut end = message.len().min(ffi::STK_OP_MESSAGE_CAP);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    call.message[..end].copy_from_slice(&message.as_bytes()[..end]);
    call.message_len = end;
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
