//! The flat `extern "C"` surface of the C++ bridge (`src/bridge/`), mirrored field for field from
//! `bridge.h`. The layout assertions below repeat the `static_assert`s of the C++ side
//! (`bridge.cc`), so a mismatch fails the build on both sides rather than corrupting a call.
//!
//! Nothing here is safe to call directly; `engine.rs` and `worker.rs` wrap it.

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

/// Opaque isolate owned by the bridge.
#[repr(C)]
pub struct StkIsolate {
    _private: [u8; 0],
}

#[repr(C)]
pub struct StkHost {
    pub userdata: *mut c_void,
    pub log: unsafe extern "C" fn(*mut c_void, u32, i32, *const u8, usize) -> i32,
    pub random_fill: unsafe extern "C" fn(*mut c_void, *mut u8, usize) -> i32,
    pub set_timer: unsafe extern "C" fn(*mut c_void, u32, u32, f64) -> i32,
    pub clear_timer: unsafe extern "C" fn(*mut c_void, u32),
    pub take_dropped_timer: unsafe extern "C" fn(*mut c_void) -> u32,
    pub resolve: unsafe extern "C" fn(*mut c_void, i32, *const u8, usize) -> i32,
    pub host_call:
        unsafe extern "C" fn(*mut c_void, u32, u32, *const u8, usize, *const u8, usize) -> i32,
    /// (userdata, call, task, name, its length, payload, its length, answer, its length): a
    /// synchronous host call, answered inside the call (`STK_SYNC_*`; see bridge.h).
    pub host_call_sync: unsafe extern "C" fn(
        *mut c_void,
        u32,
        u32,
        *const u8,
        usize,
        *const u8,
        usize,
        *mut *const u8,
        *mut usize,
    ) -> i32,
    pub op: unsafe extern "C" fn(*mut c_void, u32, *mut StkOpCall) -> i32,
    /// (userdata, module name, its length, line, column): maps a position of a transformed
    /// module in place; 1 when mapped (see bridge.h).
    pub map_position:
        unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut u32, *mut u32) -> i32,
}

/// One lazy group of the prelude (`stk_lazy_part` in bridge.h); its bytes must outlive the
/// process's isolates.
#[repr(C)]
pub struct StkLazyPart {
    pub origin: *const c_char,
    pub origin_len: usize,
    pub source: *const c_char,
    pub source_len: usize,
    pub params: *const c_char,
    pub params_len: usize,
}

/// One synchronous native operation (`stk_op_call` in bridge.h).
#[repr(C)]
pub struct StkOpCall {
    pub input: *const u8,
    pub input_len: usize,
    /// Nonzero once the isolate has been terminated (a `std::atomic<uint32_t>` on the C++ side).
    pub cancel: *const u32,
    pub sink: *mut c_void,
    pub alloc: unsafe extern "C" fn(*mut c_void, usize) -> *mut u8,
    pub output: *mut u8,
    pub output_len: usize,
    pub message_len: usize,
    pub message: [u8; STK_OP_MESSAGE_CAP],
    /// Calls the op's JavaScript callback (null without one): (sink, input, len, out, out_len).
    pub callback: Option<
        unsafe extern "C" fn(*mut c_void, *const u8, usize, *mut *const u8, *mut usize) -> i32,
    >,
}

/// The longest error message an op hands back (longer ones are cut at a character boundary).
pub const STK_OP_MESSAGE_CAP: usize = 256;

/// The host calls one task may have in flight at once, and what its calls waiting for a place
/// may add up to: calls, and payload bytes (bridge.h's, which names them in its refusals).
pub const STK_HOST_CALLS_IN_FLIGHT_MAX: usize = 64;
pub const STK_HOST_CALLS_QUEUED_MAX: usize = 10_000;
pub const STK_HOST_CALL_BYTES_QUEUED_MAX: usize = 64 << 20;
/// `stk_host.host_call_sync`'s answers (bridge.h).
pub const STK_SYNC_OK: i32 = 0;
pub const STK_SYNC_FAILED: i32 = 1;
pub const STK_SYNC_REFUSED: i32 = 2;
pub const STK_SYNC_ENDED: i32 = 3;

#[repr(C)]
pub struct StkIsolateConfig {
    pub heap_limit_bytes: usize,
    pub external_limit_bytes: usize,
    pub stack_limit_bytes: usize,
    pub allow_wasm: u32,
    pub pkey: i32,
}

#[repr(C)]
pub struct StkOutcome {
    pub status: i32,
    pub line: i32,
    pub column: i32,
    pub flags: i32,
    pub value: *mut c_char,
    pub value_len: usize,
    pub stack: *mut c_char,
    pub stack_len: usize,
    pub resource: *mut c_char,
    pub resource_len: usize,
    pub body: *mut u8,
    pub body_len: usize,
}

#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct StkHeapStats {
    pub used_heap_bytes: usize,
    pub total_heap_bytes: usize,
    pub heap_limit_bytes: usize,
    pub external_bytes: usize,
    pub malloced_bytes: usize,
    /// Mappings made for ArrayBuffer stores larger than 2 KiB since the isolate was created (a
    /// store that reuses a freed one's block makes none).
    pub arena_maps: usize,
    /// Bytes of freed ArrayBuffer stores the isolate keeps for its next ones (bridge/memory.h).
    pub arena_cached_bytes: usize,
}

const _: () = assert!(size_of::<StkOutcome>() == 80);
const _: () = assert!(offset_of!(StkOutcome, body_len) == 72);
const _: () = assert!(offset_of!(StkOutcome, value) == 16);
const _: () = assert!(offset_of!(StkOutcome, resource_len) == 56);
const _: () = assert!(size_of::<StkIsolateConfig>() == 32);
const _: () = assert!(size_of::<StkHost>() == 88);
const _: () = assert!(offset_of!(StkHost, host_call_sync) == 64);
const _: () = assert!(offset_of!(StkHost, map_position) == 80);
const _: () = assert!(size_of::<StkOpCall>() == 328);
const _: () = assert!(offset_of!(StkOpCall, callback) == 320);
const _: () = assert!(offset_of!(StkOpCall, alloc) == 32);
const _: () = assert!(offset_of!(StkOpCall, message_len) == 56);
const _: () = assert!(offset_of!(StkOpCall, message) == 64);
const _: () = assert!(size_of::<StkHeapStats>() == 56);
const _: () = assert!(offset_of!(StkHeapStats, arena_maps) == 40);
const _: () = assert!(offset_of!(StkHeapStats, arena_cached_bytes) == 48);
// The host-call bounds bridge.cc pins (bridge.h names them in its refusals).
const _: () = assert!(
    STK_HOST_CALLS_IN_FLIGHT_MAX == 64
        && STK_HOST_CALLS_QUEUED_MAX == 10_000
        && STK_HOST_CALL_BYTES_QUEUED_MAX == 64 << 20
);

/// `stk_engine_memory` (bridge.h): what the engine holds process-wide.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StkEngineMemory {
    /// Tenant isolates created and not yet disposed.
    pub live_isolates: u64,
    /// Tenant isolates created since V8's shared heap was last renewed.
    pub created_since_renewal: u64,
    /// Renewals of V8's shared heap so far.
    pub renewals: u64,
    /// Entries of the page allocator's range registry.
    pub owned_ranges: u64,
}
const _: () = assert!(size_of::<StkEngineMemory>() == 32);

/// `stk_renewal_counters` (bridge.h): the renewal counters of [`StkEngineMemory`] alone, read
/// without a lock.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct StkRenewalCounters {
    /// Tenant isolates created since V8's shared heap was last renewed.
    pub created_since_renewal: u64,
    /// Renewals of V8's shared heap so far.
    pub renewals: u64,
}
const _: () = assert!(size_of::<StkRenewalCounters>() == 16);
const _: () = assert!(offset_of!(StkRenewalCounters, renewals) == 8);

pub const STK_OK: i32 = 0;
pub const STK_EXCEPTION: i32 = 1;
pub const STK_TERMINATED: i32 = 2;
pub const STK_PENDING: i32 = 3;
pub const STK_INTERNAL: i32 = 4;
pub const STK_REJECTED: i32 = 5;
pub const STK_TOO_LARGE: i32 = 6;

pub const STK_LIMIT_HEAP: u32 = 1;
pub const STK_LIMIT_EXTERNAL: u32 = 2;
pub const STK_LIMIT_LOG: u32 = 4;
pub const STK_LIMIT_TIMERS: u32 = 8;

pub const STK_OBSERVED_WASM: u32 = 1;
pub const STK_OBSERVED_DYNAMIC_IMPORT: u32 = 2;

pub const STK_SYNTH_TEXT: i32 = 0;
pub const STK_SYNTH_JSON: i32 = 1;
pub const STK_SYNTH_DATA: i32 = 2;

pub const STK_INVOKE_DEFAULT: i32 = 0;
pub const STK_INVOKE_FETCH: i32 = 1;
pub const STK_INVOKE_RPC: i32 = 6;
pub const STK_INVOKE_SCHEDULED: i32 = 7;
pub const STK_INVOKE_QUEUE: i32 = 8;

pub const STK_FLAG_BACKGROUND: i32 = 1;

/// `stk_host.op`'s answers besides an error kind (`ops::ErrorKind`): success, and cancelled (the
/// isolate was terminated; the bridge throws nothing).
pub const STK_OP_OK: i32 = 0;
pub const STK_OP_CANCELLED: i32 = -1;

extern "C" {
    pub fn stk_engine_init(flags: *const c_char, flags_len: usize) -> i32;
    pub fn stk_v8_version() -> *const c_char;
    pub fn stk_engine_set_oom_exit(code: i32);
    pub fn stk_engine_set_limit_exit_hook(hook: Option<extern "C" fn(u64)>);
    pub fn stk_set_entry_tag(iso: *mut StkIsolate, tag: u64);

    pub fn stk_engine_snapshot(
        runtime_js: *const c_char,
        runtime_len: usize,
        lazy: *const StkLazyPart,
        lazy_count: usize,
        eager: *const i32,
        eager_count: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_lazy_defer_caches(iso: *mut StkIsolate);
    pub fn stk_lazy_leave_caches(iso: *mut StkIsolate) -> u32;
    pub fn stk_lazy_cache_bytes(index: u32) -> usize;
    pub fn stk_isolate_new(
        config: *const StkIsolateConfig,
        host: *const StkHost,
        out: *mut StkOutcome,
    ) -> *mut StkIsolate;
    pub fn stk_isolate_dispose(iso: *mut StkIsolate);
    pub fn stk_isolate_terminate(iso: *mut StkIsolate);
    pub fn stk_isolate_limits(iso: *mut StkIsolate) -> u32;
    pub fn stk_isolate_observed(iso: *mut StkIsolate) -> u32;
    pub fn stk_pages_allocated_outside_isolates() -> u64;
    pub fn stk_isolate_heap_stats(iso: *mut StkIsolate, stats: *mut StkHeapStats);
    pub fn stk_engine_memory_stats(out: *mut StkEngineMemory);
    pub fn stk_engine_renewal_counters(out: *mut StkRenewalCounters);
    pub fn stk_engine_renew_shared_heap(min_created: u64) -> i32;
    pub fn stk_engine_release_page_pool() -> u64;
    #[cfg(test)]
    pub fn stk_arena_large_size(length: usize, page: usize) -> usize;
    pub fn stk_set_clock(iso: *mut StkIsolate, wall_ms: f64, monotonic_ms: f64);

    pub fn stk_module_compile(
        iso: *mut StkIsolate,
        name: *const c_char,
        name_len: usize,
        src: *const c_char,
        src_len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_module_synthetic(
        iso: *mut StkIsolate,
        name: *const c_char,
        name_len: usize,
        kind: i32,
        bytes: *const c_char,
        len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_module_builtin(
        iso: *mut StkIsolate,
        name: *const c_char,
        name_len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_module_builtin_in_import(
        iso: *mut StkIsolate,
        name: *const c_char,
        name_len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_configure(
        iso: *mut StkIsolate,
        json: *const c_char,
        len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_module_requests(iso: *mut StkIsolate, index: i32, out: *mut StkOutcome) -> i32;
    pub fn stk_module_run(iso: *mut StkIsolate, index: i32, inv: u32, out: *mut StkOutcome) -> i32;
    #[allow(clippy::too_many_arguments)]
    pub fn stk_invoke(
        iso: *mut StkIsolate,
        index: i32,
        kind: i32,
        inv: u32,
        payload: *const c_char,
        payload_len: usize,
        body: *const u8,
        body_len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    #[cfg(debug_assertions)]
    pub fn stk_install_test_hooks(iso: *mut StkIsolate) -> i32;
    pub fn stk_pump(iso: *mut StkIsolate, out: *mut StkOutcome) -> i32;
    pub fn stk_poll(iso: *mut StkIsolate, inv: u32, out: *mut StkOutcome) -> i32;
    pub fn stk_describe_rejection(iso: *mut StkIsolate, inv: u32, out: *mut StkOutcome) -> i32;
    pub fn stk_forget(iso: *mut StkIsolate, inv: u32);
    pub fn stk_enter_task(iso: *mut StkIsolate, task: u32);
    pub fn stk_fire_timer(iso: *mut StkIsolate, id: u32, out: *mut StkOutcome) -> i32;
    pub fn stk_host_reply(
        iso: *mut StkIsolate,
        call_id: u32,
        ok: i32,
        bytes: *const u8,
        len: usize,
        out: *mut StkOutcome,
    ) -> i32;
    pub fn stk_host_forget(iso: *mut StkIsolate, call_id: u32);
    pub fn stk_outcome_clear(out: *mut StkOutcome);
}

/// A range the bridge handed out for an isolate (test-only hooks).
#[cfg(feature = "mpk-attack")]
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub struct StkRange {
    pub start: u64,
    pub end: u64,
    pub key: i32,
    pub _pad: i32,
    pub owner: u64,
}

#[cfg(feature = "mpk-attack")]
const _: () = assert!(size_of::<StkRange>() == 32);

// TEST ONLY (bridge/attack.cc); see bridge.h.
#[cfg(feature = "mpk-attack")]
extern "C" {
    pub fn stk_attack_install(iso: *mut StkIsolate) -> i32;
    pub fn stk_attack_find(
        iso: *mut StkIsolate,
        needle: *const u8,
        len: usize,
        from: u64,
        addr: *mut u64,
    ) -> i32;
    pub fn stk_attack_ranges(iso: *mut StkIsolate, out: *mut StkRange, cap: usize) -> usize;
    pub fn stk_attack_range_of(addr: u64, out: *mut StkRange) -> i32;
    pub fn stk_attack_owner(iso: *mut StkIsolate) -> u64;
}

impl StkOutcome {
    pub fn new() -> Self {
        StkOutcome {
            status: STK_OK,
            line: 0,
            column: 0,
            flags: 0,
            value: std::ptr::null_mut(),
            value_len: 0,
            stack: std::ptr::null_mut(),
            stack_len: 0,
            resource: std::ptr::null_mut(),
            resource_len: 0,
            body: std::ptr::null_mut(),
            body_len: 0,
        }
    }
}
