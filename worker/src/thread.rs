//! One isolate thread: an event loop over the isolates it owns.
//!
//! Each thread takes its requests from its inbox (`inbox.rs`: the threads read the socket
//! themselves and queue each other what is not their own); an isolate lives on one thread for
//! its whole life (V8 binds it there; PKRU is per thread and every entry switches it, see
//! `stockade_isolate::protection`). The thread starts a request's task and goes on: while the
//! task waits (a timer, a host call, another task) the thread runs other requests. It sleeps
//! until its next timer or deadline or until its inbox has something; idle moments go to
//! the isolate stock (disposing used isolates, making fresh ones, renewing V8's shared heap);
//! every pass checks whether that renewal is overdue (`stock::Overdue`: the supervisor is told).
//! The loop itself, and how the thread waits, is `pace.rs`; this file is what it does with work.
//!
//! Guarantees: every request routed here is answered exactly once (its `Outcome`,
//! or `Disposed`), from this thread, and its route is removed when it is; a host call is
//! forwarded with the request it belongs to; a request cancelled by the supervisor stops (its
//! task is dropped with its timers and host calls) and is answered `Cancelled`; a Code Mode
//! snippet's isolate never serves anything else; a Loader worker's isolate whose code hit a
//! limit is dropped as soon as its last task ends, and a later load makes a fresh one.
//!
//! Trusts: the inbox to route each request to one thread only.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stockade_ipc::{Call, ErrorKind, LoadWorker, RequestId, ToSupervisor, WorkerId};
use stockade_isolate::{Answered, Engine, LogLine, RunError, TaskEvent, TaskId, Worker};

use super::convert::{self, Spent};
use super::shared::Shared;
use super::stock::IsolateStock;

/// What a thread takes from its inbox.
pub enum Work {
    Snippet {
        id: RequestId,
        code: String,
        arg_json: Vec<u8>,
        limits: stockade_ipc::Limits,
    },
    Load(LoadWorker),
    Invoke {
        id: RequestId,
        worker_id: WorkerId,
        call: Call,
    },
    Dispose {
        id: RequestId,
        worker_id: WorkerId,
    },
    Cancel(RequestId),
    HostReply {
        id: RequestId,
        call: u32,
        /// The supervisor's CPU spent answering (µs): a synchronous call's is charged to it.
        cpu_us: u32,
        result: Result<Vec<u8>, String>,
    },
}

pub(super) enum Role {
    Snippet,
    Loader {
        id: WorkerId,
        env: serde_json::Value,
    },
}

pub(super) struct Hosted {
    pub(super) worker: Worker,
    pub(super) role: Role,
    /// Drop the isolate once its last task has ended.
    pub(super) dropping: bool,
}

/// What a task is for, until it answers.
pub(super) enum Purpose {
    SnippetLoad {
        request: RequestId,
        arg: String,
    },
    SnippetCall {
        request: RequestId,
        before: Spent,
    },
    Load {
        request: RequestId,
        worker_id: WorkerId,
    },
    Invoke {
        request: RequestId,
        /// A binding's method call (`Call::Rpc`), not a `fetch`.
        rpc: bool,
    },
}

impl Purpose {
    fn request(&self) -> RequestId {
        match self {
            Purpose::SnippetLoad { request, .. }
            | Purpose::SnippetCall { request, .. }
            | Purpose::Load { request, .. }
            | Purpose::Invoke { request, .. } => *request,
        }
    }
}

pub struct Thread {
    pub(super) index: usize,
    pub(super) engine: &'static Engine,
    pub(super) shared: Arc<Shared>,
    pub(super) test_hooks: bool,
    pub(super) isolates: HashMap<u64, Hosted>,
    next_slot: u64,
    pub(super) loaders: HashMap<WorkerId, u64>,
    tasks: HashMap<(u64, TaskId), Purpose>,
    /// Tasks answered whose work goes on (a streamed body, `waitUntil`): their request, until
    /// they end and `Finished` is sent.
    open: HashMap<(u64, TaskId), RequestId>,
    requests: HashMap<RequestId, (u64, TaskId)>,
    pub(super) stock: IsolateStock,
    /// Until when the thread looks for a host call's reply without sleeping (see `REPLY_SPIN_US`).
    pub(super) spin_until: Option<Instant>,
    /// No spinning before this (the CPU was found contended; see `CONTENDED`).
    pub(super) spin_cooldown: Option<Instant>,
    /// When a spin last found the CPU contended (see `stockade_ipc::pace::cooldown`).
    pub(super) last_contended: Option<Instant>,
    /// How long to look for a reply (`REPLY_SPIN_US` unless configured; zero: never).
    pub(super) reply_spin: Duration,
    /// When the thread last answered a Loader worker's load: chores wait for a lull after it.
    pub(super) last_load: Option<Instant>,
    /// Where the thread is in the process's idle period (`idle.rs`).
    pub(super) rest: crate::idle::Rest,
    /// A handle of the thread's inbox, for its isolates' synchronous host calls
    /// (`sync_call.rs`); set when the thread starts serving.
    pub(super) sync_inbox: Option<super::inbox::ThreadInbox>,
}

impl Thread {
    pub fn new(
        index: usize,
        engine: &'static Engine,
        shared: Arc<Shared>,
        test_hooks: bool,
        reply_spin: Duration,
        renew_after: u64,
    ) -> Self {
        Thread {
            index,
            engine,
            shared,
            test_hooks,
            isolates: HashMap::new(),
            next_slot: 0,
            loaders: HashMap::new(),
            tasks: HashMap::new(),
            open: HashMap::new(),
            requests: HashMap::new(),
            stock: IsolateStock::new(renew_after),
            spin_until: None,
            spin_cooldown: None,
            last_contended: None,
            reply_spin,
            last_load: None,
            rest: crate::idle::Rest::Active,
            sync_inbox: None,
        }
    }

    pub(super) fn handle(&mut self, work: Work) {
        if let Work::Snippet { id, .. }
        | Work::Load(LoadWorker { request_id: id, .. })
        | Work::Invoke { id, .. }
        | Work::Dispose { id, .. } = &work
        {
            self.shared.starting(*id);
        }
        match work {
            Work::Snippet {
                id,
                code,
                arg_json,
                limits,
            } => self.snippet(id, code, arg_json, &limits),
            Work::Load(load) => self.load(load),
            Work::Invoke {
                id,
                worker_id,
                call,
            } => self.invoke(id, worker_id, call),
            Work::Dispose { id, worker_id } => {
                if let Some(slot) = self.loaders.remove(&worker_id) {
                    if let Some(h) = self.isolates.get_mut(&slot) {
                        h.dropping = true;
                    }
                    self.after(slot);
                }
                let disposed = ToSupervisor::Disposed {
                    request_id: id,
                    worker_id,
                };
                self.shared.answer(self.index, id, &disposed);
            }
            Work::Cancel(id) => self.cancel(id),
            Work::HostReply {
                id, call, result, ..
            } => {
                let Some(&(slot, _)) = self.requests.get(&id) else {
                    return; // answered or cancelled meanwhile
                };
                if let Some(h) = self.isolates.get_mut(&slot) {
                    h.worker.host_reply(call, result);
                }
                self.after(slot);
            }
        }
    }

    pub(super) fn host(&mut self, mut worker: Worker, role: Role) -> u64 {
        if let Some(inbox) = &self.sync_inbox {
            worker.set_sync_host(Box::new(super::sync_call::SyncWait {
                shared: Arc::clone(&self.shared),
                inbox: inbox.handle(),
            }));
        }
        self.next_slot += 1;
        let slot = self.next_slot;
        self.isolates.insert(
            slot,
            Hosted {
                worker,
                role,
                dropping: false,
            },
        );
        slot
    }

    pub(super) fn fail(&self, id: RequestId, kind: ErrorKind, message: String) {
        let outcome = ToSupervisor::Outcome(convert::failed(id, kind, message));
        self.shared.answer(self.index, id, &outcome);
    }

    fn cancel(&mut self, id: RequestId) {
        let Some((slot, task)) = self.requests.remove(&id) else {
            return; // over already, or never here
        };
        self.tasks.remove(&(slot, task));
        let was_open = self.open.remove(&(slot, task)).is_some();
        if let Some(h) = self.isolates.get_mut(&slot) {
            h.worker.cancel(task);
            if matches!(h.role, Role::Snippet) {
                h.dropping = true;
            }
        }
        let why = "the request was cancelled: its client went away".to_string();
        if was_open {
            let finished = ToSupervisor::Finished {
                request_id: id,
                error: Some(convert::failed_reply(ErrorKind::Cancelled, why)),
                logs: Vec::new(),
            };
            self.shared.answer(self.index, id, &finished);
        } else {
            self.fail(id, ErrorKind::Cancelled, why);
        }
        self.after(slot);
    }

    pub(super) fn track(&mut self, slot: u64, task: TaskId, purpose: Purpose) {
        self.requests.insert(purpose.request(), (slot, task));
        self.tasks.insert((slot, task), purpose);
    }

    /// Forwards what isolate `slot` produced (host calls, answers) until it is quiet, then drops
    /// it if it is done.
    pub(super) fn after(&mut self, slot: u64) {
        loop {
            let Some(h) = self.isolates.get_mut(&slot) else {
                return;
            };
            let calls = h.worker.take_host_calls();
            let events = h.worker.drain_events();
            if calls.is_empty() && events.is_empty() {
                break;
            }
            for call in calls {
                let key = (slot, call.task);
                let request = match self.tasks.get(&key) {
                    Some(purpose) => Some(purpose.request()),
                    None => self.open.get(&key).copied(),
                };
                match request {
                    Some(request_id) => {
                        self.shared.send(&ToSupervisor::HostCall {
                            request_id,
                            call_id: call.call,
                            name: call.name,
                            payload: call.payload,
                            cpu_left_us: 0, // asynchronous: the request's wall time only
                        });
                        if !self.reply_spin.is_zero() {
                            self.spin_until = Some(Instant::now() + self.reply_spin);
                        }
                    }
                    None => {
                        if let Some(h) = self.isolates.get_mut(&slot) {
                            h.worker
                                .host_reply(call.call, Err("this request has ended".into()));
                        }
                    }
                }
            }
            // Tasks that ended well in this batch. One that ended with an error after its
            // answer (a streamed body that can never go on) is answered open and then
            // `Finished` with the error, or the client would see its cut body as complete.
            // Their lines after the answer go with the answer.
            let mut ends: Vec<(TaskId, Vec<LogLine>)> = Vec::new();
            let mut rest = Vec::with_capacity(events.len());
            for event in events {
                match event {
                    TaskEvent::Ended {
                        task,
                        error: None,
                        logs,
                    } if events_answer(&rest, task) => ends.push((task, logs)),
                    event => rest.push(event),
                }
            }
            for event in rest {
                match event {
                    TaskEvent::Answered(mut a) => {
                        // A task that does not end well with its answer goes on: its request
                        // is open.
                        let end = ends.iter().position(|(t, _)| *t == a.task);
                        if let Some(i) = end {
                            a.logs.extend(ends.swap_remove(i).1);
                        }
                        self.answered(slot, a, end.is_none());
                    }
                    TaskEvent::Ended { task, error, logs } => self.ended(slot, task, error, logs),
                }
            }
        }
        let Some(h) = self.isolates.get_mut(&slot) else {
            return;
        };
        if h.worker.poisoned().is_some() {
            h.dropping = true;
            if let Role::Loader { id, .. } = &h.role {
                if self.loaders.get(id) == Some(&slot) {
                    self.loaders.remove(id);
                }
            }
        }
        if h.dropping && !h.worker.busy() {
            if let Some(h) = self.isolates.remove(&slot) {
                self.stock.retire(h.worker);
            }
        }
    }

    /// A task ended: an open request's `Finished` goes out, with the lines it made since its
    /// answer.
    fn ended(&mut self, slot: u64, task: TaskId, error: Option<RunError>, logs: Vec<LogLine>) {
        self.tasks.remove(&(slot, task));
        let Some(request_id) = self.open.remove(&(slot, task)) else {
            return;
        };
        self.requests.remove(&request_id);
        let finished = ToSupervisor::Finished {
            request_id,
            error: error.as_ref().map(convert::error_reply),
            logs: convert::logs(logs),
        };
        self.shared.answer(self.index, request_id, &finished);
    }

    fn answered(&mut self, slot: u64, a: Answered, open: bool) {
        let Some(purpose) = self.tasks.remove(&(slot, a.task)) else {
            return; // cancelled
        };
        let request = purpose.request();
        // Only an invocation goes on after its answer (snippets and loads end with theirs).
        let open = open && matches!(purpose, Purpose::Invoke { .. });
        if open {
            self.open.insert((slot, a.task), request);
        } else {
            self.requests.remove(&request);
        }
        let spent = Spent {
            logs: a.logs,
            cpu: a.cpu,
            wall: a.wall,
        };
        let outcome = match purpose {
            Purpose::SnippetLoad { arg, .. } => match a.result {
                Ok(_) => {
                    let Some(h) = self.isolates.get_mut(&slot) else {
                        return;
                    };
                    h.worker.set_tag(request.0);
                    let task = h.worker.start_call(&arg);
                    return self.track(
                        slot,
                        task,
                        Purpose::SnippetCall {
                            request,
                            before: spent,
                        },
                    );
                }
                Err(e) => {
                    self.drop_later(slot);
                    convert::outcome(request, Err(e), spent, self.seen(slot), false)
                }
            },
            Purpose::SnippetCall { mut before, .. } => {
                self.drop_later(slot);
                before.logs.extend(spent.logs);
                before.cpu += spent.cpu;
                before.wall += spent.wall;
                convert::outcome(request, a.result, before, self.seen(slot), false)
            }
            Purpose::Load { worker_id, .. } => {
                if a.result.is_ok() && !self.loaders.contains_key(&worker_id) {
                    self.loaders.insert(worker_id, slot);
                } else {
                    self.drop_later(slot);
                }
                convert::outcome(request, a.result, spent, self.seen(slot), false)
            }
            Purpose::Invoke { rpc, .. } => {
                if rpc && !self.reply_spin.is_zero() {
                    // The caller of a binding's method waits on each call and usually makes the
                    // next at once (an RPC loop, a chain of calls): the thread keeps looking for
                    // it for a moment, as for a host call's reply (see `REPLY_SPIN_US`).
                    self.spin_until = Some(Instant::now() + self.reply_spin);
                }
                convert::outcome(request, a.result, spent, self.seen(slot), open)
            }
        };
        self.shared
            .answer(self.index, request, &ToSupervisor::Outcome(outcome));
    }

    /// What `slot`'s isolate was seen doing and the memory it holds, for an answer (read only
    /// when an answer goes out: a snippet's load does not answer).
    pub(super) fn seen(&self, slot: u64) -> (stockade_isolate::Observed, usize) {
        self.isolates
            .get(&slot)
            .map(|h| (h.worker.observed(), crate::stock::footprint(&h.worker)))
            .unwrap_or_default()
    }

    fn drop_later(&mut self, slot: u64) {
        if let Some(h) = self.isolates.get_mut(&slot) {
            h.dropping = true;
        }
    }
}

/// Whether `events` (this batch's so far) answer `task`: a task that ends well in the batch that
/// answers it is answered closed.
fn events_answer(events: &[TaskEvent], task: TaskId) -> bool {
    events
        .iter()
        .any(|e| matches!(e, TaskEvent::Answered(a) if a.task == task))
}
