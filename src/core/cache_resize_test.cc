// Cache::SetCapacity and Reclaim: changing the byte budget of a cache in use.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "core/every_policy_test.h"
#include "kvcache/cache.h"

namespace kvcache {
namespace {

std::unique_ptr<Cache> Make(const std::string& policy, size_t bytes, uint32_t shards,
                            bool evict = true) {
  return MakeTestCache(policy, bytes, shards, evict);
}

std::string Key(int i) { return "key:" + std::to_string(i); }
std::string Value(int i, size_t size) {
  std::string v(size, static_cast<char>('a' + i % 26));
  v.replace(0, std::min(v.size(), Key(i).size()), Key(i).substr(0, v.size()));
  return v;
}

// Writes keys [from, to) with values of `size` bytes.
void Fill(Cache& c, int from, int to, size_t size) {
  for (int i = from; i < to; ++i) ASSERT_TRUE(c.Put(Key(i), Value(i, size)).ok()) << i;
}

class EveryPolicy : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryPolicy, ALowerBudgetEvictsDownToItThroughReclaim) {
  auto c = Make(GetParam(), 32 << 20, 4);
  Fill(*c, 0, 100000, 200);  // ~26 MB of items
  const CacheStats before = c->Stats();
  ASSERT_GT(before.bytes, 20u << 20);

  ASSERT_TRUE(c->SetCapacity(8 << 20).ok());
  EXPECT_EQ(c->Stats().capacity, 8u << 20);
  EXPECT_GT(c->Stats().bytes, 8u << 20) << "the items stay until Reclaim";
  // A slice at a time, as a server's timer does: each call evicts at most about its slice.
  uint64_t left = c->Reclaim(100);
  EXPECT_GT(left, 0u);
  const uint64_t evicted = c->Stats().evictions - before.evictions;
  EXPECT_GE(evicted, 1u);
  EXPECT_LE(evicted, 200u);
  int calls = 1;
  while (left != 0 && calls < 100000) {
    const uint64_t next = c->Reclaim(1000);
    EXPECT_LE(next, left);
    left = next;
    ++calls;
  }
  EXPECT_EQ(left, 0u);
  CacheStats s = c->Stats();
  EXPECT_LE(s.bytes, 8u << 20);
  EXPECT_GT(s.bytes, 4u << 20) << "evicted far more than the budget asked";
  EXPECT_EQ(s.evictions - before.evictions, before.items - s.items);

  // Writes now keep to the lower budget, and what is there reads back whole.
  Fill(*c, 100000, 150000, 200);
  s = c->Stats();
  EXPECT_LE(s.bytes, 8u << 20);
  size_t found = 0;
  for (int i = 0; i < 150000; ++i) {
    Handle h = c->Get(Key(i));
    if (!h) continue;
    ++found;
    ASSERT_EQ(h.value(), Value(i, 200)) << i;
  }
  EXPECT_EQ(found, s.items);
}

TEST_P(EveryPolicy, AHigherBudgetGrowsTheArenaAndKeepsEveryKey) {
  // A small cache's stripes are short and its index's local offsets narrow: raising the budget
  // 64-fold lengthens the stripes, which widens the offsets and narrows every slot's tag.
  auto c = Make(GetParam(), 4 << 20, 2);
  Fill(*c, 0, 20000, 100);
  std::vector<int> held;
  for (int i = 0; i < 20000; ++i) {
    if (c->Contains(Key(i))) held.push_back(i);
  }
  ASSERT_GT(held.size(), 1000u);

  ASSERT_TRUE(c->SetCapacity(256 << 20).ok());
  EXPECT_EQ(c->Reclaim(1000), 0u);
  for (int i : held) {
    Handle h = c->Get(Key(i));
    ASSERT_TRUE(h) << "key " << i << " lost when the index was widened";
    ASSERT_EQ(h.value(), Value(i, 100));
  }
  // Twenty times what the old budget held fits, with nothing evicted.
  const uint64_t evictions = c->Stats().evictions;
  Fill(*c, 20000, 600000, 300);
  CacheStats s = c->Stats();
  EXPECT_EQ(s.evictions, evictions);
  EXPECT_GT(s.bytes, 150u << 20);
  EXPECT_LE(s.bytes, 256u << 20);
  for (int i = 20000; i < 600000; i += 997) {
    Handle h = c->Get(Key(i));
    ASSERT_TRUE(h) << i;
    ASSERT_EQ(h.value(), Value(i, 300));
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, EveryPolicy, ::testing::ValuesIn(AllPolicies()), PolicyTestName);

TEST(CacheResize, BadBudgetsAreRefusedAndChangeNothing) {
  auto c = Make("lru", 16 << 20, 4);
  Fill(*c, 0, 1000, 100);
  EXPECT_GT(c->max_capacity(), uint64_t{16} << 30);
  Status st = c->SetCapacity(3);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  st = c->SetCapacity(c->max_capacity() + (1 << 20));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("at most " + std::to_string(c->max_capacity())), std::string::npos)
      << st.message();
  EXPECT_EQ(c->Stats().capacity, 16u << 20);
  EXPECT_EQ(c->Stats().items, 1000u);

  Options o;
  o.capacity_items = 1000;
  auto items = NewCache(o);
  ASSERT_TRUE(items);
  EXPECT_EQ(items->SetCapacity(1 << 20).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(items->max_capacity(), 0u);
}

TEST(CacheResize, OneShardLowersAndRaises) {
  auto c = Make("lirs", 16 << 20, 1);
  Fill(*c, 0, 60000, 200);
  ASSERT_TRUE(c->SetCapacity(4 << 20).ok());
  while (c->Reclaim(500) != 0) {
  }
  EXPECT_LE(c->Stats().bytes, 4u << 20);
  EXPECT_GT(c->Stats().bytes, 2u << 20);
  ASSERT_TRUE(c->SetCapacity(64 << 20).ok());
  const uint64_t evictions = c->Stats().evictions;
  Fill(*c, 60000, 250000, 200);
  EXPECT_EQ(c->Stats().evictions, evictions);
  EXPECT_GT(c->Stats().bytes, 40u << 20);
  EXPECT_LE(c->Stats().bytes, 64u << 20);
}

TEST(CacheResize, ACacheThatDoesNotEvictRefusesWritesUntilDeletesMakeRoom) {
  auto c = Make("lru", 16 << 20, 4, /*evict=*/false);
  Fill(*c, 0, 40000, 200);
  const CacheStats before = c->Stats();
  ASSERT_TRUE(c->SetCapacity(4 << 20).ok());
  EXPECT_GT(c->Reclaim(1000000), 0u) << "nothing may be evicted";
  EXPECT_EQ(c->Stats().items, before.items);
  EXPECT_EQ(c->Stats().evictions, 0u);
  EXPECT_EQ(c->Put("new", std::string(200, 'n')).code(), Status::Code::kNoSpace);
  // Deleting most of it brings the cache under the budget, and writes succeed again.
  for (int i = 0; i < 36000; ++i) c->Erase(Key(i));
  EXPECT_EQ(c->Reclaim(1000), 0u);
  EXPECT_TRUE(c->Put("new", std::string(200, 'n')).ok());
  EXPECT_LE(c->Stats().bytes, 4u << 20);
}

TEST(CacheResize, WritersKeepGoingWhileTheBudgetChanges) {
  auto c = Make("lirs", 64 << 20, 8);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> writes{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        const int k = (i * 7919 + t * 104729) % 400000;
        if (!c->Put(Key(k), Value(k, 64 + k % 700)).ok()) failures.fetch_add(1);
        writes.fetch_add(1);
        Handle h = c->Get(Key((k * 31) % 400000));
        if (h && h.value() != Value((k * 31) % 400000, 64 + (k * 31) % 400000 % 700)) {
          failures.fetch_add(1);
        }
      }
    });
  }
  for (int round = 0; round < 40; ++round) {
    const uint64_t budget = static_cast<uint64_t>(8 + (round * 37) % 120) << 20;
    ASSERT_TRUE(c->SetCapacity(budget).ok());
    while (c->Reclaim(2000) != 0) {
    }
    // Each budget sees some thousands of writes.
    for (const uint64_t seen = writes.load(); writes.load() < seen + 5000;) {
      std::this_thread::yield();
    }
  }
  stop = true;
  for (auto& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0u);
  // Quiet now: one more Reclaim settles what the writers took meanwhile.
  while (c->Reclaim(2000) != 0) {
  }
  EXPECT_LE(c->Stats().bytes, c->Stats().capacity);
}

}  // namespace
}  // namespace kvcache
