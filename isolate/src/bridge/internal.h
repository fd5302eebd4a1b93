// Internals the bridge's files share (namespace stockade::bridge): the engine's globals, the scope
// every bridge call runs in (Entry), the helpers that fill an stk_outcome, and the functions one
// file defines for another. Nothing here is part of the C surface (bridge.h).
//
// Guarantees: every global below is defined once, in the file named beside it; Entry opens the
// isolate's owner scope first and closes it last, so everything V8 allocates during a bridge call
// carries the isolate's key (see the comment on Entry).
// Trusts: its users (the bridge's own files) to call everything here on the isolate's thread,
// inside a bridge call, unless a comment says otherwise.
#ifndef STOCKADE_BRIDGE_INTERNAL_H_
#define STOCKADE_BRIDGE_INTERNAL_H_

#include <v8.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <shared_mutex>
#include <string>

#include "bridge.h"
#include "isolate.h"
#include "memory.h"

namespace stockade::bridge {

// ---- Globals ----

// The frozen wall clock Date.now() reads on this thread; < 0 when unset (engine.cc).
extern thread_local constinit double tl_wall_ms;
// The isolate a bridge call on this thread is working for, for the out-of-memory report
// (callbacks.cc).
extern thread_local constinit stk_isolate* tl_current;
// The startup snapshot: a context with the runtime and prelude already evaluated (snapshot.cc).
extern v8::StartupData g_snapshot;
// An isolate that lives as long as the process, created from g_snapshot under the engine's scope
// (no key). V8 shares one read-only heap between all isolates and frees it with the last one; the
// anchor keeps that heap, which every isolate reads, from ever being re-created while a tenant's
// key is the thread's key. It never runs code. (engine.cc; set by snapshot.cc and engine.cc.)
extern v8::Isolate* g_anchor;
// Held shared while a tenant isolate is being created, exclusively while the anchor (and with it
// V8's shared read-only heap) is being renewed; see stk_engine_renew_shared_heap (engine.cc).
extern std::shared_mutex g_anchor_mu;
// Tenant isolates alive, and created since the last renewal (engine.cc).
extern std::atomic<uint64_t> g_live;
extern std::atomic<uint64_t> g_created_since_renewal;
// Snapshot indices of the functions the runtime registers with the host.
constexpr size_t kSnapshotInvoker = 0;
constexpr size_t kSnapshotTimerDispatch = 1;
constexpr size_t kSnapshotWasmGuard = 2;
constexpr size_t kSnapshotLazyGlobals = 3;  // [name, get, ...]: see lazy.h
constexpr size_t kSnapshotRejectionDispatch = 4;

inline stk_isolate* From(v8::Isolate* isolate) {
  return static_cast<stk_isolate*>(isolate->GetData(0));
}

// ---- Outcomes and values (bridge.cc) ----

// A malloc'd, NUL-terminated copy of `s`; its length in *len (0 and null when malloc fails).
char* CopyOut(const std::string& s, size_t* len);
std::string Utf8(v8::Isolate* isolate, v8::Local<v8::Value> value);
void SetValue(stk_outcome* out, int32_t status, const std::string& value);
// Describes a thrown value (or a rejected promise's reason) in `out`.
void DescribeException(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                       v8::Local<v8::Value> exception, v8::Local<v8::Message> message,
                       stk_outcome* out);
void FromTryCatch(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::TryCatch& tc,
                  stk_outcome* out);
v8::Local<v8::String> Str(v8::Isolate* isolate, const char* s, size_t len);
// An ArrayBuffer holding a copy of `len` bytes, its backing store in the isolate's arena (so it
// counts against the tenant's memory budget); empty when the budget refuses it.
v8::MaybeLocal<v8::ArrayBuffer> ArenaCopy(stk_isolate* iso, const void* bytes, size_t len);

// ---- Engine and page pools (engine.cc) ----

// GC epilogue callback of a keyed isolate: a collection ran (see DrainPagePool).
void NoteCollection(v8::Isolate*, v8::GCType, v8::GCCallbackFlags, void* data);
// Empties the process-wide page pool after a collection in a keyed isolate (see engine.cc).
void DrainPagePool(stk_isolate* iso);
// Disposes `isolate` and frees the page pool its teardown left at once (see engine.cc).
void DisposeReleasingPools(v8::Isolate* isolate);
// The anchor isolate (see g_anchor), created from the snapshot under the engine's scope.
v8::Isolate* NewAnchor();

// ---- Host functions and the runtime script (host_functions.cc, ops.cc) ----

// The async context [task, frame] kept in V8's continuation-preserved embedder data.
v8::Local<v8::Value> MakeAsyncContext(v8::Isolate* isolate, uint32_t task, v8::Local<v8::Value> frame);
// op(code, input, callback?): a synchronous native operation (ops.cc).
void HostOp(const v8::FunctionCallbackInfo<v8::Value>& args);
// The C++ functions reachable from snapshotted JavaScript; V8 serialises them by index here.
const intptr_t* ExternalReferences();
// Source positions of runtime functions to compile with the script (see stk_engine_snapshot),
// sorted or not; none when `count` is 0.
struct EagerFunctions {
  const int32_t* positions;
  size_t count;
};
// Installs the private host object, runs the runtime script (compiling `eager` with it), and
// hands the prelude's exports to the runtime. False (with `out` saying why) when it fails.
bool RunRuntime(stk_isolate* iso, v8::Local<v8::Context> ctx, const char* runtime_js,
                size_t runtime_len, EagerFunctions eager, stk_outcome* out);

// ---- V8 callbacks (callbacks.cc) ----

void GuardedWebAssembly(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info);
size_t NearHeapLimit(void* data, size_t current, size_t initial);
void OnOutOfMemory(const char* location, const v8::OOMDetails& details);
v8::ModifyCodeGenerationFromStringsResult RefuseCodegen(v8::Local<v8::Context>,
                                                        v8::Local<v8::Value>, bool);
bool AllowWasm(v8::Local<v8::Context> context, v8::Local<v8::String>);
// V8's PrepareStackTraceCallback: an error's `stack`, the runtime's frames left out and
// transformed modules' positions mapped back (see callbacks.cc).
v8::MaybeLocal<v8::Value> PrepareStackTrace(v8::Local<v8::Context> ctx, v8::Local<v8::Value> error,
                                            v8::Local<v8::Array> sites);
// V8's promise-reject callback: records what DispatchRejections hands the runtime.
void OnPromiseReject(v8::PromiseRejectMessage message);
// Fires the recorded rejections' events (unhandledrejection, rejectionhandled) through the
// runtime's dispatch, each in the async context it was recorded in, running microtasks after
// them; false when execution was terminated meanwhile.
bool DispatchRejections(stk_isolate* iso, v8::Local<v8::Context> ctx);

// ---- Modules (modules.cc) ----

v8::MaybeLocal<v8::Module> ResolveModule(v8::Local<v8::Context> context,
                                         v8::Local<v8::String> specifier,
                                         v8::Local<v8::FixedArray>,
                                         v8::Local<v8::Module> referrer);
v8::MaybeLocal<v8::Promise> DynamicImport(v8::Local<v8::Context> context, v8::Local<v8::Data>,
                                          v8::Local<v8::Value> resource_name,
                                          v8::Local<v8::String> specifier,
                                          v8::Local<v8::FixedArray>);
// False (with `out` saying why) unless `index` names a module of `iso`.
bool ValidModule(stk_isolate* iso, int32_t index, stk_outcome* out);

// ---- The scope of a bridge call ----

// Everything a bridge call needs while it runs on an isolate: V8 scopes, the owner (protection
// key) of the pages it allocates, the frozen clock, and the stack limit measured from this frame.
// The owner scope is opened first and closed last, so every allocation V8 makes in between (GC,
// compilation, microtasks, tasks pumped from the platform) is tagged with the isolate's key.
class Entry {
 public:
  explicit Entry(stk_isolate* iso)
      : iso_(iso),
        owner_(iso->pkey, iso->owner),
        saved_wall_(tl_wall_ms),
        saved_current_(tl_current),
        isolate_scope_(iso->isolate),
        handles_(iso->isolate),
        context_(iso->context.Get(iso->isolate)),
        context_scope_(context_) {
    tl_wall_ms = iso->wall_ms;
    tl_current = iso;
    char here;
    uintptr_t limit = reinterpret_cast<uintptr_t>(&here) - iso->stack_limit_bytes;
    iso->isolate->SetStackLimit(limit);
  }
  ~Entry() {
    DrainPagePool(iso_);
    tl_wall_ms = saved_wall_;
    tl_current = saved_current_;
  }
  v8::Local<v8::Context> context() const { return context_; }
  v8::Isolate* isolate() const { return iso_->isolate; }

 private:
  stk_isolate* iso_;
  stockade::OwnerScope owner_;
  double saved_wall_;
  stk_isolate* saved_current_;
  v8::Isolate::Scope isolate_scope_;
  v8::HandleScope handles_;
  v8::Local<v8::Context> context_;
  v8::Context::Scope context_scope_;
};

}  // namespace stockade::bridge

#endif  // STOCKADE_BRIDGE_INTERNAL_H_
