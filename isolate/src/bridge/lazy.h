// The prelude's lazy groups (isolate/src/lazy.rs, js/lazy.js): sources kept outside the V8 heap,
// compiled natively on first use into a function of the parameters the host chose.
//
// Guarantees: the two host primitives below reach tenant code never (the runtime holds them in
// closure constants; the host object is deleted before any tenant code runs); compileLazy
// compiles only the host's own sources, by index, and throws a RangeError for any other index.
// The first isolate that compiles a group leaves V8's code cache of it for the process's later
// isolates: a tenant's isolate before any of the group runs, the worker's warm-up isolate (which
// no tenant code reaches; stk_lazy_defer_caches) after it used the group, so that the cache also
// holds the functions that use compiled. Either way the cache holds the runtime's code only.
// Trusts: the host to call SetLazyParts once, before any isolate exists, with sources and names
// that outlive the process (Rust leaks them).
#pragma once

#include <v8.h>

#include <cstddef>

#include "bridge.h"

namespace stockade {

// Keeps the host's lazy groups (copies the descriptors, not the bytes). Once, before any isolate.
void SetLazyParts(const stk_lazy_part* parts, size_t count);

// compileLazy(index) -> Function: group `index`, compiled as a strict function of its parameters.
void HostCompileLazy(const v8::FunctionCallbackInfo<v8::Value>& args);

// lazyGlobal(name, get), while the snapshot is made: records `name` and `get` in the snapshot
// isolate's list (stk_isolate::lazy_globals), which the snapshot keeps. (V8 13.6 cannot serialise
// a lazy data property of the global object, so each isolate installs them: InstallLazyGlobals.)
void HostLazyGlobal(const v8::FunctionCallbackInfo<v8::Value>& args);

// Makes each recorded global of `list` ([name, get, ...]) a lazy data property of `ctx`'s global:
// its first read returns get()'s result (LazyGlobalGet) and turns it into a plain data property;
// writable, configurable, not enumerable, like the other globals. False if one fails.
bool InstallLazyGlobals(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Array> list);

// The getter of a lazy global.
void LazyGlobalGet(v8::Local<v8::Name> name, const v8::PropertyCallbackInfo<v8::Value>& info);

}  // namespace stockade
