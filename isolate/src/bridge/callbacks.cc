// The callbacks V8 calls into the bridge while an isolate runs: the heap limit, the process's
// out-of-memory path, string code generation, WebAssembly compilation, the first read of the
// WebAssembly namespace, and promise rejections nothing handles (with their dispatch to the
// runtime after a microtask checkpoint, DispatchRejections).
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
// - A promise rejected with no handler at the end of a microtask checkpoint reaches the runtime
//   once (unhandledrejection), in the async context it was rejected in, unless it is an
//   invocation's own promise (the task's failure, reported as its outcome); a handler added
//   later reaches it once more (rejectionhandled). At most kMaxRejections wait between two
//   dispatches; the rest are counted, never kept.
// Trusts: V8 to call these on the isolate's thread; the runtime's guard (js/no-shared-memory.js);
// the runtime's rejection dispatch (js/workers.js) to catch what listeners throw.

#include "internal.h"

#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <vector>

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

// The most promise rejections recorded between two dispatches (each holds three handles): a
// loop rejecting promises by the million costs the tenant CPU, not the process memory.
constexpr size_t kMaxRejections = 10000;
// Rounds of dispatch and microtasks one pump runs: a listener that rejects a fresh promise each
// time cannot keep the pump (what is left waits for the next one).
constexpr int kMaxRejectionRounds = 8;

// Whether `promise` is a task's own (an invocation's, see stk_poll): its rejection is the task's
// outcome, never an unhandledrejection.
bool IsInvocation(stk_isolate* iso, v8::Local<v8::Promise> promise) {
  for (auto& entry : iso->pending) {
    if (entry.second.Get(iso->isolate) == promise) return true;
  }
  return false;
}

}  // namespace

constinit thread_local stk_isolate* tl_current = nullptr;

// V8 reports a promise rejected while it has no handler, and a handler added to such a promise
// later. Both are recorded for DispatchRejections; a handler added before the dispatch cancels
// the record (HTML's "about-to-be-notified rejected promises" list), so a rejection handled
// within the same checkpoint (an `await` of a rejected promise, say) fires nothing.
void OnPromiseReject(v8::PromiseRejectMessage message) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  stk_isolate* iso = isolate ? From(isolate) : nullptr;
  if (!iso || iso->rejection_dispatch.IsEmpty()) return;  // the snapshot creator's shim
  v8::HandleScope handles(isolate);
  v8::Local<v8::Promise> promise = message.GetPromise();
  const bool handled = message.GetEvent() == v8::kPromiseHandlerAddedAfterReject;
  if (handled) {
    const int hash = promise->GetIdentityHash();
    for (size_t i = iso->rejections.size(); i-- > 0;) {
      stk_isolate::Rejection& r = iso->rejections[i];
      if (!r.handled && r.hash == hash && r.promise.Get(isolate) == promise) {
        iso->rejections.erase(iso->rejections.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
    }
  } else if (message.GetEvent() != v8::kPromiseRejectWithNoHandler) {
    return;  // a resolve or reject after resolution: nothing the web reports
  }
  if (iso->rejections.size() >= kMaxRejections) {
    if (!handled) iso->rejections_dropped++;
    return;
  }
  stk_isolate::Rejection& r = iso->rejections.emplace_back();
  r.hash = promise->GetIdentityHash();
  r.handled = handled;
  r.promise.Reset(isolate, promise);
  if (!handled) r.reason.Reset(isolate, message.GetValue());
  r.context.Reset(isolate, isolate->GetContinuationPreservedEmbedderData());
}

bool DispatchRejections(stk_isolate* iso, v8::Local<v8::Context> ctx) {
  v8::Isolate* isolate = iso->isolate;
  if (iso->rejection_dispatch.IsEmpty()) return true;
  v8::Local<v8::Value> saved = isolate->GetContinuationPreservedEmbedderData();
  for (int round = 0; round < kMaxRejectionRounds; round++) {
    if (iso->rejections.empty() && iso->rejections_dropped == 0) break;
    std::vector<stk_isolate::Rejection> batch;
    batch.swap(iso->rejections);
    const uint32_t dropped = iso->rejections_dropped;
    iso->rejections_dropped = 0;
    v8::Local<v8::Function> dispatch = iso->rejection_dispatch.Get(isolate);
    auto call = [&](int32_t kind, v8::Local<v8::Value> promise, v8::Local<v8::Value> reason) {
      v8::TryCatch tc(isolate);
      v8::Local<v8::Value> argv[3] = {v8::Integer::New(isolate, kind), promise, reason};
      v8::Local<v8::Value> ignored;
      // The dispatch catches what listeners throw; it fails only when execution terminates.
      const bool ran = dispatch->Call(ctx, v8::Undefined(isolate), 3, argv).ToLocal(&ignored);
      return ran || !(tc.HasTerminated() || isolate->IsExecutionTerminating());
    };
    for (stk_isolate::Rejection& r : batch) {
      v8::HandleScope handles(isolate);
      v8::Local<v8::Promise> promise = r.promise.Get(isolate);
      if (!r.handled && IsInvocation(iso, promise)) continue;
      // The event runs as the code that rejected (or handled) the promise: its console lines
      // and timers are that task's.
      isolate->SetContinuationPreservedEmbedderData(r.context.Get(isolate));
      // rejectionhandled carries the reason too (the promise's result: it stays rejected).
      v8::Local<v8::Value> reason = !r.reason.IsEmpty() ? r.reason.Get(isolate)
                                    : promise->State() == v8::Promise::kRejected
                                        ? promise->Result()
                                        : v8::Undefined(isolate).As<v8::Value>();
      if (!call(r.handled ? 1 : 0, promise, reason)) {
        isolate->SetContinuationPreservedEmbedderData(saved);
        return false;
      }
    }
    isolate->SetContinuationPreservedEmbedderData(saved);
    if (dropped > 0 &&
        !call(2, v8::Undefined(isolate), v8::Integer::NewFromUnsigned(isolate, dropped))) {
      return false;
    }
    isolate->PerformMicrotaskCheckpoint();
    if (isolate->IsExecutionTerminating()) return false;
  }
  return true;
}

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
