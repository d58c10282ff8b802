// What every eviction policy provides, and the pieces they share.
//
// A policy orders the items of one shard and names the next victim. It is called only under
// the shard's exclusive lock, except OnReadHit, which runs under the shared lock concurrently
// with other readers and may only touch the item's hot bits (the FIFO family keeps its whole
// hit state there). Policies with kBufferedHits get their hits later, in order, through Touch.
//
// A policy that evicts as a side effect of a hit or an insert also provides
// `ItemRef TakePendingVictim()`: the shard calls it after BeforeInsert, Insert, Replace and each
// Touch, and evicts what it returns (already unlinked from the policy) until it returns kNullRef.
//
// Weights are what the shard charges for an item: bytes, or 1 in an item-bounded cache.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "core/arena.h"
#include "core/item.h"

namespace kvcache::internal {

// What a policy may ask of its shard.
class PolicyContext {
 public:
  virtual ~PolicyContext() = default;
  virtual uint64_t Weight(ItemRef ref) const = 0;
  virtual uint64_t HashOf(ItemRef ref) const = 0;
  Item* At(ItemRef ref) const { return arena->At(ref); }
  // The weight of an average item: 1 when the cache counts items, otherwise measured over
  // `items` items of total weight `weight`, with a guess for an empty cache. Policies size
  // their ghosts and sketches in items from it.
  double AverageWeight(uint64_t items, uint64_t weight) const {
    if (count_items) return 1.0;
    if (items == 0 || weight == 0) return kGuessedItemBytes;
    return static_cast<double>(weight) / static_cast<double>(items);
  }

  static constexpr double kGuessedItemBytes = 1024;
  const Arena* arena = nullptr;
  bool count_items = false;
};

template <class P>
concept EvictionPolicy = requires(P p, const P cp, ItemRef r, uint64_t h, Item* it) {
  { P::kName } -> std::convertible_to<const char*>;
  { P::kBufferedHits } -> std::convertible_to<bool>;
  P::OnReadHit(it);
  p.SetCapacity(h);   // in weight units
  p.BeforeInsert(h);  // a new key is about to be stored (before the evictions that make room)
  p.Insert(r, h);     // the new item (h: its key hash)
  p.Touch(r);         // a hit, replayed under the exclusive lock (kBufferedHits only)
  p.Remove(r);        // erased, expired or overwritten: unlink, remember nothing
  p.Replace(r, r);    // the new item takes the old one's place, as if hit
  { p.Evict() } -> std::same_as<ItemRef>;  // unlink and return the victim, or kNullRef
  { cp.metadata_bytes() } -> std::convertible_to<size_t>;
  p.Clear();
};

// A doubly linked list threaded through Item::prev/next. head is the newest end, tail the
// oldest; `next` points toward the tail. Keeps its count and total weight.
struct ItemList {
  ItemRef head = kNullRef;
  ItemRef tail = kNullRef;
  uint64_t count = 0;
  uint64_t weight = 0;

  bool empty() const { return head == kNullRef; }

  void PushHead(const PolicyContext& c, ItemRef r, uint64_t w) {
    Item* it = c.At(r);
    it->prev = kNullRef;
    it->next = head;
    if (head != kNullRef)
      c.At(head)->prev = r;
    else
      tail = r;
    head = r;
    ++count;
    weight += w;
  }
  void PushTail(const PolicyContext& c, ItemRef r, uint64_t w) {
    Item* it = c.At(r);
    it->next = kNullRef;
    it->prev = tail;
    if (tail != kNullRef)
      c.At(tail)->next = r;
    else
      head = r;
    tail = r;
    ++count;
    weight += w;
  }
  void Remove(const PolicyContext& c, ItemRef r, uint64_t w) {
    Item* it = c.At(r);
    if (it->prev != kNullRef)
      c.At(it->prev)->next = it->next;
    else
      head = it->next;
    if (it->next != kNullRef)
      c.At(it->next)->prev = it->prev;
    else
      tail = it->prev;
    it->prev = it->next = kNullRef;
    --count;
    weight -= w;
  }
  void MoveToHead(const PolicyContext& c, ItemRef r) {
    if (head == r) return;
    Item* it = c.At(r);
    c.At(it->prev)->next = it->next;  // r is not the head, so it has a prev
    if (it->next != kNullRef)
      c.At(it->next)->prev = it->prev;
    else
      tail = it->prev;
    it->prev = kNullRef;
    it->next = head;
    c.At(head)->prev = r;
    head = r;
  }
  // `to` takes `from`'s position; weights may differ.
  void ReplaceNode(const PolicyContext& c, ItemRef from, ItemRef to, uint64_t wfrom, uint64_t wto) {
    Item* f = c.At(from);
    Item* t = c.At(to);
    t->prev = f->prev;
    t->next = f->next;
    if (t->prev != kNullRef)
      c.At(t->prev)->next = to;
    else
      head = to;
    if (t->next != kNullRef)
      c.At(t->next)->prev = to;
    else
      tail = to;
    f->prev = f->next = kNullRef;
    weight = weight - wfrom + wto;
  }
  void Clear() { *this = ItemList{}; }
};

// The share of a capacity given to a queue, at least one item's worth so that small shards keep
// every queue alive.
inline uint64_t QueueShare(uint64_t capacity, double fraction, uint64_t at_least = 1) {
  uint64_t v = static_cast<uint64_t>(static_cast<double>(capacity) * fraction);
  return v < at_least ? at_least : v;
}

}  // namespace kvcache::internal
