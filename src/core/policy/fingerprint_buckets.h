// FingerprintBuckets: the storage of GhostFilter and StackEntryTable, compact approximate sets of
// key hashes. Buckets of 16 four-byte slots (one cache line each), a key's bucket chosen by its
// hash. A used slot holds 16 bits of the key's fingerprint (top bit set, so it is never 0) and
// the low 16 bits of an epoch, whose meaning is the owner's; 0 is an empty slot.
#pragma once

#include <algorithm>
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

}  // namespace kvcache::internal
