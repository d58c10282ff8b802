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
#include "core/policy/policy_test_driver.h"
#include "kvcache/cache.h"

namespace kvcache::internal {
namespace {

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
      Driver<TwoQPolicy> d(capacity, weighted);
      RandomDriverOps(d, capacity, weighted, [&] { CheckInvariants(d, capacity, weighted); });
      EXPECT_EQ(d.policy().aout_size(), 0u) << "Clear() forgets the ghosts";
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

TEST(TwoQ, RandomPutGetEraseOverwriteStaysConsistent) {
  for (size_t capacity : {1, 2, 3, 4, 8, 64})
    internal::RandomConsistency("twoq", capacity, capacity);
}

TEST(TwoQ, ByteBoundedChurnWithUnevenSizes) { internal::ByteBoundedChurn("twoq"); }

}  // namespace
}  // namespace kvcache
