// The callbacks V8 calls into the bridge while an isolate runs: the heap limit, the process's
// out-of-memory path, string code generation, WebAssembly compilation, and the first read of the
// WebAssembly namespace.
//
// Guarantees:
// - The V8 heap limit is raised at most once, by kHeapTerminationMargin, when the isolate first
//   reaches it; execution is terminated at the same moment. V8 has no way to fail one allocation:
//   a terminated isolate that keeps allocating past that margin inside a builtin V8 cannot
//   interrupt ends the process through V8's fatal out-of-memory path, which OnOutOfMemory names.
// - eval and new Function never compile (RefuseCodegen); every WebAssembly compilation from bytes
//   is observed and allowed only when the isolate allows WebAssembly (AllowWasm).
// - Tenant code never holds the WebAssembly namespace before the shared-memory guard has run on
//   it (GuardedWebAssembly, a lazy data property).
// Trusts: V8 to call these on the isolate's thread; the runtime's guard (js/no-shared-memory.js).

#include "internal.h"

#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cstdio>

namespace stockade::bridge {
namespace {

// What a terminated isolate may allocate past its heap limit, once: room for V8 to unwind the
// terminated script and for the builtin that was running to return (V8 notices termination only
// when JavaScript runs again). `new Array(2e7).fill(1.1)` (two 160 MB backing stores allocated
// by one builtin) needs about 160 MB of it under a 16 MiB limit.
constexpr size_t kHeapTerminationMargin = size_t{256} << 20;

// The exit status OnOutOfMemory ends the process with when a terminated isolate ran past its
// heap margin (stk_engine_set_oom_exit); 0: let V8 abort.
std::atomic<int32_t> g_oom_exit{0};

// The embedder's hook called just before the process ends itself for a limit
// (stk_engine_set_limit_exit_hook); null: none.
std::atomic<void (*)(uint64_t)> g_limit_exit_hook{nullptr};

}  // namespace

constinit thread_local stk_isolate* tl_current = nullptr;

// The first read of the global `WebAssembly` in a tenant context: runs the shared-memory guard on
// the namespace (its data) and answers it; V8 then keeps the answer as a plain data property. If
// the guard cannot run, WebAssembly is not handed out at all.
void GuardedWebAssembly(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  stk_isolate* iso = From(isolate);
  v8::Local<v8::Value> wasm = info.Data();
  if (iso->wasm_guard.IsEmpty()) {
    isolate->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "WebAssembly is unavailable")));
    return;
  }
  v8::Local<v8::Value> ignored;
  if (!iso->wasm_guard.Get(isolate)
           ->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, &wasm)
           .ToLocal(&ignored)) {
    return;  // the guard threw, or execution is terminating: that propagates
  }
  info.GetReturnValue().Set(wasm);
}

// V8 calls this when a full GC leaves the old generation at its limit (or after repeated
// ineffective GCs near it). The first call terminates execution and grants kHeapTerminationMargin
// once; a later call means the terminated isolate kept allocating past the margin without
// running JavaScript (a builtin V8 cannot interrupt): returning the same limit makes V8 end the
// process (OnOutOfMemory reports it), because V8 offers no "fail this allocation" answer and
// raising again would let one tenant take unbounded memory.
size_t NearHeapLimit(void* data, size_t current, size_t initial) {
  stk_isolate* iso = static_cast<stk_isolate*>(data);
  iso->limits.fetch_or(STK_LIMIT_HEAP);
  iso->isolate->TerminateExecution();
  if (iso->heap_margin_granted) return current;
  iso->heap_margin_granted = true;
  return current + kHeapTerminationMargin;
}

// V8 is about to abort the process for lack of memory. Say which isolate and why, in one line the
// supervisor's log keeps; V8 prints its own report and aborts after this returns, unless a
// terminated isolate caused it and the embedder asked for an exit status instead (a worker
// process: its supervisor reads the status as that request's memory limit).
void OnOutOfMemory(const char* location, const v8::OOMDetails& details) {
  const stk_isolate* iso = tl_current;
  char line[512];
  int n = snprintf(line, sizeof line,
                   "stockade: V8 out of memory (%s%s%s) in isolate %llu: %s\n",
                   location ? location : "?", details.detail ? ": " : "",
                   details.detail ? details.detail : "",
                   iso ? static_cast<unsigned long long>(iso->owner) : 0ULL,
                   iso && iso->heap_margin_granted
                       ? "a terminated isolate kept allocating past its heap limit plus the "
                         "termination margin inside an operation V8 cannot interrupt"
                       : "the process ran out of memory");
  if (n > 0) {
    ssize_t ignored = write(2, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
    (void)ignored;
  }
  const int32_t code = g_oom_exit.load();
  if (code != 0 && iso && iso->heap_margin_granted) {
    if (void (*hook)(uint64_t) = g_limit_exit_hook.load()) hook(iso->entry_tag);
    _exit(code);
  }
}

v8::ModifyCodeGenerationFromStringsResult RefuseCodegen(v8::Local<v8::Context>,
                                                        v8::Local<v8::Value>, bool) {
  return {};  // codegen_allowed = false: eval and new Function throw EvalError
}

// V8 asks before every WebAssembly compilation from bytes (WebAssembly.compile, instantiate,
// new WebAssembly.Module, however the code reached the namespace): the attempt is observed.
bool AllowWasm(v8::Local<v8::Context> context, v8::Local<v8::String>) {
  stk_isolate* iso = From(context->GetIsolate());
  iso->observed |= STK_OBSERVED_WASM;
  return iso->allow_wasm;
}

}  // namespace stockade::bridge

using namespace stockade::bridge;

extern "C" {

void stk_engine_set_oom_exit(int32_t code) { g_oom_exit.store(code); }

void stk_engine_set_limit_exit_hook(void (*hook)(uint64_t)) { g_limit_exit_hook.store(hook); }

void stk_set_entry_tag(stk_isolate* iso, uint64_t tag) { iso->entry_tag = tag; }

}  // extern "C"
