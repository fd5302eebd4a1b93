//! Tasks: the invocations of one isolate, many at once, driven by their owner's event loop.
//!
//! A task is one load, one call of the default export or one fetch. Starting one enters the
//! isolate once; after that the task waits without holding its thread: on timers (fired by
//! [`Worker::advance`] when due), on host calls (settled by [`Worker::host_reply`]) or on other
//! tasks of the same isolate. The owner sleeps until [`Worker::next_wake`] or until something
//! for the isolate arrives, and reads what happened with [`Worker::drain_events`] and
//! [`Worker::take_host_calls`].
//!
//! Guarantees:
//! - every task yields exactly one [`TaskEvent::Answered`] and then exactly one
//!   [`TaskEvent::Ended`] (at once, or when the background work its fetch handler left with
//!   `ctx.waitUntil` has settled or its wall limit has passed), unless the owner cancels it,
//!   after which it yields nothing; in a Durable Object's isolate, a task also lives on after
//!   that while it has timers armed or host calls made (see [`Worker::finish`]);
//! - CPU is charged per entry: each entry runs under the watchdog with what is left of its task's
//!   CPU budget and wall-clock deadline, so a task's CPU time is the CPU its own entries spent
//!   (microtasks an entry runs count for that entry's task), and so does the wait of a
//!   synchronous host call made inside it (`host/sync.rs`);
//! - a task's wall limit (the worker's, or the one [`Worker::within`] gives) runs from its start; past it the task is answered with the wall limit
//!   even while it waits (no JavaScript is running then, so the isolate is not poisoned); its
//!   timers and host calls die with it;
//! - a limit hit while JavaScript runs (CPU, wall, heap, output, result size) poisons the
//!   isolate: every task still running in it is answered with that error and ended;
//! - a task waiting with nothing that could wake it (no timer, no host call in flight in the
//!   isolate) is answered `NeverSettled`;
//! - a task has at most [`crate::MAX_HOST_CALLS_PER_TASK`] host calls in flight; its further
//!   calls wait in the isolate, within its wall limit (not CPU), and leave in the order made, each
//!   as an earlier one is answered (the queue is bounded; see `host.rs`).
//!
//! Trusts: the bridge to report settled invocations under the ids it was given.

use std::time::{Duration, Instant};

use crate::configure::LoadOptions;
use crate::error::{LimitKind, RunError};
use crate::ffi;
use crate::loader::ModuleSource;
use crate::worker::{FetchRequest, FetchResponse, LogLine, Outcome, Worker};

/// A task of one isolate (unique among its live tasks; never 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub u32);

/// What a task answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A load evaluated its modules.
    Loaded,
    /// A call returned this JSON text.
    Json(String),
    /// A fetch handler returned this response.
    Response(FetchResponse),
}

/// A task's answer, with the console lines it made and what it spent until then.
#[derive(Debug)]
pub struct Answered {
    pub task: TaskId,
    pub result: Result<Answer, RunError>,
    pub logs: Vec<LogLine>,
    pub cpu: Duration,
    pub wall: Duration,
}

/// What happened to a task.
#[derive(Debug)]
pub enum TaskEvent {
    Answered(Answered),
    /// Nothing more will come from this task (its background work is over). `error` says why
    /// work it did after its answer (a streamed body, `ctx.waitUntil`) ended early; `None`
    /// when it finished, or when the error is the one it was answered with.
    Ended {
        task: TaskId,
        error: Option<RunError>,
        /// The console lines it made after its answer (in `ctx.waitUntil` work, a streamed
        /// body's producer, a timer): the answer carried the ones before.
        logs: Vec<LogLine>,
    },
}

/// A host call a task made: the owner answers it with [`Worker::host_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostCall {
    pub task: TaskId,
    pub call: u32,
    pub name: String,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Load { main: i32 },
    Call,
    Fetch,
}

pub(crate) struct Task {
    kind: Kind,
    /// The embedder's tag (its request, say), given to the limit-exit hook if the process ends
    /// itself for this task's limit.
    tag: u64,
    started: Instant,
    deadline: Instant,
    cpu: Duration,
    answered: bool,
    /// Answered, its own work over, and kept alive by its timers and host calls only (a
    /// Durable Object's call: see [`Worker::finish`]).
    lingering: bool,
}

impl Worker {
    /// Tags the tasks started from now on with `tag` (the embedder's name for the request, say):
    /// if the process ends itself to enforce a limit of one of them, the engine's limit-exit
    /// hook gets its tag (see [`crate::Engine::set_limit_exit_hook`]).
    pub fn set_tag(&mut self, tag: u64) {
        self.tag = tag;
    }

    /// Runs `start` (which starts tasks: [`Worker::start_scheduled`], say) with `wall` as the
    /// wall-clock limit of the tasks it starts instead of the worker's `limits.wall`: a cron
    /// event or a queue batch has a limit of its own. CPU and every other limit stay the
    /// worker's; the tasks started after it returns have `limits.wall` again.
    pub fn within(&mut self, wall: Duration, start: impl FnOnce(&mut Self) -> TaskId) -> TaskId {
        let outer = self.task_wall.replace(wall);
        let task = start(self);
        self.task_wall = outer;
        task
    }

    /// Starts watching an entry into the isolate under `cpu` and `wall` for the task tagged
    /// `tag` (the watchdog hands it to the limit-exit hook; the entry itself tells the bridge,
    /// `stk_set_entry_tag`, for an out-of-memory exit).
    pub(crate) fn watch(
        &self,
        tag: u64,
        cpu: Duration,
        wall: Duration,
    ) -> Result<crate::watchdog::WatchGuard<'static>, RunError> {
        self.engine
            .watchdog
            .arm(self.iso.terminate_handle(), cpu, wall, tag)
    }

    fn new_task(&mut self, kind: Kind) -> u32 {
        let mut id = self.next_task;
        loop {
            id = id.wrapping_add(1).max(1);
            if !self.tasks.contains_key(&id) {
                break;
            }
        }
        self.next_task = id;
        let now = Instant::now();
        self.tasks.insert(
            id,
            Task {
                kind,
                tag: self.tag,
                started: now,
                deadline: now + self.task_wall.unwrap_or(self.limits.wall),
                cpu: Duration::ZERO,
                answered: false,
                lingering: false,
            },
        );
        self.host().calling_tasks.insert(id);
        let tag = self.tag;
        self.host().tags.insert(id, tag);
        id
    }

    /// Starts loading the worker's modules from `main` with no compatibility flags and no env:
    /// see [`Worker::start_load_with`].
    pub fn start_load(&mut self, main: &str, source: &mut dyn ModuleSource) -> TaskId {
        self.start_load_with(main, source, &LoadOptions::default())
    }

    /// Starts loading the worker's modules from `main`: the runtime gets `options` (built-in
    /// modules, globals, env), then compilation (TypeScript transformation included) and
    /// top-level code run, all under one task's limits.
    pub fn start_load_with(
        &mut self,
        main: &str,
        source: &mut dyn ModuleSource,
        options: &LoadOptions,
    ) -> TaskId {
        let id = self.new_task(Kind::Load { main: -1 });
        if let Some(e) = self.poisoned.clone() {
            self.fail(id, e);
            return TaskId(id);
        }
        // Compilation runs outside the task's entries: the bridge learns its tag here.
        let tag = self.tasks.get(&id).map_or(0, |t| t.tag);
        // SAFETY: raw is our live isolate; the call writes one field of the bridge's isolate
        // record and touches no V8 state.
        self.iso
            .call(|raw| unsafe { ffi::stk_set_entry_tag(raw, tag) });
        let guard = match self.watch(tag, self.limits.cpu, self.limits.wall) {
            Ok(g) => g,
            Err(e) => {
                self.fail(id, e);
                return TaskId(id);
            }
        };
        let compiled = self
            .configure(options, &guard)
            .and_then(|()| self.compile_all(main, source, &guard));
        let spent = guard.cpu_spent();
        drop(guard);
        if let Some(t) = self.tasks.get_mut(&id) {
            t.cpu += spent;
        }
        match compiled {
            Err(e @ RunError::Limit(_)) => self.poison(e),
            Err(e) => self.fail(id, e),
            Ok(index) => {
                if let Some(t) = self.tasks.get_mut(&id) {
                    t.kind = Kind::Load { main: index };
                }
                // SAFETY: raw is our live isolate; out is valid.
                self.enter(id, |raw, out| unsafe {
                    ffi::stk_module_run(raw, index, id, out)
                });
            }
        }
        TaskId(id)
    }

    /// Starts `await default(arg)` of the main module; `arg_json` is JSON text.
    pub fn start_call(&mut self, arg_json: &str) -> TaskId {
        let id = self.new_task(Kind::Call);
        if let Err(e) = serde_json::from_str::<serde_json::Value>(arg_json) {
            self.fail(
                id,
                RunError::InvalidInput(format!("the argument is not JSON: {e}")),
            );
            return TaskId(id);
        }
        self.start_invoke(id, ffi::STK_INVOKE_DEFAULT, arg_json, None);
        TaskId(id)
    }

    /// Starts an RPC call: method `method` of the main module's export `entrypoint` (empty for
    /// the default export) with `args_json`, the runtime's structured-clone encoding of the
    /// argument list (`js/rpc.js`), or `{"get": 1}` to read the property `method` instead. The task answers JSON text: `{"ok": <encoded value>}` or
    /// `{"error": {"name", "message"}}` for what the method threw.
    pub fn start_rpc(
        &mut self,
        entrypoint: &str,
        method: &str,
        args_json: &str,
        env: &serde_json::Value,
    ) -> TaskId {
        self.start_rpc_with(entrypoint, method, args_json, env, "")
    }

    /// [`Worker::start_rpc`] with `ctx.props` (`props_json`: JSON text of an object; empty:
    /// `{}`), what the service binding the call came through carries.
    pub fn start_rpc_with(
        &mut self,
        entrypoint: &str,
        method: &str,
        args_json: &str,
        env: &serde_json::Value,
        props_json: &str,
    ) -> TaskId {
        let id = self.new_task(Kind::Call);
        let Ok(props) = head::props(props_json) else {
            self.fail(
                id,
                RunError::InvalidInput("ctx.props is not a JSON object".into()),
            );
            return TaskId(id);
        };
        // Checked as JSON and passed on as written: a string may hold a lone surrogate, which
        // JavaScript has and a Rust string does not (the runtime parses it).
        // A property read (`await stub.name`) sends `{"get": 1}` in the list's place.
        let read = || {
            serde_json::from_str::<serde_json::Value>(args_json)
                .is_ok_and(|v| v == serde_json::json!({ "get": 1 }))
        };
        let args: &serde_json::value::RawValue = match serde_json::from_str(args_json) {
            Ok(args) if args_json.trim_start().starts_with('[') || read() => args,
            _ => {
                self.fail(
                    id,
                    RunError::InvalidInput(
                        "the RPC arguments are not a JSON array (nor a property read)".into(),
                    ),
                );
                return TaskId(id);
            }
        };
        let payload = head::RpcPayload {
            entrypoint,
            method,
            args,
            env,
            props,
        };
        match serde_json::to_string(&payload) {
            Ok(payload) => self.start_invoke(id, ffi::STK_INVOKE_RPC, &payload, None),
            Err(e) => self.fail(id, RunError::Internal(format!("the RPC call: {e}"))),
        }
        TaskId(id)
    }

    /// Starts the main module's scheduled handler for the cron trigger `cron` due at
    /// `scheduled_time_ms` (ms since the Unix epoch): `scheduled(controller, env, ctx)` of the
    /// default export, a `WorkerEntrypoint` class's `scheduled(controller)`, or a "scheduled"
    /// event at the global scope. The task answers JSON text once the handler and its
    /// `waitUntil` work are over: `{"outcome": "ok"|"exception", "noRetry": bool, "error"?}`.
    pub fn start_scheduled(
        &mut self,
        cron: &str,
        scheduled_time_ms: u64,
        env: &serde_json::Value,
    ) -> TaskId {
        let id = self.new_task(Kind::Call);
        let payload = head::ScheduledPayload {
            cron,
            scheduled_time: scheduled_time_ms,
            env,
        };
        match serde_json::to_string(&payload) {
            Ok(payload) => self.start_invoke(id, ffi::STK_INVOKE_SCHEDULED, &payload, None),
            Err(e) => self.fail(id, RunError::Internal(format!("the scheduled event: {e}"))),
        }
        TaskId(id)
    }

    /// Starts the main module's queue handler with one batch of `queue`: `messages` (JSON text
    /// `[{id, timestamp, attempts, contentType, body: [offset, length]}]`, each body a range of
    /// `bodies`) reach `queue(batch, env, ctx)` of the default export, a `WorkerEntrypoint`
    /// class's `queue(batch)`, or a "queue" event at the global scope. The task answers JSON
    /// text once the handler and its `waitUntil` work are over: `{"outcome", "error"?,
    /// "messages": [{id, action, delaySeconds?}]}` (`js/queue.js`).
    pub fn start_queue(
        &mut self,
        queue: &str,
        messages: &[u8],
        bodies: &[u8],
        env: &serde_json::Value,
    ) -> TaskId {
        let id = self.new_task(Kind::Call);
        let messages = match serde_json::from_slice::<serde_json::Value>(messages) {
            Ok(messages) if messages.is_array() => messages,
            _ => {
                self.fail(
                    id,
                    RunError::Internal("the queue batch is not a JSON list".into()),
                );
                return TaskId(id);
            }
        };
        let payload = head::QueuePayload {
            queue,
            messages: &messages,
            env,
        };
        match serde_json::to_string(&payload) {
            Ok(payload) => self.start_invoke(id, ffi::STK_INVOKE_QUEUE, &payload, Some(bodies)),
            Err(e) => self.fail(id, RunError::Internal(format!("the queue batch: {e}"))),
        }
        TaskId(id)
    }

    /// Starts the main module's `fetch(request, env, ctx)`; the body reaches it as bytes.
    pub fn start_fetch(&mut self, request: &FetchRequest) -> TaskId {
        self.start_fetch_at("", request)
    }

    /// [`Worker::start_fetch`] of the named export `entrypoint` (a `WorkerEntrypoint` class or
    /// an object with a `fetch` method; empty: the default export), as a service binding with
    /// an `entrypoint` calls it.
    pub fn start_fetch_at(&mut self, entrypoint: &str, request: &FetchRequest) -> TaskId {
        self.start_fetch_with(entrypoint, request, "")
    }

    /// [`Worker::start_fetch_at`] with `ctx.props`, as [`Worker::start_rpc_with`]'s.
    pub fn start_fetch_with(
        &mut self,
        entrypoint: &str,
        request: &FetchRequest,
        props_json: &str,
    ) -> TaskId {
        let id = self.new_task(Kind::Fetch);
        let Ok(props) = head::props(props_json) else {
            self.fail(
                id,
                RunError::InvalidInput("ctx.props is not a JSON object".into()),
            );
            return TaskId(id);
        };
        let headers = match head::normalize(&request.headers) {
            Ok(h) => h,
            Err(e) => {
                self.fail(id, e);
                return TaskId(id);
            }
        };
        let head = head::FetchHead {
            method: &request.method,
            url: &request.url,
            headers: &headers,
            env: &request.env,
            streamed: request.body_streamed,
            encode: request.encode_body,
            entrypoint,
            props,
        };
        match serde_json::to_string(&head) {
            Ok(head) => {
                let body = (!request.body.is_empty()).then_some(request.body.as_slice());
                self.start_invoke(id, ffi::STK_INVOKE_FETCH, &head, body);
            }
            Err(e) => self.fail(id, RunError::Internal(format!("the request's head: {e}"))),
        }
        TaskId(id)
    }

    fn start_invoke(&mut self, id: u32, kind: i32, payload: &str, body: Option<&[u8]>) {
        if let Some(e) = self.poisoned.clone() {
            return self.fail(id, e);
        }
        let Some(main) = self.main else {
            return self.fail(id, RunError::Internal("no module has been loaded".into()));
        };
        let (body_ptr, body_len) = body.map_or((std::ptr::null(), 0), |b| (b.as_ptr(), b.len()));
        self.enter(id, |raw, out| {
            // SAFETY: raw is our live isolate; payload and body outlive the call; out is valid.
            unsafe {
                ffi::stk_invoke(
                    raw,
                    main,
                    kind,
                    id,
                    payload.as_ptr().cast(),
                    payload.len(),
                    body_ptr,
                    body_len,
                    out,
                )
            }
        });
    }

    /// When the owner must call [`Worker::advance`] next: the earliest timer or task deadline.
    pub fn next_wake(&self) -> Option<Instant> {
        // SAFETY: no bridge call is running; the host state is only read.
        let timers = unsafe { self.host.as_ref() }.next_due();
        let deadlines = self.tasks.values().map(|t| t.deadline).min();
        match (timers, deadlines) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether tasks are alive in this isolate.
    pub fn busy(&self) -> bool {
        !self.tasks.is_empty()
    }

    /// Answers the tasks past their deadline, then fires the timers due at `now` (those armed
    /// meanwhile wait for the next round, so one isolate cannot keep its thread).
    pub fn advance(&mut self, now: Instant) {
        let late: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.fail(id, RunError::Limit(LimitKind::Wall));
        }
        let mut round = self.host().timers.len();
        while round > 0 && self.poisoned.is_none() {
            round -= 1;
            let Some((timer, task)) = self.host().take_due(now) else {
                break;
            };
            if !self.tasks.contains_key(&task) {
                self.host().timer_dropped(timer);
                continue;
            }
            // SAFETY: raw is our live isolate; out is valid.
            self.enter(task, |raw, out| unsafe {
                ffi::stk_fire_timer(raw, timer, out)
            });
        }
        self.reap_stuck();
    }

    /// Settles host call `call` with the host's answer (bytes, or an error message) and runs
    /// what it wakes, for the task that made the call. Unknown calls are ignored. The task's next
    /// call waiting for a place in flight (if any) is sent first: it comes before the calls this
    /// answer's JavaScript makes ([`Worker::take_host_calls`]).
    pub fn host_reply(&mut self, call: u32, result: Result<Vec<u8>, String>) {
        let Some(task) = self.host().call_answered(call) else {
            return;
        };
        if !self.tasks.contains_key(&task) {
            return;
        }
        let (ok, bytes) = match &result {
            Ok(b) => (1, b.as_slice()),
            Err(m) => (0, m.as_bytes()),
        };
        // SAFETY: raw is our live isolate; bytes outlive the call; out is valid.
        self.enter(task, |raw, out| unsafe {
            ffi::stk_host_reply(raw, call, ok, bytes.as_ptr(), bytes.len(), out)
        });
        self.reap_stuck();
    }

    /// Drops `task` without an answer (its requester is gone): its promise, timers and host
    /// calls are forgotten. Nothing more comes from it.
    pub fn cancel(&mut self, task: TaskId) {
        if self.tasks.contains_key(&task.0) {
            self.end(task.0, false, None, false);
            self.reap_stuck();
        }
    }

    /// The events since the last call, in order.
    pub fn drain_events(&mut self) -> Vec<TaskEvent> {
        std::mem::take(&mut self.events)
    }

    /// The host calls to send since the last call, in order: those made, and those that waited
    /// for a place in flight and got one (a task has at most
    /// [`crate::MAX_HOST_CALLS_PER_TASK`] unanswered; the rest wait in the isolate).
    pub fn take_host_calls(&mut self) -> Vec<HostCall> {
        std::mem::take(&mut self.host().calls_out)
            .into_iter()
            .map(|c| HostCall {
                task: TaskId(c.task),
                call: c.call,
                name: c.name,
                payload: c.payload,
            })
            .collect()
    }
}

mod head;
mod settle;
