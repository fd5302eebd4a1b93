//! What the isolate threads of one worker process share: the socket (read by whichever thread
//! holds the inbox's reader, written by every thread, one whole frame at a time), which thread
//! has which request, how many requests each thread has, which threads are busy with a chore,
//! and when the supervisor was last told that V8's shared heap is overdue for renewal.
//!
//! Guarantees: frames never interleave (one lock around each write); a request's route lives
//! from its dispatch until its answer is written (for a request that goes on after its answer,
//! until its `Finished`), so `Cancel` and `HostReply` find its thread exactly while it can still
//! use them; a write that fails ends the process (the supervisor is
//! gone, or a frame could not encode, which `convert` rules out). Trusts: the inbox to route
//! each request once.

use std::collections::HashMap;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use stockade_ipc::{write_frame, RequestId, ToSupervisor};
use stockade_isolate::Engine;

use super::idle::Idle;
use super::stock::Overdue;

/// What the threads share: the socket's write side, which thread has which
/// request, and how many requests each thread has.
pub struct Shared {
    /// The one socket: the inbox's reader reads it, threads write it under `writing` (no second
    /// descriptor: the jail's seccomp policy refuses dup).
    stream: UnixStream,
    writing: Mutex<()>,
    routes: Mutex<HashMap<RequestId, usize>>,
    load: Vec<AtomicUsize>,
    /// Set while a thread makes or disposes an isolate for its stock (`stock.rs`): a chore runs
    /// to its end (milliseconds) before the thread reads its inbox again.
    chores: Vec<AtomicBool>,
    /// When renewal is overdue enough to tell the supervisor (`RenewalOverdue`).
    overdue: Overdue,
    /// Which threads host a Loader worker's isolate (what keeps a renewal from ever happening;
    /// a process without one is given more time to find an idle moment).
    loaders: Vec<AtomicBool>,
    /// When the process last took work, for the memory an idle process gives back (`idle.rs`).
    pub idle: Idle,
}

/// Where a thread marks each request it starts (`stockade_ipc::marks`), once the supervisor
/// passed the file ([`install_marks`]): process-wide because the engine's limit-exit hook
/// ([`blame`]) names the culprit in it from whichever thread ends the process.
static MARKS: std::sync::OnceLock<stockade_ipc::marks::Marks> = std::sync::OnceLock::new();

/// The process's marks file, mapped (a process has one `Hello`, so one file; a second is
/// ignored).
pub fn install_marks(marks: stockade_ipc::marks::Marks) {
    let _ = MARKS.set(marks);
}

/// The engine's limit-exit hook (`Engine::set_limit_exit_hook`): the process is about to end
/// itself to enforce a limit of the task tagged `tag`, which the isolate threads tag with its
/// request's id; the supervisor reads it as the request whose limit that was. One atomic store.
pub extern "C" fn blame(tag: u64) {
    if let (Some(marks), true) = (MARKS.get(), tag != 0) {
        marks.blame(RequestId(tag));
    }
}

/// The exit status of a worker whose socket broke or whose thread panicked.
pub const EXIT_BROKEN: i32 = 70;

impl Shared {
    /// `renew_after`: isolates between renewals of V8's shared heap (see `stock`).
    pub fn new(stream: UnixStream, threads: usize, renew_after: u64) -> Shared {
        Shared {
            stream,
            writing: Mutex::new(()),
            routes: Mutex::new(HashMap::new()),
            load: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            chores: (0..threads).map(|_| AtomicBool::new(false)).collect(),
            overdue: Overdue::new(renew_after),
            loaders: (0..threads).map(|_| AtomicBool::new(false)).collect(),
            idle: Idle::default(),
        }
    }

    /// `id` starts now (see `stockade_ipc::marks`): if the process dies from here on, the
    /// supervisor fails it rather than running it again elsewhere.
    pub fn starting(&self, id: RequestId) {
        if let Some(marks) = MARKS.get() {
            marks.mark(id);
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

    /// Records whether thread `thread` hosts a Loader worker's isolate.
    pub fn set_hosts_loader(&self, thread: usize, hosts: bool) {
        if let Some(flag) = self.loaders.get(thread) {
            flag.store(hosts, Ordering::Relaxed);
        }
    }

    /// Tells the supervisor, once per mark (see `stock::Overdue`), that V8's shared heap is
    /// overdue for a renewal this process cannot do (a Loader worker's isolate lives in it, or
    /// it never has an idle moment): it grows with every isolate until it ends, so the
    /// supervisor replaces it. Two atomic loads otherwise.
    pub fn check_overdue(&self, engine: &'static Engine) {
        let memory = engine.renewal_counters();
        let loader_lives = || self.loaders.iter().any(|l| l.load(Ordering::Relaxed));
        if self.overdue.passed(&memory, loader_lives) {
            self.send(&ToSupervisor::RenewalOverdue {
                created_since_renewal: memory.created_since_renewal,
            });
        }
    }

    /// The socket, for the inbox's reads.
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

    /// The thread with the fewest requests; among those, one not in the middle of a chore, so a
    /// request does not wait out an isolate's creation while another thread is free.
    pub fn least_loaded(&self) -> usize {
        self.least_loaded_by(|_| 0)
    }

    /// As [`Shared::least_loaded`], with `tie(thread)` deciding between threads of equal load
    /// before the chores do.
    pub fn least_loaded_by(&self, tie: impl Fn(usize) -> usize) -> usize {
        (0..self.load.len())
            .min_by_key(|&i| {
                (
                    self.load[i].load(Ordering::Relaxed),
                    tie(i),
                    self.chores[i].load(Ordering::Relaxed),
                )
            })
            .unwrap_or(0)
    }

    /// Records whether thread `thread` is in the middle of a chore.
    pub fn set_chore(&self, thread: usize, busy: bool) {
        if let Some(flag) = self.chores.get(thread) {
            flag.store(busy, Ordering::Relaxed);
        }
    }

    /// Answers request `id` of thread `thread` and forgets its route, unless the answer is an
    /// open `Outcome`: the request goes on (its body streams, its `waitUntil` work runs) and
    /// keeps its route and its place in the thread's load until its `Finished`.
    pub fn answer(&self, thread: usize, id: RequestId, message: &ToSupervisor) {
        self.send(message);
        if matches!(message, ToSupervisor::Outcome(o) if o.open) {
            return;
        }
        if self.routes().remove(&id).is_some() {
            if let Some(load) = self.load.get(thread) {
                load.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}
