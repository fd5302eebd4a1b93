// ArrayBuffer backing stores of one isolate (ArenaAllocator) and the WebAssembly memory budget
// (wasm_budget), from memory tagged with the isolate's key; see memory.h for the contract.
//
// Guarantees: as memory.h states for ArenaAllocator and wasm_budget. Trusts: the page tagging
// and registry of memory.cc.

#include <sys/mman.h>

#include <cstring>

#include "bridge.h"
#include "memory.h"

namespace stockade {

// ---- ArenaAllocator ----

ArenaAllocator::ArenaAllocator(size_t budget, std::atomic<uint32_t>* limits, int key,
                               uint64_t owner)
    : budget_(budget), limits_(limits), key_(key), owner_(owner) {
  wasm_budget::Register(owner_, this);
}

ArenaAllocator::~ArenaAllocator() {
  wasm_budget::Unregister(owner_);
  for (void* chunk : chunks_) {
    Registry().Remove(reinterpret_cast<uintptr_t>(chunk), kChunk);
    munmap(chunk, kChunk);
  }
  for (const auto& [start, size] : large_) {
    Registry().Remove(reinterpret_cast<uintptr_t>(start), size);
    munmap(start, size);
  }
}

int ArenaAllocator::ClassOf(size_t length) {
  int cls = 0;
  size_t size = kMinSmall;
  while (size < length) {
    size <<= 1;
    cls++;
  }
  return cls;
}

bool ArenaAllocator::Reserve(size_t length) {
  size_t now = used_.load();
  do {
    if (length > budget_ || now > budget_ - length) {
      limits_->fetch_or(STK_LIMIT_EXTERNAL);
      return false;
    }
  } while (!used_.compare_exchange_weak(now, now + length));
  return true;
}

void* ArenaAllocator::MapTagged(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (TagPages(p, size, PROT_READ | PROT_WRITE, key_) != 0) {
    munmap(p, size);
    return nullptr;
  }
  Registry().Add(reinterpret_cast<uintptr_t>(p), size, key_, owner_);
  return p;
}

void* ArenaAllocator::TakeSmall(int cls, bool zero) {
  const size_t size = kMinSmall << cls;
  if (!free_[cls].empty()) {
    void* p = free_[cls].back();
    free_[cls].pop_back();
    if (zero) memset(p, 0, size);  // recycled: holds a dead buffer of the same isolate
    return p;
  }
  if (bump_end_ - bump_ < size) {
    void* chunk = MapTagged(kChunk);
    if (!chunk) return nullptr;
    chunks_.push_back(chunk);
    bump_ = reinterpret_cast<uintptr_t>(chunk);
    bump_end_ = bump_ + kChunk;
  }
  void* p = reinterpret_cast<void*>(bump_);  // fresh pages: already zero
  bump_ += size;
  return p;
}

void* ArenaAllocator::Take(size_t length, bool zero) {
  if (!Reserve(length)) return nullptr;
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (length <= kMaxSmall) {
      p = TakeSmall(ClassOf(length), zero);
    } else if (length <= SIZE_MAX - page_) {
      const size_t size = (length + page_ - 1) & ~(page_ - 1);
      p = MapTagged(size);  // fresh pages: already zero
      if (p) large_[p] = size;
    }
  }
  if (!p) used_.fetch_sub(length);
  return p;
}

void ArenaAllocator::Free(void* data, size_t length) {
  if (!data) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = large_.find(data);
    if (it != large_.end()) {
      Registry().Remove(reinterpret_cast<uintptr_t>(data), it->second);
      munmap(data, it->second);
      large_.erase(it);
    } else if (length <= kMaxSmall) {
      free_[ClassOf(length)].push_back(data);
    } else {
      return;  // not ours: V8 never does this; leaking beats corrupting the free lists
    }
  }
  used_.fetch_sub(length);
}

size_t ArenaAllocator::mapped() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t total = chunks_.size() * kChunk;
  for (const auto& [start, size] : large_) total += size;
  return total;
}

// ---- wasm_budget ----

namespace wasm_budget {
namespace {
struct Charged {
  size_t size;
  uint64_t owner;
};
std::mutex& Mu() {
  static std::mutex* mu = new std::mutex();  // never destroyed: V8 outlives statics
  return *mu;
}
std::unordered_map<uint64_t, ArenaAllocator*>& Arenas() {
  static auto* arenas = new std::unordered_map<uint64_t, ArenaAllocator*>();
  return *arenas;
}
std::unordered_map<uintptr_t, Charged>& Reservations() {
  static auto* reservations = new std::unordered_map<uintptr_t, Charged>();
  return *reservations;
}
}  // namespace

void Register(uint64_t owner, ArenaAllocator* arena) {
  std::lock_guard<std::mutex> lock(Mu());
  Arenas()[owner] = arena;
}

void Unregister(uint64_t owner) {
  std::lock_guard<std::mutex> lock(Mu());
  Arenas().erase(owner);
}

bool ChargeReservation(uintptr_t start, size_t size, uint64_t owner) {
  std::lock_guard<std::mutex> lock(Mu());
  auto arena = Arenas().find(owner);
  if (arena == Arenas().end()) return true;  // no budget known (engine-level): not tenant memory
  if (!arena->second->Charge(size)) return false;
  Reservations()[start] = Charged{size, owner};
  return true;
}

void CreditReservation(uintptr_t start) {
  std::lock_guard<std::mutex> lock(Mu());
  auto it = Reservations().find(start);
  if (it == Reservations().end()) return;
  auto arena = Arenas().find(it->second.owner);
  if (arena != Arenas().end()) arena->second->Credit(it->second.size);
  Reservations().erase(it);
}
}  // namespace wasm_budget

}  // namespace stockade
