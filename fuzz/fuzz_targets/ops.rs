//! Fuzzes the native ops (`ops/`, the one road from an isolate's JavaScript to Rust code in its
//! own thread), with the isolate's native-object table and a watchdog, as the bridge runs them.
//!
//! An input is a sequence of calls: an op picked by one byte from every op there is, a two-byte
//! length, and that many bytes of input, so that a stream's handle (1, 2, ...) made by one call
//! is fed by the next. Checks, for every input: no op panics (the bridge would turn a panic into
//! an OperationError, but none should happen); no single allocation over libFuzzer's
//! `-malloc_limit_mb` (run with 512: the worker process's whole memory cap is 1 GiB, and an op's
//! input is at most 16 MiB); and the ops' bound on time: a watchdog cancels a call after 250 ms
//! (the isolate's watchdog does so at the CPU limit), after which an op stops within one step,
//! so a run past libFuzzer's `-timeout` is a bug. Ops that call JavaScript back (HTMLRewriter's)
//! get no callback and fail at once.

#![no_main]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use stockade_ops::state::OpState;
use stockade_ops::{OpCode, OpCtx};

/// The clock STARTED counts from.
static START: OnceLock<Instant> = OnceLock::new();
static CANCEL: AtomicU32 = AtomicU32::new(0);
/// When the current call started, ms since START; 0 between calls.
static STARTED: AtomicU64 = AtomicU64::new(0);
static WATCHDOG: Once = Once::new();
const CANCEL_AFTER_MS: u64 = 250;

fn now_ms(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64 + 1
}

fuzz_target!(|data: &[u8]| {
    let start = *START.get_or_init(Instant::now);
    WATCHDOG.call_once(|| {
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(25));
            let at = STARTED.load(Ordering::Relaxed);
            if at != 0 && now_ms(start).saturating_sub(at) > CANCEL_AFTER_MS {
                CANCEL.store(1, Ordering::Relaxed);
            }
        });
    });
    let state = OpState::new();
    let mut rest = data;
    while rest.len() >= 3 {
        let code = OpCode::ALL[usize::from(rest[0]) % OpCode::ALL.len()];
        let len = usize::from(u16::from_le_bytes([rest[1], rest[2]]));
        let input = &rest[3..3 + len.min(rest.len() - 3)];
        rest = &rest[3 + input.len()..];
        CANCEL.store(0, Ordering::Relaxed);
        STARTED.store(now_ms(start), Ordering::Relaxed);
        let ctx = OpCtx::with_state(&CANCEL, &state);
        let _ = stockade_ops::run(code as u32, input, &ctx);
        STARTED.store(0, Ordering::Relaxed);
    }
});
