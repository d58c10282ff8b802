// ARC, the Adaptive Replacement Cache (Megiddo and Modha, FAST '03), as libCacheSim's ARC.c
// implements it, so that an item-bounded shard reproduces libCacheSim's miss ratios exactly.
//
// Resident items are in one of two LRU lists: T1 holds items not hit since they entered the
// cache, T2 items hit at least once (or brought back by a ghost hit). Two ghost lists remember
// the key hashes of recent victims: B1 those that left T1, B2 those that left T2. The split
// between T1 and T2 adapts: a miss on a key in B1 says T1 was too small, so its target size p
// grows by max(|B2| / |B1|, 1); a miss on a key in B2 shrinks p by max(|B1| / |B2|, 1). Either
// way the ghost entry is dropped and the item comes back straight into T2, since it has now been
// seen twice. REPLACE evicts T1's LRU item while T1 is above p (or at p when the miss came from
// B2) and T2's otherwise, and remembers the victim in the matching ghost list. Outside ghost
// hits, eviction also trims the directory as in case IV of the paper: B1 loses its oldest entry
// when T1 + B1 would exceed the capacity (T1 itself loses one without a ghost if B1 is empty),
// and B2 loses its oldest entry when the four lists together reach twice the capacity.
//
// Weights: T1, T2, p and the capacity are in weight units. Ghost lists keep hashes only, so their
// size in weight units is their entry count times the average resident weight; in an
// item-bounded cache every weight is 1 and all of this is exact. p is a double, as upstream:
// comparisons of |T1| with p behave exactly as libCacheSim's int-to-double ones do.
//
// Memory: a resident item costs nothing beyond its header (the prev/next links, and the policy
// byte saying whether it is in T1 or T2). Ghost entries cost about 17 to 32 bytes each (see
// GhostList), and B1 + B2 never hold more entries than the shard holds items, so ARC adds at
// most about that per cached item. In a byte-bounded cache that memory is charged to the shard's
// budget through metadata_bytes().
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/policy/ghost_list.h"
#include "core/policy/policy.h"

namespace kvcache::internal {

class ArcPolicy {
 public:
  static constexpr const char* kName = "arc";
  static constexpr bool kBufferedHits = true;

  explicit ArcPolicy(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item*) {}

  void SetCapacity(uint64_t capacity) {
    capacity_ = std::max<uint64_t>(capacity, 1);
    p_ = std::min(p_, static_cast<double>(capacity_));
  }

  // The ghost entry goes now, before the evictions that make room, as libCacheSim's find does:
  // those evictions must neither count it nor trim it.
  void BeforeInsert(uint64_t hash) {
    ghost_hit_ = GhostHit::kNone;
    // The ratios use the list sizes from before the entry is removed.
    const double b1 = static_cast<double>(b1_.size());
    const double b2 = static_cast<double>(b2_.size());
    if (b1_.Remove(hash)) {
      p_ = std::min(p_ + std::max(b2 / b1, 1.0) * static_cast<double>(Unit()),
                    static_cast<double>(capacity_));
      ghost_hit_ = GhostHit::kB1;
    } else if (b2_.Remove(hash)) {
      p_ = std::max(p_ - std::max(b1 / b2, 1.0) * static_cast<double>(Unit()), 0.0);
      ghost_hit_ = GhostHit::kB2;
    }
  }

  void Insert(ItemRef r, uint64_t) {
    if (ghost_hit_ != GhostHit::kNone) {
      Push(t2_, kInT2, r);
    } else {
      Push(t1_, kInT1, r);
    }
    ghost_hit_ = GhostHit::kNone;
  }

  void Touch(ItemRef r) {
    ghost_hit_ = GhostHit::kNone;
    Item* it = c_->At(r);
    if (it->policy_byte() == kInT1) {
      t1_.Remove(*c_, r, c_->Weight(r));
      Push(t2_, kInT2, r);
    } else {
      t2_.MoveToHead(*c_, r);
    }
  }

  void Remove(ItemRef r) { ListOf(r).Remove(*c_, r, c_->Weight(r)); }

  void Replace(ItemRef from, ItemRef to) {
    const uint8_t where = c_->At(from)->policy_byte();
    c_->At(to)->set_policy_byte(where);
    ListOf(from).ReplaceNode(*c_, from, to, c_->Weight(from), c_->Weight(to));
    Touch(to);
  }

  ItemRef Evict() {
    if (t1_.empty() && t2_.empty()) return kNullRef;
    // Upstream does no directory trimming while serving a ghost hit: the hit already took one
    // entry out of it.
    if (ghost_hit_ == GhostHit::kNone) {
      const uint64_t unit = Unit();
      if (t1_.weight + b1_.size() * unit + unit > capacity_) {
        if (!b1_.empty()) {
          b1_.PopTail();
        } else if (!t1_.empty()) {
          // T1 alone fills the cache, so its LRU item is dropped without a ghost: B1 could not
          // hold one without T1 + B1 exceeding the capacity.
          ItemRef v = t1_.tail;
          t1_.Remove(*c_, v, c_->Weight(v));
          return v;
        }
      } else if (DirectoryWeight(unit) >= 2 * capacity_ && !b2_.empty()) {
        b2_.PopTail();
      }
    }
    return EvictToGhost();
  }

  size_t metadata_bytes() const { return b1_.memory_bytes() + b2_.memory_bytes(); }

  void Clear() {
    t1_.Clear();
    t2_.Clear();
    b1_.Clear();
    b2_.Clear();
    p_ = 0;
    unit_ = 1;
    ghost_hit_ = GhostHit::kNone;
  }

  // For tests.
  double target() const { return p_; }
  const ItemList& t1() const { return t1_; }
  const ItemList& t2() const { return t2_; }
  size_t b1_size() const { return b1_.size(); }
  size_t b2_size() const { return b2_.size(); }

 private:
  // Policy byte values. Zero is left unused so that a stray, never-inserted item is not mistaken
  // for a T1 member.
  static constexpr uint8_t kInT1 = 1;
  static constexpr uint8_t kInT2 = 2;

  enum class GhostHit : uint8_t { kNone, kB1, kB2 };

  void Push(ItemList& list, uint8_t where, ItemRef r) {
    c_->At(r)->set_policy_byte(where);
    list.PushHead(*c_, r, c_->Weight(r));
  }

  ItemList& ListOf(ItemRef r) { return c_->At(r)->policy_byte() == kInT1 ? t1_ : t2_; }

  // REPLACE from the paper. Prefers T1 when it is above its target; a tie goes to T1 only for a
  // B2 hit, which is the case where the paper's |T1| = p clause applies.
  ItemRef EvictToGhost() {
    const double t1 = static_cast<double>(t1_.weight);
    const bool from_t1 =
        (!t1_.empty() && (t1 > p_ || (t1 == p_ && ghost_hit_ == GhostHit::kB2))) || t2_.empty();
    ItemList& list = from_t1 ? t1_ : t2_;
    GhostList& ghost = from_t1 ? b1_ : b2_;
    ItemRef v = list.tail;
    list.Remove(*c_, v, c_->Weight(v));
    const uint64_t hash = c_->HashOf(v);
    // Only a 64-bit hash collision can find it there already; GhostList must not hold it twice.
    if (!ghost.Contains(hash)) ghost.PushHead(hash);
    TrimGhosts();
    return v;
  }

  // With uneven weights one ghost hit can take several evictions, each adding an entry while
  // the hit removed only one, so the directory could creep upwards. Cap the ghosts at what the
  // cache holds in items. In an item-bounded cache B1 + B2 never exceeds the capacity anyway,
  // so this never fires there and libCacheSim's behaviour is untouched.
  void TrimGhosts() {
    const uint64_t unit = Unit();
    const uint64_t max_entries = std::max<uint64_t>(capacity_ / unit, 1);
    while (b1_.size() + b2_.size() > max_entries) {
      if (b2_.empty() || t1_.weight + b1_.size() * unit > capacity_) {
        b1_.PopTail();
      } else {
        b2_.PopTail();
      }
    }
  }

  uint64_t DirectoryWeight(uint64_t unit) const {
    return t1_.weight + t2_.weight + (b1_.size() + b2_.size()) * unit;
  }

  // The weight a ghost entry stands for: the average resident weight (1 in an item-bounded
  // cache). An empty cache keeps the last value rather than forgetting its ghosts' scale.
  uint64_t Unit() {
    const uint64_t n = t1_.count + t2_.count;
    if (n != 0) unit_ = std::max<uint64_t>((t1_.weight + t2_.weight) / n, 1);
    return unit_;
  }

  const PolicyContext* c_;
  uint64_t capacity_ = 1;
  ItemList t1_;
  ItemList t2_;
  GhostList b1_;
  GhostList b2_;
  double p_ = 0;  // target weight of T1
  uint64_t unit_ = 1;
  GhostHit ghost_hit_ = GhostHit::kNone;  // set by BeforeInsert for the Insert that follows
};

}  // namespace kvcache::internal
