// The prelude's lazy groups: see lazy.h.

#include "lazy.h"

#include "internal.h"
#include "isolate.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace stockade {
namespace {

struct LazyPart {
  std::string origin;
  const char* source;
  size_t source_len;
  bool one_byte;  // ASCII: V8 reads it in place as an external one-byte string
  std::vector<std::string> params;
};

// Written once by SetLazyParts before any isolate exists, read-only afterwards.
std::vector<LazyPart> g_parts;

// V8's code cache of each group, made by the first isolate that compiles it and read by every
// later one, which then deserialises the group's functions instead of parsing its source. Made
// right after the compile, before any of the group runs, it holds the top-level function only
// (V8 compiles inner functions when they first run); made by the warm-up isolate after it used
// the group (stk_lazy_defer_caches), it also holds every function that use compiled. Either way
// only the runtime's own code is in it: no tenant code ran in the isolate that made it.
// Written once per group under g_cache_mutex; a cache V8 rejects is ignored (V8 compiles anew).
std::mutex g_cache_mutex;
std::vector<std::unique_ptr<v8::ScriptCompiler::CachedData>> g_caches;  // by group, or null

// A group's source, read in place: the bytes belong to the host for the life of the process; the
// resource itself is V8's to delete (the default Dispose) when its string dies.
class StaticSource final : public v8::String::ExternalOneByteStringResource {
 public:
  StaticSource(const char* data, size_t length) : data_(data), length_(length) {}
  const char* data() const override { return data_; }
  size_t length() const override { return length_; }

 private:
  const char* data_;
  size_t length_;
};

void Throw(v8::Isolate* isolate, bool range, const char* message) {
  v8::Local<v8::String> text = v8::String::NewFromUtf8(isolate, message).ToLocalChecked();
  isolate->ThrowException(range ? v8::Exception::RangeError(text) : v8::Exception::TypeError(text));
}

// Makes group `index`'s code cache from `fn` unless the group has one. Returns whether it did.
bool LeaveCache(uint32_t index, v8::Local<v8::Function> fn) {
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    if (g_caches[index]) return false;
  }
  std::unique_ptr<v8::ScriptCompiler::CachedData> made(
      v8::ScriptCompiler::CreateCodeCacheForFunction(fn));
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  if (!made || g_caches[index]) return false;
  g_caches[index] = std::move(made);
  return true;
}

}  // namespace

void SetLazyParts(const stk_lazy_part* parts, size_t count) {
  g_parts.clear();
  for (size_t i = 0; i < count; i++) {
    const stk_lazy_part& p = parts[i];
    LazyPart part{std::string(p.origin, p.origin_len), p.source, p.source_len, true, {}};
    for (size_t j = 0; j < p.source_len; j++) {
      if (static_cast<unsigned char>(p.source[j]) >= 0x80) {
        part.one_byte = false;
        break;
      }
    }
    std::string params(p.params, p.params_len);
    size_t start = 0;
    while (start <= params.size()) {
      size_t end = params.find('\n', start);
      if (end == std::string::npos) end = params.size();
      if (end > start) part.params.push_back(params.substr(start, end - start));
      start = end + 1;
    }
    g_parts.push_back(std::move(part));
  }
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  g_caches.clear();
  g_caches.resize(count);
}

void HostCompileLazy(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (args.Length() < 1 || !args[0]->IsUint32() ||
      args[0].As<v8::Uint32>()->Value() >= g_parts.size()) {
    Throw(isolate, true, "compileLazy: no such lazy part");
    return;
  }
  const uint32_t index = args[0].As<v8::Uint32>()->Value();
  const LazyPart& part = g_parts[index];
  v8::Local<v8::String> source;
  bool made = part.one_byte
                  ? v8::String::NewExternalOneByte(isolate,
                                                   new StaticSource(part.source, part.source_len))
                        .ToLocal(&source)
                  : v8::String::NewFromUtf8(isolate, part.source, v8::NewStringType::kNormal,
                                            static_cast<int>(part.source_len))
                        .ToLocal(&source);
  if (!made) return;  // an exception (out of memory) is pending
  std::vector<v8::Local<v8::String>> params;
  params.reserve(part.params.size());
  for (const std::string& name : part.params) {
    v8::Local<v8::String> s;
    if (!v8::String::NewFromUtf8(isolate, name.data(), v8::NewStringType::kInternalized,
                                 static_cast<int>(name.size()))
             .ToLocal(&s)) {
      return;
    }
    params.push_back(s);
  }
  v8::Local<v8::String> origin_name;
  if (!v8::String::NewFromUtf8(isolate, part.origin.data(), v8::NewStringType::kNormal,
                               static_cast<int>(part.origin.size()))
           .ToLocal(&origin_name)) {
    return;
  }
  v8::ScriptOrigin origin(origin_name);
  // A view of the shared cache (the bytes stay g_caches'; they are never freed once made).
  v8::ScriptCompiler::CachedData* cached = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    if (g_caches[index]) {
      cached = new v8::ScriptCompiler::CachedData(g_caches[index]->data, g_caches[index]->length);
    }
  }
  v8::ScriptCompiler::Source compile_source(source, origin, cached);  // owns `cached`
  v8::Local<v8::Function> fn;
  if (!v8::ScriptCompiler::CompileFunction(
           ctx, &compile_source, params.size(), params.data(), 0, nullptr,
           cached ? v8::ScriptCompiler::kConsumeCodeCache : v8::ScriptCompiler::kNoCompileOptions)
           .ToLocal(&fn)) {
    return;  // an exception is pending
  }
  if (cached == nullptr) {
    stk_isolate* iso = static_cast<stk_isolate*>(isolate->GetData(0));
    if (iso != nullptr && iso->defer_lazy_caches) {
      iso->deferred_lazy.emplace_back(index, v8::Global<v8::Function>(isolate, fn));
    } else {
      LeaveCache(index, fn);
    }
  }
  args.GetReturnValue().Set(fn);
}

void HostLazyGlobal(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  if (args.Length() < 2 || !args[0]->IsString() || !args[1]->IsFunction()) {
    Throw(isolate, false, "lazyGlobal: expects a name and a function");
    return;
  }
  stk_isolate* iso = static_cast<stk_isolate*>(isolate->GetData(0));
  if (iso->lazy_globals.IsEmpty()) iso->lazy_globals.Reset(isolate, v8::Array::New(isolate));
  v8::Local<v8::Array> list = iso->lazy_globals.Get(isolate);
  uint32_t n = list->Length();
  if (!list->Set(ctx, n, args[0]).FromMaybe(false) || !list->Set(ctx, n + 1, args[1]).FromMaybe(false)) {
    return;  // an exception is pending
  }
}

bool InstallLazyGlobals(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Array> list) {
  v8::Local<v8::Object> global = ctx->Global();
  for (uint32_t i = 0; i + 1 < list->Length(); i += 2) {
    v8::Local<v8::Value> name;
    v8::Local<v8::Value> get;
    if (!list->Get(ctx, i).ToLocal(&name) || !name->IsString() ||
        !list->Get(ctx, i + 1).ToLocal(&get) || !get->IsFunction() ||
        !global->SetLazyDataProperty(ctx, name.As<v8::String>(), LazyGlobalGet, get, v8::DontEnum)
             .FromMaybe(false)) {
      return false;
    }
  }
  return true;
}

void LazyGlobalGet(v8::Local<v8::Name> name, const v8::PropertyCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  v8::Local<v8::Context> ctx = isolate->GetCurrentContext();
  v8::Local<v8::Value> value;
  if (!info.Data()->IsFunction() ||
      !info.Data().As<v8::Function>()->Call(ctx, v8::Undefined(isolate), 0, nullptr).ToLocal(&value)) {
    return;  // an exception is pending
  }
  // V8 turns the property into a data property after this returns, and CHECK-fails (ending the
  // process) unless it is still an accessor: refuse if anything redefined it meanwhile.
  if (!ctx->Global()->HasRealNamedCallbackProperty(ctx, name).FromMaybe(false)) {
    if (!isolate->IsExecutionTerminating()) {
      Throw(isolate, false, "a global of the runtime was redefined while it was being built");
    }
    return;
  }
  info.GetReturnValue().Set(value);
}

}  // namespace stockade

extern "C" {

void stk_lazy_defer_caches(stk_isolate* iso) { iso->defer_lazy_caches = true; }

uint32_t stk_lazy_leave_caches(stk_isolate* iso) {
  stockade::bridge::Entry entry(iso);
  uint32_t left = 0;
  for (auto& [index, fn] : iso->deferred_lazy) {
    if (stockade::LeaveCache(index, fn.Get(entry.isolate()))) left++;
  }
  iso->deferred_lazy.clear();
  iso->defer_lazy_caches = false;
  return left;
}

size_t stk_lazy_cache_bytes(uint32_t index) {
  std::lock_guard<std::mutex> lock(stockade::g_cache_mutex);
  if (index >= stockade::g_caches.size() || !stockade::g_caches[index]) return 0;
  return static_cast<size_t>(stockade::g_caches[index]->length);
}

}  // extern "C"
