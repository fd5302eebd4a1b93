//! A `Worker`: one V8 isolate hosting one tenant's worker, its modules loaded, called many times.
//!
//! Guarantees: a `Worker` is neither `Send` nor `Sync` (V8 isolates are bound to a thread);
//! every call runs under the watchdog and the limits it was created with, and so does loading:
//! TypeScript transformation (its helper thread's CPU time charged), V8's compilation and
//! top-level code share one call's budget; after a limit hit the worker is poisoned, answers
//! every later call with that error, and should be dropped (drop disposes the isolate). Console
//! output, timers and results are bounded per invocation. Tenant code reads clocks that stand
//! still while it runs and are truncated to [`CLOCK_RESOLUTION_MS`]. Memory limits below
//! [`Limits::MIN_MEMORY_BYTES`] are refused.
//! Every bridge call runs under the isolate's protection key ([`crate::protection`]).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::engine::Engine;
use crate::error::{LimitKind, RunError, SourceLocation};
use crate::ffi::{self, StkOutcome};
use crate::host::HostState;
use crate::kinds;
use crate::limits::Limits;
use crate::loader::{ImportWalk, ModuleSource};
use crate::modules::{self, ModuleKind};
use crate::protection::{KeyedIsolate, MpkMode};
use crate::tasks::{Answer, Task, TaskEvent, TaskId};
use crate::typescript;
use crate::watchdog::WatchGuard;

/// The resolution of the clocks tenant code reads (`Date.now()`, `performance.now()`), in
/// milliseconds; see `Worker::call_at_now`.
pub const CLOCK_RESOLUTION_MS: f64 = 1.0;

/// Console levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    /// `console.log` and the other plain lines.
    Log,
    /// `console.info`.
    Info,
    Warn,
    Error,
}

/// One line of console output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub level: LogLevel,
    pub text: String,
}

/// What one invocation produced: the JSON result or an error, the console output, and the CPU
/// and wall time it spent.
#[derive(Debug)]
pub struct Invocation {
    pub result: Result<String, RunError>,
    pub logs: Vec<LogLine>,
    pub cpu: Duration,
    pub wall: Duration,
}

/// What code in an isolate was seen doing that is a risk signal, whatever its text looks like
/// (`globalThis["Web" + "Assembly"]` included): V8 reports every WebAssembly compilation it is
/// asked for (allowed or not) and every `import()`. Sticky for the isolate's life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Observed {
    pub web_assembly: bool,
    pub dynamic_import: bool,
}

/// An HTTP request for a worker's `fetch(request, env, ctx)` handler.
#[derive(Debug, Clone, Default)]
pub struct FetchRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The body, or with `body_streamed` its first bytes.
    pub body: Vec<u8>,
    /// The rest of the body comes through the task's `body.read` host calls, each answered
    /// with the next chunk, an empty answer at the end.
    pub body_streamed: bool,
    /// The answer goes to an HTTP client: the runtime encodes a body whose `Content-Encoding`
    /// is `gzip` or `br` (unless the `Response` says `encodeBody: "manual"`), as Cloudflare's
    /// does. False when a worker's `fetch` is the caller, which gets the body unencoded.
    pub encode_body: bool,
    /// The worker's `env` bindings (a JSON object).
    pub env: serde_json::Value,
}

/// The worker's `Response`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body; empty when `streamed`.
    pub body: Vec<u8>,
    /// The body is produced after the answer: the task's `body.write` host calls carry its
    /// chunks and `body.end` ends it (the task stays alive until then).
    pub streamed: bool,
    /// With `streamed`, the body's length when the runtime vouches for it: the body is a
    /// `FixedLengthStream`'s, which errors (cutting the body) on more or fewer bytes.
    pub length: Option<u64>,
    /// A `101` carrying a WebSocket whose other end the task drives: its messages travel as the
    /// task's `socket.send` / `socket.recv` / `socket.close` host calls while it stays alive.
    pub web_socket: bool,
}

/// Owns a bridge outcome and frees its strings on drop.
pub(crate) struct Outcome(pub(crate) StkOutcome);

impl Outcome {
    pub(crate) fn new() -> Self {
        Outcome(StkOutcome::new())
    }
    fn text(ptr: *const std::ffi::c_char, len: usize) -> String {
        if ptr.is_null() {
            return String::new();
        }
        // SAFETY: the bridge set ptr to a malloc'd buffer of len bytes, alive until clear.
        let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
        String::from_utf8_lossy(bytes).into_owned()
    }
    pub(crate) fn value(&self) -> String {
        Self::text(self.0.value, self.0.value_len)
    }
    /// A copy of a fetch response's body bytes.
    pub(crate) fn body(&self) -> Vec<u8> {
        if self.0.body.is_null() {
            return Vec::new();
        }
        // SAFETY: the bridge set body to a malloc'd buffer of body_len bytes, alive until clear.
        unsafe { std::slice::from_raw_parts(self.0.body, self.0.body_len) }.to_vec()
    }
    fn stack(&self) -> String {
        Self::text(self.0.stack, self.0.stack_len)
    }
    fn resource(&self) -> String {
        Self::text(self.0.resource, self.0.resource_len)
    }
}

impl Drop for Outcome {
    fn drop(&mut self) {
        // SAFETY: the outcome's pointers are null or malloc'd by the bridge.
        unsafe { ffi::stk_outcome_clear(&mut self.0) };
    }
}

/// One isolate hosting one tenant worker.
pub struct Worker {
    pub(crate) iso: KeyedIsolate,
    pub(crate) host: NonNull<HostState>,
    pub(crate) engine: &'static Engine,
    pub(crate) limits: Limits,
    pub(crate) main: Option<i32>,
    maps: crate::host::SourceMaps,
    pub(crate) poisoned: Option<RunError>,
    epoch: Instant,
    /// Live tasks by id (see `tasks.rs`), the last id given, and events not yet drained.
    pub(crate) tasks: BTreeMap<u32, Task>,
    pub(crate) next_task: u32,
    pub(crate) events: Vec<TaskEvent>,
    /// The tag tasks started from now on carry (see [`Worker::set_tag`]).
    pub(crate) tag: u64,
    /// The wall-clock limit of the tasks started inside [`Worker::within`]; `None`: `limits.wall`.
    pub(crate) task_wall: Option<Duration>,
    /// A Durable Object's incarnation (its `env` names the object): a task's timers and host
    /// calls keep it alive after its answer (see `tasks.rs`).
    pub(crate) object: bool,
    _not_send: PhantomData<*mut ()>,
}

fn wall_clock_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

impl Worker {
    /// A fresh isolate with its runtime (web APIs) ready and no modules yet, under a protection
    /// key from the engine's pool when MPK is available ([`MpkMode::Pooled`]).
    pub fn new(engine: &'static Engine, limits: Limits) -> Result<Worker, RunError> {
        Self::with_mpk(engine, limits, MpkMode::Pooled)
    }

    /// [`Worker::new`] with an explicit choice of protection key; [`MpkMode::Off`] is for
    /// baselines and tests only.
    pub fn with_mpk(
        engine: &'static Engine,
        limits: Limits,
        mode: MpkMode,
    ) -> Result<Worker, RunError> {
        if limits.memory_bytes < Limits::MIN_MEMORY_BYTES {
            return Err(RunError::InvalidInput(format!(
                "the memory limit is {} bytes; the smallest memory limit is {} MiB",
                limits.memory_bytes,
                Limits::MIN_MEMORY_BYTES >> 20
            )));
        }
        let mut host = Box::new(HostState::new(
            limits.output_bytes,
            limits.timers,
            limits.sub_requests,
        ));
        let callbacks = host.callbacks();
        let maps = host.maps.clone();
        let config = ffi::StkIsolateConfig {
            heap_limit_bytes: limits.memory_bytes,
            external_limit_bytes: limits.memory_bytes,
            stack_limit_bytes: limits.stack_bytes,
            allow_wasm: u32::from(engine.profile() == crate::V8Profile::Standard),
            pkey: -1, // set by KeyedIsolate::create
        };
        let mut out = Outcome::new();
        // SAFETY: the userdata in callbacks points into `host`, which the Worker keeps alive (as
        // `host_ptr`) until after disposal.
        let iso =
            unsafe { KeyedIsolate::create(engine.keys, mode, config, &callbacks, &mut out.0) };
        let host_ptr = NonNull::from(Box::leak(host));
        let Some(iso) = iso else {
            // SAFETY: host_ptr came from Box::leak just above and no isolate refers to it.
            drop(unsafe { Box::from_raw(host_ptr.as_ptr()) });
            let msg = format!("{} {}", out.value(), out.stack());
            return Err(RunError::Internal(format!(
                "isolate creation failed: {msg}"
            )));
        };
        // SAFETY: host_ptr is the state leaked above, which nothing else borrows yet.
        unsafe { (*host_ptr.as_ptr()).raw = iso.call(|raw| raw) };
        Ok(Worker {
            iso,
            host: host_ptr,
            engine,
            limits,
            main: None,
            maps,
            poisoned: None,
            epoch: Instant::now(),
            tasks: BTreeMap::new(),
            next_task: 0,
            events: Vec::new(),
            tag: 0,
            task_wall: None,
            object: false,
            _not_send: PhantomData,
        })
    }

    /// A worker for the process's warm-up, which the caller promises never to give tenant code:
    /// the lazy groups it builds first in the process (js/lazy.js) keep their code caches back
    /// until [`Worker::leave_lazy_caches`], so that the caches also hold every function the
    /// warm-up's use of them compiled. (A tenant's isolate leaves a group's cache as soon as it
    /// compiled it, before any of it runs: the top-level function only.)
    pub fn for_warm_up(engine: &'static Engine) -> Result<Worker, RunError> {
        let worker = Self::new(engine, Limits::default())?;
        // SAFETY: raw is our live isolate; nothing ran in it yet.
        worker
            .iso
            .call(|raw| unsafe { ffi::stk_lazy_defer_caches(raw) });
        Ok(worker)
    }

    /// Ends a [`Worker::for_warm_up`]: every lazy group it built first leaves its code cache for
    /// the process's later isolates. Returns how many did.
    pub fn leave_lazy_caches(self) -> u32 {
        // SAFETY: raw is our live isolate; stk_lazy_leave_caches enters it.
        self.iso
            .call(|raw| unsafe { ffi::stk_lazy_leave_caches(raw) })
    }

    pub(crate) fn host_ref(&self) -> &HostState {
        // SAFETY: host is alive for self's lifetime; no bridge call runs while we hold &self
        // outside one (entries take &mut self), so nothing writes it meanwhile.
        unsafe { self.host.as_ref() }
    }

    pub(crate) fn host(&mut self) -> &mut HostState {
        // SAFETY: host is alive for self's lifetime; no bridge call is running (we hold &mut
        // self), so the callbacks hold no reference to it right now.
        unsafe { self.host.as_mut() }
    }

    /// Debug builds only: defines `globalThis.__stockadeTestHostCall(name, payload)` in this
    /// isolate, so tests can make host calls (the mechanism, with no capability behind it).
    #[cfg(debug_assertions)]
    pub fn install_test_host_call(&mut self) -> Result<(), RunError> {
        // SAFETY: raw is our live isolate.
        let status = self
            .iso
            .call(|raw| unsafe { ffi::stk_install_test_hooks(raw) });
        if status == ffi::STK_OK {
            Ok(())
        } else {
            Err(RunError::Internal(
                "cannot install the test host call".into(),
            ))
        }
    }

    /// Lets this isolate's JavaScript make synchronous host calls (`__stockade_host.callSync`,
    /// only the names `host/sync.rs` allows: a Durable Object's storage): `host` sends each and waits
    /// for its answer inside the entry that made it, what the host spent (and the wait past its
    /// allowance) charged to that entry's CPU budget (`host/sync.rs`).
    /// Without one, such calls are refused.
    pub fn set_sync_host(&mut self, host: Box<dyn crate::host::SyncHost>) {
        self.host().sync_host = Some(host);
    }

    /// The protection key of this worker's isolate (1..=15), `None` when it has none.
    pub fn mpk_key(&self) -> Option<u32> {
        self.iso.key().map(|k| k.as_raw())
    }

    /// The limits every invocation of this worker runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The error a limit hit left, if any: a poisoned worker must be dropped.
    pub fn poisoned(&self) -> Option<&RunError> {
        self.poisoned.as_ref()
    }

    /// Loads the worker's modules, starting at `main`, and evaluates them, waiting on this
    /// thread (see [`Worker::start_load`] for the event-loop form). Compilation (TypeScript
    /// transformation included) and top-level code run under one budget: the limits of one call.
    pub fn load(&mut self, main: &str, source: &mut dyn ModuleSource) -> Invocation {
        self.load_with(main, source, &crate::LoadOptions::default())
    }

    /// [`Worker::load`] with compatibility flags and env ([`crate::LoadOptions`]).
    pub fn load_with(
        &mut self,
        main: &str,
        source: &mut dyn ModuleSource,
        options: &crate::LoadOptions,
    ) -> Invocation {
        let task = self.start_load_with(main, source, options);
        self.wait(task, |answer| match answer {
            Answer::Loaded => String::new(),
            Answer::Json(json) => json,
            Answer::Response(_) => String::new(),
        })
    }

    /// Calls the main module's default export as `await default(arg)`; `arg_json` is JSON text.
    /// Waits on this thread (see [`Worker::start_call`]).
    pub fn call(&mut self, arg_json: &str) -> Invocation {
        let task = self.start_call(arg_json);
        self.wait(task, |answer| match answer {
            Answer::Json(json) => json,
            _ => String::new(),
        })
    }

    /// Calls the main module's `export default { fetch(request, env, ctx) }`, waiting on this
    /// thread (see [`Worker::start_fetch`]). Background work (`ctx.waitUntil`) goes on in later
    /// waits of this worker.
    pub fn fetch(
        &mut self,
        request: &FetchRequest,
    ) -> (Result<FetchResponse, RunError>, Invocation) {
        let task = self.start_fetch(request);
        let mut response = None;
        let inv = self.wait(task, |answer| {
            if let Answer::Response(r) = answer {
                response = Some(r);
            }
            String::new()
        });
        let response = match (&inv.result, response) {
            (Err(e), _) => Err(e.clone()),
            (Ok(_), Some(r)) => Ok(r),
            (Ok(_), None) => Err(RunError::Internal("a fetch answered no response".into())),
        };
        (response, inv)
    }

    /// Runs this worker's event loop on the calling thread until `task` is answered. Host calls
    /// are refused: a worker without an owner has no host to ask.
    fn wait(&mut self, task: TaskId, text: impl FnOnce(Answer) -> String) -> Invocation {
        loop {
            // Until none is left: an answer sends the call waiting behind it, and what it wakes
            // may call again.
            loop {
                let calls = self.take_host_calls();
                if calls.is_empty() {
                    break;
                }
                for call in calls {
                    self.host_reply(
                        call.call,
                        Err("host calls need a worker process; this isolate has no host".into()),
                    );
                }
            }
            let mut answered = None;
            for event in self.drain_events() {
                match event {
                    TaskEvent::Answered(a) if a.task == task => answered = Some(a),
                    _ => {}
                }
            }
            if let Some(a) = answered {
                return Invocation {
                    result: a.result.map(text),
                    logs: a.logs,
                    cpu: a.cpu,
                    wall: a.wall,
                };
            }
            let Some(wake) = self.next_wake() else {
                return Invocation {
                    result: Err(RunError::Internal("a task vanished unanswered".into())),
                    logs: Vec::new(),
                    cpu: Duration::ZERO,
                    wall: Duration::ZERO,
                };
            };
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
            self.advance(Instant::now());
        }
    }

    /// Runs one bridge call `f` under the isolate's key, after setting the clock its code
    /// reads (one PKRU switch for both).
    ///
    /// What the clock tells: it stands still while JavaScript runs and moves only between bridge
    /// calls (start, each pump, each timer). So `setTimeout(0)` hops reveal the wall time that
    /// passed between two of them: the duration of the tenant's own previous task plus the
    /// host's overhead and any time other threads (other tenants) held the CPU. Both clocks are
    /// truncated to [`CLOCK_RESOLUTION_MS`], like a coarse browser timer: a hop tells whole
    /// milliseconds, and finer timing needs many hops and statistics (a timer of 1 ms ticks,
    /// sampled once per hop, averaged).
    pub(crate) fn call_at_now<R>(&self, f: impl FnOnce(*mut ffi::StkIsolate) -> R) -> R {
        let coarse = |ms: f64| (ms / CLOCK_RESOLUTION_MS).floor() * CLOCK_RESOLUTION_MS;
        let (wall, mono) = (
            coarse(wall_clock_ms()),
            coarse(self.epoch.elapsed().as_secs_f64() * 1000.0),
        );
        self.iso.call(|raw| {
            // SAFETY: raw is our live isolate.
            unsafe { ffi::stk_set_clock(raw, wall, mono) };
            f(raw)
        })
    }

    /// What code in this isolate was seen doing, since it was made.
    pub fn observed(&self) -> Observed {
        // SAFETY: raw is our live isolate.
        let flags = self
            .iso
            .call(|raw| unsafe { ffi::stk_isolate_observed(raw) });
        Observed {
            web_assembly: flags & ffi::STK_OBSERVED_WASM != 0,
            dynamic_import: flags & ffi::STK_OBSERVED_DYNAMIC_IMPORT != 0,
        }
    }

    /// V8 heap figures for this isolate.
    pub fn heap_stats(&self) -> ffi::StkHeapStats {
        let mut stats = ffi::StkHeapStats::default();
        // SAFETY: raw is our live isolate; stats is a valid out-pointer.
        self.iso
            .call(|raw| unsafe { ffi::stk_isolate_heap_stats(raw, &mut stats) });
        stats
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // The watchdog has no watch for the isolate (guards are dropped before drive returns).
        self.iso.dispose();
        // SAFETY: host came from Box::leak in with_mpk and is freed once, here, after the
        // isolate (the only other user of the pointer) is gone.
        unsafe { drop(Box::from_raw(self.host.as_ptr())) };
    }
}

mod compile;
mod errors;
