// LRU: evicts the least recently used item. One list; a hit moves the item to the head
// (replayed from the read buffer, never under the exclusive lock on the hit itself).
#pragma once

#include "core/policy/policy.h"

namespace kvcache::internal {

class LruPolicy {
 public:
  static constexpr const char* kName = "lru";
  static constexpr bool kBufferedHits = true;

  explicit LruPolicy(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item*) {}
  void SetCapacity(uint64_t) {}
  void BeforeInsert(uint64_t) {}
  void Insert(ItemRef r, uint64_t) { list_.PushHead(*c_, r, 0); }
  void Touch(ItemRef r) { list_.MoveToHead(*c_, r); }
  void Remove(ItemRef r) { list_.Remove(*c_, r, 0); }
  void Replace(ItemRef from, ItemRef to) {
    list_.ReplaceNode(*c_, from, to, 0, 0);
    list_.MoveToHead(*c_, to);
  }
  ItemRef Evict() {
    ItemRef v = list_.tail;
    if (v != kNullRef) list_.Remove(*c_, v, 0);
    return v;
  }
  size_t metadata_bytes() const { return 0; }
  void Clear() { list_.Clear(); }

 private:
  const PolicyContext* c_;
  ItemList list_;
};

}  // namespace kvcache::internal
