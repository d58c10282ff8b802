// FingerprintBuckets: the storage of GhostFilter and StackEntryTable, compact approximate sets of
// key hashes. Buckets of 16 four-byte slots (one cache line each), a key's bucket chosen by its
// hash. A used slot holds 16 bits of the key's fingerprint (top bit set, so it is never 0) and
// the low 16 bits of an epoch, whose meaning is the owner's; 0 is an empty slot.
//
// EpochCounts: the live slots per epoch over the last kRing epochs, which both owners use to
// age their slots: a slot is live while its epoch is not older than oldest(), so dropping the
// oldest epoch (Expire) kills all its slots at once, and live() is the set's size.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>

#include "core/large_array.h"

namespace kvcache::internal {

class FingerprintBuckets {
 public:
  static constexpr uint32_t kBucket = 16;

  // Buckets for about `entries` keys at num/den slots per key. Small tables, where a few
  // unlucky buckets would be a large share, get 4 slots per key.
  static uint64_t BucketsFor(uint64_t entries, uint64_t num, uint64_t den) {
    const uint64_t slots = entries < 4096 ? entries * 4 : entries * num / den;
    return std::max<uint64_t>(1, (slots + kBucket - 1) / kBucket);
  }
  static uint32_t Fingerprint(uint64_t hash) {
    return static_cast<uint32_t>((Mix(hash) >> 16) & 0xFFFF) | 0x8000;
  }

  bool empty() const { return slots_.empty(); }
  uint64_t buckets() const { return buckets_; }
  // Replaces the table by `buckets` empty buckets.
  void Allocate(uint64_t buckets) {
    buckets_ = buckets;
    slots_ = LargeArray<uint32_t>(buckets * kBucket);
  }
  void Release() {
    slots_ = LargeArray<uint32_t>();
    buckets_ = 0;
  }
  void Zero() { slots_.Zero(); }
  // The kBucket slots of hash's bucket. REQUIRES: !empty().
  uint32_t* Bucket(uint64_t hash) const {
    const uint64_t b = ((Mix(hash) >> 32) * buckets_) >> 32;
    return const_cast<uint32_t*>(&slots_[b * kBucket]);
  }
  size_t memory_bytes() const { return slots_.memory_bytes(); }

 private:
  static uint64_t Mix(uint64_t h) { return h * 0x9E3779B97F4A7C15ull; }

  LargeArray<uint32_t> slots_;
  uint64_t buckets_ = 0;
};

class EpochCounts {
 public:
  static constexpr uint32_t kRing = 1024;  // epochs a slot may live

  uint32_t epoch() const { return epoch_; }
  uint64_t live() const { return live_; }

  // The current epoch stamped into a slot (its low 16 bits).
  uint32_t Stamp() const { return epoch_ & 0xFFFF; }
  // Epochs since `slot` was stamped (modulo 2^16).
  uint32_t Age(uint32_t slot) const { return static_cast<uint16_t>(epoch_ - (slot & 0xFFFF)); }
  bool Live(uint32_t slot) const { return slot != 0 && Age(slot) <= epoch_ - oldest_; }

  // A slot was stamped with the current epoch.
  void Added() {
    ++counts_[epoch_ % kRing];
    ++live_;
  }
  // A live slot is overwritten or removed.
  void Forget(uint32_t slot) {
    // A slot dead for 65,536 epochs can look live again; it must not unbalance the counts.
    uint32_t& c = counts_[(epoch_ - Age(slot)) % kRing];
    if (c == 0) return;
    --c;
    --live_;
  }

  // Starts a new epoch. Slots kRing epochs old expire.
  void NextEpoch() {
    ++epoch_;
    if (epoch_ - oldest_ >= kRing) Expire();
    counts_[epoch_ % kRing] = 0;
  }
  // Slots stamped before `epoch` are dead (at most the current epoch).
  void ExpireBefore(uint32_t epoch) {
    if (static_cast<int32_t>(epoch - epoch_) > 0) epoch = epoch_;
    while (static_cast<int32_t>(epoch - oldest_) > 0) Expire();
  }
  // Drops the oldest epochs while the rest hold at least `limit` live slots.
  void Trim(uint64_t limit) {
    while (oldest_ != epoch_ && live_ - counts_[oldest_ % kRing] >= limit) Expire();
  }
  // Every slot is dead (the table was emptied or replaced).
  void Reset() {
    counts_.fill(0);
    live_ = 0;
    oldest_ = epoch_;
  }

 private:
  void Expire() {
    live_ -= counts_[oldest_ % kRing];
    counts_[oldest_ % kRing] = 0;
    ++oldest_;
  }

  std::array<uint32_t, kRing> counts_{};  // live slots per epoch (epoch % kRing)
  uint64_t live_ = 0;
  uint32_t epoch_ = 0;
  uint32_t oldest_ = 0;  // oldest epoch whose slots are live
};

}  // namespace kvcache::internal
