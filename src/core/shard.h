// ShardCore: the part of a shard that does not depend on the eviction policy — its lock, item
// memory, index, read buffer, budget and counters — and Handle pins.
//
// Lock rules: `lock_` shared for lookups (Find, pin, hot bits, read-buffer push); exclusive for
// everything that changes the index, the policy, the slab allocator or the counters below it.
// Lookups are counted by the lock word itself (one atomic add admits and counts a reader);
// misses are an atomic beside it, on the lock's cache line, which a lookup has just written.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/arena.h"
#include "core/hash_index.h"
#include "core/item.h"
#include "core/policy/policy.h"
#include "core/read_buffer.h"
#include "core/rw_spinlock.h"
#include "kvcache/cache.h"
#include "kvcache/stats.h"

namespace kvcache::internal {

static_assert(static_cast<uint32_t>(ValueKind::kTensor) == sizes::kTensorKind,
              "item.h aligns the values of this kind");

class ShardCore;

// The cache's budget, which its shards hold in reservations (docs/design.md, "One budget, lent
// to the shards"). What no shard holds is `free`; a shard that needs more than it holds takes
// from it, and one below its share may take back from a shard holding more than its own.
struct BudgetPool {
  std::atomic<int64_t> free{0};      // weight units no shard holds
  std::atomic<uint32_t> lenders{0};  // shards holding at least a step more than their share
  std::vector<ShardCore*> shards;
  std::atomic<uint64_t> total{0};  // the whole budget (Cache::SetCapacity changes it)
};

struct ShardConfig {
  uint64_t capacity = 0;  // in weight units: bytes, or items when count_items; the shard's share
  BudgetPool* pool = nullptr;  // shared with the other shards; nullptr: the shard's share is fixed
  bool count_items = false;
  uint16_t id = 0;
  uint32_t key_spaces = 0;
  bool evict = true;
  const std::function<int64_t()>* clock = nullptr;
  const std::function<void(std::string_view, const ItemView*)>* on_change = nullptr;
};

// A load in progress for GetOrLoad: the first caller loads, the others wait here.
struct Flight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Status status;
  Handle handle;  // the stored value, pinned, when status is OK
};

class ShardCore : public PolicyContext {
 public:
  ShardCore(Arena* arena, const ShardConfig& config);
  ~ShardCore() override;

  // Unpins an item (Handle::Reset). Frees it if it was the last reference.
  void Release(Item* it);
  // A second pin on the item `h` holds. REQUIRES: h is not empty.
  Handle Clone(const Handle& h);
  // The item `h` pins, or nullptr.
  static const Item* PinnedItem(const Handle& h) { return static_cast<const Item*>(h.item_); }

  uint64_t Weight(ItemRef ref) const override;
  uint64_t HashOf(ItemRef ref) const override;

  uint64_t capacity() const { return capacity_; }
  int64_t Now() const;

  // Called by another shard when the pool is empty: gives up to `want` of what this shard holds
  // above its own share (or, with `below_share`, of all it holds), evicting for it, and returns
  // how much. Takes this shard's lock only if it is free (the caller holds its own): if not, sets
  // *busy and returns 0.
  virtual uint64_t Lend(uint64_t want, bool below_share, bool* busy) = 0;
  // Gives what this shard holds beyond its use (and a step) back to the pool.
  virtual void Settle() = 0;
  // Cache::SetCapacity: the shard's share of the budget and the whole budget (which a policy
  // whose limits follow the room is given). A shard without a pool holds its new share at once
  // when it grows; when it shrinks, it keeps holding more until Reclaim.
  virtual void Resize(uint64_t share, uint64_t total) = 0;
  // Cache::Reclaim: gives up to `want` of what this shard holds above its share, evicting for
  // it (at most *max_evictions items, counted down), and returns how much.
  virtual uint64_t Reclaim(uint64_t want, size_t* max_evictions) = 0;
  // Gives the index's local offsets `bits` bits, for a grown stripe (Arena::SetStripePages).
  void WidenIndex(uint32_t bits);
  // Cache::SetEvict.
  void SetEvict(bool evict);
  // What this shard holds above its share; read without its lock, as a hint.
  uint64_t over() const { return over_.load(std::memory_order_relaxed); }

  // Single-flight registry for GetOrLoad.
  std::shared_ptr<Flight> JoinFlight(std::string_view key, bool* leader);
  void EndFlight(std::string_view key);

 protected:
  // REQUIRES: the item is alive and the caller holds a pin for the Handle to own.
  void FillHandle(Handle* out, Item* it);
  void FillHandle(Handle* out, Item* it, int64_t expires_at);
  // REQUIRES: exclusive lock. The index's reference is dropped; the item is freed unless a
  // Handle still pins it. With keep_block (an external item only the index refers to), its
  // block is not freed but handed to the caller, its weight leaving the shard with it.
  void DropIndexRef(ItemRef ref, ExternalBlock** keep_block = nullptr);
  // REQUIRES: exclusive lock; the item's last reference is gone.
  void FreeItem(ItemRef ref);
  // REQUIRES: exclusive lock. FreeItem but for the chunk: the item's weight leaves the budget
  // and its external block is freed.
  void Uncharge(ItemRef ref);
  // REQUIRES: exclusive lock. Clears the linked bit and drops the index's reference. True when
  // that was the item's last reference (it is the caller's to free); otherwise a Handle still
  // pins it, and its weight counts as pinned until the last Release frees it.
  bool DropRef(ItemRef ref);
  // REQUIRES: exclusive lock; the index and the policy are already empty. Drops the index's
  // reference of every linked item, freeing those no Handle pins, in one pass over the shard's
  // pages. Pages left empty are appended to `emptied` (SlabAllocator::Sweep).
  void DropAllLocked(std::vector<uint32_t>* emptied);
  static bool IsExpired(const Item* it, int64_t now) {
    const int64_t t = it->expires_at();
    return t != 0 && t <= now;
  }
  // The same against the clock, read only for an item that has an expiry: most have none, and
  // a clock read is 4% of the server's CPU at pipeline depth 16 when done for every write.
  bool IsExpiredNow(const Item* it) const {
    const int64_t t = it->expires_at();
    return t != 0 && t <= Now();
  }
  // Linked items by the first byte of their key (Options::key_spaces), and how many of them
  // have an expiry.
  struct KeySpaceCount {
    uint64_t items = 0;
    uint64_t expiring = 0;
  };
  void CountKeySpace(const Item* it, int delta) {
    if (it->expires_at() != 0) ttl_items_ += delta;
    if (key_spaces_.empty()) return;
    const uint8_t space = KeySpaceOf(it->key());
    if (space < key_spaces_.size()) {
      KeySpaceCount& k = key_spaces_[space];
      k.items += delta;
      if (it->expires_at() != 0) k.expiring += delta;
    }
  }
  // REQUIRES: exclusive lock. Changes a linked item's expiry, keeping the counts.
  void SetExpiryCounted(Item* it, int64_t expires_at) {
    CountKeySpace(it, -1);
    it->set_expires_at(expires_at);
    CountKeySpace(it, +1);
  }

  // REQUIRES: exclusive lock. Sets reserved_ and what other shards see of it.
  void SetReserved(uint64_t reserved);
  // The same, and the shard's share of the budget (Cache::SetCapacity).
  void SetReservedAndShare(uint64_t reserved, uint64_t share);

  // ---- cache line 0: touched by every lookup
  alignas(64) RwSpinLock lock_;
  std::atomic<uint64_t> misses_{0};
  ReadBuffer read_buffer_;

  // ---- the rest: exclusive lock
  alignas(64) Arena* arena_;
  SlabAllocator slabs_;
  HashIndex index_;
  uint64_t capacity_;  // the share; changed only by Cache::SetCapacity
  BudgetPool* const pool_;
  uint64_t step_;        // what a shard takes from the pool beyond its need, and keeps spare
  uint64_t reserved_;    // the budget this shard holds (capacity_ without a pool)
  std::atomic<uint64_t> over_{0};  // reserved_ above capacity_, read by the other shards
  const bool count_items_;
  bool evict_;  // changed only by Cache::SetEvict, under the lock
  const std::function<int64_t()>* clock_;
  const std::function<void(std::string_view, const ItemView*)>* on_change_;
  uint64_t item_weight_ = 0;    // every allocated item, including retired ones still pinned
  uint64_t pinned_weight_ = 0;  // retired items still pinned
  uint64_t items_ = 0;          // linked items
  uint64_t ttl_items_ = 0;      // linked items with an expiry
  std::vector<KeySpaceCount> key_spaces_;
  uint64_t inserts_ = 0;
  uint64_t evictions_ = 0;
  uint64_t expirations_ = 0;

 private:
  std::mutex flight_mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;
};

}  // namespace kvcache::internal
