//! The worker's dispatcher: greets the supervisor, starts the isolate threads, then reads the
//! socket and hands each message to the thread it belongs to (`router.rs`). A process with one
//! isolate thread has no dispatcher: that thread reads the socket itself (`inbox.rs`), so each
//! message wakes one thread instead of two.
//!
//! Guarantees: many requests are in flight at once, each answered exactly once by the thread
//! that has it (or by the router, for a worker no thread has); a decode error, a second `Hello`
//! or a closed socket ends the process (the supervisor replaces it), and so does a thread that
//! panics (answers would be lost otherwise).
//!
//! Trusts: nothing it reads; the supervisor's messages are decoded with the same size-capped
//! decoder the supervisor applies to ours.

use std::io::BufReader;
use std::os::unix::net::UnixStream;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;

use stockade_ipc::{read_frame, JailReport, ToSupervisor, ToWorker, PROTOCOL_VERSION};
use stockade_isolate::Engine;

use super::inbox::Direct;
use super::router::{Routed, Router};
use super::shared::{Shared, EXIT_BROKEN};
use super::thread::{Thread, Work};

/// Native stack of an isolate thread: room for V8's stack limit (the engine's `stack_bytes`,
/// 512 KiB by default) and everything below the entry frame, with a wide margin, and for a
/// TypeScript transformation on the thread itself (`typescript::ROOMY_STACK_BYTES`: no helper
/// thread started per module). Reserved, not committed: only the pages used are memory.
const THREAD_STACK: usize = stockade_isolate::typescript::ROOMY_STACK_BYTES;

/// The dispatcher's read buffer: frames arrive whole in one read when they fit (larger ones are
/// read straight into their payload).
const READ_BUFFER: usize = 64 << 10;

pub fn serve(
    engine: &'static Engine,
    mut stream: UnixStream,
    jail: Option<&stockade_seccomp::JailReport>,
    test_hooks: bool,
    threads: usize,
    reply_spin: std::time::Duration,
    renew_after: u64,
) -> Result<(), String> {
    match read_frame::<ToWorker, _>(&mut stream) {
        Ok(Some(ToWorker::Hello { protocol_version })) if protocol_version == PROTOCOL_VERSION => {}
        Ok(other) => return Err(format!("expected Hello, got {other:?}")),
        Err(e) => return Err(format!("handshake: {e}")),
    }
    let shared = Arc::new(Shared::new(stream, threads, renew_after));
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
    if threads == 1 {
        return serve_direct(engine, shared, test_hooks, reply_spin, renew_after);
    }
    let mut inboxes: Vec<Sender<Work>> = Vec::with_capacity(threads);
    for index in 0..threads {
        let (tx, mut rx) = channel();
        let shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("stockade-isolates-{index}"))
            .stack_size(THREAD_STACK)
            .spawn(move || {
                // Made here: isolates are bound to the thread that creates them.
                let thread =
                    Thread::new(index, engine, shared, test_hooks, reply_spin, renew_after);
                guarded(index, || thread.run(&mut rx));
            })
            .map_err(|e| format!("cannot start isolate thread {index}: {e}"))?;
        inboxes.push(tx);
    }
    let mut router = Router::new(Arc::clone(&shared));
    // One read(2) takes whatever the supervisor has written so far (a header and its payload,
    // or several frames), not one for each header and one for each payload.
    let mut socket = BufReader::with_capacity(READ_BUFFER, shared.stream());
    loop {
        let message = match read_frame::<ToWorker, _>(&mut socket) {
            Ok(Some(m)) => m,
            Ok(None) => return Ok(()),
            Err(e) => return Err(format!("read: {e}")),
        };
        match router.route(message) {
            Routed::Give(thread, work) => {
                if inboxes[thread].send(work).is_err() {
                    // The thread is gone (it only leaves when its inbox closes): nothing can
                    // answer.
                    // SAFETY: _exit ends the process at once; see `guarded`.
                    unsafe { libc::_exit(EXIT_BROKEN) };
                }
            }
            Routed::Done => {}
            Routed::Stop(why) => return why,
        }
    }
}

/// One isolate thread that reads the socket itself; this thread waits for it to end.
fn serve_direct(
    engine: &'static Engine,
    shared: Arc<Shared>,
    test_hooks: bool,
    reply_spin: std::time::Duration,
    renew_after: u64,
) -> Result<(), String> {
    let handle = std::thread::Builder::new()
        .name("stockade-isolates-0".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let router = Router::new(Arc::clone(&shared));
            let mut inbox = Direct::new(shared.stream(), router, READ_BUFFER);
            let thread = Thread::new(
                0,
                engine,
                Arc::clone(&shared),
                test_hooks,
                reply_spin,
                renew_after,
            );
            guarded(0, || thread.run(&mut inbox));
            inbox.ended.unwrap_or(Ok(()))
        })
        .map_err(|e| format!("cannot start isolate thread 0: {e}"))?;
    handle
        .join()
        .unwrap_or_else(|_| Err("the isolate thread failed".into()))
}

/// Runs an isolate thread's loop; a panic ends the process at once.
fn guarded(index: usize, run: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(run)).is_err() {
        eprintln!("stockade worker: isolate thread {index} panicked");
        // SAFETY: _exit ends the process at once; its requests would never be answered
        // otherwise, and destructors could touch V8 in other threads.
        unsafe { libc::_exit(EXIT_BROKEN) };
    }
}
