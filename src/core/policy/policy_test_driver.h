// Test helpers for eviction policies: a harness that drives a policy the way Shard does, over
// item headers laid out by hand in a real arena (so a test sees the policy's own state step by
// step), and a randomized consistency check through the public API.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/arena.h"
#include "core/policy/policy.h"
#include "kvcache/cache.h"

namespace kvcache::internal {

// Drives a policy the way Shard does, over items laid out by hand in an arena. Key k has two
// slots (an overwrite moves it to the other one) at ItemRef 2 * (k + 1) in the first two pages.
// Weights are 1, or 1 + k % 5 (at most the capacity, as in a shard) when `weighted`.
template <class P>
class Driver final : public PolicyContext {
 public:
  static constexpr uint64_t kMaxKeys = 4000;

  explicit Driver(uint64_t capacity, bool weighted = false)
      : arena_(4 << 20), weighted_(weighted), capacity_(capacity), policy_(this) {
    arena = &arena_;
    policy_.SetCapacity(capacity);
  }

  uint64_t Weight(ItemRef r) const override {
    return weighted_ ? std::min<uint64_t>(1 + KeyOf(r) % 5, capacity_) : 1;
  }
  uint64_t HashOf(ItemRef r) const override { return Hash(KeyOf(r)); }

  // A Get, and a Put on a miss. Returns whether it hit.
  bool Access(uint64_t key) {
    auto it = resident_.find(key);
    if (it != resident_.end()) {
      policy_.Touch(it->second);
      TakePending();
      return true;
    }
    policy_.BeforeInsert(Hash(key));
    TakePending();
    const ItemRef r = RefOf(key, 0);
    const uint64_t w = Weight(r);
    while (used_ + w > capacity_) {
      ItemRef v = policy_.Evict();
      if (v == kNullRef) break;
      Drop(v);
    }
    policy_.Insert(r, Hash(key));
    resident_[key] = r;
    used_ += w;
    TakePending();
    return false;
  }
  void Erase(uint64_t key) {
    auto it = resident_.find(key);
    if (it == resident_.end()) return;
    policy_.Remove(it->second);
    used_ -= Weight(it->second);
    resident_.erase(it);
  }
  void Overwrite(uint64_t key) {
    auto it = resident_.find(key);
    if (it == resident_.end()) return;
    const ItemRef from = it->second;
    const ItemRef to = RefOf(key, from == RefOf(key, 0) ? 1 : 0);
    policy_.Replace(from, to);
    it->second = to;
    TakePending();
  }
  void Clear() {
    policy_.Clear();
    resident_.clear();
    used_ = 0;
  }

  bool resident(uint64_t key) const { return resident_.contains(key); }
  size_t count() const { return resident_.size(); }
  uint64_t used() const { return used_; }
  P& policy() { return policy_; }

  bool InList(const ItemList& list, uint64_t key) const {
    for (ItemRef r = list.head; r != kNullRef; r = At(r)->next) {
      if (KeyOf(r) == key) return true;
    }
    return false;
  }

 private:
  static uint64_t Hash(uint64_t key) { return (key + 1) * 0x9E3779B97F4A7C15ull; }
  static ItemRef RefOf(uint64_t key, int slot) {
    return static_cast<ItemRef>(2 * (key + 1) + slot * Arena::kPageUnits);
  }
  static uint64_t KeyOf(ItemRef r) { return (r % Arena::kPageUnits) / 2 - 1; }

  void Drop(ItemRef v) {
    auto it = resident_.find(KeyOf(v));
    ASSERT_TRUE(it != resident_.end() && it->second == v) << "evicted a non-resident item";
    used_ -= Weight(v);
    resident_.erase(it);
  }
  void TakePending() {
    if constexpr (requires(P & p) { p.TakePendingVictim(); }) {
      for (ItemRef v; (v = policy_.TakePendingVictim()) != kNullRef;) Drop(v);
    }
  }

  Arena arena_;
  bool weighted_;
  uint64_t capacity_;
  uint64_t used_ = 0;
  std::unordered_map<uint64_t, ItemRef> resident_;
  P policy_;
};

// 20,000 random accesses, erases and overwrites over skewed keys (so that ghost lists get hits)
// through d, calling check() after each, and a Clear() at the end.
template <class P, class Check>
void RandomDriverOps(Driver<P>& d, uint64_t capacity, bool weighted, Check check) {
  SCOPED_TRACE(testing::Message() << "capacity " << capacity << " weighted " << weighted);
  std::mt19937_64 rng(capacity * 7 + weighted);
  const uint64_t keys = std::min<uint64_t>(capacity * 4 + 2, Driver<P>::kMaxKeys);
  for (int i = 0; i < 20000; ++i) {
    uint64_t key = rng() % (rng() % 2 ? keys : capacity / 2 + 1);
    switch (rng() % 10) {
      case 0:
        d.Erase(key);
        break;
      case 1:
        d.Overwrite(key);
        break;
      default:
        d.Access(key);
    }
    check();
    if (::testing::Test::HasFatalFailure()) return;
  }
  d.Clear();
}

// A model of what must hold whatever the policy evicts: a Get returns the last value Put, an
// erased key is gone, a key just Put is present, and the item count stays within capacity.
inline void RandomConsistency(const char* policy, size_t capacity, uint64_t seed) {
  SCOPED_TRACE(testing::Message() << policy << " capacity " << capacity);
  Options o;
  o.policy = policy;
  o.capacity_items = capacity;
  o.shards = 1;
  auto c = NewCache(o);
  ASSERT_TRUE(c);
  std::mt19937_64 rng(seed);
  std::map<std::string, std::string> last;  // last value Put per key, unless erased since
  const int keys = static_cast<int>(capacity) * 3 + 3;
  for (int i = 0; i < 30000; ++i) {
    const std::string key = "k" + std::to_string(rng() % 2 ? rng() % keys : rng() % (keys / 4 + 1));
    const int op = static_cast<int>(rng() % 10);
    if (op < 4) {
      const std::string value = std::to_string(i);
      ASSERT_TRUE(c->Put(key, value).ok());
      last[key] = value;
      ASSERT_EQ(c->Get(key).value(), value);
    } else if (op < 5) {
      const bool had = c->Contains(key);
      ASSERT_EQ(c->Erase(key), had);
      last.erase(key);
      ASSERT_FALSE(c->Contains(key));
    } else {
      Handle h = c->Get(key);
      if (h) {
        auto it = last.find(key);
        ASSERT_TRUE(it != last.end()) << "an erased key came back: " << key;
        ASSERT_EQ(h.value(), it->second);
      }
    }
    if (i % 5000 == 4999) c->Clear();
    if (i % 5000 == 4999) last.clear();
    ASSERT_LE(c->Stats().items, capacity);
  }
  EXPECT_GT(c->Stats().evictions, 0u);
}

// Byte-bounded: uneven item sizes exercise the weighted paths; the byte budget must hold.
inline void ByteBoundedChurn(const char* policy) {
  Options o;
  o.policy = policy;
  o.capacity_bytes = 256 << 10;
  o.shards = 1;
  auto c = NewCache(o);
  ASSERT_TRUE(c);
  std::mt19937_64 rng(42);
  std::string value;
  for (int i = 0; i < 40000; ++i) {
    const std::string key = "key" + std::to_string(rng() % 2 ? rng() % 4000 : rng() % 300);
    if (!c->Get(key)) {
      value.assign(16 + rng() % (rng() % 8 == 0 ? 6000 : 300), 'v');
      ASSERT_TRUE(c->Put(key, value).ok());
    }
    if (rng() % 20 == 0) c->Erase("key" + std::to_string(rng() % 4000));
    CacheStats s = c->Stats();
    ASSERT_LE(s.bytes, s.capacity) << "at step " << i;
  }
  CacheStats s = c->Stats();
  EXPECT_GT(s.hits, 0u);
  EXPECT_GT(s.bytes, s.capacity / 2);
}

}  // namespace kvcache::internal
