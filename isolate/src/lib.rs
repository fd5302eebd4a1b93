//! `stockade-isolate`: runs a tenant's JavaScript or TypeScript modules in a fresh V8 isolate,
//! with limits that hold against hostile code.
//!
//! Guarantees:
//! - Each [`Worker`] is one V8 isolate with one context, hosting one tenant's worker; isolates
//!   share nothing but the process.
//! - Every invocation (and loading, compilation included) runs under CPU, wall-clock, heap,
//!   external-memory, stack, output and result limits ([`Limits`]); hitting one ends it with
//!   [`RunError::Limit`] and poisons the worker, which the owner must drop. The process keeps
//!   serving, with two exceptions V8 leaves no other answer to: a builtin V8 does not interrupt
//!   runs to completion after its CPU limit (reported; [`Unresponsive::ExitProcess`] ends the
//!   process instead), and one that keeps allocating past the heap limit's one termination margin
//!   makes V8 end the process ([`Limits::memory_bytes`]).
//! - Code generation from strings (`eval`, `new Function`) is refused, `SharedArrayBuffer`, shared
//!   WebAssembly memories and `Atomics.wait` are absent, and `Date.now()`/`performance.now()`
//!   stand still while code runs (whole milliseconds between tasks).
//! - Imports resolve inside the worker's module set, or to the runtime's own built-in modules
//!   (`cloudflare:workers`; `node:*` with `nodejs_compat`), never to anything else.
//!
//! - Isolates of one process are separated by memory protection keys where the CPU and kernel
//!   have them, and say so where they do not ([`protection`]).
//!
//! Trusts: V8 13.6 (Debian's libnode137) and oxc. The second layer (the jail in `stockade-seccomp`) and
//! the memory protection keys (`stockade-mpk`) exist because V8 is not trusted to be bug-free.

#[cfg(all(feature = "mpk-attack", not(debug_assertions)))]
compile_error!(
    "the `mpk-attack` feature gives tenant JavaScript arbitrary memory access; it is for tests \
     only and cannot be built without debug assertions"
);

#[cfg(feature = "mpk-attack")]
pub mod attack;
mod bundle;
mod configure;
mod engine;
mod ffi;
mod host;
mod kinds;
mod lazy;
mod limits;
pub use stockade_ops as ops;
pub mod protection;
mod tasks;
pub mod typescript;
mod watchdog;
mod worker;

#[cfg(test)]
#[path = "arena_tests.rs"]
mod arena_tests;

pub use configure::LoadOptions;
pub use engine::{Engine, V8Profile, RENEW_SHARED_HEAP_AFTER};
pub use ffi::StkEngineMemory as EngineMemory;
pub use ffi::StkHeapStats as HeapStats;
pub use ffi::StkRenewalCounters as RenewalCounters;
pub use host::{
    continues_a_stream, MAX_HOST_CALLS_PER_TASK, MAX_HOST_CALL_NAME, MAX_HOST_CALL_PAYLOAD,
    MAX_QUEUED_HOST_CALLS_PER_TASK, MAX_QUEUED_HOST_CALL_BYTES_PER_TASK,
};
pub use host::{may_call_synchronously, SyncEnd, SyncHost, SYNC_HOST_CALLS, SYNC_WAIT_ALLOWANCE};
pub use limits::Limits;
pub use protection::{MpkMode, MpkStats};
pub use stockade_mpk::MpkStatus;
pub use stockade_source::{builtins, compat, error, loader, modules};
pub use stockade_source::{
    Compat, DiskSource, Features, LimitKind, Module, ModuleKind, ModuleSet, ModuleSource, RunError,
    SourceLocation,
};
pub use tasks::{Answer, Answered, HostCall, TaskEvent, TaskId};
pub use watchdog::{Unresponsive, DEFAULT_GRACE};
pub use worker::{FetchRequest, FetchResponse, Invocation, LogLevel, LogLine, Observed, Worker};

/// The web-platform prelude (console, URL, TextEncoder, Request/Response, ...), in evaluation
/// order; see `js/prelude.js` for the contract with the host.
pub(crate) const PRELUDE_PARTS: &[&str] = &[
    include_str!("../js/prelude.js"),
    include_str!("../js/inspect.js"),
    include_str!("../js/console.js"),
    include_str!("../js/timers.js"),
    include_str!("../js/encoding.js"),
    include_str!("../js/url-host.js"),
    include_str!("../js/url-parser.js"),
    include_str!("../js/url.js"),
    include_str!("../js/clone.js"),
    include_str!("../js/crypto-keys.js"),
    include_str!("../js/crypto-import.js"),
    include_str!("../js/crypto-subtle.js"),
    include_str!("../js/events.js"),
    include_str!("../js/abort.js"),
    include_str!("../js/plumbing.js"),
    include_str!("../js/streams-core.js"),
    include_str!("../js/streams-readable.js"),
    include_str!("../js/streams-byte.js"),
    include_str!("../js/streams-pipe.js"),
    include_str!("../js/streams-writable.js"),
    include_str!("../js/streams-transform.js"),
    include_str!("../js/streams-workers.js"),
    include_str!("../js/blob.js"),
    include_str!("../js/formdata.js"),
    include_str!("../js/multipart.js"),
    include_str!("../js/fetch-body.js"),
    include_str!("../js/fetch.js"),
    include_str!("../js/fetch-outbound.js"),
    include_str!("../js/compression.js"),
    include_str!("../js/workers.js"),
    include_str!("../js/messaging.js"),
    include_str!("../js/websocket-link.js"),
    include_str!("../js/websocket.js"),
    include_str!("../js/eventsource.js"),
    include_str!("../js/builtins.js"),
    include_str!("../js/lazy.js"),
    include_str!("../js/node-encodings.js"),
    include_str!("../js/node-buffer.js"),
    include_str!("../js/node-buffer-rw.js"),
    include_str!("../js/node-events.js"),
    include_str!("../js/node-util.js"),
    include_str!("../js/node-parse-args.js"),
    include_str!("../js/node-util-mime.js"),
    include_str!("../js/node-uv-errors.js"),
    include_str!("../js/node-assert.js"),
    include_str!("../js/node-url-legacy.js"),
    include_str!("../js/node-path-win32.js"),
    include_str!("../js/node-path.js"),
    include_str!("../js/node-process.js"),
    include_str!("../js/node-hash.js"),
    include_str!("../js/node-crypto-keys.js"),
    include_str!("../js/node-crypto-kdf.js"),
    include_str!("../js/node-crypto-sign.js"),
    include_str!("../js/node-crypto-cipher.js"),
    include_str!("../js/node-crypto-dh.js"),
    include_str!("../js/node-crypto-x509.js"),
    include_str!("../js/node-crypto.js"),
    include_str!("../js/node-timers.js"),
    include_str!("../js/node-zlib.js"),
    include_str!("../js/node-zlib-streams.js"),
    include_str!("../js/vendor/readable-stream.js"),
    include_str!("../js/node-stream-web.js"),
    include_str!("../js/node-stream.js"),
    include_str!("../js/node-querystring.js"),
    include_str!("../js/node-punycode.js"),
    include_str!("../js/node-diagnostics-channel.js"),
    include_str!("../js/node-stubs.js"),
    include_str!("../js/node-dns.js"),
    include_str!("../js/node-fs-scope.js"),
    include_str!("../js/node-fs-vfs.js"),
    include_str!("../js/node-fs.js"),
    include_str!("../js/node-fs-streams.js"),
    include_str!("../js/node-fs-api.js"),
    include_str!("../js/bindings.js"),
    include_str!("../js/kv.js"),
    include_str!("../js/rpc.js"),
    include_str!("../js/rpc-targets.js"),
    include_str!("../js/rpc-bodies.js"),
    include_str!("../js/cache.js"),
    include_str!("../js/d1.js"),
    include_str!("../js/r2.js"),
    include_str!("../js/r2-upload.js"),
    include_str!("../js/durable.js"),
    include_str!("../js/durable-storage.js"),
    include_str!("../js/durable-websocket.js"),
    include_str!("../js/urlpattern.js"),
    include_str!("../js/rewriter.js"),
    include_str!("../js/scheduled.js"),
    include_str!("../js/queue.js"),
    include_str!("../js/sockets.js"),
    include_str!("../js/node-net-args.js"),
    include_str!("../js/node-net.js"),
    include_str!("../js/node-tls.js"),
    include_str!("../js/node-http-common.js"),
    include_str!("../js/node-http-client.js"),
    include_str!("../js/node-http-server.js"),
    include_str!("../js/cloudflare-node.js"),
    include_str!("../js/prelude-end.js"),
];

/// The V8 version this crate was built against (from the headers).
pub const V8_HEADERS_VERSION: &str = env!("STOCKADE_V8_VERSION");
