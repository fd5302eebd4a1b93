// Modules: compiling the host's module set into an isolate (source text, data, JSON, text and
// built-in modules), resolving static imports, and dynamic import().
//
// Guarantees:
// - A module resolves only to a module of this isolate's set, by the index the host answers;
//   any other answer is an Error naming the specifier, never an out-of-range access.
// - A dynamic import() never evaluates a module that is being evaluated (V8 CHECK-fails on that):
//   it waits for a microtask, as the specification's asynchronous host hook allows.
// - Data modules and the exports of built-in modules are built in the isolate (data in its
//   arena, counted against the tenant's memory budget).
// Trusts: the host's resolve callback (stk_host.resolve) and the runtime's invoker to list and
// build a built-in module's exports.

#include "internal.h"

#include <v8.h>

#include <string>
#include <unordered_map>
#include <vector>

namespace stockade::bridge {
namespace {

int FindModule(stk_isolate* iso, v8::Local<v8::Module> module) {
  auto it = iso->by_hash.find(module->GetIdentityHash());
  if (it == iso->by_hash.end()) return -1;
  for (int index : it->second) {
    if (iso->modules[index] == module) return index;
  }
  return -1;
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
  if (target == -4) {
    std::string why;
    why.swap(iso->builtin_failure);
    return "Cannot import '" + spec + "'" + where + ": the built-in module could not be created (" +
           why + ")";
  }
  return "Cannot find module '" + spec + "'" + where + ": it is not in this worker's module set";
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

}  // namespace

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
  // The host may create the built-in module it names now (stk_module_builtin_in_import).
  iso->dynamic_imports++;
  int target = iso->host.resolve(iso->host.userdata, from,
                                 reinterpret_cast<const uint8_t*>(spec.data()), spec.size());
  iso->dynamic_imports--;
  if (isolate->IsExecutionTerminating()) return {};
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

// False (with `out` saying why) unless `index` names a module of `iso`.
bool ValidModule(stk_isolate* iso, int32_t index, stk_outcome* out) {
  if (index >= 0 && static_cast<size_t>(index) < iso->modules.size()) return true;
  SetValue(out, STK_INTERNAL, "no such module");
  return false;
}

// A synthetic module for built-in `name` (the runtime lists its exports; kind 4), inside an
// entry (stk_module_builtin's, or DynamicImport's).
int32_t CreateBuiltin(stk_isolate* iso, v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                      const char* name, size_t name_len, stk_outcome* out) {
  struct Creating {
    explicit Creating(stk_isolate* iso) : iso_(iso) { iso_->creating_builtin = true; }
    ~Creating() { iso_->creating_builtin = false; }
    stk_isolate* iso_;
  } creating(iso);
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

}  // namespace stockade::bridge

using namespace stockade::bridge;

extern "C" {

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
  return CreateBuiltin(iso, entry.isolate(), entry.context(), name, name_len, out);
}

int32_t stk_module_builtin_in_import(stk_isolate* iso, const char* name, size_t name_len,
                                     stk_outcome* out) {
  if (iso->dynamic_imports == 0 || iso->creating_builtin) {
    iso->builtin_failure = "a built-in module is created inside an entry only while an import() resolves";
    SetValue(out, STK_INTERNAL, iso->builtin_failure);
    return -1;
  }
  v8::Isolate* isolate = iso->isolate;
  v8::HandleScope handles(isolate);
  int32_t index = CreateBuiltin(iso, isolate, isolate->GetCurrentContext(), name, name_len, out);
  if (index < 0) {
    // The import()'s rejection says why (a resolve of -4: UnresolvedMessage).
    iso->builtin_failure.assign(out->value == nullptr ? "" : out->value, out->value_len);
  }
  return index;
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

}  // extern "C"
