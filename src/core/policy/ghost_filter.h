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
#include <array>
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
      Trim();
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
      if (!Live(b[i])) {
        if (free_slot < 0) free_slot = static_cast<int>(i);
        continue;
      }
      if ((b[i] >> 16) == fp) return;  // already remembered: a FIFO keeps its place
      uint32_t age = Age(b[i]);
      if (age >= oldest_age) {
        oldest_age = age;
        oldest = static_cast<int>(i);
      }
    }
    if (free_slot < 0) {
      free_slot = oldest;
      Forget(b[free_slot]);
    }
    if (++adds_in_epoch_ >= epoch_len_) {
      adds_in_epoch_ = 0;
      ++epoch_;
      if (static_cast<uint16_t>(epoch_ - oldest_) >= kRing) Expire();
      counts_[epoch_ % kRing] = 0;
    }
    b[free_slot] = (fp << 16) | (epoch_ & 0xFFFF);
    ++counts_[epoch_ % kRing];
    ++live_;
    Trim();
  }

  // Whether hash is remembered; if so it is forgotten.
  bool Take(uint64_t hash) {
    if (table_.empty()) return false;
    uint32_t* b = table_.Bucket(hash);
    const uint32_t fp = Fingerprint(hash);
    for (uint32_t i = 0; i < kBucket; ++i) {
      if ((b[i] >> 16) == fp && Live(b[i])) {
        Forget(b[i]);
        b[i] = 0;
        return true;
      }
    }
    return false;
  }

  void Clear() {
    table_.Zero();
    counts_.fill(0);
    live_ = 0;
    oldest_ = epoch_;
  }
  size_t memory_bytes() const { return table_.memory_bytes(); }

 private:
  static constexpr uint32_t kBucket = FingerprintBuckets::kBucket;
  static constexpr uint32_t kRing = 1024;  // epochs a window may span

  void Allocate() {
    table_.Allocate(wanted_buckets_);
    counts_.fill(0);
    live_ = 0;
    oldest_ = epoch_;
  }

  static uint32_t Fingerprint(uint64_t hash) { return FingerprintBuckets::Fingerprint(hash); }
  uint32_t Age(uint32_t e) const { return static_cast<uint16_t>(epoch_ - (e & 0xFFFF)); }
  bool Live(uint32_t e) const {
    return e != 0 && Age(e) <= static_cast<uint16_t>(epoch_ - oldest_);
  }
  void Forget(uint32_t e) {
    --counts_[(e & 0xFFFF) % kRing];
    --live_;
  }
  void Expire() {
    live_ -= counts_[oldest_ % kRing];
    counts_[oldest_ % kRing] = 0;
    ++oldest_;
  }
  // Drops whole epochs from the old end while the rest still holds `window` live entries.
  void Trim() {
    while (oldest_ != epoch_ && live_ - counts_[oldest_ % kRing] >= window_) Expire();
  }

  FingerprintBuckets table_;
  std::array<uint32_t, kRing> counts_{};  // live entries per epoch (epoch % kRing)
  uint64_t wanted_buckets_ = 1;
  uint64_t window_ = 0;
  uint64_t live_ = 0;
  uint64_t epoch_len_ = 1;
  uint64_t adds_in_epoch_ = 0;
  uint16_t epoch_ = 0;
  uint16_t oldest_ = 0;  // oldest epoch whose entries are live
};

}  // namespace kvcache::internal
