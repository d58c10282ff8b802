// Behaviour of the public Cache API that holds for every policy.
#include "kvcache/cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "core/every_policy_test.h"
#include "core/hash.h"

namespace kvcache {
namespace {

std::unique_ptr<Cache> Make(const std::string& policy, size_t bytes = 8 << 20,
                            uint32_t shards = 1) {
  return MakeTestCache(policy, bytes, shards);
}

class EveryPolicy : public ::testing::TestWithParam<std::string> {};

// Status is a value: an error's copies keep its code and message, OK carries neither.
TEST(Status, CopiesKeepCodeAndMessage) {
  const Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.ToString(), "OK");
  Status err = Status::NoSpace("everything left is pinned");
  Status copy = err;
  EXPECT_TRUE(copy.IsNoSpace());
  EXPECT_EQ(copy.message(), "everything left is pinned");
  copy = Status::InvalidArgument("");
  EXPECT_TRUE(copy.IsInvalidArgument());
  EXPECT_EQ(copy.ToString(), "InvalidArgument: ");
  copy = err;
  Status moved = std::move(copy);
  EXPECT_EQ(moved.ToString(), "NoSpace: everything left is pinned");
  EXPECT_EQ(err.message(), "everything left is pinned") << "the original is untouched";
  moved = ok;
  EXPECT_TRUE(moved.ok());
  EXPECT_EQ(moved.message(), "");
}

TEST_P(EveryPolicy, PutGetOverwriteErase) {
  auto c = Make(GetParam());
  ASSERT_TRUE(c->Put("alpha", "one").ok());
  Handle h = c->Get("alpha");
  ASSERT_TRUE(h);
  EXPECT_EQ(h.value(), "one");
  EXPECT_EQ(h.key(), "alpha");
  ASSERT_TRUE(c->Put("alpha", "two-two").ok());
  EXPECT_EQ(h.value(), "one") << "a pinned value must not change under an overwrite";
  EXPECT_EQ(c->Get("alpha").value(), "two-two");
  EXPECT_TRUE(c->Erase("alpha"));
  EXPECT_FALSE(c->Erase("alpha"));
  EXPECT_FALSE(c->Get("alpha"));
  EXPECT_EQ(h.value(), "one") << "a pinned value must survive an erase";
  CacheStats s = c->Stats();
  EXPECT_EQ(s.items, 0u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.inserts, 2u);
  EXPECT_GT(s.pinned_bytes, 0u);
  h.Reset();
  EXPECT_EQ(c->Stats().pinned_bytes, 0u);
  EXPECT_EQ(c->Stats().item_bytes, 0u);
}

// MultiGet, ReadMany and Prefetch (for reads and for writes) over many keys (more than one prefetch
// window, several shards, misses, an expired key and an invalid one) answer exactly what Get would,
// in order, and count the same hits and misses.
TEST_P(EveryPolicy, BatchedReadsAnswerWhatGetWould) {
  auto c = Make(GetParam(), 8 << 20, 4);
  std::vector<std::string> names;
  for (int i = 0; i < 100; ++i) {
    names.push_back("key:" + std::to_string(i));
    if (i % 3 != 0) {
      ASSERT_TRUE(c->Put(names.back(), "value-" + std::to_string(i)).ok());
    }
  }
  ASSERT_TRUE(c->Put("gone", "x", Ttl(1)).ok());
  names.push_back("gone");
  names.push_back("");  // not a valid key
  std::vector<std::string_view> keys(names.begin(), names.end());
  while (c->Contains("gone")) std::this_thread::yield();  // a 1 ms TTL; no sleep needed

  const CacheStats start = c->Stats();
  c->Prefetch(keys);
  c->Prefetch(keys, /*for_write=*/true);  // also loads the policy's neighbours of each item
  const CacheStats before = c->Stats();
  EXPECT_EQ(before.hits, start.hits) << "a prefetch is not an access";
  EXPECT_EQ(before.misses, start.misses);
  std::vector<Handle> got = c->MultiGet(keys);
  ASSERT_EQ(got.size(), keys.size());
  std::vector<std::string> read(keys.size(), "<none>");
  std::vector<size_t> order;
  c->ReadMany(keys, [&](size_t i, const ItemView* item) {
    order.push_back(i);
    if (item != nullptr) {
      EXPECT_EQ(item->key, keys[i]);
      read[i] = std::string(item->value);
    }
  });
  size_t hits = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    const bool present = i < 100 && i % 3 != 0;
    EXPECT_EQ(static_cast<bool>(got[i]), present) << keys[i];
    if (present) {
      ++hits;
      EXPECT_EQ(got[i].value(), "value-" + std::to_string(i));
      EXPECT_EQ(read[i], "value-" + std::to_string(i));
    } else {
      EXPECT_EQ(read[i], "<none>") << keys[i];
    }
    EXPECT_EQ(order[i], i);
  }
  const CacheStats after = c->Stats();
  EXPECT_EQ(after.hits - before.hits, 2 * hits);
  // The invalid key is not a lookup; every other miss counts, twice.
  EXPECT_EQ(after.misses - before.misses, 2 * (keys.size() - 1 - hits));
}

TEST_P(EveryPolicy, ByteBoundHoldsUnderChurn) {
  const size_t cap = 1 << 20;
  auto c = Make(GetParam(), cap);
  std::string value(300, 'v');
  size_t largest = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string key = "key" + std::to_string(i % 7000);
    value.resize(50 + (i * 37) % 900);
    ASSERT_TRUE(c->Put(key, value).ok());
    if (i % 3 == 0) c->Get("key" + std::to_string((i * 7) % 7000));
    CacheStats s = c->Stats();
    largest = std::max<size_t>(largest, s.bytes);
    ASSERT_LE(s.bytes, cap + 2048) << "at step " << i;
  }
  CacheStats s = c->Stats();
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(largest, cap / 2) << "the cache should fill up to its budget";
}

// A shard's stripe of the arena can fill with pages that each keep a few chunks of some size
// class, while the items stay far below the budget. Writes of another class must still
// succeed, by evicting until a page empties.
// Clear walks the shard's pages rather than the index: it must free what no Handle pins, keep
// pinned items (linked or already replaced) readable until released, and leave every page's
// free list consistent, which the refill checks: a chunk handed out twice would corrupt a value.
TEST_P(EveryPolicy, ClearKeepsPinnedItemsAndLeavesMemoryReusable) {
  auto c = Make(GetParam(), 16 << 20, 2);
  const size_t sizes[] = {10, 100, 1000, 5000, 20000};  // 20000: an external block
  auto value = [&](int i, char salt) {
    return std::string(sizes[i % 5], static_cast<char>('a' + (i * 7 + salt) % 26));
  };
  auto fill = [&](char salt) {
    for (int i = 0; i < 1500; ++i) {
      const Ttl ttl = i % 3 == 0 ? Ttl(std::chrono::hours(1)) : kDefaultTtl;
      ASSERT_TRUE(c->Put("k" + std::to_string(i), value(i, salt), ttl).ok());
    }
    for (int i = 0; i < 1500; i += 7) c->Erase("k" + std::to_string(i));  // holes in pages
  };
  fill('0');
  Handle linked = c->Get("k3");    // 5000 bytes, linked when Clear runs
  Handle external = c->Get("k4");  // an external block
  Handle retired = c->Get("k8");   // replaced before Clear: no longer linked
  ASSERT_TRUE(linked && external && retired);
  ASSERT_TRUE(c->Put("k8", "new").ok());
  const std::string v3 = value(3, '0'), v4 = value(4, '0'), v8 = value(8, '0');
  c->Clear();
  CacheStats s = c->Stats();
  EXPECT_EQ(s.items, 0u);
  EXPECT_FALSE(c->Contains("k1"));
  EXPECT_FALSE(c->Contains("k3"));
  EXPECT_EQ(s.pinned_bytes, s.item_bytes);  // only the pinned items are left
  EXPECT_GE(s.item_bytes, v3.size() + v4.size() + v8.size());
  // Refilled, twice over: every value reads back whole, and the pinned ones are untouched.
  for (char salt : {'1', '2'}) {
    fill(salt);
    int found = 0;
    for (int i = 0; i < 1500; ++i) {
      Handle h = c->Get("k" + std::to_string(i));
      if (!h) continue;
      ++found;
      ASSERT_EQ(h.value(), value(i, salt)) << "k" << i;
    }
    EXPECT_GT(found, 500);
    EXPECT_EQ(linked.value(), v3);
    EXPECT_EQ(external.value(), v4);
    EXPECT_EQ(retired.value(), v8);
    c->Clear();
  }
  linked.Reset();
  external.Reset();
  retired.Reset();
  s = c->Stats();
  EXPECT_EQ(s.pinned_bytes, 0u);
  EXPECT_EQ(s.item_bytes, 0u);
  ASSERT_TRUE(c->Put("after", "clear").ok());
  EXPECT_EQ(c->Get("after").value(), "clear");
}

TEST_P(EveryPolicy, SparsePagesOfManySizeClassesDoNotStopWrites) {
  auto c = Make(GetParam(), 1 << 20);
  constexpr size_t kPage = 64 << 10;
  int n = 0;
  // Chunk sizes of consecutive size classes (8, 16 and 32 bytes apart) up to 1 KiB; an item of
  // a 16-byte header, a 7-byte key and a value of chunk - 24 bytes fills the chunk.
  for (size_t chunk = 32; chunk <= 1024; chunk += chunk < 256 ? 8 : chunk < 512 ? 16 : 32) {
    const std::string value(chunk - 24, 'v');
    const size_t per_page = kPage / chunk;
    std::vector<std::string> keys;
    for (size_t i = 0; i < 7 * per_page; ++i) {
      char key[16];
      std::snprintf(key, sizeof(key), "k%06d", n++);
      keys.emplace_back(key);
      Status st = c->Put(keys.back(), value);
      ASSERT_TRUE(st.ok()) << "chunk " << chunk << ": " << st.ToString();
    }
    // Keep two items a page: the class's pages stay, almost empty.
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i % (per_page / 2) != 0) c->Erase(keys[i]);
    }
  }
  EXPECT_LE(c->Stats().item_bytes, size_t{1} << 20);
}

TEST_P(EveryPolicy, LargeValuesLiveOutsideTheSlabs) {
  auto c = Make(GetParam(), 64 << 20);
  std::string big(1 << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  ASSERT_TRUE(c->Put("big", big).ok());
  Handle h = c->Get("big");
  ASSERT_TRUE(h);
  EXPECT_EQ(h.value(), big);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(h.value().data()) % 64, 0u);
  EXPECT_GE(c->Stats().item_bytes, big.size());
}

// Shards share one budget: a shard that draws more large values than its share holds them while
// the others have room, and the whole cache stays within its budget.
TEST_P(EveryPolicy, ShardsBorrowTheBudgetOthersLeaveUnused) {
  const size_t cap = size_t{256} << 20;  // 16 shards of 16 MiB
  auto c = Make(GetParam(), cap, 16);
  std::string big(3 << 20, 'x');
  // 40 values of 3 MiB: 120 MiB of 256, but about 2.5 per shard, so some shard draws 6 or more
  // (18 MiB and up, more than its own 16).
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      big[0] = static_cast<char>('a' + round);
      big[1] = static_cast<char>(i);
      ASSERT_TRUE(c->Put("tensor" + std::to_string(i), big).ok()) << i;
      ASSERT_LE(c->Stats().bytes, cap);
    }
  }
  for (int i = 0; i < 40; ++i) {
    Handle h = c->Get("tensor" + std::to_string(i));
    ASSERT_TRUE(h) << "tensor" << i << " was evicted with the cache half empty";
    EXPECT_EQ(h.value()[0], 'c');
    EXPECT_EQ(h.value()[1], static_cast<char>(i));
  }
  EXPECT_EQ(c->Stats().evictions, 0u);
}

// What a shard borrowed goes back when the others need their share: after large values filled
// some shards past their share, a stream of small values through every shard keeps the most
// recent half of the budget's worth (LRU, so recency is what counts).
TEST(Cache, ABorrowingShardGivesItsLoanBack) {
  const size_t cap = size_t{64} << 20;  // 4 shards of 16 MiB
  auto c = Make("lru", cap, 4);
  std::string big(5 << 20, 'x');
  int held = 0;
  for (int i = 0; i < 9; ++i) held += c->Put("big" + std::to_string(i), big).ok();
  ASSERT_EQ(held, 9);
  EXPECT_EQ(c->Stats().evictions, 0u) << "45 MiB in 64 should fit";
  std::string small(32 << 10, 's');
  const int kSmall = 4000;  // 125 MiB through a 64 MiB cache
  for (int i = 0; i < kSmall; ++i) {
    ASSERT_TRUE(c->Put("small" + std::to_string(i), small).ok());
    ASSERT_LE(c->Stats().bytes, cap) << "at " << i;
  }
  // The last 32 MiB written: about 256 values per shard of 16 MiB, 8 MiB each.
  int missing = 0;
  for (int i = kSmall - 1000; i < kSmall; ++i) missing += !c->Contains("small" + std::to_string(i));
  EXPECT_EQ(missing, 0);
}

// A shard below its share takes budget back from the shards holding more than theirs, even when
// those receive no writes that would make them give it back.
TEST(Cache, AShardBelowItsShareTakesItBack) {
  const size_t cap = size_t{64} << 20;  // 4 shards of 16 MiB
  auto c = Make("lru", cap, 4);
  auto keys_of_shard = [](uint32_t shard, const std::string& prefix, int n) {
    std::vector<std::string> keys;
    for (int i = 0; keys.size() < size_t(n); ++i) {
      std::string k = prefix + std::to_string(i);
      if (internal::ShardOf(internal::HashKey(k), 2) == shard) keys.push_back(k);
    }
    return keys;
  };
  // Shard 0 borrows 14 MiB for six large values, then shard 1 takes what is left with small ones.
  const std::vector<std::string> big = keys_of_shard(0, "big", 6);
  for (const std::string& k : big) ASSERT_TRUE(c->Put(k, std::string(5 << 20, 'b')).ok());
  const std::string small(32 << 10, 's');
  for (const std::string& k : keys_of_shard(1, "one", 1500)) ASSERT_TRUE(c->Put(k, small).ok());
  // 47 MiB into the 34 left: shard 1, above its share once the pool is empty, evicts its own.
  EXPECT_GT(c->Stats().evictions, 0u);
  for (const std::string& k : big) EXPECT_TRUE(c->Contains(k)) << k;
  // Shard 2 now writes 12.5 MiB, within its share of 16: it keeps every one.
  const std::vector<std::string> two = keys_of_shard(2, "two", 400);
  for (const std::string& k : two) {
    ASSERT_TRUE(c->Put(k, small).ok());
    ASSERT_LE(c->Stats().bytes, cap);
  }
  int missing = 0;
  for (const std::string& k : two) missing += !c->Contains(k);
  EXPECT_EQ(missing, 0);
}

// A value larger than a shard's share: the other shards make room for it together, in a full
// cache too; only one past 7/8 of the whole budget is refused.
TEST_P(EveryPolicy, AValueLargerThanAShareFitsTheCache) {
  const size_t cap = size_t{64} << 20;  // 4 shards of 16 MiB
  auto c = Make(GetParam(), cap, 4);
  const std::string small(4000, 's');
  for (int i = 0; i < 20000; ++i) ASSERT_TRUE(c->Put("small" + std::to_string(i), small).ok());
  ASSERT_GT(c->Stats().evictions, 0u) << "the cache should be full";
  std::string big(40 << 20, 'b');
  big[12345] = 'x';
  ASSERT_TRUE(c->Put("big", big).ok());
  EXPECT_LE(c->Stats().bytes, cap);
  Handle h = c->Get("big");
  ASSERT_TRUE(h);
  EXPECT_EQ(h.value(), big);
  h.Reset();
  // Small values go on around it, within the budget.
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(c->Put("after" + std::to_string(i), small).ok());
  EXPECT_LE(c->Stats().bytes, cap);
  const Status st = c->Put("huge", std::string(60 << 20, 'h'));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find("larger than the cache can hold"), std::string::npos)
      << st.ToString();
}

// Rename moves a large value's block to the new key, within a shard and between shards, with
// its budget: a nearly full cache renames every value back and forth and evicts nothing, also
// with eviction off. What cannot move (small, pinned, a long new key) is left for a copy.
TEST_P(EveryPolicy, RenameMovesLargeValuesWithoutACopy) {
  for (const bool evict : {true, false}) {
    Options o;
    o.policy = GetParam();
    o.capacity_bytes = size_t{64} << 20;  // 4 shards of 16 MiB
    o.shards = 4;
    o.evict = evict;
    auto c = NewCache(o);
    std::vector<std::string> values;
    for (int i = 0; i < 8; ++i) {
      values.emplace_back(size_t{7} << 20, static_cast<char>('a' + i));
      WriteOptions w;
      w.ttl = Ttl(100000 + i);
      w.kind = i % 2 ? ValueKind::kTensor : ValueKind::kString;
      ASSERT_TRUE(c->Write("k" + std::to_string(i), values.back(), w).ok()) << i;
    }
    const CacheStats before = c->Stats();
    ASSERT_EQ(before.evictions, 0u) << "evict " << evict;
    const int64_t expires = c->Get("k3").expires_at_ms();
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < 8; ++i) {
        const std::string from = (round % 2 ? "renamed" : "k") + std::to_string(i);
        const std::string to = (round % 2 ? "k" : "renamed") + std::to_string(i);
        bool moved = false;
        const Status st = c->Rename(from, to, &moved);
        ASSERT_TRUE(st.ok()) << from << " evict " << evict << ": " << st.ToString();
        EXPECT_TRUE(moved) << from;
        EXPECT_FALSE(c->Contains(from));
      }
    }
    const CacheStats after = c->Stats();
    EXPECT_EQ(after.evictions, 0u);
    EXPECT_EQ(after.items, 8u);
    EXPECT_EQ(after.item_bytes, before.item_bytes) << "no copy left behind";
    EXPECT_LE(after.bytes, o.capacity_bytes);
    for (int i = 0; i < 8; ++i) {
      Handle h = c->Get("renamed" + std::to_string(i));
      ASSERT_TRUE(h) << i;
      EXPECT_TRUE(h.value() == values[i]) << i;
      EXPECT_EQ(h.key(), "renamed" + std::to_string(i));
      EXPECT_EQ(h.kind(), i % 2 ? ValueKind::kTensor : ValueKind::kString);
      if (i == 3) {
        EXPECT_EQ(h.expires_at_ms(), expires);
      }
    }
    // Over an existing key: it is replaced.
    bool moved = false;
    ASSERT_TRUE(c->Rename("renamed0", "renamed1", &moved).ok());
    EXPECT_TRUE(moved);
    EXPECT_TRUE(c->Get("renamed1").value() == values[0]);
    EXPECT_EQ(c->Stats().items, 7u);
    // What does not move changes nothing.
    ASSERT_TRUE(c->Put("small", "v").ok());
    Handle pinned = c->Get("renamed2");
    const std::string long_key(60, 'L');
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"small", "small2"}, {"renamed2", "x"}, {"renamed3", long_key}}) {
      moved = true;
      ASSERT_TRUE(c->Rename(from, to, &moved).ok()) << from;
      EXPECT_FALSE(moved) << from;
      EXPECT_TRUE(c->Contains(from)) << from;
      EXPECT_FALSE(c->Contains(to)) << from;
    }
    EXPECT_TRUE(c->Rename("nothing", "x", &moved).IsNotFound());
    EXPECT_TRUE(pinned.value() == values[2]);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, EveryPolicy, ::testing::ValuesIn(AllPolicies()),
                         PolicyTestName);

// AccessFrequency reports the count of the policies that keep one, rises with hits and not
// with itself, Peek or Contains, and is refused by the policies that count nothing.
TEST_P(EveryPolicy, AccessFrequencyCountsHitsWherePoliciesCountThem) {
  const std::string policy = GetParam();
  auto c = Make(policy);
  ASSERT_TRUE(c->Put("hot", "v").ok());
  ASSERT_TRUE(c->Put("cold", "v").ok());
  uint32_t before = 0;
  Status st = c->AccessFrequency("hot", &before);
  const bool counts = policy == "lfu" || policy == "s3fifo" || policy == "sieve" ||
                      policy.rfind("wtinylfu", 0) == 0;
  if (!counts) {
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.ToString();
    EXPECT_NE(st.message().find(policy), std::string::npos) << st.ToString();
    return;
  }
  ASSERT_TRUE(st.ok()) << st.ToString();
  uint32_t again = 0;
  ASSERT_TRUE(c->AccessFrequency("hot", &again).ok());
  EXPECT_EQ(again, before) << "asking is not a use";
  ASSERT_TRUE(c->Peek("hot"));
  EXPECT_TRUE(c->Contains("hot"));
  ASSERT_TRUE(c->AccessFrequency("hot", &again).ok());
  EXPECT_EQ(again, before) << "Peek and Contains are not uses";
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(c->Get("hot"));
  uint32_t hot = 0, cold = 0;
  ASSERT_TRUE(c->AccessFrequency("hot", &hot).ok());
  ASSERT_TRUE(c->AccessFrequency("cold", &cold).ok());
  if (policy.rfind("wtinylfu", 0) == 0) {
    EXPECT_GE(hot, 1u) << "the sketch counts the insert (hits in the window it does not)";
  } else {
    EXPECT_GT(hot, before);
    EXPECT_GT(hot, cold);
  }
  if (policy == "lfu") {
    EXPECT_EQ(hot, 3u);  // the insert, then two hits
  }
  if (policy == "s3fifo") {
    EXPECT_EQ(hot, 2u);
  }
  if (policy == "sieve") {
    EXPECT_EQ(hot, 1u);
  }
  EXPECT_EQ(c->AccessFrequency("absent", &hot).code(), Status::Code::kNotFound);
  EXPECT_EQ(c->AccessFrequency("", &hot).code(), Status::Code::kNotFound);
}

TEST(Cache, TextbookLruExample) {
  Options o;
  o.policy = "lru";
  o.capacity_items = 3;
  o.shards = 1;
  auto c = NewCache(o);
  ASSERT_TRUE(c);
  for (const char* k : {"key1", "key2", "key3"}) ASSERT_TRUE(c->Put(k, "v").ok());
  for (const char* k : {"key1", "key2", "key3"}) ASSERT_TRUE(c->Get(k));
  ASSERT_TRUE(c->Put("key4", "v").ok());
  EXPECT_FALSE(c->Contains("key1"));
  EXPECT_TRUE(c->Contains("key2"));
  EXPECT_TRUE(c->Contains("key3"));
  EXPECT_TRUE(c->Contains("key4"));
}

TEST(Cache, BadInputIsRefusedAndChangesNothing) {
  auto c = Make("lru", 1 << 20);
  ASSERT_TRUE(c->Put("k", "v").ok());
  Status st = c->Put("", "v");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  st = c->Put(std::string(70000, 'k'), "v");
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  st = c->Put("k", std::string(2 << 20, 'v'));
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  EXPECT_NE(st.message().find("larger than"), std::string::npos);
  st = c->Put("k", "v2", Ttl(-5));
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_EQ(c->Get("k").value(), "v");
  EXPECT_EQ(c->Stats().items, 1u);

  Options o;
  o.policy = "no-such-policy";
  Status bad;
  EXPECT_EQ(NewCache(o, &bad), nullptr);
  EXPECT_TRUE(bad.IsInvalidArgument());
  EXPECT_NE(bad.message().find("no-such-policy"), std::string::npos);
  o.policy = "lru";
  o.shards = 3;
  EXPECT_EQ(NewCache(o, &bad), nullptr);
  EXPECT_TRUE(bad.IsInvalidArgument());
}

TEST(Cache, TtlExpiresLazilyAndBySweep) {
  std::atomic<int64_t> now{1'000'000};
  Options o;
  o.policy = "lru";
  o.shards = 1;
  o.clock = [&] { return now.load(); };
  auto c = NewCache(o);
  ASSERT_TRUE(c->Put("short", "v", Ttl(100)).ok());
  ASSERT_TRUE(c->Put("forever", "v").ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(c->Put("swept" + std::to_string(i), "v", Ttl(50)).ok());
  Handle h = c->Get("short");
  ASSERT_TRUE(h);
  EXPECT_EQ(h.expires_at_ms(), 1'000'100);
  now += 100;
  EXPECT_FALSE(c->Get("short"));
  EXPECT_TRUE(c->Get("forever"));
  EXPECT_EQ(h.value(), "v");
  size_t removed = c->EvictExpired(1 << 20);
  EXPECT_EQ(removed, 100u);
  CacheStats s = c->Stats();
  EXPECT_EQ(s.items, 1u);
  EXPECT_EQ(s.expirations, 101u);
}

TEST(Cache, GetOrLoadCallsTheLoaderOnceForConcurrentMisses) {
  auto c = Make("default", 8 << 20, 4);
  std::atomic<int> calls{0};
  std::atomic<bool> release{false};
  Loader slow = [&](std::string_view key, std::string* value, Ttl*) {
    calls++;
    while (!release.load()) std::this_thread::yield();
    *value = "loaded:" + std::string(key);
    return Status::OK();
  };
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      Handle h;
      if (c->GetOrLoad("k", slow, &h).ok() && h.value() == "loaded:k") ok++;
    });
  }
  while (calls.load() == 0) std::this_thread::yield();
  release = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(ok.load(), 8);

  Loader failing = [](std::string_view, std::string*, Ttl*) { return Status::IOError("down"); };
  Handle h;
  Status st = c->GetOrLoad("missing", failing, &h);
  EXPECT_EQ(st.code(), Status::Code::kIOError);
  EXPECT_FALSE(h);
  EXPECT_FALSE(c->Contains("missing"));
}

}  // namespace
}  // namespace kvcache
