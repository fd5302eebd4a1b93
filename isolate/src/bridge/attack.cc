// TEST ONLY: the attacker's tools for the MPK tests (feature `mpk-attack`).
//
// Gives a tenant's JavaScript what a V8 memory-corruption exploit would give it: arbitrary
// reads and writes of process memory (`__attack.read64/write64`). The tests use it to show that
// protection keys, and only they, stop one isolate from reading or writing another's heap. Also
// lets the tests locate a canary in an isolate's memory and list its tagged ranges.
//
// The build compiles this file only with STOCKADE_MPK_ATTACK, which build.rs defines only for
// the `mpk-attack` feature in a build with debug assertions; the #error below repeats the check.

#include <cpuid.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cinttypes>
#include <fstream>
#include <string>
#include <vector>

#include "bridge.h"
#include "isolate.h"
#include "memory.h"

#if !defined(STOCKADE_MPK_ATTACK) || !defined(STOCKADE_DEBUG_ASSERTIONS)
#error "attack.cc is test-only: build with the mpk-attack feature and debug assertions"
#endif

namespace {

uint64_t ParseHex(v8::Isolate* isolate, v8::Local<v8::Value> value) {
  v8::String::Utf8Value text(isolate, value);
  return *text ? strtoull(*text, nullptr, 16) : 0;
}

v8::Local<v8::String> Hex(v8::Isolate* isolate, uint64_t value) {
  char buf[24];
  snprintf(buf, sizeof buf, "0x%016" PRIx64, value);
  return v8::String::NewFromUtf8(isolate, buf).ToLocalChecked();
}

// The plain access an exploit would make: no check, no key handling.
void Read64(const v8::FunctionCallbackInfo<v8::Value>& args) {
  const uint64_t addr = ParseHex(args.GetIsolate(), args[0]);
  const uint64_t value = *reinterpret_cast<volatile uint64_t*>(addr);
  args.GetReturnValue().Set(Hex(args.GetIsolate(), value));
}

void Write64(const v8::FunctionCallbackInfo<v8::Value>& args) {
  const uint64_t addr = ParseHex(args.GetIsolate(), args[0]);
  const uint64_t value = ParseHex(args.GetIsolate(), args[1]);
  *reinterpret_cast<volatile uint64_t*>(addr) = value;
}

bool HaveOspke() {
  unsigned eax, ebx, ecx, edx;
  if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return false;
  return (ecx & (1u << 4)) != 0;
}

void Pkru(const v8::FunctionCallbackInfo<v8::Value>& args) {
  if (!HaveOspke()) {
    args.GetReturnValue().Set(-1);
    return;
  }
  uint32_t eax, edx;
  asm volatile(".byte 0x0f, 0x01, 0xee" : "=a"(eax), "=d"(edx) : "c"(0));  // RDPKRU
  args.GetReturnValue().Set(static_cast<double>(eax));
}

void Set(v8::Isolate* isolate, v8::Local<v8::Context> ctx, v8::Local<v8::Object> obj,
         const char* name, v8::FunctionCallback cb) {
  v8::Local<v8::Function> fn = v8::Function::New(ctx, cb).ToLocalChecked();
  obj->Set(ctx, v8::String::NewFromUtf8(isolate, name).ToLocalChecked(), fn).Check();
}

struct Vma {
  uintptr_t start;
  uintptr_t end;
};

std::vector<Vma> ReadableVmas() {
  std::vector<Vma> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    unsigned long long start = 0, end = 0;
    char perms[8] = {0};
    if (sscanf(line.c_str(), "%llx-%llx %7s", &start, &end, perms) == 3 && perms[0] == 'r') {
      out.push_back(Vma{static_cast<uintptr_t>(start), static_cast<uintptr_t>(end)});
    }
  }
  return out;
}

stk_range ToRange(const stockade::OwnedRange& r) {
  return stk_range{r.start, r.end, r.key, 0, r.owner};
}

}  // namespace

extern "C" {

int32_t stk_attack_install(stk_isolate* iso) {
  v8::Isolate* isolate = iso->isolate;
  stockade::OwnerScope owner(iso->pkey, iso->owner);
  v8::Isolate::Scope isolate_scope(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> ctx = iso->context.Get(isolate);
  v8::Context::Scope context_scope(ctx);
  v8::Local<v8::Object> tools = v8::Object::New(isolate);
  Set(isolate, ctx, tools, "read64", Read64);
  Set(isolate, ctx, tools, "write64", Write64);
  Set(isolate, ctx, tools, "pkru", Pkru);
  ctx->Global()->Set(ctx, v8::String::NewFromUtf8Literal(isolate, "__attack"), tools).Check();
  return 0;
}

int32_t stk_attack_find(stk_isolate* iso, const uint8_t* needle, size_t len, uint64_t from,
                        uint64_t* addr) {
  if (len == 0) return -1;
  const std::vector<Vma> vmas = ReadableVmas();
  for (const stockade::OwnedRange& r : stockade::Registry().OwnedBy(iso->owner)) {
    for (const Vma& v : vmas) {
      uintptr_t start = r.start > v.start ? r.start : v.start;
      if (start < from) start = from;
      const uintptr_t end = r.end < v.end ? r.end : v.end;
      if (start >= end) continue;
      const void* hit = memmem(reinterpret_cast<const void*>(start), end - start, needle, len);
      if (hit) {
        *addr = reinterpret_cast<uintptr_t>(hit);
        return 0;
      }
    }
  }
  return -1;
}

size_t stk_attack_ranges(stk_isolate* iso, stk_range* out, size_t cap) {
  const std::vector<stockade::OwnedRange> ranges = stockade::Registry().OwnedBy(iso->owner);
  for (size_t i = 0; i < ranges.size() && i < cap; i++) out[i] = ToRange(ranges[i]);
  return ranges.size();
}

int32_t stk_attack_range_of(uint64_t addr, stk_range* out) {
  stockade::OwnedRange r;
  if (!stockade::Registry().Find(addr, &r)) return -1;
  *out = ToRange(r);
  return 0;
}

uint64_t stk_attack_owner(stk_isolate* iso) { return iso->owner; }

}  // extern "C"
