// GhostFilter: a compact, approximate FIFO set of recently evicted key hashes (S3-FIFO's ghost
// queue), about 5 bytes per remembered key instead of an ordered list's ~30.
//
// It behaves like a FIFO queue of at most `window` distinct keys where a lookup that finds a
// key removes it. Each entry holds 16 bits of fingerprint and the 16-bit epoch it was added in
// (an epoch is 1/64 of the window's additions). Per-epoch counts of live entries say
// how far back the newest `window` live entries reach; entries older than that are dead, as if
// they had left the FIFO's tail. Removals therefore let older entries live longer, exactly as
// in a FIFO, which matters: forgetting them early costs S3-FIFO over 1% of hit ratio at large
// sizes. Entries live in buckets of 16 (one cache line); a full bucket overwrites its oldest.
#pragma once

#include <algorithm>
#include <cstdint>

#include "core/policy/fingerprint_buckets.h"

namespace kvcache::internal {

class GhostFilter {
 public:
  // Remembers about `window` keys. The table is allocated at the first Add (a cache that never
  // evicts never needs it); re-sizing it by more than 2x drops the contents.
  void SetWindow(uint64_t window) {
    if (window == 0) window = 1;
    if (window == window_ && !table_.empty()) return;
    window_ = window;
    epoch_len_ = std::max<uint64_t>(1, window / 64);
    // 1.5 slots per key keeps bucket overflows rare.
    wanted_buckets_ = FingerprintBuckets::BucketsFor(window, 3, 2);
    if (table_.empty()) return;
    if (wanted_buckets_ <= table_.buckets() * 2 && wanted_buckets_ * 2 >= table_.buckets()) {
      epochs_.Trim(window_);
      return;
    }
    Allocate();
  }

  void Add(uint64_t hash) {
    if (table_.empty()) Allocate();
    uint32_t* b = table_.Bucket(hash);
    const uint32_t fp = Fingerprint(hash);
    int free_slot = -1, oldest = 0;
    uint32_t oldest_age = 0;
    for (uint32_t i = 0; i < kBucket; ++i) {
      if (!epochs_.Live(b[i])) {
        if (free_slot < 0) free_slot = static_cast<int>(i);
        continue;
      }
      if ((b[i] >> 16) == fp) return;  // already remembered: a FIFO keeps its place
      uint32_t age = epochs_.Age(b[i]);
      if (age >= oldest_age) {
        oldest_age = age;
        oldest = static_cast<int>(i);
      }
    }
    if (free_slot < 0) {
      free_slot = oldest;
      epochs_.Forget(b[free_slot]);
    }
    if (++adds_in_epoch_ >= epoch_len_) {
      adds_in_epoch_ = 0;
      epochs_.NextEpoch();
    }
    b[free_slot] = (fp << 16) | epochs_.Stamp();
    epochs_.Added();
    epochs_.Trim(window_);
  }

  // Whether hash is remembered; if so it is forgotten.
  bool Take(uint64_t hash) {
    if (table_.empty()) return false;
    uint32_t* b = table_.Bucket(hash);
    const uint32_t fp = Fingerprint(hash);
    for (uint32_t i = 0; i < kBucket; ++i) {
      if ((b[i] >> 16) == fp && epochs_.Live(b[i])) {
        epochs_.Forget(b[i]);
        b[i] = 0;
        return true;
      }
    }
    return false;
  }

  void Clear() {
    table_.Zero();
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

  FingerprintBuckets table_;
  EpochCounts epochs_;
  uint64_t wanted_buckets_ = 1;
  uint64_t window_ = 0;
  uint64_t epoch_len_ = 1;
  uint64_t adds_in_epoch_ = 0;
};

}  // namespace kvcache::internal
