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
#include "core/policy/policy_test_driver.h"
#include "kvcache/cache.h"

namespace kvcache::internal {
namespace {

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
      Driver<ArcPolicy> d(capacity, weighted);
      RandomDriverOps(d, capacity, weighted, [&] { CheckInvariants(d, capacity, weighted); });
      EXPECT_EQ(d.policy().b1_size() + d.policy().b2_size(), 0u) << "Clear() forgets the ghosts";
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

TEST(Arc, RandomPutGetEraseOverwriteStaysConsistent) {
  for (size_t capacity : {1, 2, 3, 8, 64}) internal::RandomConsistency("arc", capacity, capacity);
}

TEST(Arc, ByteBoundedChurnWithUnevenSizes) { internal::ByteBoundedChurn("arc"); }

}  // namespace
}  // namespace kvcache
