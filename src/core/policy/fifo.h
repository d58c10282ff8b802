// FIFO: evicts the oldest item; hits change nothing, so a hit takes no lock beyond the
// shared one. An overwrite keeps the key's place in the queue.
#pragma once

#include "core/policy/policy.h"

namespace kvcache::internal {

class FifoPolicy {
 public:
  static constexpr const char* kName = "fifo";
  static constexpr bool kBufferedHits = false;

  explicit FifoPolicy(const PolicyContext* c) : c_(c) {}
  static void OnReadHit(Item*) {}
  void SetCapacity(uint64_t) {}
  void BeforeInsert(uint64_t) {}
  void Insert(ItemRef r, uint64_t) { list_.PushHead(*c_, r, 0); }
  void Touch(ItemRef) {}
  void Remove(ItemRef r) { list_.Remove(*c_, r, 0); }
  void Replace(ItemRef from, ItemRef to) { list_.ReplaceNode(*c_, from, to, 0, 0); }
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
