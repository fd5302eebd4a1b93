//! Where each message from the supervisor goes: which isolate thread gets it, or an answer given
//! at once, or the end of the process.
//!
//! Placement: a Code Mode snippet goes to the thread with the fewest requests (among those, one
//! not busy with its isolate stock); a Loader worker is placed on such a thread (among those, the
//! one holding fewest Loader workers) when it is first loaded and stays there (its isolate is
//! bound to that thread), so its later calls, its disposal and its reloads go there too.
//! Cancellations and host-call answers follow their request (`Shared::routes`).
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
                let thread = match self.placement.get(&load.worker_id) {
                    Some(&thread) => thread,
                    None => {
                        // Between threads of equal load, the one holding fewer Loader workers:
                        // workers loaded while the threads are idle spread over them, so one's
                        // long call does not hold up another's.
                        let placed =
                            |t: usize| self.placement.values().filter(|&&p| p == t).count();
                        let thread = shared.least_loaded_by(placed);
                        self.placement.insert(load.worker_id, thread);
                        thread
                    }
                };
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
                cpu_us,
                result,
            } => {
                let thread = shared.routes().get(&request_id).copied();
                match thread {
                    Some(thread) => Routed::Give(
                        thread,
                        Work::HostReply {
                            id: request_id,
                            call: call_id,
                            cpu_us,
                            result,
                        },
                    ),
                    None => Routed::Done,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;
    use std::sync::Arc;

    use stockade_ipc::{LoadWorker, Profile, RequestId, ToSupervisor, ToWorker, WorkerId};

    use super::super::shared::Shared;
    use super::{Routed, Router};

    fn load(request: u64, worker: u8) -> ToWorker {
        ToWorker::LoadWorker(LoadWorker {
            request_id: RequestId(request),
            worker_id: WorkerId([worker; 32]),
            tenant: "t".into(),
            main_module: "main.js".into(),
            modules: Vec::new(),
            env: Vec::new(),
            limits: Default::default(),
            profile: Profile::Standard,
            compatibility_date: String::new(),
            compatibility_flags: Vec::new(),
        })
    }

    fn thread_of(routed: Routed) -> usize {
        match routed {
            Routed::Give(thread, _) => thread,
            _ => usize::MAX,
        }
    }

    #[test]
    fn loader_workers_loaded_while_the_threads_are_idle_spread_over_them_and_stay_placed() {
        let (worker_end, _supervisor_end) = UnixStream::pair().expect("socket pair");
        let shared = Arc::new(Shared::new(worker_end, 2, 1000));
        let mut router = Router::new(Arc::clone(&shared));
        // Each load is answered before the next: the threads are equally idle again.
        let answered = |thread: usize, id: u64| {
            let done = ToSupervisor::Disposed {
                request_id: RequestId(id),
                worker_id: WorkerId([0; 32]),
            };
            shared.answer(thread, RequestId(id), &done);
        };
        let first = thread_of(router.route(load(1, 1)));
        answered(first, 1);
        let second = thread_of(router.route(load(2, 2)));
        assert_ne!(first, second, "both workers on thread {first}");
        answered(second, 2);
        // A reload of the first goes where it lives.
        assert_eq!(thread_of(router.route(load(3, 1))), first);
    }
}
