// The flat C surface between Rust (isolate/src/ffi.rs) and V8 13.6 (the .cc files of this
// directory; bridge.cc lists them).
//
// Every struct here is mirrored field for field in ffi.rs; bridge.cc static_asserts the sizes
// and offsets the Rust side asserts too, so a mismatch fails the build, not a tenant's request.
//
// Threading: every function taking an stk_isolate* must be called on the thread that created
// it, except stk_isolate_terminate, which any thread may call while the isolate lives.
// Memory: strings returned in an stk_outcome are malloc'd by the bridge and released with
// stk_outcome_clear; strings passed in are borrowed for the duration of the call.
#ifndef STOCKADE_BRIDGE_H_
#define STOCKADE_BRIDGE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct stk_isolate stk_isolate;

// One synchronous native operation (stk_host.op; the op table is isolate/src/ops/mod.rs). The
// bridge fills input, cancel, sink and alloc; the host fills output (through alloc) or message.
#define STK_OP_MESSAGE_CAP 256
typedef struct {
  const uint8_t* input;  // borrowed for the call (a private copy when there is a callback)
  size_t input_len;
  // Nonzero once the isolate has been terminated (std::atomic<uint32_t>; read it atomically): a
  // long op checks it between steps and gives up (answers STK_OP_CANCELLED).
  const uint32_t* cancel;
  void* sink;
  // Allocates the answer's `len` bytes in the isolate's ArrayBuffer arena (they count against its
  // memory budget); null when the budget refuses them. At most once per call.
  uint8_t* (*alloc)(void* sink, size_t len);
  uint8_t* output;  // set by the host: what alloc returned and how much of it is the answer
  size_t output_len;
  size_t message_len;  // the error message (UTF-8) when the op failed
  char message[STK_OP_MESSAGE_CAP];
  // Non-null when the op was given a JavaScript callback (op's third argument): calls it, inside
  // this op, with a fresh Uint8Array holding `len` bytes of `input` (from the isolate's arena) and
  // answers STK_OP_OK with the bytes of the Uint8Array it returned in *out/*out_len (a copy, valid
  // until the next callback of this op or the op's end), STK_OP_CANCELLED when execution is
  // terminating, or 7 (OperationError) when it threw, returned something else or the arena
  // refused the bytes. JavaScript runs meanwhile: the host must hold no state a nested op or host
  // callback could reach across it.
  int32_t (*callback)(void* sink, const uint8_t* input, size_t len, const uint8_t** out,
                      size_t* out_len);
} stk_op_call;

// stk_host.op's answer: STK_OP_OK, STK_OP_CANCELLED, or an error kind (1 TypeError, 2 RangeError,
// 3 NotSupportedError, 4 SyntaxError, 5 InvalidAccessError, 6 DataError, 7 OperationError,
// 8 QuotaExceededError), which the bridge throws as an Error with an own `kind` property.
enum { STK_OP_OK = 0, STK_OP_CANCELLED = -1 };
// The largest input the bridge hands an op (16 MiB; the host checks too).
#define STK_OP_MAX_INPUT ((size_t)16 << 20)

// The host calls an invocation may have in flight at once, and what its calls waiting for a place
// may add up to (stk_host.host_call refuses past them; isolate/src/host.rs enforces them).
#define STK_HOST_CALLS_IN_FLIGHT_MAX 64
#define STK_HOST_CALLS_QUEUED_MAX 10000
#define STK_HOST_CALL_BYTES_QUEUED_MAX (64u << 20)

// What stk_host.host_call_sync answers.
#define STK_SYNC_OK 0
#define STK_SYNC_FAILED 1
#define STK_SYNC_REFUSED 2
#define STK_SYNC_ENDED 3

// Host functions the isolate's JavaScript may call (through the runtime's private
// `__stockade_host` object). All are called on the isolate's thread, inside a bridge call.
typedef struct {
  void* userdata;
  // Console output: level 0 debug, 1 log, 2 warn, 3 error, 4 info. Returns 0 to go on, or nonzero
  // when the output budget is spent (the bridge then terminates execution).
  // Made by invocation `task` (the async context's, see stk_enter_task; 0: none known, the
  // host's current one).
  int32_t (*log)(void* userdata, uint32_t task, int32_t level, const uint8_t* text, size_t len);
  // Fill `len` bytes with CSPRNG output. Returns 0 on success.
  int32_t (*random_fill)(void* userdata, uint8_t* buf, size_t len);
  // Arm (or re-arm) timer `id` to fire after `delay_ms`; the host later calls stk_fire_timer.
  // Returns 0, or nonzero when the timer budget is spent.
  // Armed by invocation `task` (as for log).
  int32_t (*set_timer)(void* userdata, uint32_t task, uint32_t id, double delay_ms);
  void (*clear_timer)(void* userdata, uint32_t id);
  // A timer the JavaScript armed that will never fire (its invocation ended first, so the host
  // forgot it), one per call; 0 when none is left. setTimer hands them to the runtime, which
  // forgets their callbacks.
  uint32_t (*take_dropped_timer)(void* userdata);
  // Resolve `specifier` imported from module `referrer` to a module index returned by
  // stk_module_compile/stk_module_synthetic/stk_module_builtin, or -1 when it is outside the
  // worker's module set, -2 when it is a Node.js built-in the worker lacks the nodejs_compat flag
  // for, -3 when it is a built-in module Stockade does not support, -4 when it is a built-in whose
  // creation inside an import() failed (stk_module_builtin_in_import; its error is kept for the
  // message) (each its own error message).
  int32_t (*resolve)(void* userdata, int32_t referrer, const uint8_t* specifier, size_t len);
  // A host call `call_id` named `name` with `payload` (both borrowed for this call), made for
  // invocation `task` (named by the runtime, else the async context's; 0: none known, the host's
  // current one): the host answers later with stk_host_reply. An accepted call may first wait in
  // the host's queue (an invocation has at most STK_HOST_CALLS_IN_FLIGHT_MAX calls in flight; the
  // rest are sent in the order made as earlier ones are answered). Returns 0, or nonzero to refuse
  // it (the promise the JavaScript got rejects at once): 2 when the invocation made its limit of
  // outbound requests, 3 when STK_HOST_CALLS_QUEUED_MAX of its calls wait already, 4 when its
  // waiting calls' payloads would hold more than STK_HOST_CALL_BYTES_QUEUED_MAX bytes (3 and 4
  // reject with a RangeError naming the bound).
  int32_t (*host_call)(void* userdata, uint32_t call_id, uint32_t task, const uint8_t* name,
                       size_t name_len, const uint8_t* payload, size_t payload_len);
  // A synchronous host call (`__stockade_host.callSync`): as host_call, but the host sends it and
  // waits for its answer inside this call (the entry's budget pays for the wait; only names the
  // host allows may be synchronous). Returns STK_SYNC_OK with the answer in *answer/*answer_len,
  // STK_SYNC_FAILED with the host's error message there, STK_SYNC_REFUSED with why, or
  // STK_SYNC_ENDED with why the wait ended (a limit, a cancellation, the socket's end): the bridge
  // throws, and terminates execution when the entry's watch fired. The bytes stay valid until
  // the host's next callback.
  int32_t (*host_call_sync)(void* userdata, uint32_t call_id, uint32_t task, const uint8_t* name,
                            size_t name_len, const uint8_t* payload, size_t payload_len,
                            const uint8_t** answer, size_t* answer_len);
  // Runs synchronous native operation `code` on `call` (see stk_op_call): inside the bridge entry
  // that asks, on the isolate's thread, so its CPU time is the invocation's.
  int32_t (*op)(void* userdata, uint32_t code, stk_op_call* call);
  // Maps a 1-based (line, column) of module `name` (UTF-8, borrowed for the call), as V8 counts
  // it in the JavaScript it compiled, to the one the tenant wrote, in place: 1 when the module was
  // transformed (TypeScript, lowered decorators) and the position is mapped, else 0 (unchanged).
  // Called while V8 formats an error's stack, JavaScript on the stack: the host must not enter
  // the isolate.
  int32_t (*map_position)(void* userdata, const uint8_t* name, size_t name_len, uint32_t* line,
                          uint32_t* column);
} stk_host;

typedef struct {
  size_t heap_limit_bytes;      // old + young generation
  size_t external_limit_bytes;  // ArrayBuffer backing stores
  size_t stack_limit_bytes;     // JS stack depth budget below the entry frame
  uint32_t allow_wasm;          // 0: WebAssembly compilation refused
  int32_t pkey;                 // -1: no memory protection key
} stk_isolate_config;

enum {
  STK_OK = 0,
  STK_EXCEPTION = 1,   // JavaScript threw; message/stack/resource/line/column describe it
  STK_TERMINATED = 2,  // execution was terminated (a limit); see stk_isolate_limits
  STK_PENDING = 3,     // the invocation's promise has not settled yet
  STK_INTERNAL = 4,    // the bridge failed (message says how)
  STK_REJECTED = 5,    // the invocation's promise was rejected (see stk_describe_rejection)
  STK_TOO_LARGE = 6,   // the invocation's result cannot fit the largest result there is
};

// stk_outcome.flags
enum {
  // stk_poll: the invocation settled with a response and left background work (ctx.waitUntil)
  // pending under the same invocation id; poll it again to learn when that settles.
  STK_FLAG_BACKGROUND = 1,
};

typedef struct {
  int32_t status;
  int32_t line;    // 1-based, 0 when unknown
  int32_t column;  // 1-based, 0 when unknown
  int32_t flags;   // STK_FLAG_*
  char* value;     // STK_OK: the result (JSON text); else the error message
  size_t value_len;
  char* stack;
  size_t stack_len;
  char* resource;  // the module name the error points at
  size_t resource_len;
  uint8_t* body;   // STK_OK of a fetch invocation: the response body bytes (may be null)
  size_t body_len;
} stk_outcome;

// Which limits the isolate hit (sticky until disposal).
enum {
  STK_LIMIT_HEAP = 1,
  STK_LIMIT_EXTERNAL = 2,
  STK_LIMIT_LOG = 4,
  STK_LIMIT_TIMERS = 8,
};

// What tenant code was seen doing that is a risk signal (sticky until disposal), whatever its
// text looks like: see stk_isolate_observed.
enum {
  STK_OBSERVED_WASM = 1,            // asked V8 to compile WebAssembly (allowed or not)
  STK_OBSERVED_DYNAMIC_IMPORT = 2,  // called import()
};

typedef struct {
  size_t used_heap_bytes;
  size_t total_heap_bytes;
  size_t heap_limit_bytes;
  size_t external_bytes;
  size_t malloced_bytes;
  size_t arena_maps;          // mappings made for large ArrayBuffer stores (ArenaAllocator)
  size_t arena_cached_bytes;  // freed large stores kept for reuse (ArenaAllocator)
} stk_heap_stats;

// Module kinds for stk_module_synthetic.
enum { STK_SYNTH_TEXT = 0, STK_SYNTH_JSON = 1, STK_SYNTH_DATA = 2 };

// Invocation kinds for stk_invoke.
// (2-5 are the runtime's own: test hooks, configure, built-in modules.) STK_INVOKE_RPC: a method
// of an entrypoint, the payload JSON text {entrypoint, method, args, env} (see js/rpc.js).
// STK_INVOKE_SCHEDULED: the scheduled handler, the payload {cron, scheduledTime, env} (js/scheduled.js).
// STK_INVOKE_QUEUE: the queue handler, the payload {queue, messages, env}, the bodies (js/queue.js).
enum {
  STK_INVOKE_DEFAULT = 0,
  STK_INVOKE_FETCH = 1,
  STK_INVOKE_RPC = 6,
  STK_INVOKE_SCHEDULED = 7,
  STK_INVOKE_QUEUE = 8
};

// Process-wide. `flags` are V8 flags; returns 0, or -1 when called twice with other flags.
int32_t stk_engine_init(const char* flags, size_t flags_len);
const char* stk_v8_version(void);
// When a terminated isolate keeps allocating past its heap margin, V8 can only abort the process:
// end it with `code` instead (0, the default: let V8 abort). Any thread; process-wide.
void stk_engine_set_oom_exit(int32_t code);
// Called, when set, just before the process ends itself for a limit (the exit above, or the
// watchdog's), with the tag of the task it ends for (stk_set_entry_tag): the embedder's last word
// on whose limit it was. It runs on a dying process: one store to memory, no locks, no allocation.
void stk_engine_set_limit_exit_hook(void (*hook)(uint64_t tag));
// The tag of the task the calling thread is about to run in `iso` (for the hook above). Touches
// no V8 state; call it on the isolate's thread.
void stk_set_entry_tag(stk_isolate* iso, uint64_t tag);

// Evaluates the runtime script (runtime + web prelude) once in a snapshot isolate and keeps the
// resulting startup snapshot; every isolate then starts from it. Call once after
// stk_engine_init, before any stk_isolate_new.
// A lazy group of the prelude (isolate/src/lazy.rs): the body of a strict function, its origin
// for stack traces and its parameter names ('\n'-separated). The bytes must live as long as the
// process: isolates read the source in place.
typedef struct {
  const char* origin;
  size_t origin_len;
  const char* source;
  size_t source_len;
  const char* params;
  size_t params_len;
} stk_lazy_part;

// `lazy` (`lazy_count` groups) is what the runtime's compileLazy(index) compiles. `eager`
// (`eager_count` source positions in `runtime_js`, each the opening parenthesis of a function's
// parameters) are functions compiled with the runtime, so that the snapshot holds their bytecode
// although nothing runs them while it is made (a lazy group's build and the op calls use them).
int32_t stk_engine_snapshot(const char* runtime_js, size_t runtime_len, const stk_lazy_part* lazy,
                            size_t lazy_count, const int32_t* eager, size_t eager_count,
                            stk_outcome* out);

// The lazy groups' code caches. A group's first compile in the process leaves V8's code cache of
// it for later isolates, made at once (before any of it runs), so it holds the group's top-level
// function only and every isolate compiles the rest from source when it runs. An isolate no
// tenant code ever runs in (the worker's warm-up) may instead defer that: the groups it compiles
// leave their caches when stk_lazy_leave_caches is called, after it used them, with every
// function that use compiled. Returns how many caches it left (a group already cached is kept).
void stk_lazy_defer_caches(stk_isolate* iso);
uint32_t stk_lazy_leave_caches(stk_isolate* iso);
// The size of group `index`'s code cache in bytes, 0 if it has none yet. Any thread.
size_t stk_lazy_cache_bytes(uint32_t index);

stk_isolate* stk_isolate_new(const stk_isolate_config* config, const stk_host* host,
                             stk_outcome* out);
void stk_isolate_dispose(stk_isolate* iso);
void stk_isolate_terminate(stk_isolate* iso);  // thread-safe
uint32_t stk_isolate_limits(stk_isolate* iso);
uint32_t stk_isolate_observed(stk_isolate* iso);  // STK_OBSERVED_* flags
// Page allocations V8 made on a thread that was not working for an isolate or the engine (no
// owner, so no key), since the process started. Stays 0 with --single-threaded; see memory.h.
uint64_t stk_pages_allocated_outside_isolates(void);
void stk_isolate_heap_stats(stk_isolate* iso, stk_heap_stats* stats);

// What the engine holds process-wide, for memory accounting and tests. Any thread.
typedef struct {
  uint64_t live_isolates;          // tenant isolates created and not yet disposed
  uint64_t created_since_renewal;  // tenant isolates created since V8's shared heap was renewed
  uint64_t renewals;               // successful stk_engine_renew_shared_heap calls
  uint64_t owned_ranges;           // entries of the page allocator's range registry (memory.h)
} stk_engine_memory;
void stk_engine_memory_stats(stk_engine_memory* out);

// The two renewal counters of stk_engine_memory alone, for a thread's loop to poll: atomic loads
// only, no lock (stk_engine_memory_stats locks the range registry to count it). The two are read
// one after the other, not as one snapshot. Any thread.
typedef struct {
  uint64_t created_since_renewal;  // as in stk_engine_memory
  uint64_t renewals;               // as in stk_engine_memory
} stk_renewal_counters;
void stk_engine_renewal_counters(stk_renewal_counters* out);

// V8 13.6 built without static roots (Debian's) takes table entries for every new isolate from
// its shared read-only heap and frees them only with that heap, i.e. when the process's last
// isolate is disposed; the anchor isolate (see engine.cc) keeps it alive, so a process that
// creates fresh isolates grows by about 450 bytes per isolate, without bound. This disposes the
// anchor and creates a new one, and with it a new shared heap, under the engine's scope: only
// when no tenant isolate lives and at least `min_created` were created since the last renewal.
// Returns 1 when renewed, 0 when not now (a tenant isolate lives, another thread is creating or
// renewing, or too few were created), -1 when the new anchor could not be created (every
// stk_isolate_new fails from then on). Any thread.
int32_t stk_engine_renew_shared_heap(uint64_t min_created);

// Unmaps every range in the page allocator's pool of freed heap pages (memory.h), and the freed
// ArrayBuffer stores every live isolate's arena keeps for its next ones, and returns the bytes
// released (0 before V8 is initialised, or when both are empty). They speed up the creation of
// the next isolates and stores; a process that stays idle gives them back. Any thread.
uint64_t stk_engine_release_page_pool(void);

// The mapping an ArrayBuffer store of `length` bytes (more than 2 KiB) gets with pages of `page`
// bytes (ArenaAllocator::LargeSize, memory.h): pure, for the host's property tests.
size_t stk_arena_large_size(size_t length, size_t page);

// Date.now() and performance.now() read these; they move only when the host sets them.
void stk_set_clock(stk_isolate* iso, double wall_ms, double monotonic_ms);

int32_t stk_module_compile(stk_isolate* iso, const char* name, size_t name_len, const char* src,
                           size_t src_len, stk_outcome* out);
int32_t stk_module_synthetic(stk_isolate* iso, const char* name, size_t name_len, int32_t kind,
                             const char* bytes, size_t len, stk_outcome* out);
// A built-in module (`node:buffer`, `cloudflare:workers`): a synthetic module whose export names
// the runtime lists now and whose values it builds on first evaluation. Not findable by name for
// import() referrers (it has no code). Returns its index, or -1 with out saying why.
int32_t stk_module_builtin(stk_isolate* iso, const char* name, size_t name_len, stk_outcome* out);
// stk_module_builtin from inside stk_host.resolve while an import() resolves (the host creates a
// built-in the worker may import on its first import(); JavaScript is running, inside the
// entry). Outside that, -1 with out saying why.
int32_t stk_module_builtin_in_import(stk_isolate* iso, const char* name, size_t name_len,
                                     stk_outcome* out);
// Hands the runtime the worker's configuration (JSON text: compatibility features, env) before
// any of its modules run: STK_OK, or STK_EXCEPTION/STK_TERMINATED.
int32_t stk_configure(stk_isolate* iso, const char* json, size_t len, stk_outcome* out);
// The specifiers module `index` imports statically, NUL-separated, in out->value.
int32_t stk_module_requests(stk_isolate* iso, int32_t index, stk_outcome* out);
// Invocations: each started invocation is a promise the bridge keeps under the caller's id `inv`
// (any u32 not in use in this isolate) until stk_poll reports it settled or stk_forget drops it.
// Many may be pending in one isolate at once. Starting returns STK_OK (the promise is kept),
// STK_EXCEPTION (it threw synchronously) or STK_TERMINATED; none of them runs microtasks:
// stk_pump does.

// Instantiates and evaluates `index`; top-level await settles as invocation `inv`.
int32_t stk_module_run(stk_isolate* iso, int32_t index, uint32_t inv, stk_outcome* out);

// Starts invocation `inv` of module `index` through the runtime's dispatcher: the default
// export with the JSON text `payload`, or (STK_INVOKE_FETCH) the fetch handler with the request
// head as JSON text and `body` (borrowed; null for none) as a Uint8Array.
int32_t stk_invoke(stk_isolate* iso, int32_t index, int32_t kind, uint32_t inv, const char* payload,
                   size_t payload_len, const uint8_t* body, size_t body_len, stk_outcome* out);
// Debug builds' tests only (the Rust side calls it under cfg(debug_assertions), and the runtime
// honours it only in a debug build's snapshot): defines `globalThis.__stockadeTestHostCall(name,
// payload)` in this isolate, the host-call road without any real capability behind it.
int32_t stk_install_test_hooks(stk_isolate* iso);
// Runs microtasks, then the runtime's unhandledrejection / rejectionhandled events for the promises
// V8 reported (not an invocation's own; see DispatchRejections in callbacks.cc) and the microtasks
// they leave, then platform tasks: STK_OK, or STK_TERMINATED when execution was terminated.
int32_t stk_pump(stk_isolate* iso, stk_outcome* out);
// The state of invocation `inv`: STK_PENDING; STK_OK with the result (a fetch's response head as
// JSON text in value, its body in body; STK_FLAG_BACKGROUND when its waitUntil work is still
// pending under `inv`); STK_TOO_LARGE when the runtime found the result too large to write
// (it resolves with `false`); STK_REJECTED, the invocation kept for stk_describe_rejection or
// stk_forget; STK_INTERNAL for an unknown id or a result the runtime did not make. A fulfilled
// invocation is forgotten. Runs no JavaScript.
int32_t stk_poll(stk_isolate* iso, uint32_t inv, stk_outcome* out);
// Describes the rejection of invocation `inv` (STK_EXCEPTION with message and stack; or
// STK_TERMINATED) and forgets it. May run tenant code (a `stack` getter,
// `Error.prepareStackTrace`): call it under the task's watchdog, as an entry.
int32_t stk_describe_rejection(stk_isolate* iso, uint32_t inv, stk_outcome* out);
// Drops invocation `inv` (cancelled, or past its deadline): nothing reports it any more.
void stk_forget(stk_isolate* iso, uint32_t inv);
// Starts the async context of an entry for invocation `task` (0: ends it): what runs in the entry
// and the promise reactions it creates belong to `task` (see stk_host.log). Call it before each
// entry made for a task, and with 0 after.
void stk_enter_task(stk_isolate* iso, uint32_t task);
int32_t stk_fire_timer(stk_isolate* iso, uint32_t id, stk_outcome* out);
// Settles host call `call_id`: fulfils its promise with a Uint8Array of `bytes` when ok != 0,
// rejects it with an Error whose message is `bytes` (UTF-8) otherwise. An unknown or already
// settled call id is ignored. Microtasks run on the next stk_pump.
int32_t stk_host_reply(stk_isolate* iso, uint32_t call_id, int32_t ok, const uint8_t* bytes,
                       size_t len, stk_outcome* out);
// Drops host call `call_id` without settling it (its request ended).
void stk_host_forget(stk_isolate* iso, uint32_t call_id);

void stk_outcome_clear(stk_outcome* out);

// ---- Test-only hooks (attack.cc): compiled only with the `mpk-attack` cargo feature, which the
// build refuses without debug assertions, so no release build can contain them. ----

// A range of memory the bridge handed out, with its key (-1: none) and owner.
typedef struct {
  uint64_t start;
  uint64_t end;
  int32_t key;
  int32_t _pad;
  uint64_t owner;
} stk_range;

// Installs `globalThis.__attack` in the isolate's context: read64(addr), write64(addr, value)
// (addresses and values as "0x..." strings) give its JavaScript arbitrary read/write of process
// memory, as a V8 memory-corruption bug would; pkru() returns the thread's PKRU (-1 without
// OSPKE). Returns 0.
int32_t stk_attack_install(stk_isolate* iso);
// Finds `needle` at or after address `from` in the readable memory the bridge handed out for this
// isolate (heap pages and ArrayBuffer arena); the caller must have the isolate's key open.
// Returns 0 and sets *addr, or -1 when not found.
int32_t stk_attack_find(stk_isolate* iso, const uint8_t* needle, size_t len, uint64_t from,
                        uint64_t* addr);
// Copies up to `cap` of the isolate's ranges to `out`; returns how many it has in all.
size_t stk_attack_ranges(stk_isolate* iso, stk_range* out, size_t cap);
// The registry's view of `addr`: 0 and the range, or -1 when no isolate or engine range holds it.
int32_t stk_attack_range_of(uint64_t addr, stk_range* out);
// The owner id the range registry uses for this isolate.
uint64_t stk_attack_owner(stk_isolate* iso);

#ifdef __cplusplus
}
#endif

#endif  // STOCKADE_BRIDGE_H_
