//! Per-invocation limits. Defaults suit one request of one tenant; every field is a hard cap
//! that ends the invocation with `RunError::Limit` (or `InvalidInput` for sizes checked up front).

use std::time::Duration;

/// Hard limits for loading a worker and for each call into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// CPU time of the isolate's thread per invocation (module evaluation counts as one).
    pub cpu: Duration,
    /// Wall-clock time per invocation, including waits for timers.
    pub wall: Duration,
    /// V8 heap; the same budget again caps ArrayBuffer and WebAssembly memory outside the heap,
    /// and the arena of TypeScript transformation. At least [`Limits::MIN_MEMORY_BYTES`]: a
    /// smaller one is refused when the worker is created. Reaching it terminates the code; V8
    /// then gets one fixed margin (256 MiB, `kHeapTerminationMargin` in bridge/callbacks.cc) to unwind,
    /// which a builtin V8 cannot interrupt may exhaust, and V8 then ends the process.
    pub memory_bytes: usize,
    /// JS stack depth budget, in bytes of native stack below the entry frame.
    pub stack_bytes: usize,
    /// Total bytes of module source (after decoding, before TypeScript transformation).
    pub source_bytes: usize,
    /// Bytes of the JSON result.
    pub result_bytes: usize,
    /// Bytes of console output (each line counts its text plus one).
    pub output_bytes: usize,
    /// Timers pending at once.
    pub timers: usize,
    /// Outbound requests (`fetch()`, host calls named `fetch`) per invocation.
    pub sub_requests: usize,
}

impl Limits {
    /// The smallest memory limit: below it V8's own heap layout (a young generation of at least
    /// a few semi-space pages, the context the runtime and web prelude need) no longer fits, and
    /// V8 would silently use more than asked. Checked by `Worker::new`, which answers a smaller
    /// limit with `RunError::InvalidInput`.
    pub const MIN_MEMORY_BYTES: usize = 8 << 20;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu: Duration::from_millis(50),
            wall: Duration::from_secs(30),
            memory_bytes: 128 << 20,
            stack_bytes: 512 << 10,
            source_bytes: stockade_source::loader::MAX_SOURCE_BYTES,
            result_bytes: 16 << 20,
            output_bytes: 1 << 20,
            timers: 10_000,
            sub_requests: 50,
        }
    }
}
