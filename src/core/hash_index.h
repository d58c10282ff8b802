// HashIndex: one shard's map from key to ItemRef.
//
// Open addressing in groups of 16 slots, Swiss-table style: a control byte per slot holds 7
// bits of the key's hash (or marks the slot empty or deleted), and one SSE2 compare finds the
// candidate slots of a group; the keys themselves live in the items and are compared only on a
// tag match. A slot costs 5 bytes (tag + 32-bit ref). The table size is any number of groups
// (the group is picked by multiply-shift, not a mask), so it grows by 1.5x rather than 2x,
// which keeps the load between 58% and 87.5%.
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
  explicit HashIndex(const Arena* arena);
  ~HashIndex();
  HashIndex(const HashIndex&) = delete;
  HashIndex& operator=(const HashIndex&) = delete;

  // The item whose key equals `key`, or kNullRef.
  ItemRef Find(uint64_t hash, std::string_view key) const;
  // Starts loading the home group's control bytes and refs, so that the two cache misses of a
  // lookup overlap instead of following each other.
  void Prefetch(uint64_t hash) const {
    if (cur_.groups == 0) return;
    size_t g = HomeGroup(hash, cur_.groups);
    __builtin_prefetch(cur_.ctrl + g * kGroupSize);
    __builtin_prefetch(cur_.refs + g * kGroupSize);
  }

  // The same with no lock held, from a thread about to look the key up (a server prefetching the
  // keys of a pipeline before running it). It reads only the published table address below; if
  // the table has just been replaced, it prefetches a stale line, which is harmless.
  void PrefetchUnlocked(uint64_t hash) const {
    const size_t groups = hint_groups_.load(std::memory_order_relaxed);
    if (groups == 0) return;
    const uint8_t* ctrl = hint_ctrl_.load(std::memory_order_relaxed);
    const size_t g = HomeGroup(hash, groups);
    __builtin_prefetch(ctrl + g * kGroupSize);
    __builtin_prefetch(ctrl + groups * kGroupSize + g * kGroupSize * sizeof(ItemRef));
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
  // REQUIRES: no item with this key is indexed.
  void Insert(uint64_t hash, ItemRef ref);
  // Points the slot holding `old_ref` at `new_ref` (the same key).
  void Replace(uint64_t hash, ItemRef old_ref, ItemRef new_ref);
  // Removes the slot holding `ref`. Returns false if it was not found.
  bool Erase(uint64_t hash, ItemRef ref);
  // Removes every entry (the items are the caller's to free).
  void Clear();

  // Bytes the next Insert allocates for growth (0 if it does not grow). The shard makes room
  // for them in its budget first.
  size_t GrowthBytes() const;
  // Moves a few groups of the old table, if a growth is under way.
  void MigrateStep();

  size_t size() const { return cur_.live + old_.live; }
  size_t slot_count() const { return cur_.groups * kGroupSize; }
  size_t memory_bytes() const { return cur_.bytes() + old_.bytes(); }

  // Calls fn(ref) for the items in the next `slots` slots from the cursor, which wraps around
  // the table; for the bounded expiry sweep. fn may not modify the index. More than
  // slot_count() slots would show an item twice.
  template <typename Fn>
  void Scan(size_t slots, Fn&& fn) {
    for (size_t i = 0; i < slots && cur_.groups != 0; ++i) {
      if (scan_cursor_ >= cur_.groups * kGroupSize) scan_cursor_ = 0;
      size_t s = scan_cursor_++;
      if (IsFull(cur_.ctrl[s])) fn(cur_.refs[s]);
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
      for (size_t visited = 0; visited < t->groups; ++visited) {
        const uint8_t* ctrl = t->ctrl + g * kGroupSize;
        bool has_empty = false;
        for (size_t i = 0; i < kGroupSize; ++i) {
          if (ctrl[i] == kEmpty) has_empty = true;
          if (!IsFull(ctrl[i])) continue;
          ItemRef ref = t->refs[g * kGroupSize + i];
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
        if (IsFull(t->ctrl[s])) fn(t->refs[s]);
      }
    }
  }

 private:
  static constexpr size_t kGroupSize = 16;
  static constexpr uint8_t kEmpty = 0x80;
  static constexpr uint8_t kDeleted = 0xFE;
  static bool IsFull(uint8_t c) { return c < 0x80; }

  struct Table {
    LargeArray<uint8_t> mem;  // ctrl bytes, then refs
    uint8_t* ctrl = nullptr;
    ItemRef* refs = nullptr;
    size_t groups = 0;
    size_t live = 0;
    size_t deleted = 0;
    size_t bytes() const { return groups * kGroupSize * (1 + sizeof(ItemRef)); }
    size_t max_used() const { return groups * kGroupSize * 7 / 8; }
  };

  uint64_t HashOfRef(ItemRef ref) const;
  static uint8_t Tag(uint64_t hash) { return static_cast<uint8_t>((hash >> 32) & 0x7F); }
  static size_t HomeGroup(uint64_t hash, size_t groups) {
    return static_cast<size_t>((uint64_t{static_cast<uint32_t>(hash)} * groups) >> 32);
  }
  static Table Allocate(size_t groups);
  static void Free(Table& t);

  ItemRef FindIn(const Table& t, uint64_t hash, std::string_view key) const;
  // The slot index holding ref in t, or SIZE_MAX.
  size_t SlotOf(const Table& t, uint64_t hash, ItemRef ref) const;
  void InsertInto(Table& t, uint64_t hash, ItemRef ref);
  void EraseSlot(Table& t, size_t slot);
  size_t NextGroupCount() const;
  void StartGrowth();
  void FinishGrowth();

  void PublishHint() {
    hint_ctrl_.store(cur_.ctrl, std::memory_order_relaxed);
    hint_groups_.store(cur_.groups, std::memory_order_relaxed);
  }

  const Arena* arena_;
  // cur_'s address and size for PrefetchUnlocked (refs follow the control bytes).
  std::atomic<const uint8_t*> hint_ctrl_{nullptr};
  std::atomic<size_t> hint_groups_{0};
  Table cur_;
  Table old_;
  size_t migrate_cursor_ = 0;  // next group of old_ to move
  size_t scan_cursor_ = 0;
};

}  // namespace kvcache::internal
