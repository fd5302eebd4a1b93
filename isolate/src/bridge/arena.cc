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
  for (const auto& [start, size] : large_) Unmap(start, size);
  for (const auto& [size, blocks] : cached_) {
    for (void* block : blocks) Unmap(block, size);
  }
}

size_t ArenaAllocator::LargeSize(size_t length, size_t page) {
  const size_t pages = length / page + (length % page != 0);
  if (pages <= 4 || pages * page > kMaxCached) return pages * page;
  size_t top = 4;  // the highest power of two at most `pages`, at least 4
  while (top <= pages / 2) top <<= 1;
  const size_t step = top / 4;
  return (pages + step - 1) / step * step * page;
}

void ArenaAllocator::Unmap(void* start, size_t size) {
  Registry().Remove(reinterpret_cast<uintptr_t>(start), size);
  munmap(start, size);
}

void ArenaAllocator::FitCache() {
  for (auto it = cached_.begin(); it != cached_.end() && cached_bytes_ > 0;) {
    const size_t used = used_.load();
    if (used <= budget_ && cached_bytes_ <= budget_ - used) return;
    if (it->second.empty()) {
      it = cached_.erase(it);
      continue;
    }
    Unmap(it->second.back(), it->first);
    it->second.pop_back();
    cached_bytes_ -= it->first;
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
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  if (length <= kMaxSmall) {
    p = TakeSmall(ClassOf(length), zero);
  } else if (length <= SIZE_MAX - page_) {
    p = TakeLarge(LargeSize(length, page_), length, zero);
  }
  if (!p) used_.fetch_sub(length);
  // After the take: a recycled block leaves the cache first (the budget is passed for at most
  // this moment when the store is freshly mapped).
  FitCache();
  return p;
}

bool ArenaAllocator::Charge(size_t length) {
  if (!Reserve(length)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  FitCache();
  return true;
}

void* ArenaAllocator::TakeLarge(size_t size, size_t length, bool zero) {
  void* p = nullptr;
  auto cached = cached_.find(size);
  if (cached != cached_.end() && !cached->second.empty()) {
    p = cached->second.back();
    cached->second.pop_back();
    cached_bytes_ -= size;
    if (zero) memset(p, 0, length);  // recycled: holds a dead store of this same isolate
  } else {
    p = MapTagged(size);  // fresh pages: already zero
    if (!p) return nullptr;
    large_maps_.fetch_add(1, std::memory_order_relaxed);
  }
  large_[p] = size;
  return p;
}

void ArenaAllocator::Free(void* data, size_t length) {
  if (!data) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = large_.find(data);
  if (it != large_.end()) {
    const size_t size = it->second;
    large_.erase(it);
    used_.fetch_sub(length);
    if (size <= kMaxCached && cached_bytes_ + size <= kCacheBytes) {
      cached_[size].push_back(data);
      cached_bytes_ += size;
      FitCache();  // within what the live stores leave of the budget
    } else {
      Unmap(data, size);
    }
  } else if (length <= kMaxSmall) {
    free_[ClassOf(length)].push_back(data);
    used_.fetch_sub(length);
  }
  // Else not ours: V8 never does this; leaking beats corrupting the free lists.
}

std::vector<std::pair<void*, size_t>> ArenaAllocator::TakeCache() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<void*, size_t>> blocks;
  for (const auto& [size, list] : cached_) {
    for (void* block : list) blocks.emplace_back(block, size);
  }
  cached_.clear();
  cached_bytes_ = 0;
  return blocks;
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

size_t ReleaseArenaCaches() {
  std::vector<std::pair<void*, size_t>> blocks;
  {
    // Mu() before an arena's own lock, as everywhere; an arena unregisters under Mu() before it
    // is destroyed, so each one seen here lives while its blocks are taken. The blocks taken are
    // nobody's from then on: they are unmapped outside both locks.
    std::lock_guard<std::mutex> lock(Mu());
    for (const auto& [owner, arena] : Arenas()) {
      auto taken = arena->TakeCache();
      blocks.insert(blocks.end(), taken.begin(), taken.end());
    }
  }
  size_t released = 0;
  for (const auto& [start, size] : blocks) {
    ArenaAllocator::Unmap(start, size);
    released += size;
  }
  return released;
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
