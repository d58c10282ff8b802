// SIEVE (Zhang et al., NSDI'24): one FIFO queue and a visited bit. A hit only sets the bit (an
// atomic on the item, under the shared lock). The hand walks from the oldest item toward the
// newest, clearing bits, and evicts the first unvisited item; it resumes from that item's newer
// neighbour and wraps to the oldest past the newest. New items enter at the head.
#pragma once

#include "core/policy/policy.h"

namespace kvcache::internal {

class SievePolicy {
 public:
  static constexpr const char* kName = "sieve";
  static constexpr bool kBufferedHits = false;

  explicit SievePolicy(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item* it) { it->MarkHot(); }
  void SetCapacity(uint64_t) {}
  void BeforeInsert(uint64_t) {}
  void Insert(ItemRef r, uint64_t) { list_.PushHead(*c_, r, 0); }
  void Touch(ItemRef r) { c_->At(r)->MarkHot(); }
  // The visited bit.
  uint32_t Frequency(ItemRef r) const { return c_->At(r)->hot(); }
  void Remove(ItemRef r) {
    if (hand_ == r) hand_ = c_->At(r)->prev;
    list_.Remove(*c_, r, 0);
  }
  void Replace(ItemRef from, ItemRef to) {
    if (hand_ == from) hand_ = to;
    list_.ReplaceNode(*c_, from, to, 0, 0);
    c_->At(to)->MarkHot();
  }
  ItemRef Evict() {
    if (list_.empty()) return kNullRef;
    ItemRef r = hand_ != kNullRef ? hand_ : list_.tail;
    for (;;) {
      Item* it = c_->At(r);
      if (it->hot() == 0) break;
      it->set_hot(0);
      r = it->prev != kNullRef ? it->prev : list_.tail;
    }
    hand_ = c_->At(r)->prev;
    list_.Remove(*c_, r, 0);
    return r;
  }
  size_t metadata_bytes() const { return 0; }
  void Clear() {
    list_.Clear();
    hand_ = kNullRef;
  }

 private:
  const PolicyContext* c_;
  ItemList list_;
  ItemRef hand_ = kNullRef;  // next item to examine; null: start at the tail
};

}  // namespace kvcache::internal
