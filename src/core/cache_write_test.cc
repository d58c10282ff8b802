// Conditional writes, read-modify-write updates, expiry changes, scans and key-space counts:
// what a Redis-compatible server builds its commands on.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kvcache/cache.h"

namespace kvcache {
namespace {

struct Clocked {
  std::atomic<int64_t> now{1'000'000};
  std::unique_ptr<Cache> cache;
  explicit Clocked(const std::string& policy = "default", uint32_t shards = 4,
                   size_t bytes = 32 << 20, uint32_t key_spaces = 0) {
    Options o;
    o.policy = policy;
    o.capacity_bytes = bytes;
    o.shards = shards;
    o.key_spaces = key_spaces;
    o.clock = [this] { return now.load(); };
    cache = NewCache(o);
  }
};

TEST(Write, ConditionsChangeNothingWhenTheyFail) {
  Clocked c;
  WriteOptions nx;
  nx.condition = WriteOptions::Condition::kIfAbsent;
  WriteOptions xx;
  xx.condition = WriteOptions::Condition::kIfPresent;
  EXPECT_TRUE(c.cache->Write("k", "v1", xx).IsNotFound());
  EXPECT_FALSE(c.cache->Contains("k"));
  EXPECT_TRUE(c.cache->Write("k", "v1", nx).ok());
  EXPECT_TRUE(c.cache->Write("k", "v2", nx).IsNotFound());
  EXPECT_EQ(c.cache->Get("k").value(), "v1");
  EXPECT_TRUE(c.cache->Write("k", "v3", xx).ok());
  EXPECT_EQ(c.cache->Get("k").value(), "v3");
}

// kIfCurrent stores a value built from one read earlier only if the key still holds the item
// that read pinned (or still holds nothing, for an empty Handle).
TEST(Write, IfCurrentStoresOnlyOverTheItemItWasBuiltFrom) {
  Clocked c;
  WriteOptions o;
  o.condition = WriteOptions::Condition::kIfCurrent;
  Handle none;
  o.current = &none;
  ASSERT_TRUE(c.cache->Write("k", "v1", o).ok()) << "absent, as the empty Handle says";
  EXPECT_TRUE(c.cache->Write("k", "v2", o).IsNotFound()) << "no longer absent";
  Handle read = c.cache->Peek("k");
  o.current = &read;
  ASSERT_TRUE(c.cache->Write("k", "v3", o).ok());
  EXPECT_EQ(c.cache->Get("k").value(), "v3");
  EXPECT_TRUE(c.cache->Write("k", "v4", o).IsNotFound()) << "replaced by the write itself";
  // Replaced by someone else, even with the same value; erased; expired.
  read = c.cache->Peek("k");
  ASSERT_TRUE(c.cache->Put("k", "v3").ok());
  EXPECT_TRUE(c.cache->Write("k", "v5", o).IsNotFound());
  EXPECT_EQ(c.cache->Get("k").value(), "v3");
  read = c.cache->Peek("k");
  ASSERT_TRUE(c.cache->Erase("k"));
  EXPECT_TRUE(c.cache->Write("k", "v6", o).IsNotFound());
  EXPECT_FALSE(c.cache->Contains("k"));
  ASSERT_TRUE(c.cache->Put("k", "v7", Ttl(10)).ok());
  read = c.cache->Peek("k");
  c.now += 20;
  EXPECT_TRUE(c.cache->Write("k", "v8", o).IsNotFound());
  // A large value from NewValue, with room to grow in place.
  ASSERT_TRUE(c.cache->Put("big", std::string(1 << 20, 'a')).ok());
  read = c.cache->Peek("big");
  ValueBuffer b = c.cache->NewValue("big", 2 << 20, 1 << 20);
  ASSERT_TRUE(b);
  std::memcpy(b.data(), read.value().data(), read.value().size());
  std::memset(b.data() + read.value().size(), 'b', 1 << 20);
  o.keep_ttl = true;
  ASSERT_TRUE(c.cache->Write(std::move(b), o).ok());
  read.Reset();
  EXPECT_EQ(c.cache->Get("big").value(), std::string(1 << 20, 'a') + std::string(1 << 20, 'b'));
  ASSERT_TRUE(c.cache
                  ->Update("big",
                           [&](const ItemView* cur, Mutation*) {
                             ASSERT_NE(cur->writable, nullptr);
                             EXPECT_GE(cur->capacity, size_t{3} << 20) << "the room asked for";
                           })
                  .ok());
}

TEST(Write, PreviousValueAndKeepTtlAndKind) {
  Clocked c;
  WriteOptions o;
  o.ttl = Ttl(5000);
  ASSERT_TRUE(c.cache->Write("k", "old", o).ok());
  WriteOptions keep;
  keep.keep_ttl = true;
  keep.kind = ValueKind::kHash;
  Handle prev;
  ASSERT_TRUE(c.cache->Write("k", "new", keep, &prev).ok());
  ASSERT_TRUE(prev);
  EXPECT_EQ(prev.value(), "old");
  EXPECT_EQ(prev.kind(), ValueKind::kString);
  Handle h = c.cache->Get("k");
  EXPECT_EQ(h.value(), "new");
  EXPECT_EQ(h.kind(), ValueKind::kHash);
  EXPECT_EQ(h.expires_at_ms(), 1'005'000);
  WriteOptions at;
  at.expires_at_ms = 2'000'000;
  ASSERT_TRUE(c.cache->Write("k", "x", at).ok());
  EXPECT_EQ(c.cache->Get("k").expires_at_ms(), 2'000'000);
  // SET NX GET: the condition fails, the old value still comes back.
  WriteOptions nx;
  nx.condition = WriteOptions::Condition::kIfAbsent;
  Handle again;
  EXPECT_TRUE(c.cache->Write("k", "y", nx, &again).IsNotFound());
  EXPECT_EQ(again.value(), "x");
}

TEST(Update, IncrementsAreAtomicAcrossThreads) {
  for (const char* policy : {"default", "s3fifo", "lru"}) {
    Clocked c(policy);
    auto incr = [&](const ItemView* cur, Mutation* m) {
      int64_t v = cur ? std::stoll(std::string(cur->value)) : 0;
      m->action = Mutation::Action::kStore;
      m->value = std::to_string(v + 1);
      m->expires_at_ms = cur ? cur->expires_at_ms : 0;
    };
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&] {
        for (int i = 0; i < 5000; ++i) ASSERT_TRUE(c.cache->Update("counter", incr).ok());
      });
    }
    for (auto& t : ts) t.join();
    EXPECT_EQ(c.cache->Get("counter").value(), "20000") << policy;
  }
}

TEST(Update, ExpiryIsAddedChangedAndRemoved) {
  Clocked c;
  std::string big(100000, 'b');
  ASSERT_TRUE(c.cache->Put("small", "s").ok());
  ASSERT_TRUE(c.cache->Put("big", big).ok());
  auto set_expiry = [](int64_t t) {
    return [t](const ItemView* cur, Mutation* m) {
      if (cur) {
        m->action = Mutation::Action::kSetExpiry;
        m->expires_at_ms = t;
      }
    };
  };
  for (const char* k : {"small", "big"}) {
    Handle pinned = c.cache->Get(k);
    ASSERT_TRUE(c.cache->Update(k, set_expiry(1'000'500)).ok());
    EXPECT_EQ(c.cache->Get(k).expires_at_ms(), 1'000'500) << k;
    ASSERT_TRUE(c.cache->Update(k, set_expiry(1'000'900)).ok());
    EXPECT_EQ(c.cache->Get(k).expires_at_ms(), 1'000'900) << k;
    ASSERT_TRUE(c.cache->Update(k, set_expiry(0)).ok());
    EXPECT_EQ(c.cache->Get(k).expires_at_ms(), 0) << k;
    ASSERT_TRUE(c.cache->Update(k, set_expiry(1'000'100)).ok());
    EXPECT_EQ(pinned.value(), std::string(k) == "big" ? big : "s");
  }
  EXPECT_EQ(c.cache->Get("big").value(), big);
  c.now += 100;
  EXPECT_FALSE(c.cache->Get("small"));
  EXPECT_FALSE(c.cache->Get("big"));
  bool saw = false;
  ASSERT_TRUE(c.cache->Update("small", [&](const ItemView* cur, Mutation*) { saw = cur; }).ok());
  EXPECT_FALSE(saw) << "an expired item is not shown to an update";
}

TEST(Update, EraseAndKeepAndErrors) {
  Clocked c;
  ASSERT_TRUE(c.cache->Put("k", "v").ok());
  ASSERT_TRUE(c.cache->Update("k", [](const ItemView*, Mutation*) {}).ok());
  EXPECT_TRUE(c.cache->Contains("k"));
  ASSERT_TRUE(c.cache->Update("k", [](const ItemView* cur, Mutation* m) {
                  EXPECT_EQ(cur->value, "v");
                  m->action = Mutation::Action::kErase;
                }).ok());
  EXPECT_FALSE(c.cache->Contains("k"));
  EXPECT_TRUE(c.cache->Update("", [](const ItemView*, Mutation*) {}).IsInvalidArgument());
  Status st = c.cache->Update("k", [](const ItemView*, Mutation* m) {
    m->action = Mutation::Action::kStore;
    m->value.assign(30 << 20, 'x');  // past 7/8 of the 32 MiB budget
  });
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_FALSE(c.cache->Contains("k"));
}

// An Update may change a value where it lies only while no Handle pins it (a pinned value stays as
// its reader saw it): a large value may grow into the room a store reserved, a small one keeps its
// size.
TEST(Update, PatchesInPlaceOnlyWhatNoOneReads) {
  Clocked c;
  const std::string big(100000, 'a');
  ASSERT_TRUE(c.cache
                  ->Update("big",
                           [&](const ItemView* cur, Mutation* m) {
                             EXPECT_EQ(cur, nullptr);
                             m->action = Mutation::Action::kStore;
                             m->kind = ValueKind::kHash;
                             m->value = big;
                             m->reserve = 50000;
                           })
                  .ok());
  ASSERT_TRUE(c.cache->Put("small", "s").ok());
  const uint64_t bytes = c.cache->Stats().item_bytes;
  size_t capacity = 0;
  // Unpinned: writable, with the reserve as room.
  ASSERT_TRUE(c.cache
                  ->Update("big",
                           [&](const ItemView* cur, Mutation* m) {
                             ASSERT_NE(cur->writable, nullptr);
                             EXPECT_EQ(cur->writable, cur->value.data());
                             capacity = cur->capacity;
                             EXPECT_GE(capacity, big.size() + 50000);
                             std::memset(cur->writable + big.size(), 'b', 40000);
                             cur->writable[0] = 'z';
                             m->action = Mutation::Action::kPatched;
                             m->patched_size = big.size() + 40000;
                           })
                  .ok());
  Handle h = c.cache->Get("big");
  ASSERT_EQ(h.value().size(), big.size() + 40000);
  EXPECT_EQ(h.value()[0], 'z');
  EXPECT_EQ(h.value().substr(big.size()), std::string(40000, 'b'));
  EXPECT_EQ(h.kind(), ValueKind::kHash);
  EXPECT_EQ(c.cache->Stats().item_bytes, bytes) << "the same block: the same charge";
  // Pinned (h): not writable; and a patch then is refused, changing nothing.
  Status st = c.cache->Update("big", [&](const ItemView* cur, Mutation* m) {
    EXPECT_EQ(cur->writable, nullptr);
    m->action = Mutation::Action::kPatched;
    m->patched_size = 1;
  });
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_EQ(h.value()[0], 'z');
  // A small value, in its item's chunk, can change but not its size (the key follows it).
  st = c.cache->Update("small", [&](const ItemView* cur, Mutation* m) {
    ASSERT_NE(cur->writable, nullptr);
    EXPECT_EQ(cur->capacity, 1u);
    m->action = Mutation::Action::kPatched;
    m->patched_size = 0;
  });
  EXPECT_TRUE(st.IsInvalidArgument()) << "shorter: " << st.ToString();
  ASSERT_TRUE(c.cache
                  ->Update("small",
                           [&](const ItemView* cur, Mutation* m) {
                             cur->writable[0] = 't';
                             m->action = Mutation::Action::kPatched;
                             m->patched_size = 1;
                           })
                  .ok());
  Handle small = c.cache->Get("small");
  EXPECT_EQ(small.value(), "t");
  st = c.cache->Update("small", [&](const ItemView* cur, Mutation* m) {
    EXPECT_EQ(cur->writable, nullptr) << "pinned";
    m->action = Mutation::Action::kPatched;
    m->patched_size = 1;
  });
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_EQ(small.value(), "t");
  EXPECT_EQ(c.cache->Get("small").key(), "small") << "the key after the value is intact";
  small.Reset();
  h.Reset();
  // Unpinned again; a size past the capacity is refused.
  st = c.cache->Update("big", [&](const ItemView* cur, Mutation* m) {
    ASSERT_NE(cur->writable, nullptr);
    m->action = Mutation::Action::kPatched;
    m->patched_size = cur->capacity + 1;
  });
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_EQ(c.cache->Get("big").value().size(), big.size() + 40000);
  // A reserve that would make the item too large for the budget is dropped, not refused.
  Clocked small_cache("default", 1, 1 << 20);
  ASSERT_TRUE(small_cache.cache
                  ->Update("k",
                           [&](const ItemView*, Mutation* m) {
                             m->action = Mutation::Action::kStore;
                             m->value.assign(800000, 'v');
                             m->reserve = 800000;
                           })
                  .ok());
  EXPECT_EQ(small_cache.cache->Get("k").value().size(), 800000u);
}

TEST(Scan, VisitsEveryItemOnceWhileTheCacheGrows) {
  for (const char* policy : {"default", "s3fifo"}) {
    Clocked c(policy, 8, 256 << 20);
    for (int i = 0; i < 5000; ++i) ASSERT_TRUE(c.cache->Put("a" + std::to_string(i), "v").ok());
    std::map<std::string, int> seen;
    uint64_t cursor = 0;
    int calls = 0, extra = 0;
    do {
      cursor = c.cache->Scan(cursor, 50, [&](const ItemView& v) { seen[std::string(v.key)]++; });
      // Grow the index underneath the scan.
      for (int i = 0; i < 200; ++i) c.cache->Put("b" + std::to_string(extra++), "v");
      ++calls;
    } while (cursor != 0 && calls < 100000);
    EXPECT_EQ(cursor, 0u);
    for (int i = 0; i < 5000; ++i) {
      ASSERT_EQ(seen["a" + std::to_string(i)], 1) << policy << " key a" << i;
    }
    for (auto& [k, n] : seen) ASSERT_EQ(n, 1) << k;
    EXPECT_GT(calls, 50) << "about `count` items per call";
  }
}

TEST(KeySpaces, CountItemsByTheirFirstByte) {
  Clocked c("lru", 4, 1 << 20, 16);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(c.cache->Put(std::to_string(i), "v").ok());
    if (i < 30) {
      ASSERT_TRUE(c.cache->Put(std::string("\xff\x03") + std::to_string(i), "v").ok());
    }
  }
  c.cache->Put(std::string("\xff\x03") + "0", "overwrite");
  c.cache->Put(std::string("\xff\x03") + "ttl", "v", Ttl(1000));
  EXPECT_EQ(c.cache->KeySpace(3).expiring, 1u);
  c.cache->Update(std::string("\xff\x03") + "ttl", [](const ItemView*, Mutation* m) {
    m->action = Mutation::Action::kSetExpiry;  // PERSIST
  });
  EXPECT_EQ(c.cache->KeySpace(3).expiring, 0u);
  c.cache->Erase(std::string("\xff\x03") + "ttl");
  EXPECT_EQ(c.cache->KeySpace(0).items, 100u);
  EXPECT_EQ(c.cache->KeySpace(3).items, 30u);
  c.cache->Erase(std::string("\xff\x03") + "1");
  EXPECT_EQ(c.cache->KeySpace(3).items, 29u);
  // Evictions are counted too.
  std::string v(2000, 'x');
  for (int i = 0; i < 2000; ++i) c.cache->Put(std::string("\xff\x05") + std::to_string(i), v);
  EXPECT_EQ(c.cache->KeySpace(0).items + c.cache->KeySpace(3).items + c.cache->KeySpace(5).items,
            c.cache->Stats().items);
  c.cache->Clear();
  EXPECT_EQ(c.cache->KeySpace(5).items, 0u);
}

}  // namespace
}  // namespace kvcache
