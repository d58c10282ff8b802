// GhostList: an ordered set of key hashes of items no longer cached (ARC's B1/B2, 2Q's Aout).
// Head is the newest end. Exact: O(1) lookup, removal from anywhere, push at the head, pop at
// the tail (amortized).
//
// The hashes lie in a ring in the order they were pushed; a removal from the middle leaves a
// hole that PopTail skips, and the ring is compacted (or doubled, if it is more than half live)
// when the holes and the live entries fill it. An open-addressing index of 4-byte ring positions
// finds a hash (linear probing, at most 3/4 full, backward-shift deletion; a probe compares the
// whole hash in the ring). About 17-32 bytes per entry, where a linked list under a hash map
// took 30-60: the ghosts are ARC's and 2Q's metadata, paid from a byte-bounded shard's budget.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace kvcache::internal {

class GhostList {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  bool Contains(uint64_t hash) const { return Find(Stored(hash)) != kNone; }

  void PushHead(uint64_t hash) {
    if (head_ - tail_ == ring_.size()) Rebuild();
    if ((size_ + 1) * 4 > index_.size() * 3) Reindex(index_.size() * 2);
    const uint64_t h = Stored(hash);
    const uint32_t pos = static_cast<uint32_t>(head_++ & (ring_.size() - 1));
    ring_[pos] = h;
    Insert(h, pos);
    ++size_;
  }
  // Removes hash if present; returns whether it was.
  bool Remove(uint64_t hash) {
    const size_t slot = Find(Stored(hash));
    if (slot == kNone) return false;
    ring_[index_[slot] - 1] = kHole;
    Erase(slot);
    --size_;
    return true;
  }
  // Removes and returns the oldest entry. REQUIRES: !empty().
  uint64_t PopTail() {
    while (ring_[tail_ & (ring_.size() - 1)] == kHole) ++tail_;
    const uint64_t h = ring_[tail_ & (ring_.size() - 1)];
    Remove(h);
    ++tail_;
    return h == kZero ? 0 : h;
  }
  void Clear() {
    ring_.clear();
    index_.clear();
    head_ = tail_ = size_ = 0;
  }
  size_t memory_bytes() const {
    return ring_.capacity() * sizeof(uint64_t) + index_.capacity() * sizeof(uint32_t);
  }

 private:
  static constexpr uint64_t kHole = 0;
  static constexpr uint64_t kZero = ~uint64_t{0};  // how a hash of 0 is stored
  static constexpr size_t kNone = SIZE_MAX;
  static constexpr size_t kMinRing = 16;

  // A hash as the ring holds it: never kHole (so hashes 0 and ~0 are one entry).
  static uint64_t Stored(uint64_t hash) { return hash == kHole ? kZero : hash; }
  size_t Home(uint64_t h) const { return (h * 0x9E3779B97F4A7C15ull) >> shift_; }

  // The index slot of stored hash h, or kNone.
  size_t Find(uint64_t h) const {
    if (index_.empty()) return kNone;
    const size_t mask = index_.size() - 1;
    for (size_t i = Home(h);; i = (i + 1) & mask) {
      const uint32_t v = index_[i];
      if (v == 0) return kNone;
      if (ring_[v - 1] == h) return i;
    }
  }
  void Insert(uint64_t h, uint32_t pos) {
    const size_t mask = index_.size() - 1;
    size_t i = Home(h);
    while (index_[i] != 0) i = (i + 1) & mask;
    index_[i] = pos + 1;
  }
  // Empties slot i, moving later entries of its probe run back so that none is cut off.
  void Erase(size_t i) {
    const size_t mask = index_.size() - 1;
    for (size_t j = (i + 1) & mask; index_[j] != 0; j = (j + 1) & mask) {
      const size_t home = Home(ring_[index_[j] - 1]);
      // The entry at j may fill the gap at i unless its home lies cyclically in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        index_[i] = index_[j];
        i = j;
      }
    }
    index_[i] = 0;
  }
  // The ring again, live entries only and in order from position 0, in a ring of 1.5-3 times as
  // many (at least kMinRing; so a compaction is amortized over at least a third as many pushes),
  // and its index, at most half full.
  void Rebuild() {
    std::vector<uint64_t> live;
    live.reserve(size_);
    for (uint64_t s = tail_; s != head_; ++s) {
      const uint64_t h = ring_[s & (ring_.size() - 1)];
      if (h != kHole) live.push_back(h);
    }
    size_t capacity = std::max(ring_.size(), kMinRing);
    while (size_ * 3 > capacity * 2) capacity *= 2;
    while (capacity > kMinRing && size_ * 3 < capacity) capacity /= 2;
    ring_ = std::vector<uint64_t>(capacity, kHole);
    std::copy(live.begin(), live.end(), ring_.begin());
    tail_ = 0;
    head_ = live.size();
    size_t slots = 2 * kMinRing;
    while (size_ * 2 > slots) slots *= 2;
    Reindex(slots);
  }
  // The index again, `slots` long (a power of 2).
  void Reindex(size_t slots) {
    index_ = std::vector<uint32_t>(slots, 0);
    shift_ = 64 - static_cast<unsigned>(__builtin_ctzll(slots));
    for (uint64_t s = tail_; s != head_; ++s) {
      const uint32_t pos = static_cast<uint32_t>(s & (ring_.size() - 1));
      if (ring_[pos] != kHole) Insert(ring_[pos], pos);
    }
  }

  std::vector<uint64_t> ring_;   // a power of 2 long (or empty)
  std::vector<uint32_t> index_;  // ring position + 1; 0: empty. A power of 2 long (or empty)
  unsigned shift_ = 64;
  uint64_t head_ = 0, tail_ = 0;  // entries pushed so far; the oldest that may be live
  size_t size_ = 0;
};

}  // namespace kvcache::internal
