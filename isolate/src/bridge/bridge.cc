// Stockade's bridge between Rust and V8 13.6 (Debian's libnode137): the flat extern "C" surface
// of bridge.h, implemented by the files of this directory, one concern each:
//   bridge.cc          this map, the layout contract with ffi.rs, and how outcomes are filled
//   engine.cc          platform, flags, page pools, the anchor isolate and shared-heap renewal,
//                      and the platform's message loop (stk_pump)
//   snapshot.cc        the startup snapshot: the runtime evaluated once, the request path warmed
//   isolate.cc         isolate creation, disposal, limits, statistics and clocks
//   host_functions.cc  the private __stockade_host.* functions the runtime script calls
//   ops.cc             native ops (__stockade_host.op)
//   callbacks.cc       V8 callbacks: heap limit, out of memory, codegen, WebAssembly guard
//   modules.cc         module compilation, resolution and dynamic import()
//   invoke.cc          running modules, invocations, polling, host replies, timers, tasks
//   internal.h         what those files share (namespace stockade::bridge)
//   memory.cc          the page allocator and ArrayBuffer arenas (memory.h); lazy.cc the lazy
//                      prelude groups (lazy.h); attack.cc test-only attack hooks
//
// Guarantees (each file states its own besides):
// - No C++ exception or V8 failure crosses into Rust: every entry point reports through an
//   stk_outcome (status + message + location), never by throwing.
// - Every heap page V8 takes comes from TaggingPageAllocator and every ArrayBuffer backing store
//   from the isolate's ArenaAllocator (memory.h): both tag it with the protection key of the
//   isolate on whose behalf the thread is working (the OwnerScope that Entry, isolate creation
//   and disposal open), and the key stays with the range for its whole life.
// Trusts: V8 itself, and the Rust caller to respect the threading rule in bridge.h.

#include "internal.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

// ---- Layout contract with isolate/src/ffi.rs (mirrored there with const asserts). ----
static_assert(sizeof(stk_outcome) == 80, "stk_outcome layout");
static_assert(offsetof(stk_outcome, body_len) == 72, "stk_outcome.body_len offset");
static_assert(offsetof(stk_outcome, value) == 16, "stk_outcome.value offset");
static_assert(offsetof(stk_outcome, resource_len) == 56, "stk_outcome.resource_len offset");
static_assert(sizeof(stk_isolate_config) == 32, "stk_isolate_config layout");
static_assert(sizeof(stk_host) == 88, "stk_host layout");
static_assert(offsetof(stk_host, host_call_sync) == 64, "stk_host.host_call_sync offset");
static_assert(offsetof(stk_host, map_position) == 80, "stk_host.map_position offset");
static_assert(sizeof(stk_op_call) == 328, "stk_op_call layout");
static_assert(offsetof(stk_op_call, callback) == 320, "stk_op_call.callback offset");
static_assert(offsetof(stk_op_call, alloc) == 32, "stk_op_call.alloc offset");
static_assert(offsetof(stk_op_call, message_len) == 56, "stk_op_call.message_len offset");
static_assert(offsetof(stk_op_call, message) == 64, "stk_op_call.message offset");
static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t) &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "stk_op_call.cancel is read as a plain atomic u32 by the host");
static_assert(sizeof(stk_heap_stats) == 56, "stk_heap_stats layout");
static_assert(offsetof(stk_heap_stats, arena_maps) == 40, "stk_heap_stats.arena_maps offset");
static_assert(offsetof(stk_heap_stats, arena_cached_bytes) == 48,
              "stk_heap_stats.arena_cached_bytes offset");
static_assert(sizeof(stk_engine_memory) == 32, "stk_engine_memory layout");
static_assert(STK_HOST_CALLS_IN_FLIGHT_MAX == 64 && STK_HOST_CALLS_QUEUED_MAX == 10000 &&
                   STK_HOST_CALL_BYTES_QUEUED_MAX == (64u << 20),
              "the host-call queue bounds (named in refusals) are isolate/src/ffi.rs's");
static_assert(sizeof(stk_renewal_counters) == 16, "stk_renewal_counters layout");
static_assert(offsetof(stk_renewal_counters, renewals) == 8, "stk_renewal_counters.renewals offset");
static_assert(sizeof(stk_range) == 32, "stk_range layout");

namespace stockade::bridge {

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

// Error.prototype.toString of `error` (name, ": ", message; either alone when the other is
// empty), reading both with their accessors; false when a read throws or is not a string.
static bool ErrorToString(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                          v8::Local<v8::Object> error, std::string* out) {
  v8::TryCatch tc(isolate);
  auto read = [&](v8::Local<v8::String> key, const char* fallback, std::string* into) {
    v8::Local<v8::Value> v;
    if (!error->Get(ctx, key).ToLocal(&v)) return false;
    if (v->IsUndefined()) {
      *into = fallback;
      return true;
    }
    if (!v->IsString()) return false;  // converting it could run more tenant code
    *into = Utf8(isolate, v);
    return true;
  };
  std::string name, message;
  if (!read(v8::String::NewFromUtf8Literal(isolate, "name"), "Error", &name) ||
      !read(v8::String::NewFromUtf8Literal(isolate, "message"), "", &message)) {
    return false;
  }
  *out = name.empty() ? message : message.empty() ? name : name + ": " + message;
  return true;
}

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
    // V8's text reads an error's name and message without running accessors, so an error whose
    // name or message is one (a DOMException: every binding's NotFoundError, QuotaExceededError,
    // ...) read "Uncaught " and nothing. Error.prototype.toString's reading instead; V8's text
    // stays when that throws.
    if (exception->IsNativeError()) {
      std::string described;
      if (ErrorToString(isolate, ctx, exception.As<v8::Object>(), &described)) {
        text = "Uncaught " + described;
      }
    }
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

}  // namespace stockade::bridge

extern "C" {

size_t stk_arena_large_size(size_t length, size_t page) {
  return stockade::ArenaAllocator::LargeSize(length, page);
}

void stk_outcome_clear(stk_outcome* out) {
  free(out->value);
  free(out->stack);
  free(out->resource);
  free(out->body);
  memset(out, 0, sizeof(*out));
}

}  // extern "C"
