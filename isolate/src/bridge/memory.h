// Memory that V8 uses on behalf of one isolate, and the protection key it carries.
//
// Guarantees:
// - Every range TaggingPageAllocator hands out, and every ArrayBuffer backing store ArenaAllocator
//   hands out, is tagged (pkey_mprotect) with the key of the isolate the calling thread works
//   for (the innermost OwnerScope) before V8 sees it, and is recorded in the process-wide
//   RangeRegistry with that key and the isolate's owner id. The one exception is WebAssembly
//   code space, which V8 shares between isolates: untagged, owner kSharedCodeOwner.
// - A range keeps its key while it has contents: permission changes re-apply it. A tenant's range
//   that V8 decommits (DecommitPages: a fresh MAP_FIXED mapping, contents gone) is untagged and
//   owned by no isolate (kDecommittedOwner) until it is made accessible again, when it is tagged
//   with the key of the isolate the calling thread works for: V8 13.6 pools freed pages between
//   isolates, and a pooled page must never reach a new isolate under its old owner's key.
// - A freed heap page (aligned to kPoolAlign, at most kPoolMaxRange long) is kept for the next
//   allocation of its size instead of being unmapped (at most kPoolBytes, process-wide, until
//   ReleasePool unmaps them all: a worker process that has been idle a while): on
//   its way into the pool a keyed page is untagged (key 0) and made inaccessible, in one
//   page-table change (an unkeyed one, in a process without protection keys, is left as open
//   as it was while its owner lived, to every thread of the process); on its way out, before
//   V8 sees the address, every byte of it is zeroed and it is
//   tagged and recorded exactly as a fresh mapping is (zeroed under the new key when the taking
//   thread's PKRU opens it, otherwise under key 0 and then tagged). Its next owner, another
//   tenant's isolate maybe, finds zeroes, as in a fresh mapping; while pooled it is nobody's and
//   nothing of an isolate can read or write a keyed one (its last owner's bytes stay in it,
//   inaccessible, until it is taken and zeroed, or unmapped). This saves the page faults a
//   fresh mapping takes on first touch, a quarter of an isolate's creation cost. A poolable page V8 shrinks (ReleasePages)
//   keeps its released tail reserved, absent from the registry, until V8 frees the page, which
//   then goes to the pool whole: a keyed page's tail as a fresh mapping (empty, inaccessible,
//   key 0, owned by nobody), an unkeyed page's tail as it was (open to every thread of the
//   process, as the whole page was; its bytes are zeroed with the page's when it is taken).
// - A page allocation made on a thread with no OwnerScope is counted
//   (PagesAllocatedOutsideScope): with V8's --single-threaded flag there is none, and the tests
//   assert the count stays 0, because such a page would be tagged with no key (key 0).
// Trusts: the kernel (pkey_mprotect), and the bridge to open an OwnerScope around every call into
// V8 that can allocate (Entry, isolate creation and disposal, the engine's own set-up).
#ifndef STOCKADE_MEMORY_H_
#define STOCKADE_MEMORY_H_

#include <unistd.h>
#include <v8.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stockade {

// Owner id of memory that belongs to no isolate: the engine's own set-up, the snapshot isolate,
// the anchor isolate holding V8's shared read-only heap. Such memory is never tagged (key 0).
constexpr uint64_t kEngineOwner = 0;
// Owner id of WebAssembly code space, which V8 shares between isolates (see AllocatePages).
// Never tagged (key 0).
constexpr uint64_t kSharedCodeOwner = UINT64_MAX;
// Owner id of decommitted pages of a tenant isolate: no contents (a fresh mapping), no access,
// untagged. A decommitted page becomes the property of the isolate the thread works for when it
// is made accessible again. (Pages V8 pools and hands over without any call to this allocator
// are kept from moving between isolates in engine.cc: DrainPagePool, DisposeReleasingPools.)
constexpr uint64_t kDecommittedOwner = UINT64_MAX - 1;

// Sets, for the current thread and until destroyed, the isolate whose pages new allocations
// belong to: its protection key (-1: none) and owner id. Nests; restores the previous owner.
class OwnerScope {
 public:
  OwnerScope(int key, uint64_t owner);
  ~OwnerScope();
  OwnerScope(const OwnerScope&) = delete;
  OwnerScope& operator=(const OwnerScope&) = delete;

 private:
  int saved_key_;
  uint64_t saved_owner_;
  bool saved_active_;
};

// pkey_mprotect(addr, len, prot, key), or mprotect when key < 0. Returns 0 or -1 (errno set).
int TagPages(void* addr, size_t len, int prot, int key);

struct OwnedRange {
  uintptr_t start;
  uintptr_t end;
  int key;
  uint64_t owner;
};

// Every range handed out on behalf of an isolate (or the engine), by start address.
class RangeRegistry {
 public:
  void Add(uintptr_t start, size_t size, int key, uint64_t owner);
  // Drops [start, start+size), splitting ranges it cuts through.
  void Remove(uintptr_t start, size_t size);
  // The range containing `address`, if any.
  bool Find(uintptr_t address, OwnedRange* out);
  std::vector<OwnedRange> OwnedBy(uint64_t owner);
  size_t Size();

 private:
  struct Entry {
    uintptr_t end;
    int key;
    uint64_t owner;
  };
  std::mutex mu_;
  std::map<uintptr_t, Entry> ranges_;
};

RangeRegistry& Registry();

// Page allocations made with no OwnerScope on the calling thread, since process start.
uint64_t PagesAllocatedOutsideScope();

// The platform's page allocator: tags and records every range; see the file comment.
class TaggingPageAllocator final : public v8::PageAllocator {
 public:
  // The pool keeps ranges that start at a multiple of kPoolAlign (V8 13.6's heap page size:
  // every heap page and large-object page is aligned to it) and are at most kPoolMaxRange long,
  // kPoolBytes of them at most, the oldest leaving first.
  static constexpr size_t kPoolAlign = 256 * 1024;
  static constexpr size_t kPoolMaxRange = 1024 * 1024;
  static constexpr size_t kPoolBytes = 8 * 1024 * 1024;

  size_t AllocatePageSize() override { return page_; }
  size_t CommitPageSize() override { return page_; }
  void SetRandomMmapSeed(int64_t) override {}
  void* GetRandomMmapAddr() override { return nullptr; }
  void* AllocatePages(void* hint, size_t size, size_t alignment, Permission access) override;
  bool FreePages(void* address, size_t size) override;
  bool ReleasePages(void* address, size_t size, size_t new_size) override;
  bool SetPermissions(void* address, size_t size, Permission access) override;
  bool RecommitPages(void* address, size_t size, Permission access) override;
  bool DiscardSystemPages(void* address, size_t size) override;
  bool DecommitPages(void* address, size_t size) override;
  // Bytes in the pool now.
  size_t pooled();
  // Unmaps every pooled range; the bytes released.
  size_t ReleasePool();

 private:
  // A pooled page for an allocation of this shape, zeroed and tagged for the current owner;
  // nullptr when the shape is not the pool's or the pool is empty.
  void* TakePooled(size_t size, size_t alignment, Permission access);
  // Whether the freed range went into the pool (untagged, inaccessible; zeroed when taken),
  // with the released tail behind it when V8 shrank it (`mapped` bytes in all).
  bool Pool(void* address, size_t size, size_t mapped);
  // Whether a range of this start and size may be pooled.
  bool Poolable(uintptr_t start, size_t size) const;

  const size_t page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  struct Pooled {
    void* start;
    size_t size;
    bool shrunk;  // V8 had released its tail (ReleasePages): no pages in it when keyed
  };
  std::mutex pool_mu_;
  std::vector<Pooled> pool_;  // oldest first
  size_t pool_bytes_ = 0;
  // Poolable pages V8 shrank (ReleasePages), by start: their whole size, released tail included.
  std::unordered_map<uintptr_t, size_t> shrunk_;
};

// ArrayBuffer backing stores of one isolate, from memory tagged with its key.
//
// Small stores (up to kMaxSmall bytes) come from 64 KiB chunks, carved by a bump pointer into
// power-of-two blocks of 16..kMaxSmall bytes and recycled through per-size free lists kept in
// host memory (not in the blocks, so a tenant overwriting a freed block cannot steer the
// allocator). Larger stores get their own mapping of LargeSize bytes. One freed is kept for the
// next store of its size (up to kMaxCached bytes a block, kCacheBytes in all, in host-memory
// lists as the small blocks' are), else unmapped: a stream's chunks would otherwise cost a mapping,
// its page faults and an unmapping (with the other threads' TLBs flushed) each. A recycled block
// or small block holds a dead store of this same isolate, never another's, and is zeroed again
// when V8 asks for zeroed memory. Chunks and cached blocks are unmapped when the arena is destroyed
// (isolate disposal), cached blocks also through TakeCache (an idle worker process's release). Every byte
// requested is counted against `budget`; a request past it fails (V8 turns that into a RangeError)
// and sets STK_LIMIT_EXTERNAL in `limits`. Cached blocks only fill what the live stores leave of
// it: the live stores' bytes and the cached blocks' together stay within `budget` (a store taken
// unmaps cached blocks as needed), so the cache never lets an isolate hold more than its
// budget allowed before. Zero-length stores get a 16-byte block and count 0.
class ArenaAllocator final : public v8::ArrayBuffer::Allocator {
 public:
  static constexpr size_t kMinSmall = 16;
  static constexpr size_t kMaxSmall = 2048;
  static constexpr size_t kChunk = 64 * 1024;
  static constexpr size_t kMaxCached = 1 << 20;
  static constexpr size_t kCacheBytes = 8 << 20;

  // The mapping a store of `length` bytes (more than kMaxSmall) gets: whole pages and, up to
  // kMaxCached, rounded up to the next multiple of a quarter of the highest power of two pages
  // under it, so that streams' stores of nearby sizes share blocks and no block is more than a
  // quarter larger than its whole pages (at most four pages: exact). Pure.
  static size_t LargeSize(size_t length, size_t page);

  ArenaAllocator(size_t budget, std::atomic<uint32_t>* limits, int key, uint64_t owner);
  ~ArenaAllocator() override;
  void* Allocate(size_t length) override { return Take(length, true); }
  void* AllocateUninitialized(size_t length) override { return Take(length, false); }
  void Free(void* data, size_t length) override;
  size_t used() const { return used_.load(); }
  // Mappings made for large stores since the arena was created (a recycled block makes none).
  size_t large_maps() const { return large_maps_.load(std::memory_order_relaxed); }
  // Bytes of the freed large blocks kept for reuse.
  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return cached_bytes_;
  }
  // Hands over the freed large blocks kept for reuse, (start, size) each, to be unmapped with
  // Unmap by the caller, outside the arena's lock.
  std::vector<std::pair<void*, size_t>> TakeCache();
  // Unmaps a large block of this arena's kind (its registry entry goes too).
  static void Unmap(void* start, size_t size);
  // WebAssembly memory reservations count against the same budget (see WasmBudget below).
  // (Cached blocks then shrink to fit beside it, as for a store.)
  bool Charge(size_t length);
  void Credit(size_t length) { used_.fetch_sub(length); }

 private:
  static constexpr int kClasses = 8;  // 16 << 0 .. 16 << 7 == kMaxSmall
  void* Take(size_t length, bool zero);
  bool Reserve(size_t length);
  void* MapTagged(size_t size);
  void* TakeSmall(int cls, bool zero);
  void* TakeLarge(size_t size, size_t length, bool zero);
  // Unmaps cached blocks until they fit in what the live stores leave of the budget.
  void FitCache();
  static int ClassOf(size_t length);

  const size_t budget_;
  std::atomic<uint32_t>* const limits_;
  const int key_;
  const uint64_t owner_;
  const size_t page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::atomic<size_t> used_{0};
  mutable std::mutex mu_;
  std::vector<void*> free_[kClasses];
  std::vector<void*> chunks_;
  uintptr_t bump_ = 0;
  uintptr_t bump_end_ = 0;
  std::unordered_map<void*, size_t> large_;  // start -> mapped size
  std::unordered_map<size_t, std::vector<void*>> cached_;  // LargeSize -> freed blocks
  size_t cached_bytes_ = 0;
  std::atomic<size_t> large_maps_{0};
};

// WebAssembly memories are not ArrayBuffer::Allocator allocations: V8 reserves each one from the
// platform page allocator (kNoAccess, aligned to the 64 KiB wasm page) and commits it in place.
// They count against their isolate's ArrayBuffer budget at reservation time, for the whole
// reservation: a reservation V8 cannot get is a graceful failure everywhere (`new
// WebAssembly.Memory` throws a RangeError after V8 has retried with smaller maxima down to the
// initial size; `memory.grow` past its reservation allocates anew and returns -1 when that
// fails), whereas a failed commit inside a granted reservation is a fatal OOM in V8.
// Arenas register here by owner so the page allocator can find the budget to charge.
namespace wasm_budget {
constexpr size_t kWasmPageSize = 64 * 1024;
void Register(uint64_t owner, ArenaAllocator* arena);
void Unregister(uint64_t owner);
// Charges `size` bytes of a wasm reservation at `start` to the current owner's budget; false
// when over budget (the reservation must then fail).
bool ChargeReservation(uintptr_t start, size_t size, uint64_t owner);
// Credits back a reservation that is being freed, if it was charged.
void CreditReservation(uintptr_t start);
// Takes every registered arena's cached blocks and unmaps them; returns the bytes unmapped.
size_t ReleaseArenaCaches();
}  // namespace wasm_budget

}  // namespace stockade

#endif  // STOCKADE_MEMORY_H_
