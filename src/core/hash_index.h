// HashIndex: one shard's map from key to ItemRef.
//
// Open addressing in groups of 16 slots, Swiss-table style, in 4 bytes a slot: the item's
// local offset in its shard's stripe of the arena (Arena::local_ref_bits, 24-25 bits for
// shards of up to 128 MiB) and, in the bits above it, a tag of the key's hash (7-8 bits). A few
// SSE2 operations find the candidate slots of a group, which is one 64-byte line; the keys
// themselves live in the items and are compared only on a tag match. The all-ones tag marks
// a slot empty or deleted. The table size is any number of groups (the group is picked by
// multiply-shift, not a mask), so it grows by 1.5x rather than 2x, which keeps the load between
// 58% and 87.5%.
//
// Growth is incremental: a new table is allocated and every later write moves a few groups of
// the old one across, so no single operation pays for a whole rehash. Lookups check the new
// table, then the old one while it exists.
//
// Not synchronized: Find may run concurrently with other Finds; everything else needs the
// shard's exclusive lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/arena.h"
#include "core/item.h"
#include "core/large_array.h"

namespace kvcache::internal {

class HashIndex {
 public:
  // The index of shard `owner`, whose items lie in that stripe of the arena.
  HashIndex(const Arena* arena, uint32_t owner);
  ~HashIndex();
  HashIndex(const HashIndex&) = delete;
  HashIndex& operator=(const HashIndex&) = delete;

  // The item whose key equals `key`, or kNullRef.
  ItemRef Find(uint64_t hash, std::string_view key) const;
  // Starts loading the home group (one line when the table is line-aligned, as the big ones
  // are), so that its cache miss overlaps the caller's other work.
  void Prefetch(uint64_t hash) const {
    if (cur_.groups == 0) return;
    const uint32_t* group = cur_.slots + HomeGroup(hash, cur_.groups) * kGroupSize;
    __builtin_prefetch(group);
    __builtin_prefetch(group + kGroupSize - 1);
  }

  // The same with no lock held, from a thread about to look the key up (a server prefetching the
  // keys of a pipeline before running it). It reads only the published table address below; if
  // the table has just been replaced, it prefetches a stale line, which is harmless.
  void PrefetchUnlocked(uint64_t hash) const {
    const size_t groups = hint_groups_.load(std::memory_order_relaxed);
    if (groups == 0) return;
    const uint32_t* group =
        hint_slots_.load(std::memory_order_relaxed) + HomeGroup(hash, groups) * kGroupSize;
    __builtin_prefetch(group);
    __builtin_prefetch(group + kGroupSize - 1);
  }
  // The second step of a prefetch, once the home group's line has arrived: starts loading the
  // first two lines of each item whose tag matches (where a small item keeps its key).
  // REQUIRES: the shard's lock, shared at least.
  void PrefetchItems(uint64_t hash) const;
  // The third step, once those lines have arrived: starts loading the rest of each candidate
  // that a lookup and a read will touch, without comparing keys (which would wait for memory):
  // the key (after the value) and the value's first KiB, or an external item's block.
  // REQUIRES: the shard's lock, shared at least.
  void PrefetchBodies(uint64_t hash) const;
  // For a write, once the candidates' headers have arrived: starts loading the items their
  // policy links name, the neighbours that replacing or moving the item writes.
  // REQUIRES: the shard's lock, shared at least.
  void PrefetchLinks(uint64_t hash) const;
  // REQUIRES: no item with this key is indexed.
  void Insert(uint64_t hash, ItemRef ref);
  // Points the slot holding `old_ref` at `new_ref` (the same key).
  void Replace(uint64_t hash, ItemRef old_ref, ItemRef new_ref);
  // Removes the slot holding `ref`. Returns false if it was not found.
  bool Erase(uint64_t hash, ItemRef ref);
  // Removes every entry (the items are the caller's to free).
  void Clear();
  // Gives local offsets `bits` bits (more than now: the shard's stripe has grown) and the tags
  // the rest, re-encoding every slot in place. Entries stay in their groups, which come from
  // other hash bits, and a narrower tag is the wider one's low bits, so no item is read.
  void SetRefBits(uint32_t bits);

  // Bytes the next Insert allocates for growth (0 if it does not grow). The shard makes room
  // for them in its budget first.
  size_t GrowthBytes() const;
  // Moves a few groups of the old table, if a growth is under way.
  void MigrateStep();

  size_t size() const { return cur_.live + old_.live; }
  size_t slot_count() const { return cur_.groups * kGroupSize; }
  // Deleted slots that still lengthen probes (until the next growth clears them).
  size_t tombstones() const { return cur_.deleted + old_.deleted; }
  size_t memory_bytes() const { return cur_.bytes() + old_.bytes(); }

  // Calls fn(ref) for the items in the next `slots` slots from the cursor, which wraps around
  // the table; for the bounded expiry sweep. fn may not modify the index. More than
  // slot_count() slots would show an item twice.
  template <typename Fn>
  void Scan(size_t slots, Fn&& fn) {
    for (size_t i = 0; i < slots && cur_.groups != 0; ++i) {
      if (scan_cursor_ >= cur_.groups * kGroupSize) scan_cursor_ = 0;
      const uint32_t v = cur_.slots[scan_cursor_++];
      if (IsFull(v)) fn(RefOf(v));
    }
  }
  // Calls fn(ref) for every item whose key hash has its low 32 bits in [lo, hi), in both tables
  // while a growth is under way. Groups are ordered by those bits (multiply-shift) and probing
  // only moves an item forward past full groups, so the items of a range lie between the
  // range's home groups and the first group after them that has an empty slot.
  template <typename Fn>
  void ScanRange(uint32_t lo, uint64_t hi, Fn&& fn) const {
    for (const Table* t : {&cur_, &old_}) {
      if (t->groups == 0 || hi <= lo) continue;
      size_t g = HomeGroup(lo, t->groups);
      const size_t last = HomeGroup(hi - 1, t->groups);
      bool past_last = false;
      // Hashing an item reads its key, a wait for memory per item: the items of the group two
      // ahead start loading, and the keys of the next one, whose headers have arrived by then.
      PrefetchGroup(*t, g, false);
      PrefetchGroup(*t, (g + 1) % t->groups, false);
      PrefetchGroup(*t, g, true);
      for (size_t visited = 0; visited < t->groups; ++visited) {
        PrefetchGroup(*t, (g + 2) % t->groups, false);
        PrefetchGroup(*t, (g + 1) % t->groups, true);
        const uint32_t* group = t->slots + g * kGroupSize;
        bool has_empty = false;
        for (size_t i = 0; i < kGroupSize; ++i) {
          if (group[i] == kEmpty) has_empty = true;
          if (!IsFull(group[i])) continue;
          ItemRef ref = RefOf(group[i]);
          uint64_t h = static_cast<uint32_t>(HashOfRef(ref));
          if (h >= lo && h < hi) fn(ref);
        }
        if (g == last) past_last = true;
        if (past_last && has_empty) break;
        if (++g == t->groups) g = 0;
      }
    }
  }

  // Calls fn(ref) for every indexed item.
  template <typename Fn>
  void ForEach(Fn&& fn) const {
    for (const Table* t : {&cur_, &old_}) {
      for (size_t s = 0; s < t->groups * kGroupSize; ++s) {
        if (IsFull(t->slots[s])) fn(RefOf(t->slots[s]));
      }
    }
  }

 private:
  static constexpr size_t kGroupSize = 16;
  // A slot holds the complement of (tag << ref_bits_ | local offset), so that a fresh table's
  // zeroed memory reads as empty. Empty and deleted slots carry the all-ones tag (0 stored),
  // which no key's tag is.
  static constexpr uint32_t kEmpty = 0;
  static constexpr uint32_t kDeleted = 1;
  bool IsFull(uint32_t slot) const { return (slot >> ref_bits_) != 0; }

  struct Table {
    LargeArray<uint32_t> mem;
    uint32_t* slots = nullptr;
    size_t groups = 0;
    size_t live = 0;
    size_t deleted = 0;
    size_t bytes() const { return groups * kGroupSize * sizeof(uint32_t); }
    size_t max_used() const { return groups * kGroupSize * 7 / 8; }
  };

  // fn(item) for each item of the current table's home group whose tag matches the hash's: the
  // candidates the prefetch steps load for a lookup to come (a moved entry is missed; harmless).
  template <typename Fn>
  void ForEachCandidate(uint64_t hash, Fn&& fn) const;

  // Between an ItemRef and a slot: the stripe's local offset, with the tag above it.
  uint32_t Local(ItemRef ref) const {
    return ((ref >> Arena::kPageShift >> shard_bits_) << Arena::kPageShift) |
           (ref & (Arena::kPageUnits - 1));
  }
  ItemRef RefOf(uint32_t slot) const {
    const uint32_t local = ~slot & ref_mask_;
    return (((local >> Arena::kPageShift << shard_bits_) | owner_) << Arena::kPageShift) |
           (local & (Arena::kPageUnits - 1));
  }
  uint32_t Tag(uint64_t hash) const {
    const uint32_t t = static_cast<uint32_t>(hash >> 32) & free_tag_;
    return t == free_tag_ ? 0 : t;
  }
  // The tag as stored (complemented): what MatchTag compares slots with.
  uint32_t StoredTag(uint64_t hash) const { return Tag(hash) ^ free_tag_; }
  uint32_t SlotValue(uint64_t hash, ItemRef ref) const {
    return ~((Tag(hash) << ref_bits_) | Local(ref));
  }
  // Bit i set for each slot i of the group whose stored tag is `stored` (0: empty or deleted).
  uint32_t MatchTag(const uint32_t* group, uint32_t stored) const;

  uint64_t HashOfRef(ItemRef ref) const;
  // Starts loading the items of group g of t: their first two lines, or with `keys` (once
  // those have arrived) their keys.
  void PrefetchGroup(const Table& t, size_t g, bool keys) const;
  static size_t HomeGroup(uint64_t hash, size_t groups) {
    return static_cast<size_t>((uint64_t{static_cast<uint32_t>(hash)} * groups) >> 32);
  }
  static Table Allocate(size_t groups);
  static void Free(Table& t);

  // Groups [0, MovedGroups(t)) of t hold nothing: the old table's groups already moved, all
  // deleted slots, which a probe would otherwise walk through one by one (a probe passes only
  // groups without an empty slot, and a group that was full never gains one).
  size_t MovedGroups(const Table& t) const { return &t == &old_ ? migrate_cursor_ : 0; }
  ItemRef FindIn(const Table& t, uint64_t hash, std::string_view key) const;
  // The slot index holding ref in t, or SIZE_MAX.
  size_t SlotOf(const Table& t, uint64_t hash, ItemRef ref) const;
  void InsertInto(Table& t, uint64_t hash, ItemRef ref);
  void EraseSlot(Table& t, size_t slot);
  size_t NextGroupCount() const;
  void StartGrowth();
  void FinishGrowth();

  void PublishHint() {
    hint_slots_.store(cur_.slots, std::memory_order_relaxed);
    hint_groups_.store(cur_.groups, std::memory_order_relaxed);
  }

  const Arena* arena_;
  const uint32_t owner_;
  const uint32_t shard_bits_;
  uint32_t ref_bits_;  // of a slot, the local offset's
  uint32_t ref_mask_;
  uint32_t free_tag_;  // the all-ones tag: (32 - ref_bits_) ones
  // cur_'s address and size for PrefetchUnlocked.
  std::atomic<const uint32_t*> hint_slots_{nullptr};
  std::atomic<size_t> hint_groups_{0};
  Table cur_;
  Table old_;
  size_t migrate_cursor_ = 0;  // next group of old_ to move
  size_t scan_cursor_ = 0;
};

}  // namespace kvcache::internal
