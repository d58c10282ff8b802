// BlockRecycler: a budgeted free list of large malloc blocks, best fit by size.
#include "core/block_recycler.h"

#include <malloc.h>

#include <cstdlib>

namespace kvcache::internal {

BlockRecycler::~BlockRecycler() {
  for (auto& [size, block] : kept_) std::free(block);
}

void* BlockRecycler::Allocate(size_t bytes) {
  if (bytes >= kMinBytes && max_bytes_ > 0) {
    std::lock_guard<std::mutex> l(mu_);
    // The last block that fits: of equal sizes, the one freed last, likelier still cached.
    auto it = kept_.upper_bound(bytes + bytes / 8);
    if (it != kept_.begin() && (--it)->first >= bytes) {
      void* block = it->second;
      kept_bytes_ -= it->first;
      kept_.erase(it);
      return block;
    }
  }
  return std::aligned_alloc(kAlign, (bytes + kAlign - 1) & ~(kAlign - 1));
}

void BlockRecycler::Free(void* block) {
  if (block == nullptr) return;
  const size_t size = malloc_usable_size(block);
  if (size >= kMinBytes) {
    std::lock_guard<std::mutex> l(mu_);
    if (kept_bytes_ + size <= max_bytes_) {
      kept_.emplace(size, block);
      kept_bytes_ += size;
      return;
    }
  }
  std::free(block);
}

size_t BlockRecycler::kept_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return kept_bytes_;
}

}  // namespace kvcache::internal
