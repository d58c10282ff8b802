// BlockRecycler: external blocks of freed large items, kept for the next large item.
//
// A 16 MiB value written into fresh memory touches 4,096 pages for the first time, and each
// first touch is a page fault; in a virtual machine whose host reclaims the memory a guest
// frees, each costs ~14 us, so that faults, not copying, were 90% of a 16 MiB SET
// (docs/BENCHMARKS.md, "Large values"). malloc does not keep such blocks warm: glibc maps and
// unmaps big blocks (mmap threshold), gives each thread its own arena (a block freed by one
// worker is not reused by another) and cannot reuse an exactly sized free chunk for an aligned
// allocation. So blocks of kMinBytes and more are kept here, up to a byte budget, and handed out
// again for a request that fits within an eighth. They are malloc memory throughout: whoever
// frees one with std::free instead of Free() is still right, the block is just not reused.
//
// Thread-safe (one mutex; a leaf lock, taken for large blocks only).
#pragma once

#include <cstddef>
#include <map>
#include <mutex>

namespace kvcache::internal {

class BlockRecycler {
 public:
  static constexpr size_t kMinBytes = 256 << 10;
  static constexpr size_t kAlign = 64;

  // Keeps at most max_bytes of free blocks (0: none).
  explicit BlockRecycler(size_t max_bytes) : max_bytes_(max_bytes) {}
  ~BlockRecycler();
  BlockRecycler(const BlockRecycler&) = delete;
  BlockRecycler& operator=(const BlockRecycler&) = delete;

  // At least `bytes` bytes, kAlign-aligned, to be released with Free() or std::free: a kept
  // block if one is at most bytes / 8 larger, else a new one. nullptr when out of memory.
  void* Allocate(size_t bytes);
  // Keeps the block for reuse if it is large and the budget has room; frees it otherwise.
  // REQUIRES: block came from Allocate() or std::aligned_alloc / malloc (or is null).
  void Free(void* block);

  size_t kept_bytes() const;

 private:
  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::multimap<size_t, void*> kept_;  // by malloc_usable_size; guarded by mu_
  size_t kept_bytes_ = 0;              // guarded by mu_
};

}  // namespace kvcache::internal
