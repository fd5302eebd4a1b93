//! The worker's dispatcher: greets the supervisor, starts the isolate threads, then reads the
//! socket and hands each message to the thread it belongs to.
//!
//! Placement: a Code Mode snippet goes to the thread with the fewest requests; a Loader worker
//! is placed on such a thread when it is first loaded and stays there (its isolate is bound to
//! that thread), so its later calls, its disposal and its reloads go there too. Cancellations
//! and host-call answers follow their request (`Shared::routes`).
//!
//! Guarantees: many requests are in flight at once, each answered exactly once by the thread
//! that has it (a call for a worker no thread has is answered here, `UnknownWorker`; so is a
//! disposal of one); a decode error, a second `Hello` or a closed socket ends the process (the
//! supervisor replaces it), and so does a thread that panics (answers would be lost otherwise).
//!
//! Trusts: nothing it reads; the supervisor's messages are decoded with the same size-capped
//! decoder the supervisor applies to ours.

use std::collections::HashMap;
use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use stockade_ipc::{
    read_frame, ErrorKind, JailReport, ToSupervisor, ToWorker, WorkerId, PROTOCOL_VERSION,
};
use stockade_isolate::Engine;

use super::convert;
use super::shared::{Shared, EXIT_BROKEN};
use super::thread::{Thread, Work};

/// Native stack of an isolate thread: room for V8's stack limit (the engine's `stack_bytes`,
/// 512 KiB by default) and everything below the entry frame, with a wide margin.
const THREAD_STACK: usize = 16 << 20;

/// The dispatcher's read buffer: frames arrive whole in one read when they fit (larger ones are
/// read straight into their payload).
const READ_BUFFER: usize = 64 << 10;

pub fn serve(
    engine: &'static Engine,
    mut stream: UnixStream,
    jail: Option<&stockade_seccomp::JailReport>,
    test_hooks: bool,
    threads: usize,
) -> Result<(), String> {
    match read_frame::<ToWorker, _>(&mut stream) {
        Ok(Some(ToWorker::Hello { protocol_version })) if protocol_version == PROTOCOL_VERSION => {}
        Ok(other) => return Err(format!("expected Hello, got {other:?}")),
        Err(e) => return Err(format!("handshake: {e}")),
    }
    let shared = Arc::new(Shared::new(stream, threads));
    shared.send(&ToSupervisor::Ready {
        protocol_version: PROTOCOL_VERSION,
        pid: std::process::id(),
        jail: JailReport {
            seccomp: jail.is_some_and(|j| j.seccomp == stockade_seccomp::SeccompMode::Enforce),
            landlock_abi: jail
                .and_then(|j| j.landlock)
                .and_then(|l| l.enforced_abi)
                .map_or(0, |abi| abi.min(255) as u8),
            user_namespace: jail.is_some_and(|j| j.empty_root),
            mpk: engine.mpk_status().is_available(),
        },
    });
    let mut inboxes: Vec<Sender<Work>> = Vec::with_capacity(threads);
    for index in 0..threads {
        let (tx, rx) = channel();
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("stockade-isolates-{index}"))
            .stack_size(THREAD_STACK)
            .spawn(move || {
                // Made here: isolates are bound to the thread that creates them.
                let thread = Thread::new(index, engine, shared, test_hooks);
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| thread.run(rx)))
                    .is_err()
                {
                    eprintln!("stockade worker: isolate thread {index} panicked");
                    // SAFETY: _exit ends the process at once; its requests would never be
                    // answered otherwise, and destructors could touch V8 in other threads.
                    unsafe { libc::_exit(EXIT_BROKEN) };
                }
            })
            .map_err(|e| format!("cannot start isolate thread {index}: {e}"))?;
        inboxes.push(tx);
    }
    let give = |thread: usize, work: Work| {
        if inboxes[thread].send(work).is_err() {
            // The thread is gone (it only leaves when its inbox closes): nothing can answer.
            // SAFETY: as above.
            unsafe { libc::_exit(EXIT_BROKEN) };
        }
    };
    let mut placement: HashMap<WorkerId, usize> = HashMap::new();
    // One read(2) takes whatever the supervisor has written so far (a header and its payload,
    // or several frames), not one for each header and one for each payload.
    let mut socket = BufReader::with_capacity(READ_BUFFER, shared.stream());
    loop {
        let message = match read_frame::<ToWorker, _>(&mut socket) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("read: {e}")),
        };
        match message {
            ToWorker::Shutdown => return Ok(()),
            ToWorker::Hello { .. } => return Err("a second Hello".into()),
            ToWorker::RunSnippet {
                request_id,
                code,
                arg_json,
                limits,
            } => {
                let thread = shared.least_loaded();
                shared.route(request_id, thread);
                give(
                    thread,
                    Work::Snippet {
                        id: request_id,
                        code,
                        arg_json,
                        limits,
                    },
                );
            }
            ToWorker::LoadWorker(load) => {
                let thread = *placement
                    .entry(load.worker_id)
                    .or_insert_with(|| shared.least_loaded());
                shared.route(load.request_id, thread);
                give(thread, Work::Load(load));
            }
            ToWorker::Invoke {
                request_id,
                worker_id,
                call,
            } => match placement.get(&worker_id) {
                Some(&thread) => {
                    shared.route(request_id, thread);
                    give(
                        thread,
                        Work::Invoke {
                            id: request_id,
                            worker_id,
                            call,
                        },
                    );
                }
                None => shared.send(&ToSupervisor::Outcome(convert::failed(
                    request_id,
                    ErrorKind::UnknownWorker,
                    "this worker is not loaded in this process".into(),
                ))),
            },
            ToWorker::Dispose {
                request_id,
                worker_id,
            } => match placement.remove(&worker_id) {
                Some(thread) => {
                    shared.route(request_id, thread);
                    give(
                        thread,
                        Work::Dispose {
                            id: request_id,
                            worker_id,
                        },
                    );
                }
                None => shared.send(&ToSupervisor::Disposed {
                    request_id,
                    worker_id,
                }),
            },
            ToWorker::Cancel { request_id } => {
                let thread = shared.routes().get(&request_id).copied();
                if let Some(thread) = thread {
                    give(thread, Work::Cancel(request_id));
                }
            }
            ToWorker::HostReply {
                request_id,
                call_id,
                result,
            } => {
                let thread = shared.routes().get(&request_id).copied();
                if let Some(thread) = thread {
                    give(
                        thread,
                        Work::HostReply {
                            id: request_id,
                            call: call_id,
                            result,
                        },
                    );
                }
            }
        }
    }
}
