// GhostList against a linked list and a hash map, over random pushes, removals and pops.
#include "core/policy/ghost_list.h"

#include <gtest/gtest.h>

#include <list>
#include <random>
#include <unordered_map>

namespace kvcache::internal {
namespace {

TEST(GhostList, BehavesAsAnOrderedSet) {
  for (uint64_t keys : {3, 50, 2000}) {
    SCOPED_TRACE(keys);
    GhostList g;
    std::list<uint64_t> order;  // front: newest
    std::unordered_map<uint64_t, std::list<uint64_t>::iterator> where;
    std::mt19937_64 rng(keys);
    for (int i = 0; i < 200000; ++i) {
      // Hashes of few keys, so that removals and re-pushes find entries; 0 included (it is
      // stored as ~0).
      const uint64_t k = rng() % keys;
      const uint64_t h = k == 0 ? 0 : k * 0x9E3779B97F4A7C15ull;
      const uint64_t op = rng() % 8;
      if (op < 4) {
        if (!where.contains(h)) {
          g.PushHead(h);
          order.push_front(h);
          where[h] = order.begin();
        }
      } else if (op < 6) {
        const bool had = where.contains(h);
        ASSERT_EQ(g.Remove(h), had);
        if (had) {
          order.erase(where[h]);
          where.erase(h);
        }
      } else if (op < 7) {
        if (!order.empty()) {
          ASSERT_EQ(g.PopTail(), order.back());
          where.erase(order.back());
          order.pop_back();
        }
      } else {
        ASSERT_EQ(g.Contains(h), where.contains(h));
      }
      ASSERT_EQ(g.size(), order.size());
      if (i % 50000 == 49999 && keys == 2000) {
        // Well under a linked list under a hash map (30-60 bytes per entry).
        EXPECT_LE(g.memory_bytes(), 32 * g.size() + 1024);
      }
    }
    while (!order.empty()) {
      ASSERT_EQ(g.PopTail(), order.back());
      order.pop_back();
    }
    EXPECT_TRUE(g.empty());
    g.PushHead(7);
    g.Clear();
    EXPECT_TRUE(g.empty());
    EXPECT_FALSE(g.Contains(7));
  }
}

}  // namespace
}  // namespace kvcache::internal
