// HashIndex: Swiss-style probing with incremental growth.
#include "core/hash_index.h"

#include <emmintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "core/hash.h"

namespace kvcache::internal {

namespace {

inline __m128i Load4(const uint32_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
// The 16 lanes' compare results (all ones or zero) as 16 bits, slot 0 in bit 0.
inline uint32_t Mask16(__m128i a, __m128i b, __m128i c, __m128i d) {
  return static_cast<uint32_t>(
      _mm_movemask_epi8(_mm_packs_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d))));
}
inline uint32_t MatchEmpty(const uint32_t* group) {
  const __m128i e = _mm_setzero_si128();  // HashIndex::kEmpty
  return Mask16(_mm_cmpeq_epi32(Load4(group), e), _mm_cmpeq_epi32(Load4(group + 4), e),
                _mm_cmpeq_epi32(Load4(group + 8), e), _mm_cmpeq_epi32(Load4(group + 12), e));
}

// Keys of up to 16 bytes are compared with two overlapping 8-byte loads per side instead of a
// call to memcmp; most cache keys are that short.
inline bool KeyEquals(const char* a, const char* b, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&a1, a + n - 8, 8);
    std::memcpy(&b1, b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return std::memcmp(a, b, n) == 0;
}

constexpr size_t kMinGroups = 1;
constexpr size_t kMigrateGroupsPerStep = 2;

}  // namespace

HashIndex::HashIndex(const Arena* arena, uint32_t owner)
    : arena_(arena),
      owner_(owner),
      shard_bits_(arena->shard_bits()),
      ref_bits_(arena->local_ref_bits()),
      ref_mask_(static_cast<uint32_t>((uint64_t{1} << ref_bits_) - 1)),
      free_tag_(0xFFFFFFFFu >> ref_bits_) {}

// Inlined into each probe loop, whose shift count and tag then stay in registers.
[[gnu::always_inline]] inline uint32_t HashIndex::MatchTag(const uint32_t* group,
                                                           uint32_t stored) const {
  const __m128i shift = _mm_cvtsi32_si128(static_cast<int>(ref_bits_));
  const __m128i t = _mm_set1_epi32(static_cast<int>(stored));
  auto eq = [&](const uint32_t* p) { return _mm_cmpeq_epi32(_mm_srl_epi32(Load4(p), shift), t); };
  return Mask16(eq(group), eq(group + 4), eq(group + 8), eq(group + 12));
}

void HashIndex::SetRefBits(uint32_t bits) {
  if (bits <= ref_bits_) return;
  const uint32_t mask = static_cast<uint32_t>((uint64_t{1} << bits) - 1);
  const uint32_t free_tag = 0xFFFFFFFFu >> bits;
  for (Table* t : {&cur_, &old_}) {
    for (size_t s = 0; s < t->groups * kGroupSize; ++s) {
      const uint32_t v = t->slots[s];
      if (!IsFull(v)) continue;  // empty and deleted slots read the same at any width
      uint32_t tag = (~v >> ref_bits_) & free_tag;
      if (tag == free_tag) tag = 0;  // as Tag() maps the all-ones tag
      t->slots[s] = ~((tag << bits) | (~v & ref_mask_));
    }
  }
  ref_bits_ = bits;
  ref_mask_ = mask;
  free_tag_ = free_tag;
}

HashIndex::~HashIndex() {
  Free(cur_);
  Free(old_);
}

HashIndex::Table HashIndex::Allocate(size_t groups) {
  Table t;
  t.groups = groups;
  size_t slots = groups * kGroupSize;
  t.mem = LargeArray<uint32_t>(slots);  // zeroed: every slot kEmpty
  t.slots = t.mem.data();
  return t;
}

void HashIndex::Free(Table& t) { t = Table{}; }

ItemRef HashIndex::FindIn(const Table& t, uint64_t hash, std::string_view key) const {
  if (t.groups == 0) return kNullRef;
  const uint32_t tag = StoredTag(hash);
  const size_t moved = MovedGroups(t);
  size_t g = HomeGroup(hash, t.groups);
  for (size_t probes = 0; probes < t.groups; ++probes) {
    if (g < moved) {
      probes += moved - g;
      g = moved;
    }
    const uint32_t* group = t.slots + g * kGroupSize;
    for (uint32_t m = MatchTag(group, tag); m != 0; m &= m - 1) {
      const ItemRef ref = RefOf(group[__builtin_ctz(m)]);
      std::string_view k = arena_->At(ref)->key();
      if (k.size() == key.size() && KeyEquals(k.data(), key.data(), key.size())) {
        return ref;
      }
    }
    if (MatchEmpty(group) != 0) return kNullRef;
    if (++g == t.groups) g = 0;
  }
  return kNullRef;
}

template <typename Fn>
void HashIndex::ForEachCandidate(uint64_t hash, Fn&& fn) const {
  if (cur_.groups == 0) return;
  const uint32_t* group = cur_.slots + HomeGroup(hash, cur_.groups) * kGroupSize;
  for (uint32_t m = MatchTag(group, StoredTag(hash)); m != 0; m &= m - 1) {
    fn(arena_->At(RefOf(group[__builtin_ctz(m)])));
  }
}

void HashIndex::PrefetchItems(uint64_t hash) const {
  ForEachCandidate(hash, [](const Item* item) {
    __builtin_prefetch(item);
    __builtin_prefetch(reinterpret_cast<const char*>(item) + 64);
  });
}

void HashIndex::PrefetchBodies(uint64_t hash) const {
  ForEachCandidate(hash, [](const Item* item) {
    if (item->external()) {
      const char* block = reinterpret_cast<const char*>(item->ext());
      __builtin_prefetch(block);
      __builtin_prefetch(block + 64);
      return;
    }
    const std::string_view key = item->key();  // addresses only: nothing read but the header
    const std::string_view value = item->value();
    __builtin_prefetch(key.data());
    __builtin_prefetch(key.data() + key.size() - 1);
    const size_t lines = (std::min<size_t>(value.size(), 1024) + 63) / 64;
    for (size_t l = 0; l < lines; ++l) __builtin_prefetch(value.data() + 64 * l);
  });
}

void HashIndex::PrefetchLinks(uint64_t hash) const {
  ForEachCandidate(hash, [this](const Item* item) {
    __builtin_prefetch(arena_->At(item->prev));
    __builtin_prefetch(arena_->At(item->next));
  });
}

uint64_t HashIndex::HashOfRef(ItemRef ref) const { return HashKey(arena_->At(ref)->key()); }

void HashIndex::PrefetchGroup(const Table& t, size_t g, bool keys) const {
  const uint32_t* group = t.slots + g * kGroupSize;
  for (size_t i = 0; i < kGroupSize; ++i) {
    if (!IsFull(group[i])) continue;
    const Item* item = arena_->At(RefOf(group[i]));
    if (!keys) {
      __builtin_prefetch(item);
      __builtin_prefetch(reinterpret_cast<const char*>(item) + 64);
    } else if (!item->external()) {
      const std::string_view key = item->key();  // an address: only the header is read
      __builtin_prefetch(key.data());
      __builtin_prefetch(key.data() + key.size() - 1);
    }
  }
}

ItemRef HashIndex::Find(uint64_t hash, std::string_view key) const {
  ItemRef r = FindIn(cur_, hash, key);
  if (r == kNullRef && old_.groups != 0) r = FindIn(old_, hash, key);
  return r;
}

size_t HashIndex::SlotOf(const Table& t, uint64_t hash, ItemRef ref) const {
  if (t.groups == 0) return SIZE_MAX;
  const uint32_t want = SlotValue(hash, ref);
  const size_t moved = MovedGroups(t);
  size_t g = HomeGroup(hash, t.groups);
  for (size_t probes = 0; probes < t.groups; ++probes) {
    if (g < moved) {
      probes += moved - g;
      g = moved;
    }
    const uint32_t* group = t.slots + g * kGroupSize;
    for (uint32_t m = MatchTag(group, want >> ref_bits_); m != 0; m &= m - 1) {
      const size_t s = g * kGroupSize + static_cast<size_t>(__builtin_ctz(m));
      if (t.slots[s] == want) return s;
    }
    if (MatchEmpty(group) != 0) return SIZE_MAX;
    if (++g == t.groups) g = 0;
  }
  return SIZE_MAX;
}

void HashIndex::InsertInto(Table& t, uint64_t hash, ItemRef ref) {
  size_t g = HomeGroup(hash, t.groups);
  for (;;) {
    uint32_t m = MatchTag(t.slots + g * kGroupSize, 0);
    if (m != 0) {
      size_t s = g * kGroupSize + static_cast<size_t>(__builtin_ctz(m));
      if (t.slots[s] == kDeleted) --t.deleted;
      t.slots[s] = SlotValue(hash, ref);
      ++t.live;
      return;
    }
    if (++g == t.groups) g = 0;
  }
}

void HashIndex::EraseSlot(Table& t, size_t slot) {
  // A probe passes a group only when the group has no empty slot; if this group has one, no
  // probe sequence runs through it and the slot can become empty instead of a tombstone.
  if (MatchEmpty(t.slots + (slot / kGroupSize) * kGroupSize) != 0) {
    t.slots[slot] = kEmpty;
  } else {
    t.slots[slot] = kDeleted;
    ++t.deleted;
  }
  --t.live;
}

size_t HashIndex::NextGroupCount() const {
  // Room for 1.5x the live entries at the maximum load, i.e. ~58% full after the move. Smaller
  // steps would keep the load higher (1.25x: 70-87.5%), but every entry moves once a step, and
  // a move reads the item's key: loading 1M new keys into kvcache-server cost 25% more CPU
  // with 1.25x (docs/design.md, the index).
  size_t live = size() + 1;
  size_t slots = live * 3 / 2 * 8 / 7 + 1;
  size_t groups = (slots + kGroupSize - 1) / kGroupSize;
  return groups < kMinGroups ? kMinGroups : groups;
}

size_t HashIndex::GrowthBytes() const {
  if (cur_.groups != 0 && cur_.live + cur_.deleted + 1 <= cur_.max_used()) return 0;
  return NextGroupCount() * kGroupSize * sizeof(uint32_t);
}

void HashIndex::StartGrowth() {
  if (old_.groups != 0) FinishGrowth();  // a growth must not start before the last one ends
  Table next = Allocate(NextGroupCount());
  if (cur_.live == 0) {
    cur_ = std::move(next);
    PublishHint();
    return;
  }
  old_ = std::move(cur_);
  cur_ = std::move(next);
  PublishHint();
  migrate_cursor_ = 0;
  scan_cursor_ = 0;
}

void HashIndex::MigrateStep() {
  if (old_.groups == 0) return;
  // Rehashing reads each item's key, a cache miss or two: load the step's item headers, then
  // its keys (which follow the values), all in parallel, before hashing the first.
  const size_t end = std::min(migrate_cursor_ + kMigrateGroupsPerStep, old_.groups);
  for (size_t s = migrate_cursor_ * kGroupSize; s < end * kGroupSize; ++s) {
    if (IsFull(old_.slots[s])) {
      const char* item = reinterpret_cast<const char*>(arena_->At(RefOf(old_.slots[s])));
      __builtin_prefetch(item);
      __builtin_prefetch(item + 64);
    }
  }
  for (size_t s = migrate_cursor_ * kGroupSize; s < end * kGroupSize; ++s) {
    if (IsFull(old_.slots[s])) {
      const std::string_view key = arena_->At(RefOf(old_.slots[s]))->key();
      __builtin_prefetch(key.data());
      __builtin_prefetch(key.data() + key.size() - 1);
    }
  }
  for (size_t s = migrate_cursor_ * kGroupSize; s < end * kGroupSize; ++s) {
    if (!IsFull(old_.slots[s])) continue;
    const ItemRef ref = RefOf(old_.slots[s]);
    InsertInto(cur_, HashOfRef(ref), ref);
    old_.slots[s] = kDeleted;
    --old_.live;
  }
  migrate_cursor_ = end;
  if (migrate_cursor_ >= old_.groups) Free(old_);
}

void HashIndex::FinishGrowth() {
  while (old_.groups != 0) MigrateStep();
}

void HashIndex::Insert(uint64_t hash, ItemRef ref) {
  if (GrowthBytes() != 0) StartGrowth();
  InsertInto(cur_, hash, ref);
  MigrateStep();
}

void HashIndex::Replace(uint64_t hash, ItemRef old_ref, ItemRef new_ref) {
  size_t s = SlotOf(cur_, hash, old_ref);
  if (s != SIZE_MAX) {
    cur_.slots[s] = SlotValue(hash, new_ref);
    return;
  }
  s = SlotOf(old_, hash, old_ref);
  if (s != SIZE_MAX) old_.slots[s] = SlotValue(hash, new_ref);
}

bool HashIndex::Erase(uint64_t hash, ItemRef ref) {
  size_t s = SlotOf(cur_, hash, ref);
  if (s != SIZE_MAX) {
    EraseSlot(cur_, s);
  } else {
    s = SlotOf(old_, hash, ref);
    if (s == SIZE_MAX) return false;
    EraseSlot(old_, s);
  }
  MigrateStep();
  return true;
}

void HashIndex::Clear() {
  Free(cur_);
  Free(old_);
  PublishHint();
  migrate_cursor_ = 0;
  scan_cursor_ = 0;
}

}  // namespace kvcache::internal
