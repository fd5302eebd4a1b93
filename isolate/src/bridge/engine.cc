// The engine: V8's flags and platform, the anchor isolate that owns V8's shared read-only heap,
// its renewal, the page pools V8 keeps between isolates, and the platform's message loop for an
// isolate (stk_pump).
//
// Guarantees:
// - Date.now() reads the platform clock, which this platform freezes per thread at the value the
//   host last set with stk_set_clock: tenant code cannot watch time advance while it runs.
// - V8's shared read-only heap and other process-wide structures are created under the engine's
//   own scope (no key, key 0) and kept alive by an anchor isolate, so no tenant key ever tags
//   memory that every isolate reads.
// - V8's shared read-only heap is only ever created under the engine's scope, by the anchor
//   isolate, also when it is renewed (stk_engine_renew_shared_heap): no tenant isolate can be
//   created while the anchor is being replaced, and none is created without an anchor.
// - Heap pages V8 pools never move from one keyed isolate to another (DrainPagePool,
//   DisposeReleasingPools).
// - V8's random numbers come from getrandom(2), never from a file a jailed worker cannot open.
// Trusts: V8 and libplatform; the Rust caller to call stk_engine_init before anything else and to
// run a keyed worker's isolates on one thread (see the page pools below).

#include "internal.h"

#include <libplatform/libplatform.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cerrno>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

namespace stockade::bridge {
namespace {

// The isolate being disposed on this thread, and the delayed tasks V8 posted meanwhile to other
// isolates' task runners (see DisposeReleasingPools).
thread_local v8::Isolate* tl_disposing = nullptr;
thread_local std::vector<std::unique_ptr<v8::Task>>* tl_disposal_tasks = nullptr;

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
  stockade::TaggingPageAllocator& pages() { return pages_; }
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
std::atomic<uint32_t> g_anchor_limits{0};
// Renewals so far.
std::atomic<uint64_t> g_renewals{0};

}  // namespace

constinit thread_local double tl_wall_ms = -1;
v8::Isolate* g_anchor = nullptr;
std::shared_mutex g_anchor_mu;
std::atomic<uint64_t> g_live{0};
std::atomic<uint64_t> g_created_since_renewal{0};

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

}  // namespace stockade::bridge

using namespace stockade::bridge;

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

void stk_engine_memory_stats(stk_engine_memory* out) {
  out->live_isolates = g_live.load();
  out->created_since_renewal = g_created_since_renewal.load(std::memory_order_relaxed);
  out->renewals = g_renewals.load(std::memory_order_relaxed);
  out->owned_ranges = stockade::Registry().Size();
}

uint64_t stk_engine_release_page_pool(void) {
  if (g_platform == nullptr) return 0;
  return g_platform->pages().ReleasePool() + stockade::wasm_budget::ReleaseArenaCaches();
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

uint64_t stk_pages_allocated_outside_isolates(void) {
  return stockade::PagesAllocatedOutsideScope();
}

int32_t stk_pump(stk_isolate* iso, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::TryCatch tc(isolate);
  isolate->PerformMicrotaskCheckpoint();
  // Promises the checkpoint left rejected with no handler: unhandledrejection (callbacks.cc).
  // A termination meanwhile is read below.
  if (!isolate->IsExecutionTerminating()) DispatchRejections(iso, entry.context());
  while (v8::platform::PumpMessageLoop(g_platform->inner(), isolate)) {
  }
  if (tc.HasTerminated() || isolate->IsExecutionTerminating()) {
    SetValue(out, STK_TERMINATED, "execution terminated");
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

}  // extern "C"
