//! The worker's service: greets the supervisor, starts the isolate threads, which read the socket
//! themselves and hand each message to the thread it belongs to (`inbox.rs`, `router.rs`), and
//! waits for the end.
//!
//! Guarantees: many requests are in flight at once, each answered exactly once by the thread
//! that has it (or by the router, for a worker no thread has); a decode error, a second `Hello`
//! or a closed socket ends the process (the supervisor replaces it), and so does a thread that
//! panics (answers would be lost otherwise).
//!
//! Trusts: nothing it reads; the supervisor's messages are decoded with the same size-capped
//! decoder the supervisor applies to ours.

use std::os::unix::net::UnixStream;
use std::sync::Arc;

use std::io::Read;
use std::os::fd::AsFd;

use stockade_ipc::marks::{recv_with_fd, Marks};
use stockade_ipc::{decode_frame, Decoded, JailReport, ToSupervisor, ToWorker, PROTOCOL_VERSION};
use stockade_isolate::Engine;

use super::inbox::Hall;
use super::shared::{Shared, EXIT_BROKEN};
use super::thread::Thread;

/// Native stack of an isolate thread: room for V8's stack limit (the engine's `stack_bytes`,
/// 512 KiB by default) and everything below the entry frame, with a wide margin, and for a
/// TypeScript transformation on the thread itself (`typescript::ROOMY_STACK_BYTES`: no helper
/// thread started per module). Reserved, not committed: only the pages used are memory.
const THREAD_STACK: usize = stockade_isolate::typescript::ROOMY_STACK_BYTES;

/// The socket's read buffer: frames arrive whole in one read when they fit (larger ones are
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
    if let Some(marks) = greeted(&mut stream)? {
        crate::shared::install_marks(marks);
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
    let hall = Hall::new(Arc::clone(&shared), threads, READ_BUFFER);
    for index in 0..threads {
        let shared = Arc::clone(&shared);
        let hall = Arc::clone(&hall);
        std::thread::Builder::new()
            .name(format!("stockade-isolates-{index}"))
            .stack_size(THREAD_STACK)
            .spawn(move || {
                // Made here: isolates are bound to the thread that creates them, and the inbox
                // to the thread it wakes.
                let mut inbox = hall.inbox(index);
                let thread =
                    Thread::new(index, engine, shared, test_hooks, reply_spin, renew_after);
                guarded(index, || thread.run(&mut inbox));
            })
            .map_err(|e| format!("cannot start isolate thread {index}: {e}"))?;
    }
    // The process ends when the inbox does (a thread may still be inside a task: the supervisor
    // asked for the end, or is gone).
    hall.ended()
}

/// Reads the supervisor's `Hello` and maps the marks file it passed with it (`None` from a
/// supervisor that passed none). Nothing may follow `Hello` before the worker's `Ready`.
fn greeted(stream: &mut UnixStream) -> Result<Option<Marks>, String> {
    let mut buf = [0u8; 256];
    let (got, fd) =
        recv_with_fd(stream.as_fd(), &mut buf).map_err(|e| format!("handshake: {e}"))?;
    let mut have = buf[..got].to_vec();
    loop {
        match decode_frame::<ToWorker>(&have) {
            Ok(Decoded::Frame {
                message: ToWorker::Hello { protocol_version },
                consumed,
            }) if protocol_version == PROTOCOL_VERSION && consumed == have.len() => break,
            Ok(Decoded::Frame { message, .. }) => {
                return Err(format!("expected Hello alone, got {message:?}"))
            }
            Ok(Decoded::NeedMore(_)) => {
                let got = stream
                    .read(&mut buf)
                    .map_err(|e| format!("handshake: {e}"))?;
                if got == 0 {
                    return Err("handshake: the socket closed".into());
                }
                have.extend_from_slice(&buf[..got]);
            }
            Err(e) => return Err(format!("handshake: {e}")),
        }
    }
    // The descriptor is closed once mapped: the mapping keeps the file.
    fd.map(|fd| Marks::map(fd.as_fd()))
        .transpose()
        .map_err(|e| format!("cannot map the marks file: {e}"))
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
