// What Debian's V8 13.6 takes by itself, with none of Stockade: the floor under issue 8's cold
// and idle-isolate goals. V8's own snapshot, its default ArrayBuffer allocator and page
// allocator, the single-threaded platform Stockade's workers use.
//
//   cold: Isolate::New + Context::New + compile and run `(() => 'hello')()` + Dispose, N times
//         after 50 to warm up; the median and the mean of the cycles, in microseconds, the
//         median of each phase (Isolate::New; Context::New and the script; Dispose), and the
//         process's user and system CPU per cycle (getrusage over the N cycles);
//   idle: M isolates, each with a context that ran the same script, kept alive (one more is
//         made first, as Stockade's bench does, so the shared read-only heap is mapped before
//         measuring); RSS per idle isolate (VmRSS after minus before, over M) and V8's used heap
//         per isolate.
//
//   bash benches/v8-repro/run.sh --floor [N] [M]     (defaults 1000 and 200)

#include "bare_v8.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sys/resource.h>
#include <memory>
#include <string>
#include <vector>

namespace {

long RssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

// A context that ran the hello script; returns it so the caller may keep it.
v8::Global<v8::Context> Hello(v8::Isolate* isolate) {
  v8::Isolate::Scope scope(isolate);
  v8::HandleScope handles(isolate);
  v8::Local<v8::Context> context = v8::Context::New(isolate);
  v8::Context::Scope in(context);
  v8::Local<v8::String> source =
      v8::String::NewFromUtf8Literal(isolate, "(() => 'hello')()");
  v8::Local<v8::Script> script = v8::Script::Compile(context, source).ToLocalChecked();
  v8::Local<v8::Value> result = script->Run(context).ToLocalChecked();
  if (!result->IsString()) std::abort();
  return v8::Global<v8::Context>(isolate, context);
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 1000;
  const int m = argc > 2 ? std::atoi(argv[2]) : 200;
  BareV8 v8 = StartBareV8();
  v8::Isolate::CreateParams& params = v8.params;

  using Clock = std::chrono::steady_clock;
  auto us = [](Clock::time_point a, Clock::time_point b) {
    return std::chrono::duration<double, std::micro>(b - a).count();
  };
  auto cpu = []() {
    rusage r{};
    getrusage(RUSAGE_SELF, &r);
    return std::pair<double, double>(r.ru_utime.tv_sec * 1e6 + r.ru_utime.tv_usec,
                                     r.ru_stime.tv_sec * 1e6 + r.ru_stime.tv_usec);
  };
  std::vector<double> cycles, create, context, dispose;
  std::pair<double, double> cpu_start;
  for (int i = 0; i < n + 50; i++) {
    if (i == 50) cpu_start = cpu();
    auto start = Clock::now();
    v8::Isolate* isolate = v8::Isolate::New(params);
    auto created = Clock::now();
    Hello(isolate).Reset();
    auto ran = Clock::now();
    DisposeIsolate(v8, isolate);
    auto end = Clock::now();
    if (i >= 50) {
      cycles.push_back(us(start, end));
      create.push_back(us(start, created));
      context.push_back(us(created, ran));
      dispose.push_back(us(ran, end));
    }
  }
  auto cpu_end = cpu();
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  double mean = 0;
  for (double c : cycles) mean += c;
  mean /= cycles.size();
  std::sort(cycles.begin(), cycles.end());
  std::printf("%s, bare: cold (isolate + context + hello + dispose) median %.0f us, mean %.0f us over %d\n",
              v8::V8::GetVersion(), cycles[cycles.size() / 2], mean, n);
  std::printf("phases (medians): Isolate::New %.0f us, Context::New + hello %.0f us, Dispose %.0f us; "
              "CPU per cycle: user %.0f us, system %.0f us\n",
              median(create), median(context), median(dispose),
              (cpu_end.first - cpu_start.first) / n, (cpu_end.second - cpu_start.second) / n);

  v8::Isolate* first = v8::Isolate::New(params);
  v8::Global<v8::Context> first_context = Hello(first);
  const long before = RssKib();
  std::vector<std::pair<v8::Isolate*, v8::Global<v8::Context>>> idle;
  for (int i = 0; i < m; i++) {
    v8::Isolate* isolate = v8::Isolate::New(params);
    idle.emplace_back(isolate, Hello(isolate));
  }
  const long after = RssKib();
  double used = 0;
  for (auto& [isolate, context] : idle) {
    v8::HeapStatistics stats;
    isolate->GetHeapStatistics(&stats);
    used += static_cast<double>(stats.used_heap_size());
  }
  std::printf("idle isolates: %d, RSS per idle isolate %.3f MiB, V8 used heap per isolate %.3f MiB\n",
              m, (after - before) / 1024.0 / m, used / m / 1048576.0);
  for (auto& [isolate, context] : idle) {
    context.Reset();
    DisposeIsolate(v8, isolate);
  }
  first_context.Reset();
  DisposeIsolate(v8, first);
  return 0;
}
