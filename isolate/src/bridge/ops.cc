// Native ops: __stockade_host.op(code, input, callback?), a synchronous call into the host's op
// table (stk_host.op; isolate/src/ops/mod.rs), which may call a JavaScript callback back.
//
// Guarantees:
// - A native op (HostOp, stk_host.op) gets at most STK_OP_MAX_INPUT bytes, read in place while no
//   JavaScript runs (a private copy when a callback can run); its answer is allocated from the
//   isolate's arena (the tenant's memory budget); stk_isolate_terminate sets the flag long ops
//   poll, so they stop with the isolate.
// - A failed op throws an Error with an own `kind`; a cancelled one throws nothing (termination).
// Trusts: the host's op to write its answer only through alloc, and its message within the cap.

#include "internal.h"

#include <v8.h>

#include <cstring>
#include <memory>
#include <vector>

namespace stockade::bridge {
namespace {

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

}  // namespace

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

}  // namespace stockade::bridge
