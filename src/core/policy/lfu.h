// LFU: evicts the least frequently used item; among equally frequent ones, the one that reached
// that frequency first. Frequencies live in the item's policy byte and saturate at 255 (beyond
// that, order among the most frequent items is by arrival at 255); an evicted item's count is
// forgotten. One list per frequency makes every operation O(1). Hits are replayed from the read
// buffer.
#pragma once

#include <array>

#include "core/policy/policy.h"

namespace kvcache::internal {

class LfuPolicy {
 public:
  static constexpr const char* kName = "lfu";
  static constexpr bool kBufferedHits = true;

  explicit LfuPolicy(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item*) {}
  void SetCapacity(uint64_t) {}
  void BeforeInsert(uint64_t) {}
  void Insert(ItemRef r, uint64_t) {
    c_->At(r)->set_policy_byte(1);
    buckets_[1].PushHead(*c_, r, 0);
    min_freq_ = 1;
  }
  void Touch(ItemRef r) {
    Item* it = c_->At(r);
    uint8_t f = it->policy_byte();
    if (f == kMaxFreq) return;
    buckets_[f].Remove(*c_, r, 0);
    it->set_policy_byte(static_cast<uint8_t>(f + 1));
    buckets_[f + 1].PushHead(*c_, r, 0);
    if (min_freq_ == f && buckets_[f].empty()) min_freq_ = f + 1;
  }
  void Remove(ItemRef r) { buckets_[c_->At(r)->policy_byte()].Remove(*c_, r, 0); }
  uint32_t Frequency(ItemRef r) const { return c_->At(r)->policy_byte(); }
  void Replace(ItemRef from, ItemRef to) {
    uint8_t f = c_->At(from)->policy_byte();
    c_->At(to)->set_policy_byte(f);
    buckets_[f].ReplaceNode(*c_, from, to, 0, 0);
    Touch(to);
  }
  ItemRef Evict() {
    for (uint32_t f = min_freq_; f <= kMaxFreq; ++f) {
      ItemRef v = buckets_[f].tail;
      if (v == kNullRef) continue;
      min_freq_ = f;
      buckets_[f].Remove(*c_, v, 0);
      return v;
    }
    return kNullRef;
  }
  size_t metadata_bytes() const { return 0; }
  void Clear() {
    for (auto& b : buckets_) b.Clear();
    min_freq_ = 1;
  }

 private:
  static constexpr uint32_t kMaxFreq = 255;
  const PolicyContext* c_;
  std::array<ItemList, kMaxFreq + 1> buckets_;
  uint32_t min_freq_ = 1;  // no non-empty bucket below this
};

}  // namespace kvcache::internal
