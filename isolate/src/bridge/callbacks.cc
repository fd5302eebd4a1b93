// The callbacks V8 calls into the bridge while an isolate runs: the heap limit, the process's
// out-of-memory path, string code generation, WebAssembly compilation, the first read of the
// WebAssembly namespace, and promise rejections nothing handles (with their dispatch to the
// runtime after a microtask checkpoint, DispatchRejections).
//
// Guarantees:
// - The V8 heap limit is raised at most once, by kHeapTerminationMargin, when the isolate first
//   reaches it; execution is terminated at the same moment. V8 has no way to fail one allocation:
//   a terminated isolate that keeps allocating past that margin inside a builtin V8 cannot
//   interrupt ends the process through V8's fatal out-of-memory path, which OnOutOfMemory names.
// - eval and new Function never compile (RefuseCodegen); every WebAssembly compilation from bytes
//   is observed and allowed only when the isolate allows WebAssembly (AllowWasm).
// - Tenant code never holds the WebAssembly namespace before the shared-memory guard has run on
//   it (GuardedWebAssembly, a lazy data property).
// - A promise rejected with no handler at the end of a microtask checkpoint reaches the runtime
//   once (unhandledrejection), in the async context it was rejected in, unless it is an
//   invocation's own promise (the task's failure, reported as its outcome); a handler added
//   later reaches it once more (rejectionhandled). At most kMaxRejections wait between two
//   dispatches; the rest are counted, never kept.
// - An error's stack (PrepareStackTrace) reads as V8 formats it by default (its first line as V8
//   writes it, then "\n    at " and V8's own CallSite serialisation per frame), except that the
//   runtime's frames (scripts stockade:runtime and stockade:lazy/...) are left out and positions
//   in a transformed module (TypeScript) are the ones written (stk_host.map_position). A tenant's
//   Error.prepareStackTrace is called with the same CallSites, the runtime's left out, and its
//   answer is the stack. V8 does not call back while one is being formatted: a stack read
//   meanwhile (inside prepareStackTrace, or a getter of the error) is V8's own default, runtime
//   frames and generated positions included. The work is linear in the frames V8 captured (at
//   most Error.stackTraceLimit), stops when execution terminates, and what tenant code runs
//   meanwhile (getters of the error, prepareStackTrace) throws into the `stack` read as in V8.
// Trusts: V8 to call these on the isolate's thread; the runtime's guard (js/no-shared-memory.js);
// the runtime's rejection dispatch (js/workers.js) to catch what listeners throw; CallSite's
// methods as captured before tenant code could reach one.

#include "internal.h"

#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

namespace stockade::bridge {
namespace {

// What a terminated isolate may allocate past its heap limit, once: room for V8 to unwind the
// terminated script and for the builtin that was running to return (V8 notices termination only
// when JavaScript runs again). `new Array(2e7).fill(1.1)` (two 160 MB backing stores allocated
// by one builtin) needs about 160 MB of it under a 16 MiB limit.
constexpr size_t kHeapTerminationMargin = size_t{256} << 20;

// The exit status OnOutOfMemory ends the process with when a terminated isolate ran past its
// heap margin (stk_engine_set_oom_exit); 0: let V8 abort.
std::atomic<int32_t> g_oom_exit{0};

// The embedder's hook called just before the process ends itself for a limit
// (stk_engine_set_limit_exit_hook); null: none.
std::atomic<void (*)(uint64_t)> g_limit_exit_hook{nullptr};

// The most promise rejections recorded between two dispatches (each holds three handles): a
// loop rejecting promises by the million costs the tenant CPU, not the process memory.
constexpr size_t kMaxRejections = 10000;
// Rounds of dispatch and microtasks one pump runs: a listener that rejects a fresh promise each
// time cannot keep the pump (what is left waits for the next one).
constexpr int kMaxRejectionRounds = 8;

// Whether `promise` is a task's own (an invocation's, see stk_poll): its rejection is the task's
// outcome, never an unhandledrejection.
bool IsInvocation(stk_isolate* iso, v8::Local<v8::Promise> promise) {
  for (auto& entry : iso->pending) {
    if (entry.second.Get(iso->isolate) == promise) return true;
  }
  return false;
}

// Whether a frame's script is the runtime's own: the runtime script (host_functions.cc) or a
// lazy group of the prelude (isolate/src/lazy). A tenant module of that name (none: the loader's
// names are the tenant's files) would be kept.
bool IsRuntimeScript(stk_isolate* iso, const std::string& name) {
  static constexpr char kRuntime[] = "stockade:runtime";
  static constexpr char kLazy[] = "stockade:lazy/";
  const bool runtime = name == kRuntime || name.compare(0, sizeof kLazy - 1, kLazy) == 0;
  return runtime && iso->by_name.find(name) == iso->by_name.end();
}

// Takes CallSite.prototype's methods from `site` (a CallSite V8 made) the first time; false when
// they are not all functions.
bool CaptureSiteMethods(stk_isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> site) {
  if (!iso->site_to_string.IsEmpty()) return true;
  v8::Isolate* isolate = iso->isolate;
  if (!site->IsObject()) return false;
  v8::Local<v8::Value> proto = site.As<v8::Object>()->GetPrototypeV2();
  if (!proto->IsObject()) return false;
  v8::Local<v8::Object> p = proto.As<v8::Object>();
  v8::Local<v8::Function> fns[4];
  const char* names[4] = {"getScriptNameOrSourceURL", "getLineNumber", "getColumnNumber",
                          "toString"};
  for (int i = 0; i < 4; i++) {
    v8::Local<v8::Value> fn;
    if (!p->Get(ctx, v8::String::NewFromUtf8(isolate, names[i]).ToLocalChecked()).ToLocal(&fn) ||
        !fn->IsFunction()) {
      return false;
    }
    fns[i] = fn.As<v8::Function>();
  }
  iso->site_script.Reset(isolate, fns[0]);
  iso->site_line.Reset(isolate, fns[1]);
  iso->site_column.Reset(isolate, fns[2]);
  iso->site_to_string.Reset(isolate, fns[3]);
  return true;
}

// "Error: message" as V8's default format reads it: %Error.prototype.toString% of the error;
// when that throws, "<error: " and the same of what it threw, ">", or "<error>". False (nothing
// appended) when execution terminates.
bool AppendErrorString(stk_isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> error,
                       v8::Local<v8::String>* out) {
  v8::Isolate* isolate = iso->isolate;
  v8::Local<v8::Function> to_string = iso->error_to_string.Get(isolate);
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> text;
  if (to_string->Call(ctx, error, 0, nullptr).ToLocal(&text) && text->IsString()) {
    *out = text.As<v8::String>();
    return true;
  }
  if (tc.HasTerminated() || isolate->IsExecutionTerminating()) return false;
  v8::Local<v8::Value> thrown = tc.Exception();
  tc.Reset();
  if (!thrown.IsEmpty() && to_string->Call(ctx, thrown, 0, nullptr).ToLocal(&text) &&
      text->IsString()) {
    v8::Local<v8::String> s = v8::String::Concat(
        isolate, v8::String::NewFromUtf8Literal(isolate, "<error: "), text.As<v8::String>());
    if (s.IsEmpty()) return false;
    s = v8::String::Concat(isolate, s, v8::String::NewFromUtf8Literal(isolate, ">"));
    if (s.IsEmpty()) return false;
    *out = s;
    return true;
  }
  if (tc.HasTerminated() || isolate->IsExecutionTerminating()) return false;
  *out = v8::String::NewFromUtf8Literal(isolate, "<error>");
  return true;
}

// Calls a captured CallSite method on `site`; empty when it threw (or execution terminates).
v8::MaybeLocal<v8::Value> CallSiteMethod(v8::Isolate* isolate, v8::Local<v8::Context> ctx,
                                         const v8::Global<v8::Function>& fn,
                                         v8::Local<v8::Value> site) {
  return fn.Get(isolate)->Call(ctx, site, 0, nullptr);
}

// `frame` (a CallSite's serialisation, which ends with "name:line:column", then ")" when the
// frame names a function) with line and column replaced; `frame` itself when they are not there.
v8::Local<v8::String> ReplacePosition(v8::Isolate* isolate, v8::Local<v8::String> frame,
                                      uint32_t line, uint32_t column, uint32_t new_line,
                                      uint32_t new_column) {
  const int length = frame->Length();
  std::u16string text(static_cast<size_t>(length), u'\0');
  frame->WriteV2(isolate, 0, static_cast<uint32_t>(length),
                 reinterpret_cast<uint16_t*>(text.data()));
  auto digits = [](uint32_t n) {
    std::u16string s;
    do {
      s.insert(s.begin(), static_cast<char16_t>(u'0' + n % 10));
      n /= 10;
    } while (n != 0);
    return s;
  };
  const std::u16string old_pos = u":" + digits(line) + u":" + digits(column);
  size_t end = text.size();
  if (end > 0 && text[end - 1] == u')') end--;
  if (end < old_pos.size() || text.compare(end - old_pos.size(), old_pos.size(), old_pos) != 0) {
    return frame;
  }
  const std::u16string new_pos = u":" + digits(new_line) + u":" + digits(new_column);
  text.replace(end - old_pos.size(), old_pos.size(), new_pos);
  v8::Local<v8::String> replaced;
  if (!v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(text.data()),
                                  v8::NewStringType::kNormal, static_cast<int>(text.size()))
           .ToLocal(&replaced)) {
    return frame;
  }
  return replaced;
}

// "\n    at ": what V8's default format puts before each frame.
constexpr size_t kAtLength = 8;

// The first line(s) of V8's own default format of `error`'s stack: V8 writes it from the message
// the error was constructed with (kept where the API cannot read it), not from its `message`
// property. Reading `stack` while this callback runs makes V8 format it by default (it never
// calls back meanwhile; the answer of this callback then replaces that format): its text less
// the frames (`frames_length`: every frame's "\n    at " and serialisation) is the header.
// *headed is false, and nothing is set, when the text is not that (a tenant's `stack` getter
// answered instead); false only when execution terminates.
bool DefaultHeader(stk_isolate* iso, v8::Local<v8::Context> ctx, v8::Local<v8::Value> error,
                   size_t frames_length, v8::Local<v8::String>* out, bool* headed) {
  v8::Isolate* isolate = iso->isolate;
  *headed = false;
  if (!error->IsObject()) return true;
  v8::TryCatch tc(isolate);
  v8::Local<v8::Value> formatted;
  if (!error.As<v8::Object>()
           ->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "stack"))
           .ToLocal(&formatted)) {
    return !(tc.HasTerminated() || isolate->IsExecutionTerminating());
  }
  if (!formatted->IsString()) return true;
  v8::Local<v8::String> text = formatted.As<v8::String>();
  const size_t length = static_cast<size_t>(text->Length());
  if (length < frames_length) return true;
  const size_t header_length = length - frames_length;
  // The header and, when there are frames, the "\n    at " that must follow it.
  const size_t read = header_length + (frames_length > 0 ? kAtLength : 0);
  std::u16string chars(read, u'\0');
  text->WriteV2(isolate, 0, static_cast<uint32_t>(read), reinterpret_cast<uint16_t*>(chars.data()));
  if (frames_length > 0 && chars.compare(header_length, kAtLength, u"\n    at ") != 0) return true;
  v8::Local<v8::String> header;
  if (!v8::String::NewFromTwoByte(isolate, reinterpret_cast<const uint16_t*>(chars.data()),
                                  v8::NewStringType::kNormal, static_cast<int>(header_length))
           .ToLocal(&header)) {
    return true;
  }
  *out = header;
  *headed = true;
  return true;
}

}  // namespace

constinit thread_local stk_isolate* tl_current = nullptr;

// V8 calls this the first time an error's `stack` is read (or Error.captureStackTrace's target's),
// with the CallSites it captured. See the guarantee at the top of this file.
v8::MaybeLocal<v8::Value> PrepareStackTrace(v8::Local<v8::Context> ctx, v8::Local<v8::Value> error,
                                            v8::Local<v8::Array> sites) {
  v8::Isolate* isolate = ctx->GetIsolate();
  stk_isolate* iso = From(isolate);
  v8::EscapableHandleScope scope(isolate);
  if (!iso || iso->error_to_string.IsEmpty() || iso->error_function.IsEmpty()) {
    return scope.Escape(v8::String::Empty(isolate));  // not a tenant isolate: nothing to format
  }
  const uint32_t count = sites->Length();
  if (count > 0) {
    v8::Local<v8::Value> first;
    if (!sites->Get(ctx, 0).ToLocal(&first)) return {};
    if (!CaptureSiteMethods(iso, ctx, first)) {
      isolate->ThrowException(v8::Exception::Error(
          v8::String::NewFromUtf8Literal(isolate, "the stack trace cannot be formatted")));
      return {};
    }
  }
  // Every frame V8 captured, with its script's name (empty: none, a builtin's frame).
  struct Frame {
    v8::Local<v8::Value> site;
    std::string script;
    bool runtime;
  };
  std::vector<Frame> frames;
  frames.reserve(count);
  std::vector<v8::Local<v8::Value>> kept;  // the tenant's CallSites
  kept.reserve(count);
  for (uint32_t i = 0; i < count; i++) {
    v8::Local<v8::Value> site;
    v8::Local<v8::Value> script;
    if (!sites->Get(ctx, i).ToLocal(&site) ||
        !CallSiteMethod(isolate, ctx, iso->site_script, site).ToLocal(&script)) {
      return {};  // execution terminates (CallSite's own methods do not throw on CallSites)
    }
    std::string name = script->IsString() ? Utf8(isolate, script) : std::string();
    const bool runtime = IsRuntimeScript(iso, name);
    if (!runtime) kept.push_back(site);
    frames.push_back(Frame{site, std::move(name), runtime});
  }

  // A prepareStackTrace the tenant (or the runtime) set on %Error% gets the tenant's CallSites,
  // and what it answers is the stack, as in V8 without this callback. (V8 never calls this
  // callback again while it runs: a stack read meanwhile gets V8's own default format.)
  {
    v8::Local<v8::Function> error_function = iso->error_function.Get(isolate);
    v8::Local<v8::Value> prepare;
    if (!error_function->Get(ctx, v8::String::NewFromUtf8Literal(isolate, "prepareStackTrace"))
             .ToLocal(&prepare)) {
      return {};
    }
    if (prepare->IsFunction()) {
      v8::Local<v8::Value> argv[2] = {error, v8::Array::New(isolate, kept.data(), kept.size())};
      v8::Local<v8::Value> result;
      if (!prepare.As<v8::Function>()->Call(ctx, error_function, 2, argv).ToLocal(&result)) {
        return {};
      }
      return scope.Escape(result);
    }
  }

  // Each frame as V8 serialises it ("<error>" when that throws, as V8's default does).
  std::vector<v8::Local<v8::String>> texts;
  texts.reserve(count);
  size_t frames_length = 0;  // of "\n    at " and the text, for every frame
  for (const Frame& frame : frames) {
    v8::TryCatch tc(isolate);
    v8::Local<v8::Value> text;
    if (CallSiteMethod(isolate, ctx, iso->site_to_string, frame.site).ToLocal(&text) &&
        text->IsString()) {
      texts.push_back(text.As<v8::String>());
    } else if (tc.HasTerminated() || isolate->IsExecutionTerminating()) {
      return {};
    } else {
      texts.push_back(v8::String::NewFromUtf8Literal(isolate, "<error>"));
    }
    frames_length += kAtLength + static_cast<size_t>(texts.back()->Length());
  }

  v8::Local<v8::String> stack;
  bool headed = false;
  if (!DefaultHeader(iso, ctx, error, frames_length, &stack, &headed)) return {};
  if (!headed && !AppendErrorString(iso, ctx, error, &stack)) return {};
  v8::Local<v8::String> at = v8::String::NewFromUtf8Literal(isolate, "\n    at ");
  for (size_t i = 0; i < frames.size(); i++) {
    if (frames[i].runtime) continue;
    v8::EscapableHandleScope frame_scope(isolate);
    v8::Local<v8::Value> site = frames[i].site;
    v8::Local<v8::String> frame = texts[i];
    const std::string& name = frames[i].script;
    if (!name.empty() && iso->host.map_position) {
      v8::Local<v8::Value> line_value;
      v8::Local<v8::Value> column_value;
      if (!CallSiteMethod(isolate, ctx, iso->site_line, site).ToLocal(&line_value) ||
          !CallSiteMethod(isolate, ctx, iso->site_column, site).ToLocal(&column_value)) {
        return {};
      }
      if (line_value->IsUint32() && column_value->IsUint32()) {
        const uint32_t line = line_value.As<v8::Uint32>()->Value();
        const uint32_t column = column_value.As<v8::Uint32>()->Value();
        uint32_t new_line = line;
        uint32_t new_column = column;
        if (iso->host.map_position(iso->host.userdata,
                                   reinterpret_cast<const uint8_t*>(name.data()), name.size(),
                                   &new_line, &new_column) == 1 &&
            (new_line != line || new_column != column)) {
          frame = ReplacePosition(isolate, frame, line, column, new_line, new_column);
        }
      }
    }
    v8::Local<v8::String> joined = v8::String::Concat(isolate, stack, at);
    if (!joined.IsEmpty()) joined = v8::String::Concat(isolate, joined, frame);
    if (joined.IsEmpty()) {
      isolate->ThrowException(v8::Exception::RangeError(
          v8::String::NewFromUtf8Literal(isolate, "Invalid string length")));
      return {};
    }
    // Into the outer scope: the per-frame scope closes on each round.
    stack = frame_scope.Escape(joined);
  }
  return scope.Escape(stack);
}

// V8 reports a promise rejected while it has no handler, and a handler added to such a promise
// later. Both are recorded for DispatchRejections; a handler added before the dispatch cancels
// the record (HTML's "about-to-be-notified rejected promises" list), so a rejection handled
// within the same checkpoint (an `await` of a rejected promise, say) fires nothing.
void OnPromiseReject(v8::PromiseRejectMessage message) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  stk_isolate* iso = isolate ? From(isolate) : nullptr;
  if (!iso || iso->rejection_dispatch.IsEmpty()) return;  // the snapshot creator's shim
  v8::HandleScope handles(isolate);
  v8::Local<v8::Promise> promise = message.GetPromise();
  const bool handled = message.GetEvent() == v8::kPromiseHandlerAddedAfterReject;
  if (handled) {
    const int hash = promise->GetIdentityHash();
    for (size_t i = iso->rejections.size(); i-- > 0;) {
      stk_isolate::Rejection& r = iso->rejections[i];
      if (!r.handled && r.hash == hash && r.promise.Get(isolate) == promise) {
        iso->rejections.erase(iso->rejections.begin() + static_cast<std::ptrdiff_t>(i));
        return;
      }
    }
  } else if (message.GetEvent() != v8::kPromiseRejectWithNoHandler) {
    return;  // a resolve or reject after resolution: nothing the web reports
  }
  if (iso->rejections.size() >= kMaxRejections) {
    if (!handled) iso->rejections_dropped++;
    return;
  }
  stk_isolate::Rejection& r = iso->rejections.emplace_back();
  r.hash = promise->GetIdentityHash();
  r.handled = handled;
  r.promise.Reset(isolate, promise);
  if (!handled) r.reason.Reset(isolate, message.GetValue());
  r.context.Reset(isolate, isolate->GetContinuationPreservedEmbedderData());
}

bool DispatchRejections(stk_isolate* iso, v8::Local<v8::Context> ctx) {
  v8::Isolate* isolate = iso->isolate;
  if (iso->rejection_dispatch.IsEmpty()) return true;
  v8::Local<v8::Value> saved = isolate->GetContinuationPreservedEmbedderData();
  for (int round = 0; round < kMaxRejectionRounds; round++) {
    if (iso->rejections.empty() && iso->rejections_dropped == 0) break;
    std::vector<stk_isolate::Rejection> batch;
    batch.swap(iso->rejections);
    const uint32_t dropped = iso->rejections_dropped;
    iso->rejections_dropped = 0;
    v8::Local<v8::Function> dispatch = iso->rejection_dispatch.Get(isolate);
    auto call = [&](int32_t kind, v8::Local<v8::Value> promise, v8::Local<v8::Value> reason) {
      v8::TryCatch tc(isolate);
      v8::Local<v8::Value> argv[3] = {v8::Integer::New(isolate, kind), promise, reason};
      v8::Local<v8::Value> ignored;
      // The dispatch catches what listeners throw; it fails only when execution terminates.
      const bool ran = dispatch->Call(ctx, v8::Undefined(isolate), 3, argv).ToLocal(&ignored);
      return ran || !(tc.HasTerminated() || isolate->IsExecutionTerminating());
    };
    for (stk_isolate::Rejection& r : batch) {
      v8::HandleScope handles(isolate);
      v8::Local<v8::Promise> promise = r.promise.Get(isolate);
      if (!r.handled && IsInvocation(iso, promise)) continue;
      // The event runs as the code that rejected (or handled) the promise: its console lines
      // and timers are that task's.
      isolate->SetContinuationPreservedEmbedderData(r.context.Get(isolate));
      // rejectionhandled carries the reason too (the promise's result: it stays rejected).
      v8::Local<v8::Value> reason = !r.reason.IsEmpty() ? r.reason.Get(isolate)
                                    : promise->State() == v8::Promise::kRejected
                                        ? promise->Result()
                                        : v8::Undefined(isolate).As<v8::Value>();
      if (!call(r.handled ? 1 : 0, promise, reason)) {
        isolate->SetContinuationPreservedEmbedderData(saved);
        return false;
      }
    }
    isolate->SetContinuationPreservedEmbedderData(saved);
    if (dropped > 0 &&
        !call(2, v8::Undefined(isolate), v8::Integer::NewFromUnsigned(isolate, dropped))) {
      return false;
    }
    isolate->PerformMicrotaskCheckpoint();
    if (isolate->IsExecutionTerminating()) return false;
  }
  return true;
}

// The first read of the global `WebAssembly` in a tenant context: runs the shared-memory guard on
// the namespace (its data) and answers it; V8 then keeps the answer as a plain data property. If
// the guard cannot run, WebAssembly is not handed out at all.
void GuardedWebAssembly(v8::Local<v8::Name>, const v8::PropertyCallbackInfo<v8::Value>& info) {
  v8::Isolate* isolate = info.GetIsolate();
  stk_isolate* iso = From(isolate);
  v8::Local<v8::Value> wasm = info.Data();
  if (iso->wasm_guard.IsEmpty()) {
    isolate->ThrowException(v8::Exception::Error(
        v8::String::NewFromUtf8Literal(isolate, "WebAssembly is unavailable")));
    return;
  }
  v8::Local<v8::Value> ignored;
  if (!iso->wasm_guard.Get(isolate)
           ->Call(isolate->GetCurrentContext(), v8::Undefined(isolate), 1, &wasm)
           .ToLocal(&ignored)) {
    return;  // the guard threw, or execution is terminating: that propagates
  }
  info.GetReturnValue().Set(wasm);
}

// V8 calls this when a full GC leaves the old generation at its limit (or after repeated
// ineffective GCs near it). The first call terminates execution and grants kHeapTerminationMargin
// once; a later call means the terminated isolate kept allocating past the margin without
// running JavaScript (a builtin V8 cannot interrupt): returning the same limit makes V8 end the
// process (OnOutOfMemory reports it), because V8 offers no "fail this allocation" answer and
// raising again would let one tenant take unbounded memory.
size_t NearHeapLimit(void* data, size_t current, size_t initial) {
  stk_isolate* iso = static_cast<stk_isolate*>(data);
  iso->limits.fetch_or(STK_LIMIT_HEAP);
  iso->isolate->TerminateExecution();
  if (iso->heap_margin_granted) return current;
  iso->heap_margin_granted = true;
  return current + kHeapTerminationMargin;
}

// V8 is about to abort the process for lack of memory. Say which isolate and why, in one line the
// supervisor's log keeps; V8 prints its own report and aborts after this returns, unless a
// terminated isolate caused it and the embedder asked for an exit status instead (a worker
// process: its supervisor reads the status as that request's memory limit).
void OnOutOfMemory(const char* location, const v8::OOMDetails& details) {
  const stk_isolate* iso = tl_current;
  char line[512];
  int n = snprintf(line, sizeof line,
                   "stockade: V8 out of memory (%s%s%s) in isolate %llu: %s\n",
                   location ? location : "?", details.detail ? ": " : "",
                   details.detail ? details.detail : "",
                   iso ? static_cast<unsigned long long>(iso->owner) : 0ULL,
                   iso && iso->heap_margin_granted
                       ? "a terminated isolate kept allocating past its heap limit plus the "
                         "termination margin inside an operation V8 cannot interrupt"
                       : "the process ran out of memory");
  if (n > 0) {
    ssize_t ignored = write(2, line, static_cast<size_t>(n) < sizeof line ? n : sizeof line - 1);
    (void)ignored;
  }
  const int32_t code = g_oom_exit.load();
  if (code != 0 && iso && iso->heap_margin_granted) {
    if (void (*hook)(uint64_t) = g_limit_exit_hook.load()) hook(iso->entry_tag);
    _exit(code);
  }
}

v8::ModifyCodeGenerationFromStringsResult RefuseCodegen(v8::Local<v8::Context>,
                                                        v8::Local<v8::Value>, bool) {
  return {};  // codegen_allowed = false: eval and new Function throw EvalError
}

// V8 asks before every WebAssembly compilation from bytes (WebAssembly.compile, instantiate,
// new WebAssembly.Module, however the code reached the namespace): the attempt is observed.
bool AllowWasm(v8::Local<v8::Context> context, v8::Local<v8::String>) {
  stk_isolate* iso = From(context->GetIsolate());
  iso->observed |= STK_OBSERVED_WASM;
  return iso->allow_wasm;
}

}  // namespace stockade::bridge

using namespace stockade::bridge;

extern "C" {

void stk_engine_set_oom_exit(int32_t code) { g_oom_exit.store(code); }

void stk_engine_set_limit_exit_hook(void (*hook)(uint64_t)) { g_limit_exit_hook.store(hook); }

void stk_set_entry_tag(stk_isolate* iso, uint64_t tag) { iso->entry_tag = tag; }

}  // extern "C"
