// StackEntryTable: the entries of LIRS's stack S that are not LIR blocks (non-resident "ghosts"
// and resident HIR blocks), as 4-byte fingerprints stamped with the epoch of their last
// reference, instead of linked nodes: about 5 bytes per entry.
//
// An entry needs no position in S. A non-LIR entry is in S exactly when it was referenced after
// the bottom LIR block was, so the policy only tells the table the epoch of that block
// (ExpireBefore), and every entry stamped earlier is dead: pruning costs nothing. Entries are
// also referenced in the order they become ghosts, so dropping the oldest epochs (Trim) is
// dropping the oldest ghosts, which is how S's size is capped. Each slot holds 16 bits of
// fingerprint and the low 16 bits of its epoch; per-epoch counts of live entries give the size
// of S. Slots live in buckets of 16 (one cache line); a full bucket overwrites its oldest entry.
// A fingerprint collision reads as another key's entry, about one lookup in 2,500.
#pragma once

#include <cstdint>

#include "core/policy/fingerprint_buckets.h"

namespace kvcache::internal {

class StackEntryTable {
 public:
  static constexpr uint32_t kRing = EpochCounts::kRing;  // epochs an entry may live

  // Sizes the table for about `entries` live entries. It is allocated at the first Add (a cache
  // that never evicts has no entries). Re-sizing it by more than 1/8 drops the contents: a
  // byte-bounded shard does while it learns how much room it has, and then its table is the
  // size its budget was charged for.
  void SetWindow(uint64_t entries) {
    // 1.25 slots per entry: at the ~80% load of a full S, a bucket rarely overflows (1.5 moved
    // no reference miss ratio by more than 0.0001; 1.0 moved cloudphysics by 0.0013). Small
    // tables get 4 (FingerprintBuckets::BucketsFor).
    wanted_buckets_ = FingerprintBuckets::BucketsFor(entries, 5, 4);
    const uint64_t buckets = table_.buckets();
    if (table_.empty() ||
        (wanted_buckets_ * 8 <= buckets * 9 && wanted_buckets_ * 9 >= buckets * 8)) {
      return;
    }
    Allocate();
  }

  uint32_t epoch() const { return epochs_.epoch(); }

  // Starts a new epoch. Entries kRing epochs old expire.
  void NextEpoch() { epochs_.NextEpoch(); }

  // The entry for `hash` (a new one, or the key's existing one) is stamped with this epoch.
  void Add(uint64_t hash) {
    if (table_.empty()) Allocate();
    uint32_t* b = table_.Bucket(hash);
    const uint32_t fp = Fingerprint(hash);
    int slot = -1, free_slot = -1, oldest = 0;
    uint32_t oldest_age = 0;
    for (uint32_t i = 0; i < kBucket; ++i) {
      if (!epochs_.Live(b[i])) {
        if (free_slot < 0) free_slot = static_cast<int>(i);
        continue;
      }
      if ((b[i] >> 16) == fp) {
        slot = static_cast<int>(i);
        break;
      }
      const uint32_t age = epochs_.Age(b[i]);
      if (age >= oldest_age) {
        oldest_age = age;
        oldest = static_cast<int>(i);
      }
    }
    if (slot < 0) slot = free_slot >= 0 ? free_slot : oldest;
    if (epochs_.Live(b[slot])) epochs_.Forget(b[slot]);
    b[slot] = (fp << 16) | epochs_.Stamp();
    epochs_.Added();
  }

  // Whether `hash` has a live entry.
  bool Contains(uint64_t hash) const { return Find(hash) != nullptr; }

  // Whether `hash` has a live entry; if so it is removed.
  bool Take(uint64_t hash) {
    uint32_t* e = const_cast<uint32_t*>(Find(hash));
    if (e == nullptr) return false;
    epochs_.Forget(*e);
    *e = 0;
    return true;
  }

  // Entries stamped before `epoch` are dead (at most the current epoch).
  void ExpireBefore(uint32_t epoch) { epochs_.ExpireBefore(epoch); }

  // Drops the oldest epochs while the rest hold at least `limit` live entries.
  void Trim(uint64_t limit) { epochs_.Trim(limit); }

  uint64_t live() const { return epochs_.live(); }

  void Clear() {
    table_.Release();
    epochs_.Reset();
  }
  size_t memory_bytes() const { return table_.memory_bytes(); }

 private:
  static constexpr uint32_t kBucket = FingerprintBuckets::kBucket;

  void Allocate() {
    table_.Allocate(wanted_buckets_);
    epochs_.Reset();
  }

  static uint32_t Fingerprint(uint64_t hash) { return FingerprintBuckets::Fingerprint(hash); }
  const uint32_t* Find(uint64_t hash) const {
    if (table_.empty()) return nullptr;
    const uint32_t* b = table_.Bucket(hash);
    const uint32_t fp = Fingerprint(hash);
    for (uint32_t i = 0; i < kBucket; ++i) {
      if ((b[i] >> 16) == fp && epochs_.Live(b[i])) return &b[i];
    }
    return nullptr;
  }

  FingerprintBuckets table_;
  EpochCounts epochs_;
  uint64_t wanted_buckets_ = 1;
};

}  // namespace kvcache::internal
