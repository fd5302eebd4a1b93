// Minimal reproduction, outside Stockade, of V8 13.6 (Debian's libnode137) growing by about
// 450 bytes per isolate created while another isolate lives: bare V8, V8's own startup snapshot,
// no Stockade code. See README.md's load section (issue 9) for the numbers and the cause.
//
//   bash benches/v8-repro/run.sh [N] [--hold] [--no-context]
//
// Creates N isolates one after another (each with a context unless --no-context), disposing each
// before the next, and prints the process's resident anonymous memory every N/5 isolates. With
// --hold a first isolate lives through the run (as Stockade's anchor isolate, a worker's spare
// isolates and its Loader isolates do); without it, no isolate outlives its iteration.
// Trusts: nothing; a measuring tool.

#include "bare_v8.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>

namespace {

// Resident KiB of anonymous mappings (no file, not [heap]/[stack]) from /proc/self/smaps.
long AnonRssKib() {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool anon = false;
  long total = 0;
  while (std::getline(smaps, line)) {
    if (line.find('-') != std::string::npos && line.find(':') > line.find(' ')) {
      // A mapping header: "start-end perms offset dev inode [name]".
      size_t fields = 0;
      bool in_field = false;
      for (char c : line) {
        if (c != ' ' && !in_field) fields++;
        in_field = c != ' ';
      }
      anon = fields == 5;
    } else if (anon && line.rfind("Rss:", 0) == 0) {
      total += std::atol(line.c_str() + 4);
    }
  }
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  int n = argc > 1 ? std::atoi(argv[1]) : 5000;
  bool hold = false, context = true;
  for (int i = 2; i < argc; i++) {
    if (!std::strcmp(argv[i], "--hold")) hold = true;
    if (!std::strcmp(argv[i], "--no-context")) context = false;
  }
  BareV8 v8 = StartBareV8();
  v8::Isolate::CreateParams& params = v8.params;
  v8::Isolate* held = hold ? v8::Isolate::New(params) : nullptr;
  std::printf("%s%s, %s\n", v8::V8::GetVersion(), hold ? ", one isolate held" : "",
              context ? "a context per isolate" : "no context");
  for (int i = 0; i <= n; i++) {
    if (i % (n / 5 > 0 ? n / 5 : 1) == 0) std::printf("%7d isolates: anonymous RSS %ld KiB\n", i, AnonRssKib());
    if (i == n) break;
    v8::Isolate* isolate = v8::Isolate::New(params);
    if (context) {
      v8::Isolate::Scope scope(isolate);
      v8::HandleScope handles(isolate);
      v8::Context::New(isolate);
    }
    DisposeIsolate(v8, isolate);
  }
  if (held) {
    DisposeIsolate(v8, held);
  }
  return 0;
}
