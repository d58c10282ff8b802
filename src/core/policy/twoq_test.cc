// 2Q: hand-traced scenarios, through the policy itself (to see Ain, Am and Aout) and through
// the public API (to see that the shard drives it the same way), plus randomized consistency
// checks.
#include "core/policy/twoq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include "core/arena.h"
#include "kvcache/cache.h"

namespace kvcache::internal {
namespace {

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

TEST(TwoQPolicy, SizesNeverRoundToZero) {
  struct Case {
    uint64_t n, kin, am_cap;
  };
  for (Case c : {Case{1, 1, 1}, Case{3, 1, 2}, Case{4, 1, 3}, Case{8, 2, 6}, Case{10, 2, 8},
                 Case{126, 31, 95}, Case{9794, 2448, 7346}}) {
    Driver<TwoQPolicy> d(c.n);
    EXPECT_EQ(d.policy().kin(), c.kin) << c.n;
    EXPECT_EQ(d.policy().am_cap(), c.am_cap) << c.n;
  }
}

// N = 8: Kin = 2, Aout holds 4 entries, Am holds 6.
TEST(TwoQPolicy, HitsInAinDoNothing) {
  Driver<TwoQPolicy> d(8);
  for (uint64_t k = 0; k < 8; ++k) d.Access(k);  // warm-up: Ain takes the whole cache
  EXPECT_EQ(d.policy().ain().count, 8u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(d.Access(0));
  d.Access(8);  // FIFO: 0 is still the oldest
  EXPECT_FALSE(d.resident(0));
  EXPECT_EQ(d.policy().aout_size(), 1u);
  EXPECT_EQ(d.policy().am().count, 0u);
}

TEST(TwoQPolicy, OnlyAKeyFoundInAoutEntersAm) {
  Driver<TwoQPolicy> d(8);
  for (uint64_t k = 0; k < 9; ++k) d.Access(k);  // 0 goes to Aout
  EXPECT_FALSE(d.Access(0));                     // an Aout hit is still a miss...
  EXPECT_TRUE(d.InList(d.policy().am(), 0));     // ...that promotes into Am
  EXPECT_EQ(d.policy().aout_size(), 1u);         // [1]: 0's entry left at lookup
  EXPECT_FALSE(d.resident(1));
  // Ain keeps cycling the keys seen once; Am's item outlives all of them.
  for (uint64_t k = 100; k < 120; ++k) d.Access(k);
  EXPECT_TRUE(d.resident(0));
  for (uint64_t k = 1; k <= 8; ++k) EXPECT_FALSE(d.resident(k)) << k;
  EXPECT_EQ(d.policy().ain().count, 7u);
}

TEST(TwoQPolicy, AoutIsAFifoOfHalfTheCapacity) {
  Driver<TwoQPolicy> d(8);
  for (uint64_t k = 0; k < 13; ++k) d.Access(k);  // 0..4 leave Ain; Aout keeps [4 3 2 1]
  EXPECT_EQ(d.policy().aout_size(), 4u);
  d.Access(0);
  EXPECT_TRUE(d.InList(d.policy().ain(), 0)) << "0 fell out of Aout: a plain miss";
  // That miss pushed 5 out of Ain, and 1 out of Aout to make room for it.
  d.Access(1);
  EXPECT_TRUE(d.InList(d.policy().ain(), 1));
  d.Access(3);
  EXPECT_TRUE(d.InList(d.policy().am(), 3));
}

TEST(TwoQPolicy, AmDropsItsLruItemAtItsCapEvenWithRoomLeft) {
  Driver<TwoQPolicy> d(8);
  TwoQPolicy& p = d.policy();
  for (uint64_t k = 0; k < 12; ++k) d.Access(k);  // Ain = [11..4], Aout = [3 2 1 0]
  // Each Aout hit moves a key into Am and pushes Ain's oldest out to Aout, so Ain shrinks.
  for (uint64_t k = 0; k < 6; ++k) EXPECT_FALSE(d.Access(k));
  EXPECT_EQ(p.am().count, 6u);   // [5 4 3 2 1 0]: at its cap
  EXPECT_EQ(p.ain().count, 2u);  // [11 10]: back down to Kin
  EXPECT_EQ(p.aout_size(), 4u);  // [9 8 7 6]
  // Ain is not above Kin any more, so the next victim comes from Am.
  EXPECT_FALSE(d.Access(6));
  EXPECT_FALSE(d.resident(0));
  EXPECT_TRUE(d.resident(10));
  // With Ain emptied the cache has room, yet Am stays within N - Kin.
  d.Erase(10);
  d.Erase(11);
  EXPECT_FALSE(d.Access(7));
  EXPECT_FALSE(d.resident(1));
  EXPECT_EQ(p.am().count, 6u);
  EXPECT_EQ(d.count(), 6u);
}

void CheckInvariants(Driver<TwoQPolicy>& d, uint64_t capacity, bool weighted) {
  TwoQPolicy& p = d.policy();
  ASSERT_LE(d.used(), capacity);
  ASSERT_EQ(p.ain().count + p.am().count, d.count());
  ASSERT_EQ(p.ain().weight + p.am().weight, d.used());
  // Am may exceed its cap only by holding one item heavier than the cap.
  if (p.am().count > 1 || !weighted) {
    ASSERT_LE(p.am().weight, p.am_cap());
  }
  ASSERT_LE(p.aout_size(), std::max<uint64_t>(capacity / 2, 1));
}

TEST(TwoQPolicy, RandomOperationsKeepTheInvariants) {
  for (bool weighted : {false, true}) {
    for (uint64_t capacity : {1, 2, 3, 4, 5, 16, 100}) {
      SCOPED_TRACE(testing::Message() << "capacity " << capacity << " weighted " << weighted);
      Driver<TwoQPolicy> d(capacity, weighted);
      std::mt19937_64 rng(capacity * 7 + weighted);
      const uint64_t keys = std::min<uint64_t>(capacity * 4 + 2, Driver<TwoQPolicy>::kMaxKeys);
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
        CheckInvariants(d, capacity, weighted);
        if (i == 15000) {
          d.Clear();
          ASSERT_EQ(d.policy().aout_size(), 0u);
        }
      }
    }
  }
}

}  // namespace
}  // namespace kvcache::internal

namespace kvcache {
namespace {

// An item seen once leaves before one that came back through Aout, hits in Ain or not.
TEST(TwoQ, SeenOnceIsEvictedBeforeReReferenced) {
  Options o;
  o.policy = "twoq";
  o.capacity_items = 8;
  o.shards = 1;
  auto c = NewCache(o);
  ASSERT_TRUE(c);
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(c->Put("k" + std::to_string(i), "v").ok());
  ASSERT_TRUE(c->Get("k1"));            // a hit in Ain: no promotion
  ASSERT_TRUE(c->Put("k8", "v").ok());  // k0 -> Aout
  EXPECT_FALSE(c->Contains("k0"));
  ASSERT_TRUE(c->Put("k0", "v").ok());  // Aout hit -> Am; Ain's oldest, k1, leaves
  EXPECT_FALSE(c->Contains("k1"));
  for (int i = 100; i < 120; ++i) ASSERT_TRUE(c->Put("k" + std::to_string(i), "v").ok());
  EXPECT_TRUE(c->Contains("k0"));
  for (int i = 2; i <= 8; ++i) EXPECT_FALSE(c->Contains("k" + std::to_string(i))) << i;
  EXPECT_EQ(c->Stats().items, 8u);
}

// A model of what must hold whatever the policy evicts: a Get returns the last value Put, an
// erased key is gone, a key just Put is present, and the item count stays within capacity.
void RandomConsistency(const char* policy, size_t capacity, uint64_t seed) {
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

TEST(TwoQ, RandomPutGetEraseOverwriteStaysConsistent) {
  for (size_t capacity : {1, 2, 3, 4, 8, 64}) RandomConsistency("twoq", capacity, capacity);
}

// Byte-bounded: uneven item sizes exercise the weighted paths; the byte budget must hold.
TEST(TwoQ, ByteBoundedChurnWithUnevenSizes) {
  Options o;
  o.policy = "twoq";
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

}  // namespace
}  // namespace kvcache
