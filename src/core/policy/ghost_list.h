// GhostList: an ordered set of key hashes of items no longer cached (ARC's B1/B2, 2Q's Aout).
// Head is the newest end. Exact: O(1) lookup, removal from anywhere, push at the head, pop at
// the tail. About 30 bytes per entry.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <vector>

namespace kvcache::internal {

class GhostList {
 public:
  size_t size() const { return map_.size(); }
  bool empty() const { return map_.empty(); }
  bool Contains(uint64_t hash) const { return map_.contains(hash); }

  void PushHead(uint64_t hash) {
    uint32_t n = NewNode(hash);
    nodes_[n].next = head_;
    nodes_[n].prev = kNil;
    if (head_ != kNil)
      nodes_[head_].prev = n;
    else
      tail_ = n;
    head_ = n;
    map_[hash] = n;
  }
  // Removes hash if present; returns whether it was.
  bool Remove(uint64_t hash) {
    auto it = map_.find(hash);
    if (it == map_.end()) return false;
    Unlink(it->second);
    map_.erase(it);
    return true;
  }
  // Removes and returns the oldest entry. REQUIRES: !empty().
  uint64_t PopTail() {
    uint32_t n = tail_;
    uint64_t h = nodes_[n].hash;
    Unlink(n);
    map_.erase(h);
    return h;
  }
  void Clear() {
    map_.clear();
    nodes_.clear();
    free_ = head_ = tail_ = kNil;
  }
  size_t memory_bytes() const {
    return nodes_.capacity() * sizeof(Node) +
           map_.capacity() * (sizeof(uint64_t) + sizeof(uint32_t) + 1);
  }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  struct Node {
    uint64_t hash;
    uint32_t prev, next;
  };

  uint32_t NewNode(uint64_t hash) {
    uint32_t n;
    if (free_ != kNil) {
      n = free_;
      free_ = nodes_[n].next;
    } else {
      n = static_cast<uint32_t>(nodes_.size());
      nodes_.push_back({});
    }
    nodes_[n].hash = hash;
    return n;
  }
  void Unlink(uint32_t n) {
    Node& x = nodes_[n];
    if (x.prev != kNil)
      nodes_[x.prev].next = x.next;
    else
      head_ = x.next;
    if (x.next != kNil)
      nodes_[x.next].prev = x.prev;
    else
      tail_ = x.prev;
    x.next = free_;
    free_ = n;
  }

  absl::flat_hash_map<uint64_t, uint32_t> map_;
  std::vector<Node> nodes_;
  uint32_t head_ = kNil, tail_ = kNil, free_ = kNil;
};

}  // namespace kvcache::internal
