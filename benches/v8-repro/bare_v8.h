// The bare V8 the repro programs start, with nothing of Stockade: the single-threaded platform
// Stockade's workers use, V8's own startup snapshot, its default ArrayBuffer allocator.
// Trusts: nothing; a measuring tool.

#pragma once

#include <libplatform/libplatform.h>
#include <v8.h>

#include <memory>

struct BareV8 {
  std::unique_ptr<v8::Platform> platform;
  std::unique_ptr<v8::ArrayBuffer::Allocator> buffers;
  v8::Isolate::CreateParams params;
};

// Initialises V8 once per process; `params` creates isolates on V8's own snapshot.
inline BareV8 StartBareV8() {
  const char flags[] = "--single-threaded";
  v8::V8::SetFlagsFromString(flags, sizeof(flags) - 1);
  BareV8 v8;
  v8.platform = v8::platform::NewSingleThreadedDefaultPlatform();
  v8::V8::InitializePlatform(v8.platform.get());
  v8::V8::Initialize();
  v8.buffers.reset(v8::ArrayBuffer::Allocator::NewDefaultAllocator());
  v8.params.array_buffer_allocator = v8.buffers.get();
  return v8;
}

// Disposes `isolate` and lets the platform forget it.
inline void DisposeIsolate(BareV8& v8, v8::Isolate* isolate) {
  isolate->Dispose();
  v8::platform::NotifyIsolateShutdown(v8.platform.get(), isolate);
}
