// Running code in an isolate: module evaluation, invocations of the runtime's invoker (fetch,
// calls, configuration), polling their promises, answers to host calls, timers, and which task
// the next entry belongs to.
//
// Guarantees:
// - Every call that touches V8 runs inside an Entry (the isolate's scopes, owner and frozen clock).
// - A request body and a host's answer are copied into the isolate's arena (the tenant's memory
//   budget); past it they fail as errors in JavaScript or in the outcome, never as aborts.
// - An invocation's result leaves the isolate only as the runtime's invoker built it: a string,
//   or [head, body bytes, background promise] for a fetch.
// - A termination is reported as STK_TERMINATED, whatever was running.
// Trusts: the runtime's invoker (isolate/js) to answer with the shapes above; the host to use
// invocation and call ids it was given.

#include "internal.h"

#include <v8.h>

#include <cstdlib>
#include <string>

namespace stockade::bridge {
namespace {

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
      // A call's JSON text, or a module evaluation's undefined. A primitive other than a
      // symbol converts to text without running JavaScript; an object (other than the array
      // below) could run tenant code (a toString), so the runtime never resolves with one.
      if (result->IsFalse()) {
        out->status = STK_TOO_LARGE;
        return STK_TOO_LARGE;
      }
      if (!result->IsObject() && !result->IsSymbol()) {
        SetValue(out, STK_OK, Utf8(isolate, result));
        return STK_OK;
      }
      if (!result->IsArray()) {
        SetValue(out, STK_INTERNAL, "malformed result from the runtime");
        return out->status;
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
    case v8::Promise::kRejected:
      // Describing the reason may run tenant code (a `stack` getter): not here, where no
      // watchdog need be armed, but in stk_describe_rejection.
      out->status = STK_REJECTED;
      return STK_REJECTED;
  }
  return STK_INTERNAL;
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

}  // namespace
}  // namespace stockade::bridge

using namespace stockade::bridge;

extern "C" {

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

int32_t stk_poll(stk_isolate* iso, uint32_t inv, stk_outcome* out) {
  Entry entry(iso);
  v8::TryCatch tc(entry.isolate());
  return Poll(iso, entry.context(), inv, out);
}

int32_t stk_describe_rejection(stk_isolate* iso, uint32_t inv, stk_outcome* out) {
  Entry entry(iso);
  v8::Isolate* isolate = entry.isolate();
  v8::TryCatch tc(isolate);
  auto it = iso->pending.find(inv);
  if (it == iso->pending.end()) {
    SetValue(out, STK_INTERNAL, "no such invocation");
    return out->status;
  }
  v8::Local<v8::Promise> promise = it->second.Get(isolate);
  iso->pending.erase(it);
  if (promise->State() != v8::Promise::kRejected) {
    SetValue(out, STK_INTERNAL, "the invocation was not rejected");
    return out->status;
  }
  v8::Local<v8::Value> reason = promise->Result();
  DescribeException(isolate, entry.context(), reason,
                    v8::Exception::CreateMessage(isolate, reason), out);
  return out->status;
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

}  // extern "C"
