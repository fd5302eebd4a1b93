// Isolates: creation from the startup snapshot, disposal, termination, and what the host reads
// and sets on a live isolate (limits hit, features observed, heap statistics, the clocks).
//
// Guarantees:
// - Every page of a new isolate, from its first heap reservation on, carries its key; teardown
//   runs under the same owner and frees every page (DisposeReleasingPools).
// - ArrayBuffer backing stores are counted against the isolate's external-memory budget; a
//   request past it fails as a RangeError in JavaScript, never as an abort.
// - An isolate refuses string code generation and blocking Atomics waits, observes WebAssembly
//   compilation, and installs the WebAssembly guard and the prelude's lazy globals before any
//   tenant code runs; an isolate for which any of this fails is not handed out.
// - No isolate is created before the snapshot and the anchor exist, nor while the anchor is being
//   renewed (g_anchor_mu).
// Trusts: the host's configuration (limits, protection key) and its stk_host callbacks.

#include "internal.h"
#include "lazy.h"

#include <v8.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>

namespace stockade::bridge {
namespace {

// Set once an isolate with a protection key exists (see DrainPagePool).
std::atomic<bool> g_keyed{false};
// Owner ids for the range registry; 0 is the engine (stockade::kEngineOwner).
std::atomic<uint64_t> g_next_owner{1};

}  // namespace
}  // namespace stockade::bridge

using namespace stockade::bridge;

extern "C" {

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
  isolate->SetPromiseRejectCallback(OnPromiseReject);
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
    v8::Local<v8::Function> rejections;
    if (ctx->GetDataFromSnapshotOnce<v8::Function>(kSnapshotInvoker).ToLocal(&invoker) &&
        ctx->GetDataFromSnapshotOnce<v8::Function>(kSnapshotRejectionDispatch).ToLocal(&rejections) &&
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
      // What error stacks are formatted with (PrepareStackTrace), before any tenant code.
      v8::Local<v8::Value> error_function;
      v8::Local<v8::Value> error_prototype;
      v8::Local<v8::Value> error_to_string;
      const bool errors =
          global->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "Error"))
              .ToLocal(&error_function) &&
          error_function->IsFunction() &&
          error_function.As<v8::Object>()
              ->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "prototype"))
              .ToLocal(&error_prototype) &&
          error_prototype->IsObject() &&
          error_prototype.As<v8::Object>()
              ->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "toString"))
              .ToLocal(&error_to_string) &&
          error_to_string->IsFunction();
      if (errors) {
        iso->error_function.Reset(isolate, error_function.As<v8::Function>());
        iso->error_to_string.Reset(isolate, error_to_string.As<v8::Function>());
        isolate->SetPrepareStackTraceCallback(PrepareStackTrace);
      }
      // The prelude's lazy globals (lazy.h), before any tenant code.
      if (guarded && errors && stockade::InstallLazyGlobals(isolate, ctx, lazy_globals)) {
        iso->invoker.Reset(isolate, invoker);
        iso->timer_dispatch.Reset(isolate, dispatch);
        iso->rejection_dispatch.Reset(isolate, rejections);
        iso->context.Reset(isolate, ctx);
        ok = true;
      }
    }
  }
  if (!ok) {
    SetValue(out, STK_INTERNAL,
             "the startup snapshot lacks the runtime's functions, or its WebAssembly guard failed");
    iso->isolate = nullptr;
    // No handle may outlive its isolate.
    iso->wasm_guard.Reset();
    iso->error_function.Reset();
    iso->error_to_string.Reset();
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
    iso->rejection_dispatch.Reset();
    iso->rejections.clear();
    iso->wasm_guard.Reset();
    iso->error_function.Reset();
    iso->error_to_string.Reset();
    iso->site_script.Reset();
    iso->site_line.Reset();
    iso->site_column.Reset();
    iso->site_to_string.Reset();
    iso->synthetic.clear();
    iso->modules.clear();
    iso->context.Reset();
    iso->deferred_lazy.clear();  // a warm-up dropped before stk_lazy_leave_caches
    DisposeReleasingPools(isolate);
  }
  delete iso;  // the arena unmaps the backing stores' memory here
  g_live.fetch_sub(1);
}

void stk_isolate_terminate(stk_isolate* iso) {
  iso->cancelled.store(1);  // native ops stop at their next check (stk_op_call.cancel)
  iso->isolate->TerminateExecution();
}

uint32_t stk_isolate_limits(stk_isolate* iso) { return iso->limits.load(); }

uint32_t stk_isolate_observed(stk_isolate* iso) { return iso->observed; }

void stk_isolate_heap_stats(stk_isolate* iso, stk_heap_stats* stats) {
  v8::HeapStatistics hs;
  iso->isolate->GetHeapStatistics(&hs);
  stats->used_heap_bytes = hs.used_heap_size();
  stats->total_heap_bytes = hs.total_heap_size();
  stats->heap_limit_bytes = hs.heap_size_limit();
  stats->external_bytes = iso->allocator->used();
  stats->malloced_bytes = hs.malloced_memory();
  stats->arena_maps = iso->allocator->large_maps();
  stats->arena_cached_bytes = iso->allocator->cached_bytes();
}

void stk_set_clock(stk_isolate* iso, double wall_ms, double monotonic_ms) {
  iso->wall_ms = wall_ms;
  iso->monotonic_ms = monotonic_ms;
}

}  // extern "C"
