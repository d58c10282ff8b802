// ARC: hand-traced scenarios, through the policy itself (to see the target p and the lists)
// and through the public API (to see that the shard drives it the same way), plus randomized
// consistency checks.
#include "core/policy/arc.h"

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

enum Key : uint64_t { kA, kB, kX, kY, kZ, kW };

// One trace, traced by hand: c = 4.
TEST(ArcPolicy, GhostHitsMoveTheTargetAndReturnIntoT2) {
  Driver<ArcPolicy> d(4);
  ArcPolicy& p = d.policy();
  d.Access(kA);
  d.Access(kB);
  EXPECT_TRUE(d.Access(kA));
  EXPECT_TRUE(d.Access(kB));  // T2 = [b a]
  d.Access(kX);
  d.Access(kY);  // T1 = [y x]: full
  // Case IV with room in T1 + B1: REPLACE, and T1 (2) is above p (0).
  d.Access(kZ);
  EXPECT_FALSE(d.resident(kX));
  EXPECT_EQ(p.b1_size(), 1u);
  EXPECT_EQ(p.target(), 0.0);

  // B1 hit: p += max(|B2| / |B1|, 1) = 1; T1 (2) > p still, so y goes to B1; x enters T2.
  EXPECT_FALSE(d.Access(kX));
  EXPECT_EQ(p.target(), 1.0);
  EXPECT_FALSE(d.resident(kY));
  EXPECT_TRUE(d.InList(p.t2(), kX));
  EXPECT_EQ(p.t1().count, 1u);  // [z]
  EXPECT_EQ(p.t2().count, 3u);  // [x b a]
  EXPECT_EQ(p.b1_size(), 1u);   // [y]: x's entry is gone

  // B1 hit again: p = 2. Now T1 (1) is below p, so T2's LRU item a goes to B2.
  EXPECT_FALSE(d.Access(kY));
  EXPECT_EQ(p.target(), 2.0);
  EXPECT_FALSE(d.resident(kA));
  EXPECT_TRUE(d.resident(kZ));
  EXPECT_EQ(p.b2_size(), 1u);

  // B2 hit: p -= max(|B1| / |B2|, 1) = 1. T1 (1) equals p, and on a B2 hit the tie evicts from
  // T1: z goes, b (T2's LRU) stays.
  EXPECT_FALSE(d.Access(kA));
  EXPECT_EQ(p.target(), 1.0);
  EXPECT_FALSE(d.resident(kZ));
  EXPECT_TRUE(d.resident(kB));
  EXPECT_EQ(p.t1().count, 0u);
  EXPECT_EQ(p.t2().count, 4u);
  EXPECT_TRUE(d.InList(p.t2(), kA));
  EXPECT_EQ(p.b1_size(), 1u);  // [z]
  EXPECT_EQ(p.b2_size(), 0u);
}

// When T1 alone fills the cache there is no room for a B1 entry: its LRU item goes for good.
TEST(ArcPolicy, FullT1DropsItsTailWithoutAGhost) {
  Driver<ArcPolicy> d(3);
  ArcPolicy& p = d.policy();
  for (uint64_t k = 0; k < 4; ++k) d.Access(k);
  EXPECT_FALSE(d.resident(0));
  EXPECT_EQ(p.b1_size(), 0u);
  EXPECT_EQ(p.b2_size(), 0u);
  // So key 0 comes back as a plain miss, into T1, and p does not move.
  d.Access(0);
  EXPECT_TRUE(d.InList(p.t1(), 0));
  EXPECT_EQ(p.target(), 0.0);
}

// The ghost directory stays within 2c, B1 + B2 within c, p within [0, c]; every resident item is
// in exactly one of T1 and T2.
void CheckInvariants(Driver<ArcPolicy>& d, uint64_t capacity, bool weighted) {
  ArcPolicy& p = d.policy();
  ASSERT_LE(d.used(), capacity);
  ASSERT_EQ(p.t1().count + p.t2().count, d.count());
  ASSERT_EQ(p.t1().weight + p.t2().weight, d.used());
  ASSERT_GE(p.target(), 0.0);
  ASSERT_LE(p.target(), static_cast<double>(capacity));
  ASSERT_LE(p.b1_size() + p.b2_size(), capacity);
  if (!weighted) {
    ASSERT_LE(d.count() + p.b1_size() + p.b2_size(), 2 * capacity);
  }
}

TEST(ArcPolicy, RandomOperationsKeepTheInvariants) {
  for (bool weighted : {false, true}) {
    for (uint64_t capacity : {1, 2, 3, 5, 16, 100}) {
      SCOPED_TRACE(testing::Message() << "capacity " << capacity << " weighted " << weighted);
      Driver<ArcPolicy> d(capacity, weighted);
      std::mt19937_64 rng(capacity * 7 + weighted);
      const uint64_t keys = std::min<uint64_t>(capacity * 4 + 2, Driver<ArcPolicy>::kMaxKeys);
      for (int i = 0; i < 20000; ++i) {
        // Skewed keys, so that both ghost lists get hits.
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
          ASSERT_EQ(d.policy().b1_size() + d.policy().b2_size(), 0u);
        }
      }
    }
  }
}

}  // namespace
}  // namespace kvcache::internal

namespace kvcache {
namespace {

std::unique_ptr<Cache> MakeArc(size_t items) {
  Options o;
  o.policy = "arc";
  o.capacity_items = items;
  o.shards = 1;
  Status st;
  auto c = NewCache(o, &st);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return c;
}

// The hand-traced scenario above, through a real shard (hits are buffered and replayed).
TEST(Arc, GhostHitsThroughTheCache) {
  auto c = MakeArc(4);
  ASSERT_TRUE(c->Put("a", "1").ok());
  ASSERT_TRUE(c->Put("b", "1").ok());
  ASSERT_TRUE(c->Get("a"));
  ASSERT_TRUE(c->Get("b"));
  for (const char* k : {"x", "y", "z"}) ASSERT_TRUE(c->Put(k, "1").ok());
  EXPECT_FALSE(c->Contains("x"));
  ASSERT_TRUE(c->Put("x", "2").ok());  // B1 hit: p = 1, y leaves
  EXPECT_FALSE(c->Contains("y"));
  ASSERT_TRUE(c->Put("y", "2").ok());  // B1 hit: p = 2, T2's LRU a leaves, not z
  EXPECT_FALSE(c->Contains("a"));
  EXPECT_TRUE(c->Contains("z"));
  ASSERT_TRUE(c->Put("a", "2").ok());  // B2 hit: p = 1 = |T1|, so z leaves, not b
  EXPECT_FALSE(c->Contains("z"));
  for (const char* k : {"a", "b", "x", "y"}) EXPECT_TRUE(c->Contains(k)) << k;
  EXPECT_EQ(c->Stats().items, 4u);
}

// Items used twice sit in T2; a scan of keys used once only churns T1, where p (0: the scan
// brings no ghost hits) keeps it. LRU, given the same requests, loses them all.
TEST(Arc, OneTimeScanDoesNotFlushFrequentItems) {
  for (const char* policy : {"arc", "lru"}) {
    Options o;
    o.policy = policy;
    o.capacity_items = 10;
    o.shards = 1;
    auto c = NewCache(o);
    ASSERT_TRUE(c);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(c->Put("hot" + std::to_string(i), "v").ok());
    for (int round = 0; round < 2; ++round) {
      for (int i = 0; i < 5; ++i) ASSERT_TRUE(c->Get("hot" + std::to_string(i)));
    }
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(c->Put("scan" + std::to_string(i), "v").ok());
    int kept = 0;
    for (int i = 0; i < 5; ++i) kept += c->Contains("hot" + std::to_string(i));
    EXPECT_EQ(kept, std::string(policy) == "arc" ? 5 : 0) << policy;
  }
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

TEST(Arc, RandomPutGetEraseOverwriteStaysConsistent) {
  for (size_t capacity : {1, 2, 3, 8, 64}) RandomConsistency("arc", capacity, capacity);
}

// Byte-bounded: uneven item sizes exercise the weighted paths; the byte budget must hold.
TEST(Arc, ByteBoundedChurnWithUnevenSizes) {
  Options o;
  o.policy = "arc";
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
