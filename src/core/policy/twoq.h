// 2Q (Johnson and Shasha, VLDB '94), the "full version" as libCacheSim's TwoQ.c implements it,
// so that an item-bounded shard reproduces libCacheSim's miss ratios exactly.
//
// New items enter Ain, a FIFO meant to hold Kin = 1/4 of the capacity. Hits in Ain change
// nothing: a burst of references soon after an item arrives is treated as one reference. Items
// that leave Ain are remembered by key hash in Aout, a FIFO ghost of 1/2 of the capacity in
// entries. Only a miss on a key still in Aout proves a reuse distance longer than Ain's, and
// only such a key enters Am, an LRU capped at the capacity minus Kin (when Am is full it drops
// its own LRU item, even if the cache as a whole has room). Items leaving Am are not remembered.
// Eviction takes Ain's oldest item while Ain holds strictly more than Kin, and Am's LRU item
// otherwise. During warm-up everything lands in Ain, which may then fill the whole cache; it
// drains back to Kin as the cache turns over.
//
// Weights: Kin and Am's cap are in weight units. Aout keeps hashes only, so its bound in entries
// is its share of the capacity divided by the average resident weight; in an item-bounded cache
// every weight is 1 and this is exact. Where upstream's floor(N/4) or floor(N/2) would be 0 (a
// shard of fewer than 4 items), 1 is used: upstream would admit nothing at all.
//
// Memory: a resident item costs nothing beyond its header (the prev/next links, and the policy
// byte saying whether it is in Ain or Am). Aout holds up to half as many entries as the cache
// holds items, at about 17 to 32 bytes each (see GhostList): about 9 to 16 bytes per cached
// item. In a byte-bounded cache that memory is charged to the shard's budget through
// metadata_bytes().
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/policy/ghost_list.h"
#include "core/policy/policy.h"

namespace kvcache::internal {

class TwoQPolicy {
 public:
  static constexpr const char* kName = "twoq";
  static constexpr bool kBufferedHits = true;

  explicit TwoQPolicy(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item*) {}

  void SetCapacity(uint64_t capacity) {
    capacity_ = std::max<uint64_t>(capacity, 1);
    kin_ = QueueShare(capacity_, 0.25);
    aout_share_ = QueueShare(capacity_, 0.5);
    am_cap_ = capacity_ > kin_ ? capacity_ - kin_ : 1;
  }

  // The Aout entry goes at lookup time, as upstream's find does, so the evictions that make
  // room for this key cannot push it out of Aout first.
  void BeforeInsert(uint64_t hash) { ghost_hit_ = aout_.Remove(hash); }

  void Insert(ItemRef r, uint64_t) {
    if (ghost_hit_) {
      Push(am_, kInAm, r);  // Am may now be over its cap: TakePendingVictim trims it
    } else {
      Push(ain_, kInAin, r);
    }
    ghost_hit_ = false;
  }

  void Touch(ItemRef r) {
    if (c_->At(r)->policy_byte() == kInAm) am_.MoveToHead(*c_, r);
  }

  void Remove(ItemRef r) { ListOf(r).Remove(*c_, r, c_->Weight(r)); }

  void Replace(ItemRef from, ItemRef to) {
    const uint8_t where = c_->At(from)->policy_byte();
    c_->At(to)->set_policy_byte(where);
    ListOf(from).ReplaceNode(*c_, from, to, c_->Weight(from), c_->Weight(to));
    Touch(to);
  }

  ItemRef Evict() {
    // Ain is the victim also when Am is empty, which in an item-bounded cache happens only in a
    // one-item shard (Ain = Kin = 1 fills it).
    if (!ain_.empty() && (ain_.weight > kin_ || am_.empty())) {
      ItemRef v = ain_.tail;
      ain_.Remove(*c_, v, c_->Weight(v));
      RememberInAout(c_->HashOf(v));
      return v;
    }
    if (!am_.empty()) {
      ItemRef v = am_.tail;
      am_.Remove(*c_, v, c_->Weight(v));
      return v;
    }
    return kNullRef;
  }

  // Am over its cap, after a promotion from Aout or an overwrite by a heavier value, loses its
  // LRU items (never the last one: an item heavier than the cap still gets cached).
  ItemRef TakePendingVictim() {
    if (am_.count <= 1 || am_.weight <= am_cap_) return kNullRef;
    ItemRef v = am_.tail;
    am_.Remove(*c_, v, c_->Weight(v));
    return v;
  }

  size_t metadata_bytes() const { return aout_.memory_bytes(); }

  void Clear() {
    ain_.Clear();
    am_.Clear();
    aout_.Clear();
    unit_ = 1;
    ghost_hit_ = false;
  }

  // For tests.
  const ItemList& ain() const { return ain_; }
  const ItemList& am() const { return am_; }
  size_t aout_size() const { return aout_.size(); }
  uint64_t kin() const { return kin_; }
  uint64_t am_cap() const { return am_cap_; }

 private:
  // Policy byte values; zero stays unused so that a never-inserted item reads as neither.
  static constexpr uint8_t kInAin = 1;
  static constexpr uint8_t kInAm = 2;

  void Push(ItemList& list, uint8_t where, ItemRef r) {
    c_->At(r)->set_policy_byte(where);
    list.PushHead(*c_, r, c_->Weight(r));
  }

  ItemList& ListOf(ItemRef r) { return c_->At(r)->policy_byte() == kInAm ? am_ : ain_; }

  // Upstream feeds Aout with a FIFO get(): a key already there stays where it is (only a 64-bit
  // hash collision can cause that here), and a full Aout drops its oldest entry first.
  void RememberInAout(uint64_t hash) {
    if (aout_.Contains(hash)) return;
    const uint64_t max_entries = std::max<uint64_t>(aout_share_ / Unit(), 1);
    while (aout_.size() >= max_entries) aout_.PopTail();
    aout_.PushHead(hash);
  }

  // The weight an Aout entry stands for: the average resident weight (1 in an item-bounded
  // cache). An empty cache keeps the last value.
  uint64_t Unit() {
    const uint64_t n = ain_.count + am_.count;
    if (n != 0) unit_ = std::max<uint64_t>((ain_.weight + am_.weight) / n, 1);
    return unit_;
  }

  const PolicyContext* c_;
  uint64_t capacity_ = 1;
  uint64_t kin_ = 1;         // Ain is evicted from while it weighs more than this
  uint64_t aout_share_ = 1;  // Aout's bound in weight units
  uint64_t am_cap_ = 1;
  ItemList ain_;
  ItemList am_;
  GhostList aout_;
  uint64_t unit_ = 1;
  bool ghost_hit_ = false;  // set by BeforeInsert for the Insert that follows
};

}  // namespace kvcache::internal
