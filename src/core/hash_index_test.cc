// HashIndex: slots that pack a tag with a shard-local offset must name every item of the
// shard's stripe exactly, through growth, erasure and scans.
#include "core/hash_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "core/cache_impl.h"
#include "core/hash.h"

namespace kvcache::internal {
namespace {

// Items of one shard, each with its key written where Item::key() reads it.
class Shard {
 public:
  Shard(Arena* arena, uint32_t owner) : arena_(arena), slabs_(arena, owner) {}

  ItemRef Add(const std::string& key) {
    const int cls = size_class::ForBytes(Item::InlineBytes(key.size(), 8, false, 0));
    const ItemRef ref = slabs_.Allocate(cls);
    if (ref == kNullRef) return kNullRef;
    Item* it = arena_->At(ref);
    it->sizes = static_cast<uint32_t>(key.size()) | (8u << sizes::kLenBits);
    it->WriteInline(key, "01234567");
    return ref;
  }

 private:
  Arena* arena_;
  SlabAllocator slabs_;
};

TEST(HashIndex, FindsEveryItemOfAStripeThroughGrowthAndErasure) {
  // The last of 4 stripes, filled to its end: the widest local offsets and the highest pages.
  Arena arena(64 << 20, /*shard_bits=*/2);
  ASSERT_TRUE(arena.ok());
  Shard shard(&arena, 3);
  HashIndex index(&arena, 3);
  std::vector<std::string> keys;
  std::vector<ItemRef> refs;
  for (;;) {
    std::string key = "key:" + std::to_string(keys.size());
    const ItemRef ref = shard.Add(key);
    if (ref == kNullRef) break;
    ASSERT_EQ(Arena::PageOf(ref) % 4, 3u);
    index.Insert(HashKey(key), ref);
    keys.push_back(std::move(key));
    refs.push_back(ref);
    // Lookups while a growth is moving groups (hits in either table, misses through both).
    const size_t half = keys.size() / 2;
    ASSERT_EQ(index.Find(HashKey(keys[half]), keys[half]), refs[half]) << keys.size();
    const std::string absent = "absent:" + std::to_string(keys.size());
    ASSERT_EQ(index.Find(HashKey(absent), absent), kNullRef) << keys.size();
  }
  ASSERT_GT(keys.size(), 100000u);
  EXPECT_LE(index.memory_bytes(), keys.size() * 4 * 2)
      << "4-byte slots, at least half full once growth has ended";
  const auto last = std::max_element(refs.begin(), refs.end());
  EXPECT_GE(Arena::PageOf(*last) / 4 + 1, (16u << 4) - 1) << "the stripe was used to its end";

  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(index.Find(HashKey(keys[i]), keys[i]), refs[i]) << keys[i];
  }
  EXPECT_EQ(index.Find(HashKey("absent"), "absent"), kNullRef);

  // Erase two in three; the rest stay findable, the erased are gone.
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i % 3 != 0) {
      ASSERT_TRUE(index.Erase(HashKey(keys[i]), refs[i]));
    }
  }
  EXPECT_FALSE(index.Erase(HashKey(keys[1]), refs[1]));
  // A slot in a group that has an empty one is on no probe path: it becomes empty itself. At
  // most 7/8 load, most groups have one.
  EXPECT_LT(index.tombstones(), keys.size() / 3);
  EXPECT_EQ(index.size(), (keys.size() + 2) / 3);
  for (size_t i = 0; i < keys.size(); ++i) {
    ASSERT_EQ(index.Find(HashKey(keys[i]), keys[i]), i % 3 == 0 ? refs[i] : kNullRef) << keys[i];
  }

  // Replace points a key at another item; ForEach and ScanRange see exactly the live ones.
  index.Replace(HashKey(keys[0]), refs[0], refs[1]);
  EXPECT_EQ(index.Find(HashKey(keys[0]), keys[0]), kNullRef) << "the slot names the other item";
  EXPECT_EQ(index.Find(HashKey(keys[0]), keys[1]), refs[1]);
  index.Replace(HashKey(keys[0]), refs[1], refs[0]);
  std::vector<ItemRef> seen;
  index.ForEach([&](ItemRef r) { seen.push_back(r); });
  std::vector<ItemRef> range;
  for (uint64_t lo = 0; lo < (uint64_t{1} << 32); lo += uint64_t{1} << 30) {
    index.ScanRange(static_cast<uint32_t>(lo), lo + (uint64_t{1} << 30),
                    [&](ItemRef r) { range.push_back(r); });
  }
  std::vector<ItemRef> want;
  for (size_t i = 0; i < refs.size(); i += 3) want.push_back(refs[i]);
  std::sort(want.begin(), want.end());
  std::sort(seen.begin(), seen.end());
  std::sort(range.begin(), range.end());
  EXPECT_EQ(seen, want);
  EXPECT_EQ(range, want);
}

// Whatever the budget, a cache cut into shards automatically leaves its index 7 tag bits.
TEST(HashIndex, AutomaticShardsKeepSevenTagBits) {
  for (uint64_t mib : {1, 64, 1024, 2048, 3000, 16384}) {
    Options o;
    o.capacity_bytes = mib << 20;
    CacheLayout layout;
    ASSERT_TRUE(PlanLayout(o, &layout).ok()) << mib;
    Arena arena(layout.arena_bytes, layout.shard_bits);
    ASSERT_TRUE(arena.ok()) << mib;
    EXPECT_LE(arena.local_ref_bits(), 32u - 7) << mib << " MiB in " << (1 << layout.shard_bits);
    EXPECT_GE(layout.arena_bytes, layout.shard_capacity << layout.shard_bits) << mib;
  }
}

}  // namespace
}  // namespace kvcache::internal
