// The host functions the runtime script calls as __stockade_host.* (its private host object),
// the list V8 serialises them by (ExternalReferences), and the runtime script's installation
// (RunRuntime). Native ops (__stockade_host.op) are in ops.cc.
//
// Guarantees:
// - Tenant code never reaches the host object: the runtime script takes what it needs into
//   closures and deletes it, and RunRuntime deletes it again before any tenant code runs.
// - Console lines, timers and host calls are attributed to the task whose code made them, also
//   in continuations another task's entry runs (the async context, MakeAsyncContext).
// - The invoker, timer dispatch and WebAssembly guard are registered once, by the runtime script.
// - randomFill fills at most 65536 bytes per call; a host that refuses a log line, a timer or a
//   call makes it an error (or a termination, for logs), never a silent success.
// Trusts: the host's stk_host callbacks; the runtime script (isolate/js) to be the only caller.

#include "internal.h"
#include "lazy.h"

#include <v8.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace stockade::bridge {

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

namespace {

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
    return;
  }
  // The timers that will never fire, for the runtime to forget (at most kDroppedPerCall: the
  // rest come with the next setTimer).
  constexpr uint32_t kDroppedPerCall = 4096;
  v8::Local<v8::Array> dropped;
  uint32_t n = 0;
  while (n < kDroppedPerCall) {
    uint32_t gone = iso->host.take_dropped_timer(iso->host.userdata);
    if (gone == 0) break;
    if (n == 0) dropped = v8::Array::New(isolate);
    if (dropped->Set(ctx, n, v8::Integer::NewFromUnsigned(isolate, gone)).IsNothing()) return;
    n++;
  }
  if (n > 0) args.GetReturnValue().Set(dropped);
}

void HostClearTimer(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  uint32_t id = args[0]->Uint32Value(isolate->GetCurrentContext()).FromMaybe(0);
  iso->host.clear_timer(iso->host.userdata, id);
}

// onTimer(dispatch, rejections): the timers' dispatch, and the runtime's dispatch of promise
// rejections (see DispatchRejections in callbacks.cc).
void HostOnTimer(const v8::FunctionCallbackInfo<v8::Value>& args) {
  stk_isolate* iso = From(args.GetIsolate());
  if (!iso->timer_dispatch.IsEmpty()) return;  // once, during the prelude
  if (args[0]->IsFunction()) iso->timer_dispatch.Reset(args.GetIsolate(), args[0].As<v8::Function>());
  if (args[1]->IsFunction()) {
    iso->rejection_dispatch.Reset(args.GetIsolate(), args[1].As<v8::Function>());
  }
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

// hostCall(name, payload): a promise of the host's answer (a Uint8Array), see stk_host.host_call
// (a call the host accepts may first wait in its queue: a task has at most 64 in flight).
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
  if (refused == 3 || refused == 4) {
    // The invocation's queue of calls waiting for a place in flight is full: a RangeError naming
    // the bound, as for the other budgets of an isolate (timers).
    const std::string why =
        " (at most " + std::to_string(STK_HOST_CALLS_IN_FLIGHT_MAX) + " are in flight at once)";
    std::string msg = refused == 3 ? "more than " + std::to_string(STK_HOST_CALLS_QUEUED_MAX) +
                                         " host calls waiting in this request" + why
                                   : "the host calls waiting in this request would hold more than " +
                                         std::to_string(STK_HOST_CALL_BYTES_QUEUED_MAX >> 20) +
                                         " MiB" + why;
    resolver->Reject(ctx, v8::Exception::RangeError(Str(isolate, msg.data(), msg.size())))
        .FromMaybe(false);
    return;
  }
  if (refused != 0) {
    std::string msg = refused == 2
                          ? "this invocation made its limit of outbound requests (subRequests)"
                          : "the host refused the call `" + name + "`";
    refuse(Str(isolate, msg.data(), msg.size()));
    return;
  }
  iso->calls[id].Reset(isolate, resolver);
}

// callSync(name, payload): the host's answer (a Uint8Array), waited for inside this call (see
// stk_host.host_call_sync); throws what the host answered as an error, or why it refused. When
// the wait ended because the entry's watch fired (its budget is spent), execution is already
// terminating: nothing after this runs.
void HostCallSync(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  stk_isolate* iso = From(isolate);
  if (!args[0]->IsString() || !(args[1]->IsUint8Array() || args[1]->IsUndefined())) {
    isolate->ThrowException(v8::Exception::TypeError(
        v8::String::NewFromUtf8Literal(isolate, "callSync(name, Uint8Array?)")));
    return;
  }
  std::string name = Utf8(isolate, args[0]);
  std::vector<uint8_t> payload;
  if (args[1]->IsUint8Array()) {
    v8::Local<v8::Uint8Array> view = args[1].As<v8::Uint8Array>();
    payload.resize(view->ByteLength());
    if (!payload.empty()) view->CopyContents(payload.data(), payload.size());
  }
  uint32_t id = ++iso->next_call;
  if (id == 0) id = ++iso->next_call;
  const uint8_t* answer = nullptr;
  size_t answer_len = 0;
  const int32_t status =
      iso->host.host_call_sync
          ? iso->host.host_call_sync(iso->host.userdata, id, RunningTask(isolate),
                                     reinterpret_cast<const uint8_t*>(name.data()), name.size(),
                                     payload.data(), payload.size(), &answer, &answer_len)
          : STK_SYNC_REFUSED;
  if (status == STK_SYNC_OK) {
    v8::Local<v8::ArrayBuffer> buffer;
    if (!ArenaCopy(iso, answer, answer_len).ToLocal(&buffer)) {
      isolate->ThrowException(v8::Exception::RangeError(
          v8::String::NewFromUtf8Literal(isolate, "the host's answer exceeds the memory limit")));
      return;
    }
    args.GetReturnValue().Set(v8::Uint8Array::New(buffer, 0, answer_len));
    return;
  }
  std::string why = answer != nullptr && answer_len > 0
                        ? std::string(reinterpret_cast<const char*>(answer), answer_len)
                        : "the host refused the call `" + name + "`";
  v8::Local<v8::String> message = Str(isolate, why.data(), why.size());
  isolate->ThrowException(status == STK_SYNC_FAILED ? v8::Exception::Error(message)
                                                     : v8::Exception::TypeError(message));
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

// task() -> the running task's number (0 outside any task's entry): a request's objects that
// only its own code may use (an RPC call's callback stubs) remember it, and refuse another's.
void HostTask(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(RunningTask(args.GetIsolate()));
}

// promiseState(value): 0 for a pending promise, [1, value] fulfilled, [2, reason] rejected,
// undefined for anything that is not a promise (util.inspect's `Promise { <pending> }`). Reads
// V8's own slots: no tenant code runs (a thenable is not a promise), and a rejection it reads
// stays unhandled.
void HostPromiseState(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (args.Length() < 1 || !args[0]->IsPromise()) return;
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Promise> promise = args[0].As<v8::Promise>();
  v8::Promise::PromiseState state = promise->State();
  if (state == v8::Promise::kPending) {
    args.GetReturnValue().Set(0);
    return;
  }
  v8::Local<v8::Value> pair[2] = {v8::Integer::New(isolate, state == v8::Promise::kFulfilled ? 1 : 2),
                                  promise->Result()};
  args.GetReturnValue().Set(v8::Array::New(isolate, pair, 2));
}

// isProxy(value): whether value is a Proxy (structuredClone refuses one, util.types.isProxy).
// Asks V8: no trap runs.
void HostIsProxy(const v8::FunctionCallbackInfo<v8::Value>& args) {
  args.GetReturnValue().Set(args.Length() > 0 && args[0]->IsProxy());
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

}  // namespace

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
      reinterpret_cast<intptr_t>(HostCallSync),   reinterpret_cast<intptr_t>(HostTask),
      reinterpret_cast<intptr_t>(HostPromiseState), reinterpret_cast<intptr_t>(HostIsProxy),
      0};
  return refs;
}

// Installs the private host object, runs the runtime script (which removes the host object
// again), and hands the prelude's exports to the runtime.
bool RunRuntime(stk_isolate* iso, v8::Local<v8::Context> ctx, const char* runtime_js,
                size_t runtime_len, EagerFunctions eager, stk_outcome* out) {
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
  SetHostFunction(isolate, ctx, host_obj, "callSync", HostCallSync);
  SetHostFunction(isolate, ctx, host_obj, "op", HostOp);
  SetHostFunction(isolate, ctx, host_obj, "getContext", HostGetContext);
  SetHostFunction(isolate, ctx, host_obj, "setContext", HostSetContext);
  SetHostFunction(isolate, ctx, host_obj, "task", HostTask);
  SetHostFunction(isolate, ctx, host_obj, "promiseState", HostPromiseState);
  SetHostFunction(isolate, ctx, host_obj, "isProxy", HostIsProxy);
  SetHostFunction(isolate, ctx, host_obj, "compileLazy", stockade::HostCompileLazy);
  SetHostFunction(isolate, ctx, host_obj, "lazyGlobal", stockade::HostLazyGlobal);
  v8::Local<v8::String> host_name = v8::String::NewFromUtf8Literal(isolate, "__stockade_host");
  v8::Local<v8::Object> global = ctx->Global();
  global->Set(ctx, host_name, host_obj).FromMaybe(false);
  v8::ScriptOrigin origin(v8::String::NewFromUtf8Literal(isolate, "stockade:runtime"));
  v8::Local<v8::Script> script;
  v8::Local<v8::Value> exports;
  // V8 asks, for every function literal it parses, whether to compile it now; the answer is yes
  // for the listed ones (compile hints), whose bytecode then lives in the snapshot.
  v8::ScriptCompiler::Source source(
      Str(isolate, runtime_js, runtime_len), origin,
      [](int position, void* data) -> bool {
        const EagerFunctions* e = static_cast<const EagerFunctions*>(data);
        for (size_t i = 0; i < e->count; i++) {
          if (e->positions[i] == position) return true;
        }
        return false;
      },
      &eager);
  if (!v8::ScriptCompiler::Compile(ctx, &source, v8::ScriptCompiler::kConsumeCompileHints)
           .ToLocal(&script) ||
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
  if (iso->invoker.IsEmpty() || iso->timer_dispatch.IsEmpty() || iso->wasm_guard.IsEmpty() ||
      iso->rejection_dispatch.IsEmpty()) {
    SetValue(out, STK_INTERNAL,
             "the runtime script did not register its invoker, timers, rejection dispatch and "
             "WebAssembly guard");
    return false;
  }
  return true;
}

}  // namespace stockade::bridge
