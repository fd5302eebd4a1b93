// The bridge's per-isolate state, shared by the bridge's files and the test-only attack.cc.
// Owned by the Rust Worker through the opaque stk_isolate pointer; used only on the isolate's
// thread, inside bridge calls (limits may be read and set from any thread).
#ifndef STOCKADE_ISOLATE_H_
#define STOCKADE_ISOLATE_H_

#include <v8.h>

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge.h"
#include "memory.h"

struct stk_isolate {
  v8::Isolate* isolate = nullptr;
  std::unique_ptr<stockade::ArenaAllocator> allocator;
  stk_host host{};
  v8::Global<v8::Context> context;
  std::vector<v8::Global<v8::Module>> modules;
  std::vector<std::string> module_names;
  std::unordered_map<int, std::vector<int>> by_hash;
  std::unordered_map<std::string, int> by_name;
  std::vector<v8::Global<v8::Value>> synthetic;  // default export of synthetic modules
  // Built-in modules (stk_module_builtin) by index: their named exports besides `default`.
  std::unordered_map<int, std::vector<std::string>> builtin_exports;
  // Nonzero while DynamicImport asks the host to resolve: only then may the host create a
  // built-in module inside the entry (stk_module_builtin_in_import; JavaScript is running).
  int dynamic_imports = 0;
  // True while CreateBuiltin runs: no second creation starts inside it.
  bool creating_builtin = false;
  // Why the last stk_module_builtin_in_import failed: the error of a resolve of -4.
  std::string builtin_failure;
  v8::Global<v8::Function> invoker;
  v8::Global<v8::Function> attach;  // hands the prelude's exports to the runtime
  v8::Global<v8::Function> timer_dispatch;
  // The runtime's (kind, promise, reason) -> undefined that fires unhandledrejection and
  // rejectionhandled at the global scope (js/workers.js); see RecordRejection in callbacks.cc.
  v8::Global<v8::Function> rejection_dispatch;
  // Promise rejections V8 reported since the last dispatch (stk_pump): a promise rejected with
  // no handler (handled = false), or a handler added to a rejected one (handled = true), with
  // the async context current then, which its event runs in. At most kMaxRejections; past that
  // they are counted in rejections_dropped.
  struct Rejection {
    v8::Global<v8::Promise> promise;
    v8::Global<v8::Value> reason;
    v8::Global<v8::Value> context;
    int hash = 0;  // the promise's identity hash, to find it again without a handle
    bool handled = false;
  };
  std::vector<Rejection> rejections;
  uint32_t rejections_dropped = 0;
  v8::Global<v8::Function> wasm_guard;  // snapshot creation only; see js/no-shared-memory.js
  // What PrepareStackTrace (callbacks.cc) formats a stack with, taken before tenant code can
  // replace them: the context's %Error% (whose prepareStackTrace tenant code may set) and
  // %Error.prototype.toString%, at creation; CallSite.prototype's getScriptNameOrSourceURL,
  // getLineNumber, getColumnNumber and toString at the first stack formatted (tenant code can
  // reach a CallSite only through a stack formatted after that).
  v8::Global<v8::Function> error_function;
  v8::Global<v8::Function> error_to_string;
  v8::Global<v8::Function> site_script;
  v8::Global<v8::Function> site_line;
  v8::Global<v8::Function> site_column;
  v8::Global<v8::Function> site_to_string;
  // Lazy globals as [name, get, name, get, ...] (lazy.h): snapshot creation only; each isolate
  // made from the snapshot installs them.
  v8::Global<v8::Array> lazy_globals;
  // stk_lazy_defer_caches: this isolate runs no tenant code, and the lazy groups it compiles first
  // in the process wait here (by group index) to leave their code caches until it used them.
  bool defer_lazy_caches = false;
  std::vector<std::pair<uint32_t, v8::Global<v8::Function>>> deferred_lazy;
  // Pending invocations by the host's id, and pending host calls by call id (see bridge.h).
  std::unordered_map<uint32_t, v8::Global<v8::Promise>> pending;
  std::unordered_map<uint32_t, v8::Global<v8::Promise::Resolver>> calls;
  uint32_t next_call = 0;
  std::atomic<uint32_t> limits{0};
  uint32_t observed = 0;  // STK_OBSERVED_*; isolate thread only
  // Set (for good) by stk_isolate_terminate: native ops read it to stop early (stk_op_call.cancel).
  std::atomic<uint32_t> cancelled{0};
  size_t stack_limit_bytes = 0;
  double monotonic_ms = 0;
  double wall_ms = 0;
  int pkey = -1;
  uint64_t owner = 0;  // this isolate's id in the range registry, never reused
  bool allow_wasm = false;
  // Keyed isolates only (see DrainPagePool in engine.cc): a collection ran since the page pool
  // was last drained.
  bool drain_pool = false;
  bool gc_ran = false;
  bool heap_margin_granted = false;  // NearHeapLimit has raised the limit (it does so once)
  uint64_t entry_tag = 0;  // the embedder's tag of the task the thread runs for (stk_set_entry_tag)
};

#endif  // STOCKADE_ISOLATE_H_
