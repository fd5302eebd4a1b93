// Stockade's one C++ file: a flat extern "C" surface over V8 13.6 (Debian's libnode137).
//
// Guarantees:
// - No C++ exception or V8 failure crosses into Rust: every entry point reports through an
//   stk_outcome (status + message + location), never by throwing.
// - Every heap page V8 takes comes from TaggingPageAllocator and every ArrayBuffer backing store
//   from the isolate's ArenaAllocator (memory.h): both tag it with the protection key of the
//   isolate on whose behalf the thread is working (the OwnerScope that Entry, isolate creation
//   and disposal open), and the key stays with the range for its whole life.
// - V8's shared read-only heap and other process-wide structures are created under the engine's
//   own scope (no key, key 0) and kept alive by an anchor isolate, so no tenant key ever tags
//   memory that every isolate reads.
// - Date.now() reads the platform clock, which this platform freezes per thread at the value the
//   host last set with stk_set_clock: tenant code cannot watch time advance while it runs.
// - ArrayBuffer backing stores are counted against the isolate's external-memory budget; a
//   request past it fails as a RangeError in JavaScript, never as an abort.
// - The V8 heap limit is raised at most once, by kHeapTerminationMargin, when the isolate first
//   reaches it; execution is terminated at the same moment. V8 has no way to fail one allocation:
//   a terminated isolate that keeps allocating past that margin inside a builtin V8 cannot
//   interrupt ends the process through V8's fatal out-of-memory path, which OnOutOfMemory names.
// - A dynamic import() never evaluates a module that is being evaluated (V8 CHECK-fails on that):
//   it waits for a microtask, as the specification's asynchronous host hook allows.
// - Heap pages V8 pools never move from one keyed isolate to another (DrainPagePool,
//   DisposeReleasingPools).
// - V8's shared read-only heap is only ever created under the engine's scope, by the anchor
//   isolate, also when it is renewed (stk_engine_renew_shared_heap): no tenant isolate can be
//   created while the anchor is being replaced, and none is created without an anchor.
// - Tenant code never holds the WebAssembly namespace before the shared-memory guard has run on
//   it (GuardedWebAssembly, a lazy data property).
// - A native op (HostOp, stk_host.op) gets at most STK_OP_MAX_INPUT bytes, read in place while no
//   JavaScript runs; its answer is allocated from the isolate's arena (the tenant's memory
//   budget); stk_isolate_terminate sets the flag long ops poll, so they stop with the isolate.
// Trusts: V8 itself, and the Rust caller to respect the threading rule in bridge.h.

#include "bridge.h"

#include "isolate.h"
#include "lazy.h"
#include "memory.h"

#include <libplatform/libplatform.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

// ---- Layout contract with isolate/src/ffi.rs (mirrored there with const asserts). ----
static_assert(sizeof(stk_outcome) == 80, "stk_outcome layout");
static_assert(offsetof(stk_outcome, body_len) == 72, "stk_outcome.body_len offset");
static_assert(offsetof(stk_outcome, value) == 16, "stk_outcome.value offset");
static_assert(offsetof(stk_outcome, resource_len) == 56, "stk_outcome.resource_len offset");
static_assert(sizeof(stk_isolate_config) == 32, "stk_isolate_config layout");
static_assert(sizeof(stk_host) == 64, "stk_host layout");
static_assert(sizeof(stk_op_call) == 328, "stk_op_call layout");
static_assert(offsetof(stk_op_call, callback) == 320, "stk_op_call.callback offset");
static_assert(offsetof(stk_op_call, alloc) == 32, "stk_op_call.alloc offset");
static_assert(offsetof(stk_op_call, message_len) == 56, "stk_op_call.message_len offset");
static_assert(offsetof(stk_op_call, message) == 64, "stk_op_call.message offset");
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "stk_op_call.cancel is read as a plain atomic u32 by the host");
static_assert(sizeof(stk_heap_stats) == 40, "stk_heap_stats layout");
static_assert(sizeof(stk_engine_memory) == 32, "stk_engine_memory layout");
static_assert(sizeof(stk_renewal_counters) == 16, "stk_renewal_counters layout");
static_assert(offsetof(stk_renewal_counters, renewals) == 8, "stk_renewal_counters.renewals offset");
static_assert(sizeof(stk_range) == 32, "stk_range layout");

namespace {

// The frozen wall clock Date.now() reads on this thread; < 0 when unset.
thread_local double tl_wall_ms = -1;
// The isolate a bridge call on this thread is working for (for the out-of-memory report).
thread_local stk_isolate* tl_current = nullptr;

// What a terminated isolate may allocate past its heap limit, once: room for V8 to unwind the
// terminated script and for the builtin that was running to return (V8 notices termination only
// when JavaScript runs again). `new Array(2e7).fill(1.1)` (two 160 MB backing stores allocated
// by one builtin) needs about 160 MB of it under a 16 MiB limit.
constexpr size_t kHeapTerminationMargin = size_t{256} << 20;

// The isolate being disposed on this thread, and the delayed tasks V8 posted meanwhile to other
// isolates' task runners (see DisposeReleasingPools).
thread_local v8::Isolate* tl_disposing = nullptr;
thread_local std::vector<std::unique_ptr<v8::Task>>* tl_disposal_tasks = nullptr;
// Set once an isolate with a protection key exists (see DrainPagePool).
std::atomic<bool> g_keyed{false};

// An isolate's foreground task runner: libplatform's, except that a delayed task posted to it
// while *another* isolate is being disposed on this thread is handed to that disposal instead.
class ForegroundRunner final : public v8::TaskRunner {
 public:
  ForegroundRunner(v8::Isolate* isolate, std::shared_ptr<v8::TaskRunner> inner)
      : isolate_(isolate), inner_(std::move(inner)) {}
  bool IdleTasksEnabled() override { return inner_->IdleTasksEnabled(); }
  bool NonNestableTasksEnabled() const override { return inner_->NonNestableTasksEnabled(); }
  bool NonNestableDelayedTasksEnabled() const override {
    return inner_->NonNestableDelayedTasksEnabled();
  }

 protected:
  void PostTaskImpl(std::unique_ptr<v8::Task> task, const v8::SourceLocation& location) override {
    inner_->PostTask(std::move(task), location);
  }
  void PostNonNestableTaskImpl(std::unique_ptr<v8::Task> task,
                               const v8::SourceLocation& location) override {
    inner_->PostNonNestableTask(std::move(task), location);
  }
  void PostDelayedTaskImpl(std::unique_ptr<v8::Task> task, double delay,
                           const v8::SourceLocation& location) override {
    if (tl_disposal_tasks && tl_disposing != isolate_) {
      tl_disposal_tasks->push_back(std::move(task));
      return;
    }
    inner_->PostDelayedTask(std::move(task), delay, location);
  }
  void PostNonNestableDelayedTaskImpl(std::unique_ptr<v8::Task> task, double delay,
                                      const v8::SourceLocation& location) override {
    inner_->PostNonNestableDelayedTask(std::move(task), delay, location);
  }
  void PostIdleTaskImpl(std::unique_ptr<v8::IdleTask> task,
                        const v8::SourceLocation& location) override {
    inner_->PostIdleTask(std::move(task), location);
  }

 private:
  v8::Isolate* const isolate_;
  std::shared_ptr<v8::TaskRunner> inner_;
};

// Delegates to libplatform's single-threaded platform; owns the page allocator and the clock.
class StockadePlatform final : public v8::Platform {
 public:
  StockadePlatform() : inner_(v8::platform::NewSingleThreadedDefaultPlatform()) {}
  v8::Platform* inner() { return inner_.get(); }

  v8::PageAllocator* GetPageAllocator() override { return &pages_; }
  int NumberOfWorkerThreads() override { return inner_->NumberOfWorkerThreads(); }
  std::shared_ptr<v8::TaskRunner> GetForegroundTaskRunner(v8::Isolate* isolate,
                                                          v8::TaskPriority priority) override {
    return std::make_shared<ForegroundRunner>(isolate,
                                              inner_->GetForegroundTaskRunner(isolate, priority));
  }
  bool IdleTasksEnabled(v8::Isolate* isolate) override { return false; }
  double MonotonicallyIncreasingTime() override { return inner_->MonotonicallyIncreasingTime(); }
  double CurrentClockTimeMillis() override {
    return tl_wall_ms >= 0 ? tl_wall_ms : inner_->CurrentClockTimeMillis();
  }
  v8::TracingController* GetTracingController() override {
    return inner_->GetTracingController();
  }

 protected:
  // With --single-threaded V8 posts no worker tasks; libplatform's single-threaded platform runs
  // any that come on the calling thread.
  std::unique_ptr<v8::JobHandle> CreateJobImpl(v8::TaskPriority priority,
                                               std::unique_ptr<v8::JobTask> job,
                                               const v8::SourceLocation& location) override {
    return inner_->CreateJob(priority, std::move(job), location);
  }
  void PostTaskOnWorkerThreadImpl(v8::TaskPriority priority, std::unique_ptr<v8::Task> task,
                                  const v8::SourceLocation& location) override {
    inner_->PostTaskOnWorkerThread(priority, std::move(task), location);
  }
  void PostDelayedTaskOnWorkerThreadImpl(v8::TaskPriority priority,
                                         std::unique_ptr<v8::Task> task, double delay,
                                         const v8::SourceLocation& location) override {
    inner_->PostDelayedTaskOnWorkerThread(priority, std::move(task), delay, location);
  }

 private:
  std::unique_ptr<v8::Platform> inner_;
  stockade::TaggingPageAllocator pages_;
};

// V8's random number generators (Math.random seeds, hash seeds) draw from here instead of
// opening /dev/urandom, which a jailed worker cannot do.
bool EntropySource(unsigned char* buffer, size_t length) {
  size_t filled = 0;
  while (filled < length) {
    ssize_t n = syscall(SYS_getrandom, buffer + filled, length - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    filled += static_cast<size_t>(n);
  }
  return true;
}

StockadePlatform* g_platform = nullptr;
std::once_flag g_init_once;
std::string g_flags;
// The startup snapshot: a context with the runtime and prelude already evaluated.
v8::StartupData g_snapshot{nullptr, 0};
// Owner ids for the range registry; 0 is the engine (stockade::kEngineOwner).
std::atomic<uint64_t> g_next_owner{1};
// An isolate that lives as long as the process, created from g_snapshot under the engine's scope
// (no key). V8 shares one read-only heap between all isolates and frees it with the last one; the
// anchor keeps that heap, which every isolate reads, from ever being re-created while a tenant's
// key is the thread's key. It never runs code.
v8::Isolate* g_anchor = nullptr;
std::atomic<uint32_t> g_anchor_limits{0};
// Held shared while a tenant isolate is being created, exclusively while the anchor (and with it
// V8's shared read-only heap) is being renewed; see stk_engine_renew_shared_heap.
std::shared_mutex g_anchor_mu;
// Tenant isolates alive, created since the last renewal, and renewals so far.
std::atomic<uint64_t> g_live{0};
std::atomic<uint64_t> g_created_since_renewal{0};
std::atomic<uint64_t> g_renewals{0};
// Snapshot indices of the functions the runtime registers with the host.
constexpr size_t kSnapshotInvoker = 0;
constexpr size_t kSnapshotTimerDispatch = 1;
constexpr size_t kSnapshotWasmGuard = 2;
constexpr size_t kSnapshotLazyGlobals = 3;  // [name, get, ...]: see lazy.h

stk_isolate* From(v8::Isolate* isolate) {
  return static_cast<stk_isolate*>(isolate->GetData(0));
}

// Heap pages must never move from one isolate to another: a page would reach the next isolate
// under its previous owner's key (a fault the moment it is touched; or, from an unkeyed isolate,
// key 0, readable by every isolate), with that tenant's dead objects still in it. V8 13.6 moves
// them without a call to the page allocator, by two routes, closed here:
//
// 1. A live isolate whose own page pool is empty takes ("steals") pages from another live
//    isolate's pool (src/heap/page-pool.cc). So a keyed isolate's pool is emptied before its
//    bridge call returns whenever a collection ran in it: a memory-reducing full collection
//    releases the pool (Heap::ReleasePooledChunksImmediately) and adds nothing to it. The cost,
//    one more full collection, is paid only by calls that collected garbage anyway, and only
//    once keys are in use.
// 2. At teardown, while another isolate lives (the anchor always does), an isolate's pool goes
//    to a process-wide shared pool that any isolate takes from, with a task due 8 s later on
//    another isolate's runner to free it. DisposeReleasingPools runs that task right after the
//    disposal, before anything else can allocate on this thread (--single-threaded: no other
//    thread allocates heap pages).
// Both rely on one thread running isolates: the pool is process-wide, so an isolate on another
// thread could take a page in the window between a collection and the drain. A worker process
// whose isolates are keyed therefore runs one isolate thread (worker/src/lib.rs).
void NoteCollection(v8::Isolate*, v8::GCType, v8::GCCallbackFlags, void* data) {
  static_cast<stk_isolate*>(data)->gc_ran = true;
}

void DrainPagePool(stk_isolate* iso) {
  if (!iso->drain_pool || !iso->gc_ran) return;
  iso->isolate->LowMemoryNotification();
  iso->gc_ran = false;
}

void DisposeReleasingPools(v8::Isolate* isolate) {
  std::vector<std::unique_ptr<v8::Task>> posted;
  tl_disposing = isolate;
  tl_disposal_tasks = &posted;
  isolate->Dispose();
  tl_disposal_tasks = nullptr;
  tl_disposing = nullptr;
  for (std::unique_ptr<v8::Task>& task : posted) task->Run();
  // libplatform keeps a task runner per isolate until told the isolate is gone (~450 bytes per
  // isolate, measured: a fresh-isolate-per-request worker grew 9 MiB a minute without this).
  v8::platform::NotifyIsolateShutdown(g_platform->inner(), isolate);
}

char* CopyOut(const std::string& s, size_t* len) {
  char* p = static_cast<char*>(malloc(s.size() + 1));
  if (!p) {
    *len = 0;
    return nullptr;
  }
  memcpy(p, s.data(), s.size());
  p[s.size()] = 0;
  *len = s.size();
  return p;
}

std::string Utf8(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  if (value.IsEmpty()) return std::string();
  v8::String::Utf8Value s(isolate, value);
  return *s ? std::string(*s, s.length()) : std::string();
}

void SetValue(stk_outcome* out, int32_t status, const std::string& value) {
  out->status = status;
  out->value = CopyOut(value, &out->value_len);
}

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

// Describes a thrown value (or a rejected promise's reason) in `out`.
void DescribeException(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                       v8::Local<v8::Value> exception, v8::Local<v8::Message> message,
                       stk_outcome* out) {
  if (isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return;
  }
  // Reading `stack` or calling toString may run tenant getters: that is fine, the watchdog is
  // armed for the whole bridge call, and a nested throw is simply ignored here.
  v8::TryCatch nested(isolate);
  std::string text;
  std::string stack;
  if (exception->IsNativeError() || exception->IsObject()) {
    v8::Local<v8::Object> obj = exception.As<v8::Object>();
    v8::Local<v8::Value> s;
    if (obj->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "stack")).ToLocal(&s) &&
        s->IsString()) {
      stack = Utf8(isolate, s);
    }
  }
  if (!message.IsEmpty()) {
    text = Utf8(isolate, message->Get());
  } else {
    v8::Local<v8::String> str;
    text = exception->ToString(ctx).ToLocal(&str) ? Utf8(isolate, str) : "exception";
  }
  if (isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return;
  }
  SetValue(out, STK_EXCEPTION, text);
  out->stack = CopyOut(stack, &out->stack_len);
  if (!message.IsEmpty()) {
    out->line = message->GetLineNumber(ctx).FromMaybe(0);
    out->column = message->GetStartColumn(ctx).FromMaybe(-1) + 1;
    out->resource = CopyOut(Utf8(isolate, message->GetScriptResourceName()), &out->resource_len);
  }
}

void FromTryCatch(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::TryCatch& tc,
                  stk_outcome* out) {
  if (tc.HasTerminated() || isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return;
  }
  if (!tc.HasCaught()) {
    SetValue(out, STK_INTERNAL, "operation failed without an exception");
    return;
  }
  DescribeException(isolate, ctx, tc.Exception(), tc.Message(), out);
}

v8::Local<v8::String> Str(v8::Isolate* isolate, const char* s, size_t len) {
  return v8::String::NewFromUtf8(isolate, s, v8::NewStringType::kNormal, static_cast<int>(len))
      .FromMaybe(v8::String::Empty(isolate));
}

int FindModule(stk_isolate* iso, v8::Local<v8::Module> module) {
  auto it = iso->by_hash.find(module->GetIdentityHash());
  if (it == iso->by_hash.end()) return -1;
  for (int index : it->second) {
    if (iso->modules[index] == module) return index;
  }
  return -1;
}

// ---- Host functions reachable from the runtime script as __stockade_host.* ----

// The async context: V8's continuation-preserved embedder data (CPED), the value every promise
// reaction job captures when it is created and restores while it runs. The bridge keeps a pair
// there, [task, frame]: the invocation the code belongs to, and the prelude's AsyncLocalStorage
// frame (js/node-process.js). So a continuation runs as the task that awaited, whichever task's
// entry settles what it awaited: its console lines, timers and host calls are that task's (and
// go nowhere once that task ended), not the neighbour's whose entry happens to run it. Each
// entry for a task starts with [task, undefined] (stk_enter_task) and ends with none; tenant
// code never sees the pair (getContext returns the frame alone).
v8::Local<v8::Value> MakeAsyncContext(v8::Isolate* isolate, uint32_t task, v8::Local<v8::Value> frame) {
  v8::Local<v8::Value> pair[2] = {v8::Integer::NewFromUnsigned(isolate, task), frame};
  return v8::Array::New(isolate, pair, 2);
}

// The task the running code belongs to (see above); 0 outside any task's entry.
uint32_t RunningTask(v8::Isolate* isolate) {
  v8::Local<v8::Value> cped = isolate->GetContinuationPreservedEmbedderData();
  if (!cped->IsArray()) return 0;
  v8::Local<v8::Value> task;
  if (!cped.As<v8::Array>()->Get(isolate->GetCurrentContext(), 0).ToLocal(&task) || !task->IsUint32()) {
    return 0;
  }
  return task.As<v8::Uint32>()->Value();
}

void HostLog(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  int32_t level = args[0]->Int32Value(isolate->GetCurrentContext()).FromMaybe(1);
  std::string text = Utf8(isolate, args[1]);
  if (iso->host.log(iso->host.userdata, RunningTask(isolate), level,
                    reinterpret_cast<const uint8_t*>(text.data()), text.size()) != 0) {
    iso->limits.fetch_or(STK_LIMIT_LOG);
    isolate->TerminateExecution();
  }
}

void HostRandomFill(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  if (!args[0]->IsUint8Array()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "randomFill expects a Uint8Array")));
    return;
  }
  v8::Local<v8::Uint8Array> view = args[0].As<v8::Uint8Array>();
  const size_t len = view->ByteLength();
  if (len > 65536) {
    isolate->ThrowException(v8::Exception::RangeError(
        v8::String::NewFromUtf8Literal(isolate, "at most 65536 random bytes per call")));
    return;
  }
  std::vector<uint8_t> bytes(len);
  if (len && iso->host.random_fill(iso->host.userdata, bytes.data(), len) != 0) {
    isolate->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "the host could not provide random bytes")));
    return;
  }
  std::shared_ptr<v8::BackingStore> store = view->Buffer()->GetBackingStore();
  memcpy(static_cast<uint8_t*>(store->Data()) + view->ByteOffset(), bytes.data(), len);
}

void HostSetTimer(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  uint32_t id = args[0]->Uint32Value(ctx).FromMaybe(0);
  double delay = args[1]->NumberValue(ctx).FromMaybe(0);
  if (!(delay >= 0)) delay = 0;
  if (iso->host.set_timer(iso->host.userdata, RunningTask(isolate), id, delay) != 0) {
    iso->limits.fetch_or(STK_LIMIT_TIMERS);
    isolate->ThrowException(v8::Exception::RangeError(
        v8::String::NewFromUtf8Literal(isolate, "too many pending timers")));
  }
}

void HostClearTimer(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  uint32_t id = args[0]->Uint32Value(isolate->GetCurrentContext()).FromMaybe(0);
  iso->host.clear_timer(iso->host.userdata, id);
}

void HostOnTimer(const v8::FunctionCallbackInfo<v8::Value>& args) {
  stk_isolate* iso = From(args.GetIsolate());
  if (!iso->timer_dispatch.IsEmpty()) return;  // once, during the prelude
  if (args[0]->IsFunction()) iso->timer_dispatch.Reset(args.GetIsolate(), args[0].As<v8::Function>());
}

void HostSetInvoker(const v8::FunctionCallbackInfo<v8::Value>& args) {
  stk_isolate* iso = From(args.GetIsolate());
  if (!iso->invoker.IsEmpty()) return;  // once, during the runtime script
  if (args[0]->IsFunction()) iso->invoker.Reset(args.GetIsolate(), args[0].As<v8::Function>());
  if (args[1]->IsFunction()) iso->attach.Reset(args.GetIsolate(), args[1].As<v8::Function>());
}

void HostSetWasmGuard(const v8::FunctionCallbackInfo<v8::Value>& args) {
  stk_isolate* iso = From(args.GetIsolate());
  if (!iso->wasm_guard.IsEmpty()) return;  // once, during the runtime script
  if (args[0]->IsFunction()) iso->wasm_guard.Reset(args.GetIsolate(), args[0].As<v8::Function>());
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

// hostCall(name, payload): a promise of the host's answer (a Uint8Array), see stk_host.host_call.
void HostCall(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(ctx).ToLocal(&resolver)) return;
  args.GetReturnValue().Set(resolver->GetPromise());
  auto refuse = [&](v8::Local<v8::String> why) {
    resolver->Reject(ctx, v8::Exception::TypeError(why)).FromMaybe(false);
  };
  if (!args[0]->IsString() || !(args[1]->IsUint8Array() || args[1]->IsUndefined()) ||
      !(args[2]->IsUndefined() || args[2]->IsUint32())) {
    refuse(v8::String::NewFromUtf8Literal(isolate, "hostCall(name, Uint8Array?, task?)"));
    return;
  }
  // The runtime names the invocation a call belongs to when the current entry may run for
  // another one (a streamed body resumed by a neighbour's request); tenants never hold `call`.
  const uint32_t task = args[2]->IsUint32() ? args[2].As<v8::Uint32>()->Value() : RunningTask(isolate);
  std::string name = Utf8(isolate, args[0]);
  std::vector<uint8_t> payload;
  if (args[1]->IsUint8Array()) {
    v8::Local<v8::Uint8Array> view = args[1].As<v8::Uint8Array>();
    payload.resize(view->ByteLength());
    if (!payload.empty()) view->CopyContents(payload.data(), payload.size());
  }
  uint32_t id = ++iso->next_call;
  if (id == 0) id = ++iso->next_call;
  const int32_t refused =
      iso->host.host_call
          ? iso->host.host_call(iso->host.userdata, id, task,
                                reinterpret_cast<const uint8_t*>(name.data()), name.size(),
                                payload.data(), payload.size())
          : 1;
  if (refused != 0) {
    std::string msg = refused == 2
                          ? "this invocation made its limit of outbound requests (subRequests)"
                          : "the host refused the call `" + name + "`";
    refuse(Str(isolate, msg.data(), msg.size()));
    return;
  }
  iso->calls[id].Reset(isolate, resolver);
}

// The answer of one native op, allocated from the isolate's arena by OpAlloc.
struct OpSink {
  stk_isolate* iso;
  uint8_t* data;
  size_t len;
  v8::Local<v8::Function> callback;  // empty without one
  std::vector<uint8_t> reply;        // the callback's last answer
};

// stk_op_call.callback: runs the op's JavaScript callback on `len` bytes (see bridge.h).
int32_t OpCallback(void* sink_ptr, const uint8_t* input, size_t len, const uint8_t** out,
                   size_t* out_len) {
  OpSink* s = static_cast<OpSink*>(sink_ptr);
  v8::Isolate* isolate = s->iso->isolate;
  if (s->callback.IsEmpty() || out == nullptr || out_len == nullptr) return 7;
  if (isolate->IsExecutionTerminating()) return STK_OP_CANCELLED;
  v8::HandleScope scope(isolate);
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  void* data = len ? s->iso->allocator->AllocateUninitialized(len) : nullptr;
  if (len && data == nullptr) return 7;
  if (len) memcpy(data, input, len);
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      data, len,
      [](void* p, size_t n, void* allocator) {
        if (p) static_cast<stockade::ArenaAllocator*>(allocator)->Free(p, n);
      },
      s->iso->allocator.get());
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  v8::Local<v8::Value> argv[1] = {v8::Uint8Array::New(buffer, 0, len)};
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> result;
  if (!s->callback->Call(ctx, v8::Undefined(isolate), 1, argv).ToLocal(&result)) {
    if (tc.HasTerminated() || isolate->IsExecutionTerminating()) return STK_OP_CANCELLED;
    return 7;
  }
  if (!result->IsUint8Array()) return 7;
  v8::Local<v8::Uint8Array> view = result.As<v8::Uint8Array>();
  const size_t n = view->ByteLength();
  if (n > STK_OP_MAX_INPUT) return 7;
  s->reply.resize(n);
  if (n) view->CopyContents(s->reply.data(), n);
  *out = s->reply.data();
  *out_len = n;
  return STK_OP_OK;
}

uint8_t* OpAlloc(void* sink, size_t len) {
  OpSink* s = static_cast<OpSink*>(sink);
  if (s->data || len == 0) return nullptr;
  s->data = static_cast<uint8_t*>(s->iso->allocator->AllocateUninitialized(len));
  s->len = s->data ? len : 0;
  return s->data;
}

// op(code, input: Uint8Array, callback?: (Uint8Array) => Uint8Array) -> Uint8Array: a synchronous
// native operation (stk_host.op), which may call `callback` back while it runs (OpCallback). A
// failed op throws an Error with an own `kind` property (the op's error kind, see stk_op_call),
// which the prelude turns into the web's exception; an op cancelled by termination throws nothing.
void HostOp(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (!args[0]->IsUint32() || !args[1]->IsUint8Array()) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "op(code, Uint8Array)")));
    return;
  }
  const uint32_t code = args[0].As<v8::Uint32>()->Value();
  v8::Local<v8::Uint8Array> view = args[1].As<v8::Uint8Array>();
  const size_t len = view->ByteLength();
  if (len > STK_OP_MAX_INPUT) {
    isolate->ThrowException(v8::Exception::RangeError(
        v8::String::NewFromUtf8Literal(isolate, "an op's input is limited to 16 MiB")));
    return;
  }
  stk_op_call call;
  memset(&call, 0, sizeof call);
  OpSink sink{iso, nullptr, 0, {}, {}};
  std::vector<uint8_t> copy;
  const bool with_callback = args.Length() > 2 && args[2]->IsFunction();
  if (len && with_callback) {
    // JavaScript runs during the op (the callback): the op reads a private copy.
    copy.resize(len);
    view->CopyContents(copy.data(), len);
    call.input = copy.data();
  } else if (len) {
    // Read in place: no JavaScript runs until the op returns, so the bytes cannot change or go.
    v8::Local<v8::ArrayBuffer> buffer = view->Buffer();
    call.input = static_cast<const uint8_t*>(buffer->Data()) + view->ByteOffset();
  }
  if (with_callback) {
    sink.callback = args[2].As<v8::Function>();
    call.callback = OpCallback;
  }
  call.input_len = len;
  call.cancel = reinterpret_cast<const uint32_t*>(&iso->cancelled);
  call.sink = &sink;
  call.alloc = OpAlloc;
  const int32_t status = iso->host.op ? iso->host.op(iso->host.userdata, code, &call) : 7;
  if (status != STK_OP_OK || call.output != sink.data || call.output_len > sink.len) {
    if (sink.data) iso->allocator->Free(sink.data, sink.len);
    if (status == STK_OP_CANCELLED) {
      isolate->TerminateExecution();  // already requested; V8 acts on it as JavaScript resumes
      return;
    }
    const size_t mlen = call.message_len < STK_OP_MESSAGE_CAP ? call.message_len : 0;
    v8::Local<v8::Value> error = v8::Exception::Error(Str(isolate, call.message, mlen));
    if (error->IsObject()) {
      error.As<v8::Object>()
          ->CreateDataProperty(ctx, v8::String::NewFromUtf8Literal(isolate, "kind"),
                               v8::Integer::New(isolate, status == STK_OP_OK ? 7 : status))
          .FromMaybe(false);
    }
    isolate->ThrowException(error);
    return;
  }
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      sink.data, sink.len,
      [](void* p, size_t n, void* allocator) {
        if (p) static_cast<stockade::ArenaAllocator*>(allocator)->Free(p, n);
      },
      iso->allocator.get());
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, std::move(store));
  args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, call.output_len));
}

void HostNow(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(From(args.GetIsolate())->monotonic_ms);
}

// getContext() -> the current AsyncLocalStorage frame; setContext(frame) keeps the running task.
void HostGetContext(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Value> cped = isolate->GetContinuationPreservedEmbedderData();
  v8::Local<v8::Value> frame;
  if (cped->IsArray() && cped.As<v8::Array>()->Get(isolate->GetCurrentContext(), 1).ToLocal(&frame)) {
    args.GetReturnValue().Set(frame);
  }
}

void HostSetContext(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  isolate->SetContinuationPreservedEmbedderData(MakeAsyncContext(isolate, RunningTask(isolate), args[0]));
}

// ---- V8 callbacks ----

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

// The exit status OnOutOfMemory ends the process with when a terminated isolate ran past its
// heap margin (stk_engine_set_oom_exit); 0: let V8 abort.
std::atomic<int32_t> g_oom_exit{0};

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
  if (code != 0 && iso && iso->heap_margin_granted) _exit(code);
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

// The error for a specifier the host did not resolve: `target` is the host's answer (-1 not in
// the set, -2 a Node.js built-in without nodejs_compat, -3 an unsupported built-in; see bridge.h).
std::string UnresolvedMessage(stk_isolate* iso, const std::string& spec, int from, int target) {
  const std::string where = from >= 0 ? " imported from " + iso->module_names[from] : std::string();
  if (target == -2) {
    return "Cannot import '" + spec + "'" + where +
           ": it is a Node.js built-in module and needs the \"nodejs_compat\" compatibility flag";
  }
  if (target == -3) {
    return "Cannot import '" + spec + "'" + where +
           ": it is a built-in module Stockade does not support";
  }
  return "Cannot find module '" + spec + "'" + where + ": it is not in this worker's module set";
}

v8::MaybeLocal<v8::Module> ResolveModule(v8::Local<v8::Context> context,
                                         v8::Local<v8::String> specifier,
                                         v8::Local<v8::FixedArray>,
                                         v8::Local<v8::Module> referrer) {
  v8::Isolate* isolate = context->GetIsolate();
  stk_isolate* iso = From(isolate);
  std::string spec = Utf8(isolate, specifier);
  int from = FindModule(iso, referrer);
  int target = iso->host.resolve(iso->host.userdata, from,
                                 reinterpret_cast<const uint8_t*>(spec.data()), spec.size());
  if (target < 0 || static_cast<size_t>(target) >= iso->modules.size()) {
    std::string msg = UnresolvedMessage(iso, spec, from, target);
    isolate->ThrowException(v8::Exception::Error(Str(isolate, msg.data(), msg.size())));
    return {};
  }
  return iso->modules[target].Get(isolate);
}

v8::MaybeLocal<v8::Value> SyntheticSteps(v8::Local<v8::Context> context,
                                         v8::Local<v8::Module> module) {
  v8::Isolate* isolate = context->GetIsolate();
  stk_isolate* iso = From(isolate);
  int index = FindModule(iso, module);
  auto builtin = iso->builtin_exports.find(index);
  if (builtin != iso->builtin_exports.end()) {
    // A built-in module: the runtime builds its exports now, on first evaluation (kind 5).
    v8::Local<v8::Value> argv[4] = {v8::Undefined(isolate), v8::Integer::New(isolate, 5),
                                    Str(isolate, iso->module_names[index].data(),
                                        iso->module_names[index].size()),
                                    v8::Null(isolate)};
    v8::Local<v8::Value> exports;
    if (!iso->invoker.Get(isolate)->Call(context, v8::Undefined(isolate), 4, argv).ToLocal(&exports) ||
        module->SetSyntheticModuleExport(isolate, v8::String::NewFromUtf8Literal(isolate, "default"),
                                         exports)
            .IsNothing()) {
      return {};
    }
    for (const std::string& name : builtin->second) {
      v8::Local<v8::Value> value = v8::Undefined(isolate);
      if (exports->IsObject() &&
          !exports.As<v8::Object>()->Get(context, Str(isolate, name.data(), name.size())).ToLocal(&value)) {
        return {};
      }
      if (module->SetSyntheticModuleExport(isolate, Str(isolate, name.data(), name.size()), value)
              .IsNothing()) {
        return {};
      }
    }
  } else {
    v8::Local<v8::Value> value = index >= 0 ? iso->synthetic[index].Get(isolate)
                                            : v8::Undefined(isolate).As<v8::Value>();
    if (module->SetSyntheticModuleExport(isolate, v8::String::NewFromUtf8Literal(isolate, "default"),
                                         value)
            .IsNothing()) {
      return {};
    }
  }
  v8::Local<v8::Promise::Resolver> done;
  if (!v8::Promise::Resolver::New(context).ToLocal(&done)) return {};
  if (done->Resolve(context, v8::Undefined(isolate)).IsNothing()) return {};
  return done->GetPromise();
}

void ReturnData(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(args.Data());
}

void ImportInto(v8::Isolate* isolate, v8::Local<v8::Context> context,
                v8::Local<v8::Promise::Resolver> resolver, int target, bool may_defer);

// The microtask ImportInto queues for a module that was being evaluated: data is
// [resolver, module index].
void ContinueImport(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (!args.Data()->IsArray()) return;
  v8::Local<v8::Array> data = args.Data().As<v8::Array>();
  v8::Local<v8::Value> resolver;
  v8::Local<v8::Value> target;
  if (!data->Get(context, 0).ToLocal(&resolver) || !resolver->IsPromise() ||
      !data->Get(context, 1).ToLocal(&target) || !target->IsInt32()) {
    return;
  }
  ImportInto(isolate, context, resolver.As<v8::Promise::Resolver>(),
             target.As<v8::Int32>()->Value(), false);
}

// Settles `resolver` with module `target`'s namespace once the module has evaluated,
// instantiating and evaluating it first when needed. V8 CHECK-fails when asked to evaluate a
// module whose evaluation is on the stack (an import() of the module itself, or of a module that
// imports it, from top-level code), so such a module is left alone until a microtask: by then its
// evaluation has finished or is suspended at an await, and Evaluate returns its promise. If the
// module's top-level code awaits that very import, the promise can never settle (as in every
// engine) and the host reports the load as never settling.
void ImportInto(v8::Isolate* isolate, v8::Local<v8::Context> context,
                v8::Local<v8::Promise::Resolver> resolver, int target, bool may_defer) {
  stk_isolate* iso = From(isolate);
  v8::TryCatch tc(isolate);
  if (target < 0 || static_cast<size_t>(target) >= iso->modules.size()) return;
  v8::Local<v8::Module> module = iso->modules[target].Get(isolate);
  switch (module->GetStatus()) {
    case v8::Module::kErrored:
      resolver->Reject(context, module->GetException()).FromMaybe(false);
      return;
    case v8::Module::kInstantiating:
    case v8::Module::kEvaluating: {
      if (!may_defer) {
        std::string msg = "module '" + iso->module_names[target] +
                          "' is still being evaluated and cannot be imported yet";
        resolver->Reject(context, v8::Exception::Error(Str(isolate, msg.data(), msg.size())))
            .FromMaybe(false);
        return;
      }
      v8::Local<v8::Array> data = v8::Array::New(isolate, 2);
      v8::Local<v8::Function> later;
      if (data->Set(context, 0, resolver).FromMaybe(false) &&
          data->Set(context, 1, v8::Integer::New(isolate, target)).FromMaybe(false) &&
          v8::Function::New(context, ContinueImport, data).ToLocal(&later)) {
        isolate->EnqueueMicrotask(later);
      }
      return;
    }
    case v8::Module::kUninstantiated:
      if (module->InstantiateModule(context, ResolveModule).IsNothing()) {
        if (!tc.HasTerminated()) resolver->Reject(context, tc.Exception()).FromMaybe(false);
        return;
      }
      break;
    case v8::Module::kInstantiated:
    case v8::Module::kEvaluated:
      break;
  }
  v8::Local<v8::Value> evaluated;
  if (!module->Evaluate(context).ToLocal(&evaluated)) {
    if (!tc.HasTerminated()) resolver->Reject(context, tc.Exception()).FromMaybe(false);
    return;
  }
  v8::Local<v8::Value> ns = module->GetModuleNamespace();
  if (evaluated->IsPromise()) {
    v8::Local<v8::Function> give_ns;
    v8::Local<v8::Promise> chained;
    if (v8::Function::New(context, ReturnData, ns).ToLocal(&give_ns) &&
        evaluated.As<v8::Promise>()->Then(context, give_ns).ToLocal(&chained)) {
      resolver->Resolve(context, chained).FromMaybe(false);
    }
  } else {
    resolver->Resolve(context, ns).FromMaybe(false);
  }
}

v8::MaybeLocal<v8::Promise> DynamicImport(v8::Local<v8::Context> context, v8::Local<v8::Data>,
                                          v8::Local<v8::Value> resource_name,
                                          v8::Local<v8::String> specifier,
                                          v8::Local<v8::FixedArray>) {
  v8::Isolate* isolate = context->GetIsolate();
  stk_isolate* iso = From(isolate);
  iso->observed |= STK_OBSERVED_DYNAMIC_IMPORT;
  v8::Local<v8::Promise::Resolver> resolver;
  if (!v8::Promise::Resolver::New(context).ToLocal(&resolver)) return {};
  std::string spec = Utf8(isolate, specifier);
  auto from_it = iso->by_name.find(Utf8(isolate, resource_name));
  int from = from_it == iso->by_name.end() ? -1 : from_it->second;
  int target = iso->host.resolve(iso->host.userdata, from,
                                 reinterpret_cast<const uint8_t*>(spec.data()), spec.size());
  if (target < 0 || static_cast<size_t>(target) >= iso->modules.size()) {
    std::string msg = UnresolvedMessage(iso, spec, from, target);
    resolver->Reject(context, v8::Exception::Error(Str(isolate, msg.data(), msg.size())))
        .FromMaybe(false);
    return resolver->GetPromise();
  }
  ImportInto(isolate, context, resolver, target, true);
  if (isolate->IsExecutionTerminating()) return {};
  return resolver->GetPromise();
}

void SetHostFunction(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Object> obj,
                     const char* name, v8::FunctionCallback cb) {
  v8::Local<v8::Function> fn;
  if (v8::Function::New(ctx, cb).ToLocal(&fn)) {
    v8::Local<v8::String> key = v8::String::NewFromUtf8(isolate, name).ToLocalChecked();
    fn->SetName(key);  // named, so a test can look for them from tenant code
    obj->Set(ctx, key, fn).FromMaybe(false);
  }
}

// An ArrayBuffer holding a copy of `len` bytes, its backing store in the isolate's arena (so it
// counts against the tenant's memory budget); empty when the budget refuses it.
v8::MaybeLocal<v8::ArrayBuffer> ArenaCopy(stk_isolate* iso, const void* bytes, size_t len) {
  void* data = len ? iso->allocator->AllocateUninitialized(len) : nullptr;
  if (len && !data) return {};
  if (len) memcpy(data, bytes, len);
  std::shared_ptr<v8::BackingStore> store = v8::ArrayBuffer::NewBackingStore(
      data, len,
      [](void* p, size_t n, void* allocator) {
        if (p) static_cast<stockade::ArenaAllocator*>(allocator)->Free(p, n);
      },
      iso->allocator.get());
  return v8::ArrayBuffer::New(iso->isolate, std::move(store));
}

// Copies the bytes of an ArrayBufferView into a malloc'd buffer of `out`'s body.
bool SetBody(v8::Local<v8::Value> value, stk_outcome* out) {
  if (!value->IsArrayBufferView()) return true;
  v8::Local<v8::ArrayBufferView> view = value.As<v8::ArrayBufferView>();
  const size_t len = view->ByteLength();
  if (len == 0) return true;
  out->body = static_cast<uint8_t*>(malloc(len));
  if (!out->body) return false;
  out->body_len = view->CopyContents(out->body, len);
  return true;
}

// The state of invocation `inv` (see stk_poll in bridge.h).
int32_t Poll(stk_isolate* iso, v8::Local<v8::Context> ctx, uint32_t inv, stk_outcome* out) {
  v8::Isolate* isolate = iso->isolate;
  if (isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return out->status;
  }
  auto it = iso->pending.find(inv);
  if (it == iso->pending.end()) {
    SetValue(out, STK_INTERNAL, "no such invocation");
    return out->status;
  }
  v8::Local<v8::Promise> promise = it->second.Get(isolate);
  switch (promise->State()) {
    case v8::Promise::kPending:
      out->status = STK_PENDING;
      return STK_PENDING;
    case v8::Promise::kFulfilled: {
      iso->pending.erase(it);
      v8::Local<v8::Value> result = promise->Result();
      if (!result->IsArray()) {
        SetValue(out, STK_OK, Utf8(isolate, result));
        return STK_OK;
      }
      // A fetch invocation: [response head (JSON text), body bytes or null, background promise
      // or undefined], built by the runtime's invoker, never by tenant code.
      v8::Local<v8::Array> parts = result.As<v8::Array>();
      v8::Local<v8::Value> head, body, background;
      if (!parts->Get(ctx, 0).ToLocal(&head) || !parts->Get(ctx, 1).ToLocal(&body) ||
          !parts->Get(ctx, 2).ToLocal(&background)) {
        SetValue(out, STK_INTERNAL, "malformed response from the runtime");
        return out->status;
      }
      SetValue(out, STK_OK, Utf8(isolate, head));
      if (!SetBody(body, out)) {
        SetValue(out, STK_INTERNAL, "out of memory copying the response body");
        return out->status;
      }
      if (background->IsPromise() &&
          background.As<v8::Promise>()->State() == v8::Promise::kPending) {
        iso->pending[inv].Reset(isolate, background.As<v8::Promise>());
        out->flags |= STK_FLAG_BACKGROUND;
      }
      return STK_OK;
    }
    case v8::Promise::kRejected: {
      iso->pending.erase(it);
      v8::Local<v8::Value> reason = promise->Result();
      DescribeException(isolate, ctx, reason, v8::Exception::CreateMessage(isolate, reason), out);
      return out->status;
    }
  }
  return STK_INTERNAL;
}

// Installs the private host object, runs the runtime script (which removes the host object
// again), and hands the prelude's exports to the runtime.
bool RunRuntime(stk_isolate* iso, v8::Local<v8::Context> ctx, const char* runtime_js,
                size_t runtime_len, stk_outcome* out) {
  v8::Isolate* isolate = iso->isolate;
  v8::TryCatch tc(isolate);
  v8::Local<v8::Object> host_obj = v8::Object::New(isolate);
  SetHostFunction(isolate, ctx, host_obj, "log", HostLog);
  SetHostFunction(isolate, ctx, host_obj, "randomFill", HostRandomFill);
  SetHostFunction(isolate, ctx, host_obj, "setTimer", HostSetTimer);
  SetHostFunction(isolate, ctx, host_obj, "clearTimer", HostClearTimer);
  SetHostFunction(isolate, ctx, host_obj, "onTimer", HostOnTimer);
  SetHostFunction(isolate, ctx, host_obj, "setInvoker", HostSetInvoker);
  SetHostFunction(isolate, ctx, host_obj, "now", HostNow);
  SetHostFunction(isolate, ctx, host_obj, "setWasmGuard", HostSetWasmGuard);
  SetHostFunction(isolate, ctx, host_obj, "call", HostCall);
  SetHostFunction(isolate, ctx, host_obj, "op", HostOp);
  SetHostFunction(isolate, ctx, host_obj, "getContext", HostGetContext);
  SetHostFunction(isolate, ctx, host_obj, "setContext", HostSetContext);
  SetHostFunction(isolate, ctx, host_obj, "compileLazy", stockade::HostCompileLazy);
  SetHostFunction(isolate, ctx, host_obj, "lazyGlobal", stockade::HostLazyGlobal);
  v8::Local<v8::String> host_name = v8::String::NewFromUtf8Literal(isolate, "__stockade_host");
  v8::Local<v8::Object> global = ctx->Global();
  global->Set(ctx, host_name, host_obj).FromMaybe(false);
  v8::ScriptOrigin origin(v8::String::NewFromUtf8Literal(isolate, "stockade:runtime"));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> exports;
  if (!v8::Script::Compile(ctx, Str(isolate, runtime_js, runtime_len), &origin).ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&exports)) {
    FromTryCatch(isolate, ctx, tc, out);
    return false;
  }
  v8::Local<v8::Value> ignored;
  if (!iso->attach.IsEmpty() &&
      !iso->attach.Get(isolate)->Call(ctx, v8::Undefined(isolate), 1, &exports).ToLocal(&ignored)) {
    FromTryCatch(isolate, ctx, tc, out);
    return false;
  }
  iso->attach.Reset();
  // Belt and braces: the runtime deletes it too; tenant code must never reach the host object.
  global->Delete(ctx, host_name).FromMaybe(false);
  if (iso->invoker.IsEmpty() || iso->timer_dispatch.IsEmpty() || iso->wasm_guard.IsEmpty()) {
    SetValue(out, STK_INTERNAL,
             "the runtime script did not register its invoker, timers and WebAssembly guard");
    return false;
  }
  return true;
}

// Keeps `result`, which must be a promise, as invocation `inv`.
int32_t AwaitResult(stk_isolate* iso, uint32_t inv, v8::Local<v8::Value> result,
                    const char* not_a_promise, stk_outcome* out) {
  if (!result->IsPromise()) {
    SetValue(out, STK_INTERNAL, not_a_promise);
    return out->status;
  }
  iso->pending[inv].Reset(iso->isolate, result.As<v8::Promise>());
  out->status = STK_OK;
  return STK_OK;
}

// False (with `out` saying why) unless `index` names a module of `iso`.
bool ValidModule(stk_isolate* iso, int32_t index, stk_outcome* out) {
  if (index >= 0 && static_cast<size_t>(index) < iso->modules.size()) return true;
  SetValue(out, STK_INTERNAL, "no such module");
  return false;
}

// The C++ functions reachable from snapshotted JavaScript; V8 serialises them by index here.
const intptr_t* ExternalReferences() {
  static const intptr_t refs[] = {
      reinterpret_cast<intptr_t>(HostLog),        reinterpret_cast<intptr_t>(HostRandomFill),
      reinterpret_cast<intptr_t>(HostSetTimer),   reinterpret_cast<intptr_t>(HostClearTimer),
      reinterpret_cast<intptr_t>(HostOnTimer),    reinterpret_cast<intptr_t>(HostSetInvoker),
      reinterpret_cast<intptr_t>(HostNow),        reinterpret_cast<intptr_t>(HostSetWasmGuard),
      reinterpret_cast<intptr_t>(HostCall),       reinterpret_cast<intptr_t>(HostOp),
      reinterpret_cast<intptr_t>(HostGetContext), reinterpret_cast<intptr_t>(HostSetContext),
      reinterpret_cast<intptr_t>(stockade::HostCompileLazy),
      reinterpret_cast<intptr_t>(stockade::HostLazyGlobal),
      0};
  return refs;
}

// A request of each kind a fresh isolate serves (a Loader worker's fetch, a snippet's call), run
// once through the invoker inside the snapshot creator: V8 compiles the runtime's functions only
// when they first run, and the snapshot keeps what was compiled (kKeep), so a fresh isolate's
// first request does not pay for compiling the request path (measured: ~4 ms of CPU of a first
// fetch, ~0.4 ms later ones). Both settle within the creator's microtask checkpoint; the runtime
// keeps no state per request. False (with `out` saying why) when one does not fulfil.
bool WarmRequestPath(stk_isolate* shim, v8::Local<v8::Context> ctx, stk_outcome* out) {
  v8::Isolate* isolate = shim->isolate;
  v8::TryCatch tc(isolate);
  static const char kModules[] =
      "[{ default: { async fetch(request, env, ctx) {"
      "    const url = new URL(request.url); request.headers.get('accept'); await request.text();"
      "    ctx.waitUntil(Promise.resolve());"
      "    if (url.searchParams.get('q') === '2') return new Response('text');"
      "    return Response.json({ path: url.pathname, q: url.searchParams.get('q') },"
      "                         { headers: { 'x-warm': '1' } });"
      "} } },"
      " { default: async (arg, env) => ({ arg, text: new TextDecoder().decode("
      "    new TextEncoder().encode(JSON.stringify(arg))) }) }]";
  static const char kFetch[] =
      "{\"method\":\"POST\",\"url\":\"http://warm.invalid/a?q=1\","
      "\"headers\":[[\"accept\",\"*/*\"],[\"content-type\",\"text/plain\"]],\"env\":null}";
  static const char kFetch2[] =
      "{\"method\":\"GET\",\"url\":\"http://warm.invalid/?q=2\",\"headers\":[],\"env\":null}";
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> modules;
  if (!v8::Script::Compile(ctx, Str(isolate, kModules, sizeof kModules - 1)).ToLocal(&script) ||
      !script->Run(ctx).ToLocal(&modules) || !modules->IsArray()) {
    FromTryCatch(isolate, ctx, tc, out);
    return false;
  }
  v8::Local<v8::Array> ns = modules.As<v8::Array>();
  static const uint8_t kBody[] = {'w', 'a', 'r', 'm'};
  v8::Local<v8::ArrayBuffer> buffer = v8::ArrayBuffer::New(isolate, sizeof kBody);
  std::memcpy(buffer->GetBackingStore()->Data(), kBody, sizeof kBody);
  struct Call {
    uint32_t index;
    int32_t kind;
    v8::Local<v8::Value> payload, body;
  } calls[] = {
      {0, 1, Str(isolate, kFetch, sizeof kFetch - 1), v8::Uint8Array::New(buffer, 0, sizeof kBody)},
      {0, 1, Str(isolate, kFetch2, sizeof kFetch2 - 1), v8::Null(isolate)},
      {1, 0, v8::String::NewFromUtf8Literal(isolate, "{\"a\":[1,\"b\"]}"), v8::Null(isolate)},
  };
  for (const Call& call : calls) {
    v8::Local<v8::Value> module;
    v8::Local<v8::Value> result;
    if (!ns->Get(ctx, call.index).ToLocal(&module)) {
      FromTryCatch(isolate, ctx, tc, out);
      return false;
    }
    v8::Local<v8::Value> argv[5] = {module, v8::Integer::New(isolate, call.kind), call.payload,
                                    call.body, v8::Integer::New(isolate, 0)};
    if (!shim->invoker.Get(isolate)->Call(ctx, v8::Undefined(isolate), 5, argv).ToLocal(&result)) {
      FromTryCatch(isolate, ctx, tc, out);
      return false;
    }
    isolate->PerformMicrotaskCheckpoint();
    if (!result->IsPromise() || result.As<v8::Promise>()->State() != v8::Promise::kFulfilled) {
      SetValue(out, STK_INTERNAL, "the snapshot's warm-up request did not complete");
      return false;
    }
  }
  return true;
}

// Evaluates the runtime in a snapshot creator and keeps the blob in g_snapshot. False (with `out`
// saying why) when it fails. The creator and its isolate are destroyed on return.
bool CreateSnapshot(const char* runtime_js, size_t runtime_len, stk_outcome* out) {
  v8::SnapshotCreator creator(ExternalReferences());
  stk_isolate shim;  // host state for the runtime's registration calls; nothing else runs
  shim.isolate = creator.GetIsolate();
  shim.isolate->SetData(0, &shim);
  bool ok = false;
  {
    v8::Isolate::Scope isolate_scope(shim.isolate);
    v8::HandleScope handles(shim.isolate);
    v8::Local<v8::Context> ctx = v8::Context::New(shim.isolate);
    v8::Context::Scope context_scope(ctx);
    ok = RunRuntime(&shim, ctx, runtime_js, runtime_len, out) && WarmRequestPath(&shim, ctx, out);
    if (ok) {
      creator.AddData(ctx, shim.invoker.Get(shim.isolate));
      creator.AddData(ctx, shim.timer_dispatch.Get(shim.isolate));
      creator.AddData(ctx, shim.wasm_guard.Get(shim.isolate));
      creator.AddData(ctx, shim.lazy_globals.IsEmpty() ? v8::Array::New(shim.isolate)
                                                       : shim.lazy_globals.Get(shim.isolate));
    }
    // Also on failure: V8 13.6's CreateBlob CHECK-fails without a default context.
    creator.SetDefaultContext(ctx);
    shim.invoker.Reset();
    shim.timer_dispatch.Reset();
    shim.wasm_guard.Reset();
    shim.lazy_globals.Reset();
    shim.attach.Reset();
  }
  if (!ok) {
    // The creator must still produce (and we then drop) a blob to tear down cleanly.
    v8::StartupData discard = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kClear);
    delete[] discard.data;
    return false;
  }
  g_snapshot = creator.CreateBlob(v8::SnapshotCreator::FunctionCodeHandling::kKeep);
  if (!g_snapshot.data) {
    SetValue(out, STK_INTERNAL, "V8 could not create the startup snapshot");
    return false;
  }
  return true;
}

// The anchor isolate (see g_anchor), created from the snapshot under the engine's scope (no key):
// with no other isolate alive, it creates V8's shared read-only heap.
v8::Isolate* NewAnchor() {
  stockade::OwnerScope engine(-1, stockade::kEngineOwner);
  static stockade::ArenaAllocator anchor_buffers(0, &g_anchor_limits, -1, stockade::kEngineOwner);
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = &anchor_buffers;
  params.snapshot_blob = &g_snapshot;
  params.external_references = ExternalReferences();
  params.constraints.ConfigureDefaultsFromHeapSize(0, 8u << 20);
  return v8::Isolate::New(params);
}

}  // namespace

extern "C" {

int32_t stk_engine_init(const char* flags, size_t flags_len) {
  std::string requested(flags, flags_len);
  bool first = false;
  std::call_once(g_init_once, [&] {
    first = true;
    g_flags = requested;
    stockade::OwnerScope engine(-1, stockade::kEngineOwner);
    v8::V8::SetFlagsFromString(g_flags.data(), g_flags.size());
    v8::V8::SetEntropySource(EntropySource);
    g_platform = new StockadePlatform();
    v8::V8::InitializePlatform(g_platform);
    v8::V8::Initialize();
  });
  return (first || requested == g_flags) ? 0 : -1;
}

const char* stk_v8_version(void) { return v8::V8::GetVersion(); }

void stk_engine_set_oom_exit(int32_t code) { g_oom_exit.store(code); }

int32_t stk_engine_snapshot(const char* runtime_js, size_t runtime_len, const stk_lazy_part* lazy,
                            size_t lazy_count, stk_outcome* out) {
  // Callers that race each make no second snapshot and never rewrite the lazy parts in use.
  static std::mutex snapshot_mu;
  std::lock_guard<std::mutex> once(snapshot_mu);
  if (g_snapshot.data) {
    out->status = STK_OK;
    return STK_OK;
  }
  stockade::SetLazyParts(lazy, lazy_count);
  stockade::OwnerScope engine(-1, stockade::kEngineOwner);
  // The creator is gone before the anchor exists: with no other isolate alive at its teardown, V8
  // frees its page pool at once (see DrainPagePool), so none of these untagged engine pages can
  // ever carry a tenant's heap.
  if (!CreateSnapshot(runtime_js, runtime_len, out)) return out->status;
  g_anchor = NewAnchor();
  if (!g_anchor) {
    SetValue(out, STK_INTERNAL, "V8 could not create the anchor isolate");
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

stk_isolate* stk_isolate_new(const stk_isolate_config* config, const stk_host* host,
                             stk_outcome* out) {
  if (!g_snapshot.data) {
    SetValue(out, STK_INTERNAL, "stk_engine_snapshot has not run");
    return nullptr;
  }
  // No renewal of the shared heap while this isolate attaches to it (see g_anchor_mu).
  std::shared_lock<std::shared_mutex> anchored(g_anchor_mu);
  if (!g_anchor) {
    SetValue(out, STK_INTERNAL, "V8's shared heap has no anchor isolate (its renewal failed)");
    return nullptr;
  }
  auto iso = std::make_unique<stk_isolate>();
  iso->host = *host;
  iso->stack_limit_bytes = config->stack_limit_bytes;
  iso->pkey = config->pkey;
  iso->allow_wasm = config->allow_wasm != 0;
  iso->owner = g_next_owner.fetch_add(1);
  iso->allocator = std::make_unique<stockade::ArenaAllocator>(
      config->external_limit_bytes, &iso->limits, iso->pkey, iso->owner);

  // Every page of the new isolate, from its first heap reservation on, carries its key.
  stockade::OwnerScope owner(iso->pkey, iso->owner);
  v8::Isolate::CreateParams params;
  params.array_buffer_allocator = iso->allocator.get();
  params.snapshot_blob = &g_snapshot;
  params.external_references = ExternalReferences();
  params.constraints.ConfigureDefaultsFromHeapSize(0, config->heap_limit_bytes);
  iso->isolate = v8::Isolate::New(params);
  if (!iso->isolate) {
    SetValue(out, STK_INTERNAL, "V8 could not create an isolate");
    return nullptr;
  }
  v8::Isolate* isolate = iso->isolate;
  isolate->SetData(0, iso.get());
  isolate->SetMicrotasksPolicy(v8::MicrotasksPolicy::kExplicit);
  // Pages must never move between keyed isolates (see DrainPagePool); without keys the cost of
  // draining buys nothing.
  if (iso->pkey >= 0 || g_keyed.load(std::memory_order_relaxed)) {
    g_keyed.store(true, std::memory_order_relaxed);
    iso->drain_pool = true;
    isolate->AddGCEpilogueCallback(NoteCollection, iso.get());
  }
  isolate->AddNearHeapLimitCallback(NearHeapLimit, iso.get());
  isolate->SetOOMErrorHandler(OnOutOfMemory);
  isolate->SetModifyCodeGenerationFromStringsCallback(RefuseCodegen);
  isolate->SetAllowWasmCodeGenerationCallback(AllowWasm);
  isolate->SetAllowAtomicsWait(false);
  isolate->SetHostImportModuleDynamicallyCallback(DynamicImport);
  isolate->SetCaptureStackTraceForUncaughtExceptions(true, 16);
  bool ok = false;
  {
    v8::Isolate::Scope isolate_scope(isolate);
    v8::HandleScope handles(isolate);
    v8::Local<v8::Context> ctx = v8::Context::New(isolate);
    ctx->AllowCodeGenerationFromStrings(false);
    // V8 re-installs Atomics' methods on a deserialised context; blocking waits must not exist
    // (SetAllowAtomicsWait(false) already makes them throw).
    v8::Local<v8::Value> atomics;
    if (ctx->Global()->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "Atomics")).ToLocal(&atomics) &&
        atomics->IsObject()) {
      atomics.As<v8::Object>()->Delete(ctx, v8::String::NewFromUtf8Literal(isolate, "wait")).FromMaybe(false);
      atomics.As<v8::Object>()->Delete(ctx, v8::String::NewFromUtf8Literal(isolate, "waitAsync")).FromMaybe(false);
    }
    v8::Local<v8::Function> invoker;
    v8::Local<v8::Function> dispatch;
    v8::Local<v8::Function> wasm_guard;
    v8::Local<v8::Array> lazy_globals;
    if (ctx->GetDataFromSnapshotOnce<v8::Function>(kSnapshotInvoker).ToLocal(&invoker) &&
        ctx->GetDataFromSnapshotOnce<v8::Function>(kSnapshotTimerDispatch).ToLocal(&dispatch) &&
        ctx->GetDataFromSnapshotOnce<v8::Function>(kSnapshotWasmGuard).ToLocal(&wasm_guard) &&
        ctx->GetDataFromSnapshotOnce<v8::Array>(kSnapshotLazyGlobals).ToLocal(&lazy_globals)) {
      // V8 installs WebAssembly afresh in every context made from the snapshot. The guard
      // (js/no-shared-memory.js) replaces its shared-memory routes before tenant code can reach
      // it: the global becomes a lazy data property whose first read runs the guard
      // (GuardedWebAssembly), so an isolate that never touches WebAssembly does not pay for it.
      v8::Context::Scope context_scope(ctx);
      v8::TryCatch tc(isolate);
      v8::Local<v8::Object> global = ctx->Global();
      v8::Local<v8::String> name = v8::String::NewFromUtf8Literal(isolate, "WebAssembly");
      v8::Local<v8::Value> wasm;
      bool guarded = false;
      if (global->Get(ctx, name).ToLocal(&wasm)) {
        if (!wasm->IsObject()) {
          guarded = true;  // no WebAssembly here (--jitless): nothing to guard
        } else if (global->Delete(ctx, name).FromMaybe(false)) {
          iso->wasm_guard.Reset(isolate, wasm_guard);
          guarded = global->SetLazyDataProperty(ctx, name, GuardedWebAssembly, wasm, v8::DontEnum)
                        .FromMaybe(false);
        }
      }
      // The prelude's lazy globals (lazy.h), before any tenant code.
      if (guarded && stockade::InstallLazyGlobals(isolate, ctx, lazy_globals)) {
        iso->invoker.Reset(isolate, invoker);
        iso->timer_dispatch.Reset(isolate, dispatch);
        iso->context.Reset(isolate, ctx);
        ok = true;
      }
    }
  }
  if (!ok) {
    SetValue(out, STK_INTERNAL,
             "the startup snapshot lacks the runtime's functions, or its WebAssembly guard failed");
    iso->isolate = nullptr;
    isolate->Dispose();
    return nullptr;
  }
  {
    // Creation may have collected garbage (see DrainPagePool).
    v8::Isolate::Scope isolate_scope(isolate);
    DrainPagePool(iso.get());
  }
  g_live.fetch_add(1);
  g_created_since_renewal.fetch_add(1, std::memory_order_relaxed);
  out->status = STK_OK;
  return iso.release();
}

void stk_isolate_dispose(stk_isolate* iso) {
  if (!iso) return;
  v8::Isolate* isolate = iso->isolate;
  {
    // Teardown may still allocate (and frees every page): under the isolate's owner.
    stockade::OwnerScope owner(iso->pkey, iso->owner);
    iso->pending.clear();
    iso->calls.clear();
    iso->invoker.Reset();
    iso->attach.Reset();
    iso->timer_dispatch.Reset();
    iso->wasm_guard.Reset();
    iso->synthetic.clear();
    iso->modules.clear();
    iso->context.Reset();
    DisposeReleasingPools(isolate);
  }
  delete iso;  // the arena unmaps the backing stores' memory here
  g_live.fetch_sub(1);
}

void stk_engine_memory_stats(stk_engine_memory* out) {
  out->live_isolates = g_live.load();
  out->created_since_renewal = g_created_since_renewal.load(std::memory_order_relaxed);
  out->renewals = g_renewals.load(std::memory_order_relaxed);
  out->owned_ranges = stockade::Registry().Size();
}

void stk_engine_renewal_counters(stk_renewal_counters* out) {
  out->created_since_renewal = g_created_since_renewal.load(std::memory_order_relaxed);
  out->renewals = g_renewals.load(std::memory_order_relaxed);
}

int32_t stk_engine_renew_shared_heap(uint64_t min_created) {
  std::unique_lock<std::shared_mutex> exclusive(g_anchor_mu, std::try_to_lock);
  if (!exclusive.owns_lock() || !g_anchor || g_live.load() != 0 ||
      g_created_since_renewal.load(std::memory_order_relaxed) < min_created) {
    return 0;
  }
  // No tenant isolate lives and none can be created until this returns: disposing the anchor
  // frees V8's shared read-only heap (and what it accumulated); the new anchor creates the next
  // one under the engine's scope, as at start.
  {
    stockade::OwnerScope engine(-1, stockade::kEngineOwner);
    DisposeReleasingPools(g_anchor);
  }
  g_anchor = NewAnchor();
  if (!g_anchor) return -1;
  g_created_since_renewal.store(0, std::memory_order_relaxed);
  g_renewals.fetch_add(1, std::memory_order_relaxed);
  return 1;
}

void stk_isolate_terminate(stk_isolate* iso) {
  iso->cancelled.store(1);  // native ops stop at their next check (stk_op_call.cancel)
  iso->isolate->TerminateExecution();
}

uint32_t stk_isolate_limits(stk_isolate* iso) { return iso->limits.load(); }

uint32_t stk_isolate_observed(stk_isolate* iso) { return iso->observed; }

uint64_t stk_pages_allocated_outside_isolates(void) {
  return stockade::PagesAllocatedOutsideScope();
}

void stk_isolate_heap_stats(stk_isolate* iso, stk_heap_stats* stats) {
  v8::HeapStatistics hs;
  iso->isolate->GetHeapStatistics(&hs);
  stats->used_heap_bytes = hs.used_heap_size();
  stats->total_heap_bytes = hs.total_heap_size();
  stats->heap_limit_bytes = hs.heap_size_limit();
  stats->external_bytes = iso->allocator->used();
  stats->malloced_bytes = hs.malloced_memory();
}

void stk_set_clock(stk_isolate* iso, double wall_ms, double monotonic_ms) {
  iso->wall_ms = wall_ms;
  iso->monotonic_ms = monotonic_ms;
}

int32_t stk_module_compile(stk_isolate* iso, const char* name, size_t name_len, const char* src,
                           size_t src_len, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  v8::Local<v8::String> source_text;
  if (!v8::String::NewFromUtf8(isolate, src, v8::NewStringType::kNormal,
                               static_cast<int>(src_len))
           .ToLocal(&source_text)) {
    SetValue(out, STK_INTERNAL, "module source too large for V8");
    return -1;
  }
  v8::ScriptOrigin origin(Str(isolate, name, name_len), 0, 0, false, -1,
                          v8::Local<v8::Value>(), false, false, true);
  v8::ScriptCompiler::Source source(source_text, origin);
  v8::Local<v8::Module> module;
  if (!v8::ScriptCompiler::CompileModule(isolate, &source).ToLocal(&module)) {
    FromTryCatch(isolate, ctx, tc, out);
    return -1;
  }
  const int index = static_cast<int>(iso->modules.size());
  iso->modules.emplace_back(isolate, module);
  iso->module_names.emplace_back(name, name_len);
  iso->synthetic.emplace_back();
  iso->by_hash[module->GetIdentityHash()].push_back(index);
  iso->by_name[iso->module_names.back()] = index;
  out->status = STK_OK;
  return index;
}

int32_t stk_module_synthetic(stk_isolate* iso, const char* name, size_t name_len, int32_t kind,
                             const char* bytes, size_t len, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> value;
  if (kind == STK_SYNTH_DATA) {
    v8::Local<v8::ArrayBuffer> buffer;
    if (!ArenaCopy(iso, bytes, len).ToLocal(&buffer)) {
      SetValue(out, STK_EXCEPTION, "data module exceeds the memory budget");
      return -1;
    }
    value = buffer;
  } else {
    v8::Local<v8::String> text;
    if (!v8::String::NewFromUtf8(isolate, bytes, v8::NewStringType::kNormal,
                                 static_cast<int>(len))
             .ToLocal(&text)) {
      SetValue(out, STK_INTERNAL, "module too large for V8");
      return -1;
    }
    if (kind == STK_SYNTH_JSON) {
      if (!v8::JSON::Parse(ctx, text).ToLocal(&value)) {
        FromTryCatch(isolate, ctx, tc, out);
        return -1;
      }
    } else {
      value = text;
    }
  }
  v8::Local<v8::String> exports[] = {v8::String::NewFromUtf8Literal(isolate, "default")};
  v8::Local<v8::Module> module = v8::Module::CreateSyntheticModule(
      isolate, Str(isolate, name, name_len), v8::MemorySpan<const v8::Local<v8::String>>(exports),
      SyntheticSteps);
  const int index = static_cast<int>(iso->modules.size());
  iso->modules.emplace_back(isolate, module);
  iso->module_names.emplace_back(name, name_len);
  iso->synthetic.emplace_back(isolate, value);
  iso->by_hash[module->GetIdentityHash()].push_back(index);
  iso->by_name[iso->module_names.back()] = index;
  out->status = STK_OK;
  return index;
}

int32_t stk_module_builtin(stk_isolate* iso, const char* name, size_t name_len, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  // The runtime names the module's exports (kind 4) without building them.
  v8::Local<v8::Value> argv[4] = {v8::Undefined(isolate), v8::Integer::New(isolate, 4),
                                  Str(isolate, name, name_len), v8::Null(isolate)};
  v8::Local<v8::Value> listed;
  if (!iso->invoker.Get(isolate)->Call(ctx, v8::Undefined(isolate), 4, argv).ToLocal(&listed)) {
    FromTryCatch(isolate, ctx, tc, out);
    return -1;
  }
  if (!listed->IsArray()) {
    SetValue(out, STK_INTERNAL, "the runtime did not list the built-in module's exports");
    return -1;
  }
  v8::Local<v8::Array> array = listed.As<v8::Array>();
  std::vector<std::string> names;
  std::vector<v8::Local<v8::String>> exports = {v8::String::NewFromUtf8Literal(isolate, "default")};
  std::unordered_map<std::string, bool> seen = {{"default", true}};
  for (uint32_t i = 0; i < array->Length(); i++) {
    v8::Local<v8::Value> item;
    if (!array->Get(ctx, i).ToLocal(&item) || !item->IsString()) {
      SetValue(out, STK_INTERNAL, "a built-in module's export name is not a string");
      return -1;
    }
    std::string export_name = Utf8(isolate, item);
    if (seen[export_name]) continue;
    seen[export_name] = true;
    names.push_back(export_name);
    exports.push_back(item.As<v8::String>());
  }
  v8::Local<v8::Module> module = v8::Module::CreateSyntheticModule(
      isolate, Str(isolate, name, name_len),
      v8::MemorySpan<const v8::Local<v8::String>>(exports.data(), exports.size()), SyntheticSteps);
  const int index = static_cast<int>(iso->modules.size());
  iso->modules.emplace_back(isolate, module);
  iso->module_names.emplace_back(name, name_len);
  iso->synthetic.emplace_back();
  iso->by_hash[module->GetIdentityHash()].push_back(index);
  // Not in by_name: a built-in holds no code, so it is never the referrer of an import(), and a
  // tenant module of the same name must keep its own entry.
  iso->builtin_exports[index] = std::move(names);
  out->status = STK_OK;
  return index;
}

int32_t stk_configure(stk_isolate* iso, const char* json, size_t len, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> argv[4] = {v8::Undefined(isolate), v8::Integer::New(isolate, 3),
                                  Str(isolate, json, len), v8::Null(isolate)};
  v8::Local<v8::Value> ignored;
  if (!iso->invoker.Get(isolate)->Call(ctx, v8::Undefined(isolate), 4, argv).ToLocal(&ignored)) {
    FromTryCatch(isolate, ctx, tc, out);
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

int32_t stk_module_requests(stk_isolate* iso, int32_t index, stk_outcome* out) {
  if (!ValidModule(iso, index, out)) return out->status;
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Module> module = iso->modules[index].Get(isolate);
  std::string joined;
  if (module->IsSourceTextModule()) {
    v8::Local<v8::FixedArray> requests = module->GetModuleRequests();
    for (int i = 0; i < requests->Length(); i++) {
      v8::Local<v8::ModuleRequest> request = requests->Get(entry.context(), i).As<v8::ModuleRequest>();
      joined += Utf8(isolate, request->GetSpecifier());
      joined.push_back('\0');
    }
  }
  SetValue(out, STK_OK, joined);
  return STK_OK;
}

int32_t stk_module_run(stk_isolate* iso, int32_t index, uint32_t inv, stk_outcome* out) {
  if (!ValidModule(iso, index, out)) return out->status;
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  v8::Local<v8::Module> module = iso->modules[index].Get(isolate);
  if (module->InstantiateModule(ctx, ResolveModule).IsNothing()) {
    FromTryCatch(isolate, ctx, tc, out);
    return out->status;
  }
  v8::Local<v8::Value> result;
  if (!module->Evaluate(ctx).ToLocal(&result)) {
    FromTryCatch(isolate, ctx, tc, out);
    return out->status;
  }
  return AwaitResult(iso, inv, result, "module evaluation did not return a promise", out);
}

int32_t stk_invoke(stk_isolate* iso, int32_t index, int32_t kind, uint32_t inv, const char* payload,
                   size_t payload_len, const uint8_t* body, size_t body_len, stk_outcome* out) {
  if (!ValidModule(iso, index, out)) return out->status;
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  v8::Local<v8::Module> module = iso->modules[index].Get(isolate);
  if (module->GetStatus() != v8::Module::kEvaluated) {
    SetValue(out, STK_INTERNAL, "the module has not been evaluated");
    return out->status;
  }
  v8::Local<v8::Value> body_value = v8::Null(isolate);
  if (body) {
    // The request body, in the isolate's arena: it counts against the tenant's memory budget.
    v8::Local<v8::ArrayBuffer> buffer;
    if (!ArenaCopy(iso, body, body_len).ToLocal(&buffer)) {
      SetValue(out, STK_EXCEPTION, "the request body exceeds the memory limit");
      return out->status;
    }
    body_value = v8::Uint8Array::New(buffer, 0, body_len);
  }
  v8::Local<v8::Value> argv[5] = {module->GetModuleNamespace(), v8::Integer::New(isolate, kind),
                                  Str(isolate, payload, payload_len), body_value,
                                  v8::Integer::NewFromUnsigned(isolate, inv)};
  v8::Local<v8::Value> result;
  if (!iso->invoker.Get(isolate)->Call(ctx, v8::Undefined(isolate), 5, argv).ToLocal(&result)) {
    FromTryCatch(isolate, ctx, tc, out);
    return out->status;
  }
  return AwaitResult(iso, inv, result, "the invoker did not return a promise", out);
}

int32_t stk_install_test_hooks(stk_isolate* iso) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> argv[4] = {v8::Undefined(isolate), v8::Integer::New(isolate, 2),
                                  v8::String::Empty(isolate), v8::Null(isolate)};
  v8::Local<v8::Value> ignored;
  return iso->invoker.Get(isolate)->Call(entry.context(), v8::Undefined(isolate), 4, argv)
                 .ToLocal(&ignored)
             ? STK_OK
             : STK_INTERNAL;
}

int32_t stk_pump(stk_isolate* iso, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::TryCatch tc(isolate);
  isolate->PerformMicrotaskCheckpoint();
  while (v8::platform::PumpMessageLoop(g_platform->inner(), isolate)) {
  }
  if (tc.HasTerminated() || isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

int32_t stk_poll(stk_isolate* iso, uint32_t inv, stk_outcome* out) {
  Entry entry(iso);
  v8::TryCatch tc(entry.isolate());
  return Poll(iso, entry.context(), inv, out);
}

void stk_forget(stk_isolate* iso, uint32_t inv) {
  auto it = iso->pending.find(inv);
  if (it == iso->pending.end()) return;
  Entry entry(iso);
  iso->pending.erase(it);
}

int32_t stk_host_reply(stk_isolate* iso, uint32_t call_id, int32_t ok, const uint8_t* bytes,
                       size_t len, stk_outcome* out) {
  auto it = iso->calls.find(call_id);
  if (it == iso->calls.end()) {
    out->status = STK_OK;
    return STK_OK;
  }
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  v8::TryCatch tc(isolate);
  v8::Local<v8::Promise::Resolver> resolver = it->second.Get(isolate);
  iso->calls.erase(it);
  if (ok) {
    v8::Local<v8::ArrayBuffer> buffer;
    if (!ArenaCopy(iso, bytes, len).ToLocal(&buffer)) {
      resolver
          ->Reject(ctx, v8::Exception::RangeError(v8::String::NewFromUtf8Literal(
                            isolate, "the host's answer exceeds the memory limit")))
          .FromMaybe(false);
    } else {
      resolver->Resolve(ctx, v8::Uint8Array::New(buffer, 0, len)).FromMaybe(false);
    }
  } else {
    v8::Local<v8::String> message;
    if (!v8::String::NewFromUtf8(isolate, reinterpret_cast<const char*>(bytes),
                                 v8::NewStringType::kNormal, static_cast<int>(len))
             .ToLocal(&message)) {
      message = v8::String::NewFromUtf8Literal(isolate, "the host call failed");
    }
    resolver->Reject(ctx, v8::Exception::Error(message)).FromMaybe(false);
  }
  if (tc.HasTerminated() || isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

void stk_host_forget(stk_isolate* iso, uint32_t call_id) {
  auto it = iso->calls.find(call_id);
  if (it == iso->calls.end()) return;
  Entry entry(iso);
  iso->calls.erase(it);
}

void stk_enter_task(stk_isolate* iso, uint32_t task) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  if (task == 0) {
    isolate->SetContinuationPreservedEmbedderData(v8::Undefined(isolate));
  } else {
    isolate->SetContinuationPreservedEmbedderData(MakeAsyncContext(isolate, task, v8::Undefined(isolate)));
  }
}

int32_t stk_fire_timer(stk_isolate* iso, uint32_t id, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::Local<v8::Context> ctx = entry.context();
  if (iso->timer_dispatch.IsEmpty()) {
    out->status = STK_OK;
    return STK_OK;
  }
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> argv[1] = {v8::Integer::NewFromUnsigned(isolate, id)};
  v8::Local<v8::Value> ignored;
  if (!iso->timer_dispatch.Get(isolate)->Call(ctx, v8::Undefined(isolate), 1, argv).ToLocal(&ignored)) {
    FromTryCatch(isolate, ctx, tc, out);
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

void stk_outcome_clear(stk_outcome* out) {
  free(out->value);
  free(out->stack);
  free(out->resource);
  free(out->body);
  memset(out, 0, sizeof(*out));
}

}  // extern "C"
