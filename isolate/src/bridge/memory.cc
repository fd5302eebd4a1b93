// The page allocator V8 takes every heap page from: tagging with protection keys, the range
// registry, and the pool of freed pages; see memory.h for the contract. ArrayBuffer stores and
// the WebAssembly budget are in arena.cc.

#include "memory.h"

#include <sys/mman.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "bridge.h"

namespace stockade {
namespace {

// The isolate this thread works for (see OwnerScope).
thread_local int tl_key = -1;
thread_local uint64_t tl_owner = kEngineOwner;
thread_local bool tl_active = false;

std::atomic<uint64_t> g_outside_scope{0};

int ToProt(v8::PageAllocator::Permission access) {
  switch (access) {
    case v8::PageAllocator::kNoAccess:
    case v8::PageAllocator::kNoAccessWillJitLater:
      return PROT_NONE;
    case v8::PageAllocator::kRead:
      return PROT_READ;
    case v8::PageAllocator::kReadWrite:
      return PROT_READ | PROT_WRITE;
    case v8::PageAllocator::kReadWriteExecute:
      return PROT_READ | PROT_WRITE | PROT_EXEC;
    case v8::PageAllocator::kReadExecute:
      return PROT_READ | PROT_EXEC;
  }
  return PROT_NONE;
}

// Whether this thread's PKRU lets it write pages under `key` (>= 0, so the CPU has protection
// keys: keys are allocated only then).
bool ThreadMayWrite(int key) {
#if defined(__x86_64__)
  uint32_t pkru;
  uint32_t edx;
  asm volatile("rdpkru" : "=a"(pkru), "=d"(edx) : "c"(0));
  return ((pkru >> (2 * key)) & 3u) == 0;
#else
  (void)key;
  return false;
#endif
}

// Every byte of a writable range of at most TaggingPageAllocator::kPoolMaxRange back to zero:
// resident pages are cleared in place (no fault for the next owner); the others are dropped
// (they read as zeroes unless swapped out, which the drop also covers).
bool Zero(void* address, size_t size, size_t page) {
  unsigned char resident[TaggingPageAllocator::kPoolMaxRange / 4096];
  const size_t pages = size / page;
  if (pages > sizeof(resident) || mincore(address, size, resident) != 0) {
    return madvise(address, size, MADV_DONTNEED) == 0;
  }
  size_t i = 0;
  while (i < pages) {
    const bool in = (resident[i] & 1) != 0;
    size_t j = i;
    while (j < pages && ((resident[j] & 1) != 0) == in) j++;
    char* from = static_cast<char*>(address) + i * page;
    if (in) {
      memset(from, 0, (j - i) * page);
    } else if (madvise(from, (j - i) * page, MADV_DONTNEED) != 0) {
      return false;
    }
    i = j;
  }
  return true;
}

}  // namespace

OwnerScope::OwnerScope(int key, uint64_t owner)
    : saved_key_(tl_key), saved_owner_(tl_owner), saved_active_(tl_active) {
  tl_key = key;
  tl_owner = owner;
  tl_active = true;
}

OwnerScope::~OwnerScope() {
  tl_key = saved_key_;
  tl_owner = saved_owner_;
  tl_active = saved_active_;
}

int TagPages(void* addr, size_t len, int prot, int key) {
  if (key < 0) return mprotect(addr, len, prot);
  return static_cast<int>(syscall(SYS_pkey_mprotect, addr, len, prot, key));
}

// ---- RangeRegistry ----

void RangeRegistry::Add(uintptr_t start, size_t size, int key, uint64_t owner) {
  std::lock_guard<std::mutex> lock(mu_);
  ranges_[start] = Entry{start + size, key, owner};
}

void RangeRegistry::Remove(uintptr_t start, size_t size) {
  const uintptr_t end = start + size;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ranges_.upper_bound(start);
  if (it != ranges_.begin()) --it;
  while (it != ranges_.end() && it->first < end) {
    const uintptr_t r_start = it->first;
    const Entry r = it->second;
    if (r.end <= start) {
      ++it;
      continue;
    }
    it = ranges_.erase(it);
    if (r_start < start) ranges_[r_start] = Entry{start, r.key, r.owner};
    if (r.end > end) ranges_[end] = Entry{r.end, r.key, r.owner};
  }
}

bool RangeRegistry::Find(uintptr_t address, OwnedRange* out) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ranges_.upper_bound(address);
  if (it == ranges_.begin()) return false;
  --it;
  if (address >= it->second.end) return false;
  *out = OwnedRange{it->first, it->second.end, it->second.key, it->second.owner};
  return true;
}

std::vector<OwnedRange> RangeRegistry::OwnedBy(uint64_t owner) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<OwnedRange> found;
  for (const auto& [start, r] : ranges_) {
    if (r.owner == owner) found.push_back(OwnedRange{start, r.end, r.key, r.owner});
  }
  return found;
}

size_t RangeRegistry::Size() {
  std::lock_guard<std::mutex> lock(mu_);
  return ranges_.size();
}

RangeRegistry& Registry() {
  static RangeRegistry* registry = new RangeRegistry();  // never destroyed: V8 outlives statics
  return *registry;
}

uint64_t PagesAllocatedOutsideScope() { return g_outside_scope.load(); }

// ---- TaggingPageAllocator ----

void* TaggingPageAllocator::AllocatePages(void* hint, size_t size, size_t alignment,
                                          Permission access) {
  if (!tl_active) g_outside_scope.fetch_add(1);
  if (void* pooled = TakePooled(size, alignment, access)) return pooled;
  if (alignment < page_) alignment = page_;
  const size_t request = size + alignment - page_;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS;
  if (access == kNoAccess || access == kNoAccessWillJitLater) flags |= MAP_NORESERVE;
  void* raw = mmap(hint, request, PROT_NONE, flags, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const uintptr_t base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (base + alignment - 1) & ~(alignment - 1);
  if (aligned > base) munmap(raw, aligned - base);
  const uintptr_t end = aligned + size;
  const uintptr_t raw_end = base + request;
  if (raw_end > end) munmap(reinterpret_cast<void*>(end), raw_end - end);
  void* result = reinterpret_cast<void*>(aligned);
  // WebAssembly code space (the only reservation V8 makes as kNoAccessWillJitLater) is
  // shared: V8's process-wide native-module cache hands byte-identical modules, compiled code
  // included, to every isolate that compiles them. Tagged with the first compiler's key, it
  // would fault in every other isolate; so it stays under key 0, owned by no isolate. It holds
  // code (write-protected: --wasm-write-protect-code-memory) and jump tables, no tenant data.
  const bool shared_code = access == kNoAccessWillJitLater;
  const int key = shared_code ? -1 : tl_key;
  const uint64_t owner = shared_code ? kSharedCodeOwner : tl_owner;
  // A WebAssembly memory reservation (see wasm_budget in memory.h) counts against its isolate.
  const bool wasm_memory = access == kNoAccess && alignment == wasm_budget::kWasmPageSize &&
                           owner != kEngineOwner && owner != kSharedCodeOwner;
  if (wasm_memory && !wasm_budget::ChargeReservation(aligned, size, owner)) {
    munmap(result, size);
    return nullptr;
  }
  // Tagged before V8 sees the address: no access can precede the key.
  if (TagPages(result, size, ToProt(access), key) != 0) {
    if (wasm_memory) wasm_budget::CreditReservation(aligned);
    munmap(result, size);
    return nullptr;
  }
  Registry().Add(aligned, size, key, owner);
  return result;
}

bool TaggingPageAllocator::FreePages(void* address, size_t size) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(address);
  wasm_budget::CreditReservation(start);
  // A page V8 shrank (ReleasePages) still has its released tail mapped behind it.
  size_t mapped = size;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    auto it = shrunk_.find(start);
    if (it != shrunk_.end()) {
      mapped = std::max(size, it->second);
      shrunk_.erase(it);
    }
  }
  if (Pool(address, size, mapped)) return true;
  Registry().Remove(start, size);
  return munmap(address, mapped) == 0;
}

// ---- The pool of freed heap pages (see the file comment in memory.h) ----

void* TaggingPageAllocator::TakePooled(size_t size, size_t alignment, Permission access) {
  // Pooled ranges start at a multiple of kPoolAlign, so any (power-of-two) alignment up to it
  // holds.
  if (size > kPoolMaxRange || alignment > kPoolAlign || access != kReadWrite) return nullptr;
  void* range = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    // Whole pages first: a page with a released tail (see ReleasePages) has most of its pages
    // to fault in again, which costs least where V8 touches few, its last requests of an
    // isolate's creation.
    for (int pass = 0; pass < 2 && !range; pass++) {
      for (size_t i = pool_.size(); i-- > 0;) {
        if (pool_[i].size != size || pool_[i].shrunk != (pass == 1)) continue;
        range = pool_[i].start;
        pool_.erase(pool_.begin() + static_cast<std::ptrdiff_t>(i));
        pool_bytes_ -= size;
        break;
      }
    }
  }
  if (!range) return nullptr;
  // Still its last owner's bytes (under key 0 and inaccessible since it was pooled, if it was
  // keyed; see Pool). Zeroed here, before V8 sees the address and so before anything of the new
  // owner can read it: after the tagging when this thread's PKRU opens the new key (one
  // page-table change), else (the thread's keys do not include the new one) under key 0 first,
  // then tagged.
  const int prot = ToProt(access);
  bool ready;
  if (tl_key < 0 || ThreadMayWrite(tl_key)) {
    ready = TagPages(range, size, prot, tl_key) == 0 && Zero(range, size, page_);
  } else {
    ready = TagPages(range, size, PROT_READ | PROT_WRITE, 0) == 0 && Zero(range, size, page_) &&
            TagPages(range, size, prot, tl_key) == 0;
  }
  if (!ready) {
    munmap(range, size);  // its contents go with it
    return nullptr;
  }
  Registry().Add(reinterpret_cast<uintptr_t>(range), size, tl_key, tl_owner);
  return range;
}

bool TaggingPageAllocator::Poolable(uintptr_t start, size_t size) const {
  return size <= kPoolMaxRange && size % page_ == 0 && (start & (kPoolAlign - 1)) == 0 &&
         page_ == 4096;
}

bool TaggingPageAllocator::Pool(void* address, size_t size, size_t mapped) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(address);
  if (!Poolable(start, mapped)) return false;
  OwnedRange range;
  // Exactly one range of ours, and not the shared WebAssembly code space.
  if (!Registry().Find(start, &range) || range.start != start || range.end != start + size ||
      range.owner == kSharedCodeOwner) {
    return false;
  }
  // A keyed page is untagged and made inaccessible in one page-table change: nobody's, and
  // nothing can read or write it until TakePooled zeroes it for its next owner. (A released
  // tail behind it, see ReleasePages, is already so.) An unkeyed page (no protection keys in
  // this process) is left as it is: while its owner lived, every thread of the process could
  // read it, and closing it would change nothing about who can read what, yet costs a
  // page-table change whose TLB shootdown interrupts the process's other CPUs (with two
  // isolate threads, a fifth of an isolate's creation cost). It is zeroed when taken, as a
  // closed one is.
  if (range.key >= 0 && TagPages(address, size, PROT_NONE, 0) != 0) return false;
  Registry().Remove(start, size);
  const bool shrunk = mapped != size;
  size = mapped;  // the whole page goes to the pool
  // The oldest ranges make room: a size nobody asks for again ages out.
  std::vector<Pooled> evicted;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    pool_.push_back(Pooled{address, size, shrunk});
    pool_bytes_ += size;
    size_t drop = 0;
    while (pool_bytes_ > kPoolBytes && drop < pool_.size()) {
      pool_bytes_ -= pool_[drop].size;
      evicted.push_back(pool_[drop]);
      drop++;
    }
    pool_.erase(pool_.begin(), pool_.begin() + static_cast<std::ptrdiff_t>(drop));
  }
  for (const Pooled& p : evicted) munmap(p.start, p.size);
  return true;
}

size_t TaggingPageAllocator::pooled() {
  std::lock_guard<std::mutex> lock(pool_mu_);
  return pool_bytes_;
}

size_t TaggingPageAllocator::ReleasePool() {
  std::vector<Pooled> released;
  size_t bytes;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    released.swap(pool_);
    bytes = pool_bytes_;
    pool_bytes_ = 0;
  }
  // Pooled ranges are nobody's (out of the registry since Pool) and whole, released tails
  // included (Pooled::size is the mapped size): their contents go with them.
  for (const Pooled& p : released) munmap(p.start, p.size);
  return bytes;
}

bool TaggingPageAllocator::ReleasePages(void* address, size_t size, size_t new_size) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(address);
  const uintptr_t tail = start + new_size;
  void* tail_at = reinterpret_cast<void*>(tail);
  Registry().Remove(tail, size - new_size);
  // V8 13.6 shrinks a few heap pages of every new isolate. A poolable page keeps its released
  // tail reserved, so that the whole page goes back to the pool when V8 frees it (FreePages)
  // and the next isolate takes it instead of a fresh page it would fault in. A keyed page's
  // tail becomes a fresh mapping (empty, inaccessible, key 0, nobody's). An unkeyed page's tail
  // (no protection keys in this process) is left as it is, as open as the rest of the page was:
  // replacing it would zap the pages a pooled page brought in with it, a TLB shootdown that
  // interrupts the process's other CPUs (measured with two isolate threads: 2.9 -> 1.5
  // shootdowns and about 5-15% less worker CPU per fresh isolate). The cost is memory: a tail
  // that came resident with a pooled page stays resident until the page is unmapped; only
  // pooled pages bring any, so at most the pool's size (kPoolBytes) per process.
  OwnedRange range;
  if (new_size > 0 && new_size % page_ == 0 && Poolable(start, size) &&
      Registry().Find(start, &range) && range.start == start && range.end == tail &&
      range.owner != kSharedCodeOwner &&
      (range.key < 0 ||
       mmap(tail_at, size - new_size, PROT_NONE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1,
            0) == tail_at)) {
    std::lock_guard<std::mutex> lock(pool_mu_);
    shrunk_.emplace(start, size);  // a page shrunk twice keeps its first, whole size
    return true;
  }
  return munmap(tail_at, size - new_size) == 0;
}

namespace {

// The key a range that is being made accessible must carry: its own, or, for a decommitted tenant
// range (see kDecommittedOwner), the key of the isolate the thread now works for, which takes it
// over in the registry.
int KeyForAccess(void* address, size_t size, v8::PageAllocator::Permission access) {
  const uintptr_t start = reinterpret_cast<uintptr_t>(address);
  OwnedRange range;
  if (!Registry().Find(start, &range)) return -1;
  const bool reopening = access != v8::PageAllocator::kNoAccess &&
                         access != v8::PageAllocator::kNoAccessWillJitLater;
  if (range.owner != kDecommittedOwner || !reopening) return range.key;
  if (!tl_active) g_outside_scope.fetch_add(1);
  Registry().Remove(start, size);
  Registry().Add(start, size, tl_key, tl_owner);
  return tl_key;
}

}  // namespace

bool TaggingPageAllocator::SetPermissions(void* address, size_t size, Permission access) {
  // The range's own key, not the thread's: explicit so that no prot (execute-only included)
  // moves the pages to another key; a decommitted range goes to the thread's isolate.
  if (TagPages(address, size, ToProt(access), KeyForAccess(address, size, access)) != 0) {
    return false;
  }
  if (access == kNoAccess) madvise(address, size, MADV_DONTNEED);
  return true;
}

bool TaggingPageAllocator::RecommitPages(void* address, size_t size, Permission access) {
  return TagPages(address, size, ToProt(access), KeyForAccess(address, size, access)) == 0;
}

bool TaggingPageAllocator::DiscardSystemPages(void* address, size_t size) {
  return madvise(address, size, MADV_DONTNEED) == 0;  // keeps the key
}

bool TaggingPageAllocator::DecommitPages(void* address, size_t size) {
  void* p = mmap(address, size, PROT_NONE,
                 MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != address) return false;
  // The fresh mapping is under key 0 and empty. A tenant's range stays untagged and owned by no
  // isolate until it is made accessible again (V8 may hand it to another isolate meanwhile);
  // engine and shared-code ranges keep their owner.
  const uintptr_t start = reinterpret_cast<uintptr_t>(address);
  OwnedRange range;
  if (!Registry().Find(start, &range)) return true;
  if (range.owner == kEngineOwner || range.owner == kSharedCodeOwner) {
    return range.key < 0 || TagPages(address, size, PROT_NONE, range.key) == 0;
  }
  Registry().Remove(start, size);
  Registry().Add(start, size, -1, kDecommittedOwner);
  return true;
}

}  // namespace stockade
