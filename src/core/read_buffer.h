// ReadBuffer: a lossy buffer of hits, so that LRU-like policies never take the exclusive lock
// on a hit.
//
// Readers append the ItemRef they hit while holding the shard's shared lock; the next holder of
// the exclusive lock replays the buffer into the policy in order (as Caffeine does). When the
// buffer is full, further hits are dropped until it is drained: the policy's order becomes
// approximate under heavy read concurrency, never wrong about which items exist, because a
// replayed ref is applied only if its item is still linked.
#pragma once

#include <atomic>
#include <cstdint>

#include "core/item.h"

namespace kvcache::internal {

class ReadBuffer {
 public:
  static constexpr uint32_t kSize = 64;

  // Under the shared lock. Returns true for exactly the push that filled the buffer: that
  // caller should drain it once it has released the shared lock.
  bool Push(ItemRef ref) {
    uint32_t t = tail_.fetch_add(1, std::memory_order_relaxed);
    if (t >= kSize) return false;
    slots_[t].store(ref, std::memory_order_relaxed);
    return t + 1 == kSize;
  }

  // Under the exclusive lock (no pusher is running). fn may free items; if that makes a page
  // leave the shard (Clear() is called), the rest of the buffer is dropped: its refs may point
  // into that page, which another shard may already be using.
  template <typename Fn>
  void Drain(Fn&& fn) {
    uint32_t n = tail_.load(std::memory_order_relaxed);
    if (n == 0) return;
    if (n > kSize) n = kSize;
    tail_.store(0, std::memory_order_relaxed);
    const uint64_t epoch = epoch_;
    for (uint32_t i = 0; i < n && epoch_ == epoch; ++i)
      fn(slots_[i].load(std::memory_order_relaxed));
  }
  // Under the exclusive lock.
  void Clear() {
    tail_.store(0, std::memory_order_relaxed);
    ++epoch_;
  }
  bool full() const { return tail_.load(std::memory_order_relaxed) >= kSize; }
  // Under the exclusive lock: the buffered refs, without consuming them.
  uint32_t pending() const {
    uint32_t n = tail_.load(std::memory_order_relaxed);
    return n > kSize ? kSize : n;
  }
  ItemRef at(uint32_t i) const { return slots_[i].load(std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> tail_{0};
  uint64_t epoch_ = 0;  // bumped by Clear()
  std::atomic<ItemRef> slots_[kSize];
};

}  // namespace kvcache::internal
