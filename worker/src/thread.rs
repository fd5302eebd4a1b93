//! One isolate thread: an event loop over the isolates it owns.
//!
//! The dispatcher (`serve.rs`) hands each thread its requests; an isolate lives on one thread for
//! its whole life (V8 binds it there; PKRU is per thread and every entry switches it, see
//! `stockade_isolate::protection`). The thread starts a request's task and goes on: while the
//! task waits (a timer, a host call, another task) the thread runs other requests. It sleeps
//! until its next timer or deadline or until the dispatcher sends something; idle moments go to
//! the isolate stock (disposing used isolates, making fresh ones).
//!
//! Guarantees: every request the dispatcher routed here is answered exactly once (its `Outcome`,
//! or `Disposed`), from this thread, and its route is removed when it is; a host call is
//! forwarded with the request it belongs to; a request cancelled by the supervisor stops (its
//! task is dropped with its timers and host calls) and is answered `Cancelled`; a Code Mode
//! snippet's isolate never serves anything else; a Loader worker's isolate whose code hit a
//! limit is dropped as soon as its last task ends, and a later load makes a fresh one.
//!
//! Trusts: the dispatcher to route each request to one thread only.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use stockade_ipc::{write_frame, Call, ErrorKind, LoadWorker, RequestId, ToSupervisor, WorkerId};
use stockade_isolate::{
    Answered, Engine, FetchRequest, Module, ModuleSet, TaskEvent, TaskId, Worker,
};

use super::convert::{self, Spent};
use super::stock::IsolateStock;

/// What the dispatcher hands a thread.
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
        result: Result<Vec<u8>, String>,
    },
}

/// What the dispatcher and the threads share: the socket's write side, which thread has which
/// request, and how many requests each thread has.
pub struct Shared {
    /// The one socket: the dispatcher reads it, threads write it under `writing` (no second
    /// descriptor: the jail's seccomp policy refuses dup).
    stream: UnixStream,
    writing: Mutex<()>,
    routes: Mutex<HashMap<RequestId, usize>>,
    load: Vec<AtomicUsize>,
}

/// The exit status of a worker whose socket broke or whose thread panicked.
pub const EXIT_BROKEN: i32 = 70;

impl Shared {
    pub fn new(stream: UnixStream, threads: usize) -> Shared {
        Shared {
            stream,
            writing: Mutex::new(()),
            routes: Mutex::new(HashMap::new()),
            load: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
        }
    }

    /// Writes one frame. A socket that fails to take it means the supervisor is gone (or the
    /// frame cannot encode, which `convert` rules out): the process ends.
    pub fn send(&self, message: &ToSupervisor) {
        let _writing = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = write_frame(&mut &self.stream, message) {
            eprintln!("stockade worker: cannot write to the supervisor: {e}");
            // SAFETY: _exit ends the process without running destructors, which could touch V8
            // while other threads are inside it.
            unsafe { libc::_exit(EXIT_BROKEN) };
        }
    }

    /// The socket, for the dispatcher's reads.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    pub fn routes(&self) -> MutexGuard<'_, HashMap<RequestId, usize>> {
        self.routes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that thread `thread` has request `id`.
    pub fn route(&self, id: RequestId, thread: usize) {
        self.routes().insert(id, thread);
        if let Some(load) = self.load.get(thread) {
            load.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The thread with the fewest requests.
    pub fn least_loaded(&self) -> usize {
        (0..self.load.len())
            .min_by_key(|&i| self.load[i].load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// Answers request `id` of thread `thread` and forgets its route.
    fn answer(&self, thread: usize, id: RequestId, message: &ToSupervisor) {
        self.send(message);
        if self.routes().remove(&id).is_some() {
            if let Some(load) = self.load.get(thread) {
                load.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

enum Role {
    Snippet,
    Loader {
        id: WorkerId,
        env: serde_json::Value,
    },
}

struct Hosted {
    worker: Worker,
    role: Role,
    /// Drop the isolate once its last task has ended.
    dropping: bool,
}

/// What a task is for, until it answers.
enum Purpose {
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
    },
}

impl Purpose {
    fn request(&self) -> RequestId {
        match self {
            Purpose::SnippetLoad { request, .. }
            | Purpose::SnippetCall { request, .. }
            | Purpose::Load { request, .. }
            | Purpose::Invoke { request } => *request,
        }
    }
}

pub struct Thread {
    index: usize,
    engine: &'static Engine,
    shared: Arc<Shared>,
    test_hooks: bool,
    isolates: HashMap<u64, Hosted>,
    next_slot: u64,
    loaders: HashMap<WorkerId, u64>,
    tasks: HashMap<(u64, TaskId), Purpose>,
    requests: HashMap<RequestId, (u64, TaskId)>,
    stock: IsolateStock,
}

impl Thread {
    pub fn new(
        index: usize,
        engine: &'static Engine,
        shared: Arc<Shared>,
        test_hooks: bool,
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
            requests: HashMap::new(),
            stock: IsolateStock::default(),
        }
    }

    /// Serves until the dispatcher hangs up.
    pub fn run(mut self, inbox: Receiver<Work>) {
        loop {
            let wake = self.next_wake();
            let chores = self.stock.has_chores();
            let first = if chores {
                match inbox.try_recv() {
                    Ok(work) => Some(work),
                    Err(TryRecvError::Empty) => None,
                    Err(TryRecvError::Disconnected) => return,
                }
            } else if let Some(wake) = wake {
                match inbox.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                    Ok(work) => Some(work),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            } else {
                match inbox.recv() {
                    Ok(work) => Some(work),
                    Err(_) => return,
                }
            };
            let idle = first.is_none();
            if let Some(work) = first {
                self.handle(work);
                while let Ok(work) = inbox.try_recv() {
                    self.handle(work);
                }
            }
            let due = self.advance_due();
            if idle && !due && chores {
                self.stock.chore(self.engine);
            }
        }
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

    fn handle(&mut self, work: Work) {
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
            Work::HostReply { id, call, result } => {
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

    fn fail(&self, id: RequestId, kind: ErrorKind, message: String) {
        let outcome = ToSupervisor::Outcome(convert::failed(id, kind, message));
        self.shared.answer(self.index, id, &outcome);
    }

    fn host(&mut self, worker: Worker, role: Role) -> u64 {
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

    /// Debug builds with `--test-hooks`: every isolate gets the test host call.
    fn prepare(&self, worker: &mut Worker) -> Result<(), String> {
        #[cfg(debug_assertions)]
        if self.test_hooks {
            worker.install_test_host_call().map_err(|e| e.to_string())?;
        }
        let _ = (worker, self.test_hooks);
        Ok(())
    }

    fn snippet(
        &mut self,
        id: RequestId,
        code: String,
        arg_json: Vec<u8>,
        limits: &stockade_ipc::Limits,
    ) {
        #[cfg(debug_assertions)]
        if self.test_hooks && code == super::test_hooks::FORBIDDEN_SYSCALL {
            let message = super::test_hooks::forbidden_syscall();
            return self.fail(id, ErrorKind::Internal, message);
        }
        let Ok(arg) = String::from_utf8(arg_json) else {
            return self.fail(
                id,
                ErrorKind::InvalidInput,
                "the argument is not UTF-8".into(),
            );
        };
        let mut worker = match self.stock.take(self.engine, limits) {
            Ok(w) => w,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        if let Err(e) = self.prepare(&mut worker) {
            return self.fail(id, ErrorKind::Internal, e);
        }
        let Ok(mut set) = ModuleSet::new([Module::new("main.ts", code.into_bytes())]) else {
            return self.fail(id, ErrorKind::Internal, "snippet module".into());
        };
        let task = worker.start_load("main.ts", &mut set);
        let slot = self.host(worker, Role::Snippet);
        self.track(slot, task, Purpose::SnippetLoad { request: id, arg });
        self.after(slot);
    }

    fn load(&mut self, load: LoadWorker) {
        let id = load.request_id;
        if let Some(slot) = self.loaders.get(&load.worker_id) {
            let healthy = self
                .isolates
                .get(slot)
                .is_some_and(|h| !h.dropping && h.worker.poisoned().is_none());
            if healthy {
                // The id is a hash of the whole definition: this very worker is loaded already.
                let spent = Spent {
                    logs: Vec::new(),
                    cpu: std::time::Duration::ZERO,
                    wall: std::time::Duration::ZERO,
                };
                let outcome = convert::outcome(id, Ok(stockade_isolate::Answer::Loaded), spent);
                return self
                    .shared
                    .answer(self.index, id, &ToSupervisor::Outcome(outcome));
            }
        }
        let modules = load.modules.into_iter().map(|m| Module {
            name: m.name,
            kind: convert::module_kind(m.kind),
            bytes: m.bytes,
        });
        let mut set = match ModuleSet::new(modules) {
            Ok(s) => s,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        let mut worker = match Worker::new(self.engine, convert::limits(&load.limits)) {
            Ok(w) => w,
            Err(e) => return self.fail(id, convert::error_kind(&e), e.to_string()),
        };
        if let Err(e) = self.prepare(&mut worker) {
            return self.fail(id, ErrorKind::Internal, e);
        }
        let task = worker.start_load(&load.main_module, &mut set);
        let env = serde_json::Value::Object(
            load.env
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect(),
        );
        let slot = self.host(
            worker,
            Role::Loader {
                id: load.worker_id,
                env,
            },
        );
        self.track(
            slot,
            task,
            Purpose::Load {
                request: id,
                worker_id: load.worker_id,
            },
        );
        self.after(slot);
    }

    fn invoke(&mut self, id: RequestId, worker_id: WorkerId, call: Call) {
        let Some(&slot) = self.loaders.get(&worker_id) else {
            return self.fail(
                id,
                ErrorKind::UnknownWorker,
                "this worker is not loaded in this process".into(),
            );
        };
        let Some(h) = self.isolates.get_mut(&slot) else {
            return self.fail(id, ErrorKind::UnknownWorker, "this worker is gone".into());
        };
        let task = match call {
            Call::Default { arg_json } => match String::from_utf8(arg_json) {
                Ok(arg) => h.worker.start_call(&arg),
                Err(_) => {
                    return self.fail(
                        id,
                        ErrorKind::InvalidInput,
                        "the argument is not UTF-8".into(),
                    )
                }
            },
            Call::Fetch {
                method,
                url,
                headers,
                body,
            } => {
                let env = match &h.role {
                    Role::Loader { env, .. } => env.clone(),
                    Role::Snippet => serde_json::Value::Null,
                };
                h.worker.start_fetch(&FetchRequest {
                    method,
                    url,
                    headers,
                    body,
                    env,
                })
            }
        };
        self.track(slot, task, Purpose::Invoke { request: id });
        self.after(slot);
    }

    fn cancel(&mut self, id: RequestId) {
        let Some((slot, task)) = self.requests.remove(&id) else {
            return; // answered already, or never here
        };
        self.tasks.remove(&(slot, task));
        if let Some(h) = self.isolates.get_mut(&slot) {
            h.worker.cancel(task);
            if matches!(h.role, Role::Snippet) {
                h.dropping = true;
            }
        }
        self.fail(
            id,
            ErrorKind::Cancelled,
            "the request was cancelled: its client went away".into(),
        );
        self.after(slot);
    }

    fn track(&mut self, slot: u64, task: TaskId, purpose: Purpose) {
        self.requests.insert(purpose.request(), (slot, task));
        self.tasks.insert((slot, task), purpose);
    }

    /// Forwards what isolate `slot` produced (host calls, answers) until it is quiet, then drops
    /// it if it is done.
    fn after(&mut self, slot: u64) {
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
                match self.tasks.get(&(slot, call.task)) {
                    Some(purpose) => self.shared.send(&ToSupervisor::HostCall {
                        request_id: purpose.request(),
                        call_id: call.call,
                        name: call.name,
                        payload: call.payload,
                    }),
                    None => {
                        if let Some(h) = self.isolates.get_mut(&slot) {
                            h.worker
                                .host_reply(call.call, Err("this request has ended".into()));
                        }
                    }
                }
            }
            for event in events {
                match event {
                    TaskEvent::Answered(a) => self.answered(slot, a),
                    TaskEvent::Ended(task) => {
                        self.tasks.remove(&(slot, task));
                    }
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

    fn answered(&mut self, slot: u64, a: Answered) {
        let Some(purpose) = self.tasks.remove(&(slot, a.task)) else {
            return; // cancelled
        };
        let request = purpose.request();
        self.requests.remove(&request);
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
                    convert::outcome(request, Err(e), spent)
                }
            },
            Purpose::SnippetCall { mut before, .. } => {
                self.drop_later(slot);
                before.logs.extend(spent.logs);
                before.cpu += spent.cpu;
                before.wall += spent.wall;
                convert::outcome(request, a.result, before)
            }
            Purpose::Load { worker_id, .. } => {
                if a.result.is_ok() && !self.loaders.contains_key(&worker_id) {
                    self.loaders.insert(worker_id, slot);
                } else {
                    self.drop_later(slot);
                }
                convert::outcome(request, a.result, spent)
            }
            Purpose::Invoke { .. } => convert::outcome(request, a.result, spent),
        };
        self.shared
            .answer(self.index, request, &ToSupervisor::Outcome(outcome));
    }

    fn drop_later(&mut self, slot: u64) {
        if let Some(h) = self.isolates.get_mut(&slot) {
            h.dropping = true;
        }
    }
}
