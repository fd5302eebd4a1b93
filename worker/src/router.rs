//! Where each message from the supervisor goes: which isolate thread gets it, or an answer given
//! at once, or the end of the process.
//!
//! Placement: a Code Mode snippet goes to the thread with the fewest requests (among those, one
//! not busy with its isolate stock); a Loader worker is placed on such a thread when it is first
//! loaded and stays there (its isolate is bound to that thread), so its later calls, its disposal
//! and its reloads go there too. Cancellations and host-call answers follow their request
//! (`Shared::routes`).
//!
//! Guarantees: every request is routed to one thread and recorded there before it is handed
//! over, or answered here (a call for a worker no thread has, `UnknownWorker`; a disposal of
//! one, `Disposed`); a `Shutdown` ends the process cleanly and a second `Hello` ends it as
//! confused. Trusts: the decoder that produced the message (size-capped, as the supervisor's).

use std::collections::HashMap;
use std::sync::Arc;

use stockade_ipc::{ErrorKind, ToSupervisor, ToWorker, WorkerId};

use super::convert;
use super::shared::Shared;
use super::thread::Work;

/// What became of one message.
pub enum Routed {
    /// Hand `Work` to isolate thread `usize`.
    Give(usize, Work),
    /// Nothing to hand over (answered here, or nobody has the request any more).
    Done,
    /// The process ends: cleanly (`Ok`) or because the supervisor's messages make no sense.
    Stop(Result<(), String>),
}

pub struct Router {
    shared: Arc<Shared>,
    placement: HashMap<WorkerId, usize>,
}

impl Router {
    pub fn new(shared: Arc<Shared>) -> Router {
        Router {
            shared,
            placement: HashMap::new(),
        }
    }

    pub fn route(&mut self, message: ToWorker) -> Routed {
        let shared = &self.shared;
        match message {
            ToWorker::Shutdown => Routed::Stop(Ok(())),
            ToWorker::Hello { .. } => Routed::Stop(Err("a second Hello".into())),
            ToWorker::RunSnippet {
                request_id,
                code,
                arg_json,
                limits,
            } => {
                let thread = shared.least_loaded();
                shared.route(request_id, thread);
                Routed::Give(
                    thread,
                    Work::Snippet {
                        id: request_id,
                        code,
                        arg_json,
                        limits,
                    },
                )
            }
            ToWorker::LoadWorker(load) => {
                let thread = *self
                    .placement
                    .entry(load.worker_id)
                    .or_insert_with(|| shared.least_loaded());
                shared.route(load.request_id, thread);
                Routed::Give(thread, Work::Load(load))
            }
            ToWorker::Invoke {
                request_id,
                worker_id,
                call,
            } => match self.placement.get(&worker_id) {
                Some(&thread) => {
                    shared.route(request_id, thread);
                    Routed::Give(
                        thread,
                        Work::Invoke {
                            id: request_id,
                            worker_id,
                            call,
                        },
                    )
                }
                None => {
                    shared.send(&ToSupervisor::Outcome(convert::failed(
                        request_id,
                        ErrorKind::UnknownWorker,
                        "this worker is not loaded in this process".into(),
                    )));
                    Routed::Done
                }
            },
            ToWorker::Dispose {
                request_id,
                worker_id,
            } => match self.placement.remove(&worker_id) {
                Some(thread) => {
                    shared.route(request_id, thread);
                    Routed::Give(
                        thread,
                        Work::Dispose {
                            id: request_id,
                            worker_id,
                        },
                    )
                }
                None => {
                    shared.send(&ToSupervisor::Disposed {
                        request_id,
                        worker_id,
                    });
                    Routed::Done
                }
            },
            ToWorker::Cancel { request_id } => {
                let thread = shared.routes().get(&request_id).copied();
                match thread {
                    Some(thread) => Routed::Give(thread, Work::Cancel(request_id)),
                    None => Routed::Done,
                }
            }
            ToWorker::HostReply {
                request_id,
                call_id,
                result,
            } => {
                let thread = shared.routes().get(&request_id).copied();
                match thread {
                    Some(thread) => Routed::Give(
                        thread,
                        Work::HostReply {
                            id: request_id,
                            call: call_id,
                            result,
                        },
                    ),
                    None => Routed::Done,
                }
            }
        }
    }
}
