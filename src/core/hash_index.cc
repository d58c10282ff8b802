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

inline uint32_t MatchByte(const uint8_t* group, uint8_t b) {
  __m128i ctrl = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group));
  return static_cast<uint32_t>(
      _mm_movemask_epi8(_mm_cmpeq_epi8(ctrl, _mm_set1_epi8(static_cast<char>(b)))));
}
// Slots that are empty or deleted (high bit set).
inline uint32_t MatchFree(const uint8_t* group) {
  __m128i ctrl = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group));
  return static_cast<uint32_t>(_mm_movemask_epi8(ctrl));
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

HashIndex::HashIndex(const Arena* arena) : arena_(arena) {}

HashIndex::~HashIndex() {
  Free(cur_);
  Free(old_);
}

HashIndex::Table HashIndex::Allocate(size_t groups) {
  Table t;
  t.groups = groups;
  size_t slots = groups * kGroupSize;
  t.mem = LargeArray<uint8_t>(slots * (1 + sizeof(ItemRef)));
  t.ctrl = t.mem.data();
  std::memset(t.ctrl, kEmpty, slots);
  t.refs = reinterpret_cast<ItemRef*>(t.ctrl + slots);
  return t;
}

void HashIndex::Free(Table& t) { t = Table{}; }

ItemRef HashIndex::FindIn(const Table& t, uint64_t hash, std::string_view key) const {
  if (t.groups == 0) return kNullRef;
  const uint8_t tag = Tag(hash);
  size_t g = HomeGroup(hash, t.groups);
  for (size_t probes = 0; probes < t.groups; ++probes) {
    const uint8_t* ctrl = t.ctrl + g * kGroupSize;
    for (uint32_t m = MatchByte(ctrl, tag); m != 0; m &= m - 1) {
      size_t s = g * kGroupSize + static_cast<size_t>(__builtin_ctz(m));
      ItemRef ref = t.refs[s];
      std::string_view k = arena_->At(ref)->key();
      if (k.size() == key.size() && KeyEquals(k.data(), key.data(), key.size())) {
        return ref;
      }
    }
    if (MatchByte(ctrl, kEmpty) != 0) return kNullRef;
    if (++g == t.groups) g = 0;
  }
  return kNullRef;
}

void HashIndex::PrefetchItems(uint64_t hash) const {
  if (cur_.groups == 0) return;
  const size_t g = HomeGroup(hash, cur_.groups);
  for (uint32_t m = MatchByte(cur_.ctrl + g * kGroupSize, Tag(hash)); m != 0; m &= m - 1) {
    const char* item = reinterpret_cast<const char*>(
        arena_->At(cur_.refs[g * kGroupSize + static_cast<size_t>(__builtin_ctz(m))]));
    __builtin_prefetch(item);
    __builtin_prefetch(item + 64);
  }
}

void HashIndex::PrefetchBodies(uint64_t hash) const {
  if (cur_.groups == 0) return;
  const size_t g = HomeGroup(hash, cur_.groups);
  for (uint32_t m = MatchByte(cur_.ctrl + g * kGroupSize, Tag(hash)); m != 0; m &= m - 1) {
    const Item* item =
        arena_->At(cur_.refs[g * kGroupSize + static_cast<size_t>(__builtin_ctz(m))]);
    if (item->external()) {
      const char* block = reinterpret_cast<const char*>(item->ext());
      __builtin_prefetch(block);
      __builtin_prefetch(block + 64);
      continue;
    }
    const std::string_view key = item->key();  // addresses only: nothing read but the header
    const std::string_view value = item->value();
    __builtin_prefetch(key.data());
    __builtin_prefetch(key.data() + key.size() - 1);
    const size_t lines = (std::min<size_t>(value.size(), 1024) + 63) / 64;
    for (size_t l = 0; l < lines; ++l) __builtin_prefetch(value.data() + 64 * l);
  }
}

uint64_t HashIndex::HashOfRef(ItemRef ref) const { return HashKey(arena_->At(ref)->key()); }

ItemRef HashIndex::Find(uint64_t hash, std::string_view key) const {
  ItemRef r = FindIn(cur_, hash, key);
  if (r == kNullRef && old_.groups != 0) r = FindIn(old_, hash, key);
  return r;
}

size_t HashIndex::SlotOf(const Table& t, uint64_t hash, ItemRef ref) const {
  if (t.groups == 0) return SIZE_MAX;
  const uint8_t tag = Tag(hash);
  size_t g = HomeGroup(hash, t.groups);
  for (size_t probes = 0; probes < t.groups; ++probes) {
    const uint8_t* ctrl = t.ctrl + g * kGroupSize;
    for (uint32_t m = MatchByte(ctrl, tag); m != 0; m &= m - 1) {
      size_t s = g * kGroupSize + static_cast<size_t>(__builtin_ctz(m));
      if (t.refs[s] == ref) return s;
    }
    if (MatchByte(ctrl, kEmpty) != 0) return SIZE_MAX;
    if (++g == t.groups) g = 0;
  }
  return SIZE_MAX;
}

void HashIndex::InsertInto(Table& t, uint64_t hash, ItemRef ref) {
  size_t g = HomeGroup(hash, t.groups);
  for (;;) {
    uint8_t* ctrl = t.ctrl + g * kGroupSize;
    uint32_t m = MatchFree(ctrl);
    if (m != 0) {
      size_t s = g * kGroupSize + static_cast<size_t>(__builtin_ctz(m));
      if (t.ctrl[s] == kDeleted) --t.deleted;
      t.ctrl[s] = Tag(hash);
      t.refs[s] = ref;
      ++t.live;
      return;
    }
    if (++g == t.groups) g = 0;
  }
}

void HashIndex::EraseSlot(Table& t, size_t slot) {
  // A probe passes a group only when the group has no empty slot; if this group has one, no
  // probe sequence runs through it and the slot can become empty instead of a tombstone.
  const uint8_t* group = t.ctrl + (slot / kGroupSize) * kGroupSize;
  if (MatchByte(group, kEmpty) != 0) {
    t.ctrl[slot] = kEmpty;
  } else {
    t.ctrl[slot] = kDeleted;
    ++t.deleted;
  }
  --t.live;
}

size_t HashIndex::NextGroupCount() const {
  // Room for 1.5x the live entries at the maximum load, i.e. ~58% full after the move.
  size_t live = size() + 1;
  size_t slots = live * 3 / 2 * 8 / 7 + 1;
  size_t groups = (slots + kGroupSize - 1) / kGroupSize;
  return groups < kMinGroups ? kMinGroups : groups;
}

size_t HashIndex::GrowthBytes() const {
  if (cur_.groups != 0 && cur_.live + cur_.deleted + 1 <= cur_.max_used()) return 0;
  return NextGroupCount() * kGroupSize * (1 + sizeof(ItemRef));
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
  for (size_t n = 0; n < kMigrateGroupsPerStep && migrate_cursor_ < old_.groups; ++n) {
    size_t base = migrate_cursor_++ * kGroupSize;
    for (size_t i = 0; i < kGroupSize; ++i) {
      if (!IsFull(old_.ctrl[base + i])) continue;
      ItemRef ref = old_.refs[base + i];
      InsertInto(cur_, HashKey(arena_->At(ref)->key()), ref);
      old_.ctrl[base + i] = kDeleted;
      --old_.live;
    }
  }
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
    cur_.refs[s] = new_ref;
    return;
  }
  s = SlotOf(old_, hash, old_ref);
  if (s != SIZE_MAX) old_.refs[s] = new_ref;
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
