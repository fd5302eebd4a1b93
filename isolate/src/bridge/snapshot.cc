// The startup snapshot: the runtime script and the prelude evaluated once, in a snapshot
// creator, with the request path warmed up; every isolate is then made from it. Also creates the
// anchor isolate once the snapshot exists (see engine.cc).
//
// Guarantees:
// - One snapshot per process: callers that race make no second one and never rewrite the lazy
//   parts in use.
// - The snapshot creator is gone before the anchor exists, and both run under the engine's scope
//   (no key): none of their pages can ever carry a tenant's heap.
// - A failed creation reports why and leaves no snapshot, so no isolate can be made.
// Trusts: the runtime script to register its invoker, timer dispatch and WebAssembly guard, and to
// keep no state per request.

#include "internal.h"
#include "lazy.h"

#include <v8.h>

#include <cstring>
#include <mutex>

namespace stockade::bridge {

v8::StartupData g_snapshot{nullptr, 0};

namespace {

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
  // What every load runs before tenant code: the built-in modules' export names (stk_module_
  // builtin, kind 4) and the configuration (stk_configure, kind 3), here refused at its first line
  // (a null configuration), so nothing is configured but V8 has compiled the path (measured: about
  // 60 us of every fresh isolate's load otherwise).
  v8::Local<v8::Value> names;
  v8::Local<v8::Value> builtin_argv[5] = {v8::Undefined(isolate), v8::Integer::New(isolate, 4),
                                          v8::String::NewFromUtf8Literal(isolate, "cloudflare:workers"),
                                          v8::Null(isolate), v8::Integer::New(isolate, 0)};
  if (!shim->invoker.Get(isolate)->Call(ctx, v8::Undefined(isolate), 5, builtin_argv).ToLocal(&names) ||
      !names->IsArray()) {
    FromTryCatch(isolate, ctx, tc, out);
    return false;
  }
  v8::Local<v8::Value> configure_argv[5] = {v8::Undefined(isolate), v8::Integer::New(isolate, 3),
                                            v8::String::NewFromUtf8Literal(isolate, "null"),
                                            v8::Null(isolate), v8::Integer::New(isolate, 0)};
  v8::Local<v8::Value> configured;
  if (shim->invoker.Get(isolate)->Call(ctx, v8::Undefined(isolate), 5, configure_argv).ToLocal(&configured)) {
    SetValue(out, STK_INTERNAL, "the snapshot's warm-up configured the worker");
    return false;
  }
  tc.Reset();
  return true;
}

// Evaluates the runtime in a snapshot creator and keeps the blob in g_snapshot. False (with `out`
// saying why) when it fails. The creator and its isolate are destroyed on return.
bool CreateSnapshot(const char* runtime_js, size_t runtime_len, EagerFunctions eager,
                    stk_outcome* out) {
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
    ok = RunRuntime(&shim, ctx, runtime_js, runtime_len, eager, out) &&
         WarmRequestPath(&shim, ctx, out);
    if (ok) {
      creator.AddData(ctx, shim.invoker.Get(shim.isolate));
      creator.AddData(ctx, shim.timer_dispatch.Get(shim.isolate));
      creator.AddData(ctx, shim.wasm_guard.Get(shim.isolate));
      creator.AddData(ctx, shim.lazy_globals.IsEmpty() ? v8::Array::New(shim.isolate)
                                                       : shim.lazy_globals.Get(shim.isolate));
      creator.AddData(ctx, shim.rejection_dispatch.Get(shim.isolate));
    }
    // Also on failure: V8 13.6's CreateBlob CHECK-fails without a default context.
    creator.SetDefaultContext(ctx);
    shim.invoker.Reset();
    shim.timer_dispatch.Reset();
    shim.rejection_dispatch.Reset();
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

}  // namespace
}  // namespace stockade::bridge

using namespace stockade::bridge;

extern "C" {

int32_t stk_engine_snapshot(const char* runtime_js, size_t runtime_len, const stk_lazy_part* lazy,
                            size_t lazy_count, const int32_t* eager, size_t eager_count,
                            stk_outcome* out) {
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
  if (!CreateSnapshot(runtime_js, runtime_len, EagerFunctions{eager, eager_count}, out)) {
    return out->status;
  }
  g_anchor = NewAnchor();
  if (!g_anchor) {
    SetValue(out, STK_INTERNAL, "V8 could not create the anchor isolate");
    return out->status;
  }
  out->status = STK_OK;
  return STK_OK;
}

}  // extern "C"
