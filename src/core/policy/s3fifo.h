// S3-FIFO (Yang et al., SOSP'23): three FIFO queues. New items enter a small queue (10% of what
// the cache holds); one that is hit at least twice there moves to the main queue when it reaches
// the small queue's tail, the others leave the cache and their keys go to a ghost queue. A miss
// whose key is in the ghost enters the main queue directly. The main queue is a CLOCK: an item
// at its tail with a nonzero count is reinserted at the head with the count lowered, one with
// count 0 is evicted.
//
// A hit only raises a 2-bit counter in the item's hot bits (an atomic, under the shared lock),
// so reads never take the exclusive lock. The ghost is a GhostFilter (4 bytes per remembered
// key) sized at 90% of the cache's item count. Queue targets never round below one item.
#pragma once

#include <algorithm>

#include "core/policy/ghost_filter.h"
#include "core/policy/policy.h"

namespace kvcache::internal {

class S3FifoPolicy {
 public:
  static constexpr const char* kName = "s3fifo";
  static constexpr bool kBufferedHits = false;

  explicit S3FifoPolicy(const PolicyContext* c) : c_(c) {}

  static void OnReadHit(Item* it) { it->BumpHot(); }

  void SetCapacity(uint64_t capacity) {
    capacity_ = capacity;
    ghost_.SetWindow(GhostWindow());
  }

  void BeforeInsert(uint64_t hash) { to_main_ = ghost_.Take(hash); }

  void Insert(ItemRef r, uint64_t) {
    uint64_t w = c_->Weight(r);
    if ((++inserts_ & 1023) == 0) ghost_.SetWindow(GhostWindow());
    if (to_main_) {
      c_->At(r)->set_policy_byte(kMain);
      main_.PushHead(*c_, r, w);
    } else {
      c_->At(r)->set_policy_byte(kSmall);
      small_.PushHead(*c_, r, w);
    }
    to_main_ = false;
  }

  void Touch(ItemRef r) { c_->At(r)->BumpHot(); }
  // The hits since the item entered its queue or was last looked at by the eviction, up to 3.
  uint32_t Frequency(ItemRef r) const { return c_->At(r)->hot(); }

  void Remove(ItemRef r) { Queue(r).Remove(*c_, r, c_->Weight(r)); }

  void Replace(ItemRef from, ItemRef to) {
    Item* f = c_->At(from);
    Item* t = c_->At(to);
    t->set_policy_byte(f->policy_byte());
    t->set_hot(std::min<uint32_t>(f->hot() + 1, 3));
    Queue(from).ReplaceNode(*c_, from, to, c_->Weight(from), c_->Weight(to));
  }

  // The queues' targets are 10% and 90% of what the shard holds when it has to evict, not of
  // its capacity: a shard of a byte-bounded cache holds more or less than its share of the
  // budget (design.md, "One budget"), and a main queue sized from the share would leave a shard
  // below it no small queue at all. An item-bounded shard evicts when it holds its capacity,
  // so there the two are the same.
  ItemRef Evict() {
    if (small_.empty() && main_.empty()) return kNullRef;
    const uint64_t held = small_.weight + main_.weight;
    const uint64_t small_target = static_cast<uint64_t>(static_cast<double>(held) * kSmallRatio);
    if (main_.weight > held - small_target || small_.empty()) return EvictMain();
    return EvictSmall();
  }

  size_t metadata_bytes() const { return ghost_.memory_bytes(); }

  void Clear() {
    small_.Clear();
    main_.Clear();
    ghost_.Clear();
    to_main_ = false;
  }

 private:
  static constexpr uint8_t kSmall = 0;
  static constexpr uint8_t kMain = 1;
  static constexpr double kSmallRatio = 0.10;
  static constexpr double kGhostRatio = 0.90;
  static constexpr uint32_t kMoveToMainThreshold = 2;

  ItemList& Queue(ItemRef r) { return c_->At(r)->policy_byte() == kMain ? main_ : small_; }

  // The ghost remembers 90% of the cache's item count, estimated from the average item weight
  // when the cache is bounded by bytes.
  uint64_t GhostWindow() const {
    double per_item = c_->AverageWeight(small_.count + main_.count, small_.weight + main_.weight);
    return std::max<uint64_t>(1, uint64_t(double(capacity_) / per_item * kGhostRatio));
  }

  ItemRef EvictSmall() {
    while (ItemRef r = small_.tail) {
      Item* it = c_->At(r);
      uint64_t w = c_->Weight(r);
      small_.Remove(*c_, r, w);
      if (it->hot() >= kMoveToMainThreshold) {
        it->set_hot(0);
        it->set_policy_byte(kMain);
        main_.PushHead(*c_, r, w);
        continue;
      }
      ghost_.Add(c_->HashOf(r));
      return r;
    }
    return EvictMain();
  }

  ItemRef EvictMain() {
    while (ItemRef r = main_.tail) {
      Item* it = c_->At(r);
      uint32_t hot = it->hot();
      if (hot > 0) {
        it->set_hot(hot - 1);
        main_.MoveToHead(*c_, r);
        continue;
      }
      main_.Remove(*c_, r, c_->Weight(r));
      return r;
    }
    return small_.empty() ? kNullRef : EvictSmall();
  }

  const PolicyContext* c_;
  ItemList small_;
  ItemList main_;
  GhostFilter ghost_;
  uint64_t capacity_ = 0;
  uint64_t inserts_ = 0;
  bool to_main_ = false;
};

}  // namespace kvcache::internal
