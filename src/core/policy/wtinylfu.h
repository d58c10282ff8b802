// W-TinyLFU (Einziger et al., ACM ToS 2017), as libCacheSim defines it: a window LRU takes 1%
// of the capacity and every new item; the main cache is a segmented LRU (probation 20%,
// protected 80%). When room is needed, the window's oldest item is a candidate for the main
// cache: it moves in freely while the main cache has room, and otherwise is admitted only if
// the frequency filter rates it strictly above the main cache's victim, which then leaves; a
// rejected candidate leaves instead. One eviction round admits candidates until one is
// rejected. Hits in the main cache and every insert count in the filter; after 32x the main
// cache's size in main-cache hits, all counts are halved.
//
// Unlike libCacheSim, the window and the segments never round below one item, so small shards
// keep working (libCacheSim's W-TinyLFU stores nothing below 100 objects). Hits are replayed
// from the read buffer. A hit in probation can push the protected segment's oldest item back to
// probation, and an overfull probation segment then loses its oldest item: such evictions go
// to the shard through TakePendingVictim. Metadata: the filter, ~14.4 bytes per item.
//
// WTinyLfuPolicyT<true> ("wtinylfu-adaptive") sizes the window by hill climbing, as Caffeine
// does: every sample of 20x the capacity's items in requests (hits, and inserts as misses), it
// compares the sample's hit ratio with the previous one and moves the window's share by a step
// in the direction that helped (reversing when it hurt); the step starts at 6.25% of the
// capacity, shrinks by 10% a sample, and restarts when the hit ratio jumps by 5 points.
// Caffeine samples 10x and shrinks the step by 2%; ours settle sooner and chase less noise
// (docs/design.md, "The default policy"). The main cache gives up an item without taking a
// candidate while it is above its (shrunk) target.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/policy/counting_bloom_filter.h"
#include "core/policy/policy.h"

namespace kvcache::internal {

template <bool kAdaptive>
class WTinyLfuPolicyT {
 public:
  static constexpr const char* kName = kAdaptive ? "wtinylfu-adaptive" : "wtinylfu";
  static constexpr bool kBufferedHits = true;

  explicit WTinyLfuPolicyT(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item*) {}

  void SetCapacity(uint64_t capacity) {
    room_ = capacity;
    Retarget();
  }
  void BeforeInsert(uint64_t) {}

  void Insert(ItemRef r, uint64_t) {
    Item* it = c_->At(r);
    it->set_policy_byte(kWindow);
    window_.PushHead(*c_, r, c_->Weight(r));
    filter_.Add(it->key());
    const uint64_t held = window_.weight + MainWeight();
    if (held > room_ + room_ / 64) {
      room_ = held;  // the shard grew past its room without evicting
      Retarget();
    } else if ((++inserts_ & 1023) == 0) {
      Retarget();
    }
    if constexpr (kAdaptive) Sample(false);
  }

  void Touch(ItemRef r) {
    if constexpr (kAdaptive) Sample(true);
    Item* it = c_->At(r);
    uint8_t where = it->policy_byte();
    if (where == kWindow) {
      window_.MoveToHead(*c_, r);
      return;
    }
    if (where == kProtected) {
      protected_.MoveToHead(*c_, r);
    } else {
      uint64_t w = c_->Weight(r);
      probation_.Remove(*c_, r, w);
      it->set_policy_byte(kProtected);
      protected_.PushHead(*c_, r, w);
      while (protected_.weight > protected_target_ && protected_.count > 1) {
        ItemRef d = protected_.tail;
        uint64_t dw = c_->Weight(d);
        protected_.Remove(*c_, d, dw);
        c_->At(d)->set_policy_byte(kProbation);
        probation_.PushHead(*c_, d, dw);
        while (probation_.weight > probation_target_ && !probation_.empty()) {
          pending_.push_back(MainEvict());
        }
      }
    }
    filter_.Add(it->key());
    if (++main_hits_ >= decay_after_) {
      main_hits_ = 0;
      filter_.Decay();
    }
  }

  void Remove(ItemRef r) { List(r).Remove(*c_, r, c_->Weight(r)); }
  // The frequency sketch's estimate for the item's key (what admission compares).
  uint32_t Frequency(ItemRef r) const { return filter_.Estimate(c_->At(r)->key()); }

  void Replace(ItemRef from, ItemRef to) {
    c_->At(to)->set_policy_byte(c_->At(from)->policy_byte());
    List(from).ReplaceNode(*c_, from, to, c_->Weight(from), c_->Weight(to));
    Touch(to);
  }

  ItemRef Evict() {
    const uint64_t held = window_.weight + MainWeight();
    if (held + room_ / 64 < room_ || held > room_ + room_ / 64) {
      room_ = held;  // what the shard holds when it has to make room
      Retarget();
    }
    if constexpr (kAdaptive) {
      // The window grew: the main cache shrinks to its target before it takes candidates.
      if (MainWeight() > main_target_ && window_.weight < window_target_ &&
          MainVictim() != kNullRef) {
        return MainEvict();
      }
    }
    while (!window_.empty()) {
      ItemRef candidate = window_.tail;
      uint64_t cw = c_->Weight(candidate);
      std::string_view key = c_->At(candidate)->key();
      if (MainWeight() + cw <= main_target_) {
        window_.Remove(*c_, candidate, cw);
        MainInsert(candidate, cw);
        filter_.Add(key);
        continue;
      }
      ItemRef victim = MainVictim();
      if (victim == kNullRef) break;
      if (filter_.Estimate(key) > filter_.Estimate(c_->At(victim)->key())) {
        pending_.push_back(MainEvict());
        window_.Remove(*c_, candidate, cw);
        MainInsert(candidate, cw);
        filter_.Add(key);
        continue;
      }
      window_.Remove(*c_, candidate, cw);
      filter_.Add(key);
      return candidate;
    }
    // The window ran dry (every candidate was admitted): the main cache gives one more.
    if (MainVictim() != kNullRef) return MainEvict();
    return TakePendingVictim();
  }

  ItemRef TakePendingVictim() {
    if (pending_.empty()) return kNullRef;
    ItemRef v = pending_.back();
    pending_.pop_back();
    return v;
  }

  size_t metadata_bytes() const { return filter_.memory_bytes(); }

  void Clear() {
    window_.Clear();
    probation_.Clear();
    protected_.Clear();
    filter_.Clear();
    pending_.clear();
    main_hits_ = 0;
  }

 private:
  static constexpr uint8_t kWindow = 0;
  static constexpr uint8_t kProbation = 1;
  static constexpr uint8_t kProtected = 2;

  ItemList& List(ItemRef r) {
    switch (c_->At(r)->policy_byte()) {
      case kWindow:
        return window_;
      case kProtected:
        return protected_;
      default:
        return probation_;
    }
  }
  uint64_t MainWeight() const { return probation_.weight + protected_.weight; }
  ItemRef MainVictim() const {
    return probation_.tail != kNullRef ? probation_.tail : protected_.tail;
  }
  // Unlinks and returns the main cache's victim. REQUIRES: the main cache is not empty.
  ItemRef MainEvict() {
    ItemRef v = MainVictim();
    List(v).Remove(*c_, v, c_->Weight(v));
    return v;
  }
  // The first segment with room takes the item (protected fills up while the cache warms);
  // when neither has room, probation takes it over its share.
  void MainInsert(ItemRef r, uint64_t w) {
    bool to_probation =
        probation_.weight + w <= probation_target_ || protected_.weight + w > protected_target_;
    c_->At(r)->set_policy_byte(to_probation ? kProbation : kProtected);
    (to_probation ? probation_ : protected_).PushHead(*c_, r, w);
  }

  // Targets in weight units (at least one item of the average weight each); the filter is
  // sized for the number of items the main cache holds at that weight.
  void Retarget() {
    uint64_t avg = std::max<uint64_t>(
        1, uint64_t(c_->AverageWeight(window_.count + probation_.count + protected_.count,
                                      window_.weight + MainWeight())));
    window_target_ = std::max<uint64_t>(uint64_t(double(room_) * window_share_), avg);
    main_target_ = room_ > window_target_ ? room_ - window_target_ : avg;
    probation_target_ = std::max<uint64_t>(uint64_t(double(main_target_) / 5), avg);
    protected_target_ = std::max<uint64_t>(uint64_t(4.0 / 5 * double(main_target_)), avg);
    uint64_t main_items = std::max<uint64_t>(1, main_target_ / avg);
    decay_after_ = 32 * main_items;
    sample_size_ = kSampleCapacities * std::max<uint64_t>(1, room_ / avg);
    // A byte-bounded cache sizes the filter for the items it holds so far, not for what its
    // capacity could hold: a cache that is far from full does not pay for the difference.
    uint64_t want = main_items;
    if (!c_->count_items) {
      uint64_t items = window_.count + probation_.count + protected_.count;
      want = std::min(main_items, std::max<uint64_t>(1024, items + items / 4));
    }
    // Re-sizing forgets the counts: only when the size is off by 2x (or the first time).
    if (filter_items_ == 0 || want > 2 * filter_items_ || 2 * want < filter_items_) {
      filter_.Resize(want);
      filter_items_ = want;
    }
  }

  // One request of the hill climber's sample (kAdaptive).
  void Sample(bool hit) {
    (hit ? sample_hits_ : sample_misses_)++;
    if (sample_hits_ + sample_misses_ < sample_size_) return;
    const double rate = double(sample_hits_) / double(sample_hits_ + sample_misses_);
    const double change = rate - previous_rate_;
    const double amount = change >= 0 ? step_ : -step_;
    step_ = std::abs(change) >= kRestartThreshold ? std::copysign(kStepShare, amount)
                                                  : kStepDecay * amount;
    previous_rate_ = rate;
    window_share_ = std::clamp(window_share_ + amount, 0.0, kMaxWindowShare);
    sample_hits_ = 0;
    sample_misses_ = 0;
    Retarget();
  }

  static constexpr double kStepShare = 0.0625;
  static constexpr double kStepDecay = 0.9;
  static constexpr uint64_t kSampleCapacities = 20;
  static constexpr double kRestartThreshold = 0.05;
  static constexpr double kMaxWindowShare = 0.8;

  const PolicyContext* c_;
  ItemList window_;
  ItemList probation_;
  ItemList protected_;
  CountingBloomFilter filter_;
  std::vector<ItemRef> pending_;
  // The room the targets are shares of: the capacity until the shard first evicts, then what it
  // holds whenever it has to make room, raised when it grows past that without evicting.
  uint64_t room_ = 0;
  uint64_t window_target_ = 1;
  uint64_t main_target_ = 0;
  uint64_t probation_target_ = 0;
  uint64_t protected_target_ = 0;
  uint64_t filter_items_ = 0;
  uint64_t decay_after_ = 32;
  uint64_t main_hits_ = 0;
  uint64_t inserts_ = 0;
  double window_share_ = 0.01;
  // The hill climber's state (kAdaptive).
  uint64_t sample_size_ = 1;
  uint64_t sample_hits_ = 0;
  uint64_t sample_misses_ = 0;
  double previous_rate_ = 0;
  double step_ = kStepShare;
};

using WTinyLfuPolicy = WTinyLfuPolicyT<false>;
using AdaptiveWTinyLfuPolicy = WTinyLfuPolicyT<true>;

}  // namespace kvcache::internal
