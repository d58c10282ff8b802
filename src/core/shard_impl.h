// Shard<P>: one shard's operations for eviction policy P.
//
// Included only by the policy translation units (src/core/policy/*.cc), each of which
// instantiates it once: the hot path is compiled per policy with no virtual call inside it.
#pragma once

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/shard.h"

namespace kvcache::internal {

template <EvictionPolicy P>
class Shard final : public ShardCore {
 public:
  Shard(Arena* arena, const ShardConfig& config) : ShardCore(arena, config), policy_(this) {
    // A policy whose limits follow the room the shard finds (LIRS's target) may follow it past
    // the shard's share: the shards share one budget, and a shard may come to hold all of it.
    // Capped at the share, LIRS evicted on its own limits in a shard holding a few large
    // values more than its share while the budget had room.
    policy_.SetCapacity(PolicyCapacity(
        capacity_, pool_ != nullptr ? pool_->total.load(std::memory_order_relaxed) : 0));
  }

  // What the policy is sized for: the share, or for a policy whose limits follow the room in a
  // shard of a shared budget, the whole budget.
  uint64_t PolicyCapacity(uint64_t share, uint64_t total) const {
    if constexpr (requires { P::kLimitsFollowTheRoom; }) {
      if (pool_ != nullptr && !count_items_) return total;
    }
    return share;
  }

  // The largest weight an item may have: everything else can be evicted to make room for it,
  // and an eighth of the budget stays for the indexes and the policies' metadata.
  // Called before the shard's lock is taken: the share is read atomically (SetCapacity changes
  // it under the lock).
  uint64_t max_item_weight() const {
    const uint64_t share =
        std::atomic_ref<uint64_t>(const_cast<uint64_t&>(capacity_)).load(std::memory_order_relaxed);
    if (count_items_) return share;
    const uint64_t budget = pool_ != nullptr ? pool_->total.load(std::memory_order_relaxed) : share;
    return budget - budget / 8;
  }

  std::string TooLargeMessage(uint64_t weight) const {
    return "item of " + std::to_string(weight) + (count_items_ ? " items" : " bytes") +
           " is larger than the cache can hold (" + std::to_string(max_item_weight()) +
           "); raise the capacity";
  }

  uint64_t Lend(uint64_t want, bool below_share, bool* busy) override {
    if (!lock_.try_lock()) {
      *busy = true;
      return 0;
    }
    size_t unbounded = SIZE_MAX;
    const uint64_t lent = GiveLocked(want, below_share ? 0 : capacity_, &unbounded);
    lock_.unlock();
    return lent;
  }

  void Resize(uint64_t share, uint64_t total) override {
    lock_.lock();
    policy_.SetCapacity(PolicyCapacity(share, total));
    if (pool_ != nullptr) {
      SetReservedAndShare(reserved_, share);
      SettleLocked();
    } else {
      SetReservedAndShare(std::max(share, reserved_), share);
    }
    lock_.unlock();
  }

  uint64_t Reclaim(uint64_t want, size_t* max_evictions) override {
    lock_.lock();
    const uint64_t given = GiveLocked(want, capacity_, max_evictions);
    lock_.unlock();
    return given;
  }

  void Settle() override {
    lock_.lock();
    SettleLocked();
    lock_.unlock();
  }

  // See Cache::Prefetch. No lock.
  void Prefetch(uint64_t hash) const { index_.PrefetchUnlocked(hash); }
  void PrefetchItems(uint64_t hash) {
    lock_.lock_shared();
    index_.PrefetchItems(hash);
    lock_.unlock_shared();
  }
  void PrefetchLinks(uint64_t hash) {
    lock_.lock_shared();
    index_.PrefetchLinks(hash);
    lock_.unlock_shared();
  }

  // Pins the live item of `key` into *out. `record` false: not an access (no stats, no policy).
  bool Get(uint64_t hash, std::string_view key, Handle* out, bool record = true) {
    // A recorded lookup is counted by the lock itself; hits = lookups - misses.
    if (record) {
      lock_.lock_shared_counted();
    } else {
      lock_.lock_shared();
    }
    index_.Prefetch(hash);
    ItemRef ref = index_.Find(hash, key);
    if (ref == kNullRef) {
      lock_.unlock_shared();
      if (record) misses_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    Item* it = arena_->At(ref);
    const int64_t expires_at = it->expires_at();
    if (expires_at != 0 && expires_at <= Now()) {
      lock_.unlock_shared();
      if (record) misses_.fetch_add(1, std::memory_order_relaxed);
      RemoveIfExpired(hash, key);
      return false;
    }
    uint32_t prev = it->state.fetch_add(1, std::memory_order_relaxed);
    if ((prev & state::kRefMask) >= state::kMaxRefs) {  // pathological pin count: act as a miss
      it->state.fetch_sub(1, std::memory_order_relaxed);
      lock_.unlock_shared();
      if (record) misses_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    bool drain = false;
    if (record) {
      if constexpr (P::kBufferedHits) {
        drain = read_buffer_.Push(ref);
      } else {
        P::OnReadHit(it);
      }
    }
    lock_.unlock_shared();
    if (drain) {
      lock_.lock();
      DrainLocked();
      lock_.unlock();
    }
    FillHandle(out, it, expires_at);
    return true;
  }

  // The third step of a prefetch, once the item's first lines have arrived: starts loading its
  // key and its value (the value's first KiB: enough for an embedding row, and a large value is
  // streamed anyway).
  void PrefetchValue(uint64_t hash) {
    lock_.lock_shared();
    index_.PrefetchBodies(hash);
    lock_.unlock_shared();
  }

  // Get() without the pin: fn sees the live item (or nullptr) under the shared lock.
  template <typename Fn>
  void Read(uint64_t hash, std::string_view key, Fn&& fn) {
    lock_.lock_shared_counted();
    ItemRef ref = index_.Find(hash, key);
    const int64_t expires_at = ref == kNullRef ? 0 : arena_->At(ref)->expires_at();
    if (ref == kNullRef || (expires_at != 0 && expires_at <= Now())) {
      lock_.unlock_shared();
      misses_.fetch_add(1, std::memory_order_relaxed);
      fn(nullptr);
      if (ref != kNullRef) RemoveIfExpired(hash, key);
      return;
    }
    Item* it = arena_->At(ref);
    bool drain = false;
    if constexpr (P::kBufferedHits) {
      drain = read_buffer_.Push(ref);
    } else {
      P::OnReadHit(it);
    }
    ItemView view;
    view.key = key;
    view.value = it->value();
    view.kind = static_cast<ValueKind>(it->kind());
    view.expires_at_ms = expires_at;
    fn(&view);
    lock_.unlock_shared();
    if (drain) {
      lock_.lock();
      DrainLocked();
      lock_.unlock();
    }
  }

  // Whether the policy counts uses of its items (Cache::AccessFrequency).
  static constexpr bool kCountsUses = requires(const P& p, ItemRef r) {
    { p.Frequency(r) } -> std::convertible_to<uint32_t>;
  };

  // The policy's count of uses of key, once the buffered hits are in; false when key holds no
  // live item. Cold: an operator's question, kept from weighing on the inlining of the hot
  // paths in this (large) translation unit.
  [[gnu::cold]] bool Frequency(uint64_t hash, std::string_view key,
                               uint32_t* out) requires kCountsUses {
    lock_.lock();
    DrainLocked();
    ItemRef ref = index_.Find(hash, key);
    const bool live = ref != kNullRef && !IsExpiredNow(arena_->At(ref));
    if (live) *out = policy_.Frequency(ref);
    lock_.unlock();
    return live;
  }

  bool Contains(uint64_t hash, std::string_view key) {
    lock_.lock_shared();
    ItemRef ref = index_.Find(hash, key);
    bool live = ref != kNullRef && !IsExpiredNow(arena_->At(ref));
    lock_.unlock_shared();
    return live;
  }

  // A write, resolved by CacheImpl: the key is valid, the expiry absolute, and a value too large
  // for a slab chunk already copied (with the key) into `ext`, outside the lock.
  struct WriteArgs {
    std::string_view key;
    std::string_view value;
    int64_t expires_at = 0;  // 0: none; ignored with keep_ttl
    bool keep_ttl = false;
    WriteOptions::Condition condition = WriteOptions::Condition::kAlways;
    const Handle* current = nullptr;  // kIfCurrent
    ValueKind kind = ValueKind::kString;
    ExternalBlock* ext = nullptr;  // owned, also on failure
    Handle* pin = nullptr;         // receives the new item
    Handle* previous = nullptr;    // receives the replaced item
  };

  Status Write(uint64_t hash, const WriteArgs& a) {
    ExternalBlock* ext = a.ext;
    const uint64_t weight = WeightOf(a.key.size(), a.value.size(), true, a.kind, ext);
    if (weight > max_item_weight()) {
      std::free(ext);
      return Status::InvalidArgument(TooLargeMessage(weight));
    }
    lock_.lock();
    DrainLocked();
    ItemRef old = FindLiveLocked(hash, a.key);
    Item* previous = nullptr;
    if (a.previous != nullptr && old != kNullRef) {
      previous = arena_->At(old);
      previous->state.fetch_add(1, std::memory_order_relaxed);  // survives its replacement
    }
    if ((a.condition == WriteOptions::Condition::kIfAbsent && old != kNullRef) ||
        (a.condition == WriteOptions::Condition::kIfPresent && old == kNullRef) ||
        (a.condition == WriteOptions::Condition::kIfCurrent &&
         (old != kNullRef ? arena_->At(old) : nullptr) != PinnedItem(*a.current))) {
      lock_.unlock();
      std::free(ext);
      if (previous != nullptr) FillHandle(a.previous, previous);
      return Status::NotFound(old != kNullRef ? "key exists" : "no such key");
    }
    const int64_t expires_at =
        a.keep_ttl ? (old != kNullRef ? arena_->At(old)->expires_at() : 0) : a.expires_at;
    Item* stored = nullptr;
    Status st =
        StoreLocked(hash, a.key, a.value, expires_at, a.kind, ext, old, a.pin != nullptr, &stored);
    if (!st.ok()) std::free(ext);
    SettleLocked();
    lock_.unlock();
    arena_->PopulateAhead();
    if (previous != nullptr) FillHandle(a.previous, previous);  // takes over the pin
    if (st.ok() && a.pin != nullptr) FillHandle(a.pin, stored);
    return st;
  }

  // Read-modify-write of one key under the shard's lock (see Cache::Update).
  Status Update(uint64_t hash, std::string_view key,
                FunctionRef<void(const ItemView*, Mutation*)> fn) {
    lock_.lock();
    DrainLocked();
    ItemRef old = FindLiveLocked(hash, key);
    Mutation m;
    if (!count_items_) m.max_value_bytes = max_item_weight();
    size_t capacity = 0;  // for an in-place change: offered when nonzero
    if (old != kNullRef) {
      ItemView view = ViewOf(old);
      // Writable when only the index refers to the item: a new pin needs the shard's lock, which
      // this holds exclusively, so nothing can start reading the value while fn changes it.
      // Acquire: the last Handle's reads of the value happen before its unpin (a release).
      Item* it = arena_->At(old);
      if ((it->state.load(std::memory_order_acquire) & state::kRefMask) == 1) {
        if (it->external()) {
          ExternalBlock* b = it->ext();
          view.writable = b->value();
          view.capacity = malloc_usable_size(b) - ExternalBlock::ValueOffset(b->key_size);
        } else if (!view.value.empty()) {
          // The key follows the value in the chunk: the value can change, not its size.
          view.writable = it->inline_value();
          view.capacity = view.value.size();
        }
        capacity = view.capacity;
      }
      fn(&view, &m);
    } else {
      fn(nullptr, &m);
    }
    Status st;
    switch (m.action) {
      case Mutation::Action::kKeep:
        if (old != kNullRef) TouchLocked(old);
        break;
      case Mutation::Action::kErase:
        if (old != kNullRef) {
          RemoveLocked(hash, old);
          NotifyChange(key, kNullRef);
        }
        break;
      case Mutation::Action::kSetExpiry:
        if (old != kNullRef) st = SetExpiryLocked(hash, old, m.expires_at_ms);
        break;
      case Mutation::Action::kPatched: {
        Item* it = arena_->At(old);
        if (capacity == 0 || m.patched_size > capacity ||
            (!it->external() && m.patched_size != capacity)) {
          st = Status::InvalidArgument("an in-place change of a value that offered no room");
          break;
        }
        if (it->external())
          it->ext()->value_size = m.patched_size;  // the block, so the weight, stays
        TouchLocked(old);
        NotifyChange(key, old);
        break;
      }
      case Mutation::Action::kStore: {
        const size_t size = m.fill ? m.fill_size : m.value.size();
        const bool external = NeedsExternal(key.size(), size, m.kind);
        if (m.fill && !external) {
          m.value.resize(size);
          m.fill(m.value.data());
        }
        ExternalBlock* ext = nullptr;
        uint64_t weight = 0;
        // The reserve is dropped if it alone would make the item too large.
        for (const size_t reserve : {m.reserve, size_t{0}}) {
          if (external) {
            ext = arena_->NewExternalBlock(key, size, reserve);
            if (ext == nullptr) break;
            if (m.fill) {
              m.fill(ext->value());
            } else {
              std::memcpy(ext->value(), m.value.data(), size);
            }
          }
          weight = WeightOf(key.size(), size, m.expires_at_ms != 0, m.kind, ext);
          if (weight <= max_item_weight() || reserve == 0 || !external) break;
          arena_->blocks().Free(ext);
          ext = nullptr;
        }
        if (external && ext == nullptr) {
          st = Status::NoSpace("out of memory for a large item");
          break;
        }
        if (weight > max_item_weight()) {
          arena_->blocks().Free(ext);
          st = Status::InvalidArgument(TooLargeMessage(weight));
          break;
        }
        Item* stored = nullptr;
        const std::string_view value =
            ext != nullptr ? std::string_view(ext->value(), size) : std::string_view(m.value);
        st = StoreLocked(hash, key, value, m.expires_at_ms, m.kind, ext, old, false, &stored);
        if (!st.ok()) arena_->blocks().Free(ext);
        break;
      }
    }
    SettleLocked();
    lock_.unlock();
    arena_->PopulateAhead();
    return st;
  }

  // Visits the live items whose key hash has its low 32 bits in [lo, hi), under the shared
  // lock. Returns how many it visited.
  size_t ScanRange(uint32_t lo, uint64_t hi, FunctionRef<void(const ItemView&)> fn) {
    lock_.lock_shared();
    const int64_t now = Now();
    size_t n = 0;
    index_.ScanRange(lo, hi, [&](ItemRef r) {
      if (IsExpired(arena_->At(r), now)) return;
      ItemView view = ViewOf(r);
      fn(view);
      ++n;
    });
    lock_.unlock_shared();
    return n;
  }

  uint64_t item_count() {
    lock_.lock_shared();
    uint64_t n = items_;
    lock_.unlock_shared();
    return n;
  }

  void AddKeySpace(uint8_t space, KeySpaceStats* out) {
    lock_.lock_shared();
    if (space < key_spaces_.size()) {
      out->items += key_spaces_[space].items;
      out->expiring += key_spaces_[space].expiring;
    }
    lock_.unlock_shared();
  }

  bool Erase(uint64_t hash, std::string_view key) {
    lock_.lock();
    DrainLocked();
    ItemRef ref = index_.Find(hash, key);
    bool live = false;
    if (ref != kNullRef) {
      live = !IsExpiredNow(arena_->At(ref));
      if (!live) ++expirations_;
      RemoveLocked(hash, ref);
      if (live) NotifyChange(key, kNullRef);
      SettleLocked();
    }
    lock_.unlock();
    return live;
  }

  // Cache::Rename: moves the live item of `key` here to `dst_key` in `dst` (this shard or
  // another) by handing its external block to a new item, when it has one, no Handle pins it
  // and the new key leaves the value where it is in the block; *moved says whether it did.
  // NotFound when the key holds no live item. Both shards are locked at once, in address
  // order: every other path that holds a shard's lock takes another's only with try_lock.
  Status MoveTo(uint64_t hash, std::string_view key, Shard& dst, uint64_t dst_hash,
                std::string_view dst_key, bool* moved) {
    *moved = false;
    Shard* first = this < &dst ? this : &dst;
    Shard* second = this < &dst ? &dst : this;
    first->lock_.lock();
    if (second != first) second->lock_.lock();
    DrainLocked();
    if (&dst != this) dst.DrainLocked();
    Status st;
    const ItemRef ref = FindLiveLocked(hash, key);
    Item* it = ref != kNullRef ? arena_->At(ref) : nullptr;
    if (it == nullptr) {
      st = Status::NotFound("no such key");
    } else if (it->external() &&
               (it->state.load(std::memory_order_acquire) & state::kRefMask) == 1 &&
               ExternalBlock::ValueOffset(dst_key.size()) ==
                   ExternalBlock::ValueOffset(it->ext()->key_size)) {
      st = MoveLocked(hash, key, ref, dst, dst_hash, dst_key);
      *moved = st.ok();
    }
    if (&dst != this) dst.SettleLocked();
    SettleLocked();
    if (second != first) second->lock_.unlock();
    first->lock_.unlock();
    arena_->PopulateAhead();
    return st;
  }

  // Pages left empty are appended to `emptied`, for the caller to give back to the arena.
  void Clear(std::vector<uint32_t>* emptied) {
    lock_.lock();
    read_buffer_.Clear();
    policy_.Clear();
    index_.Clear();
    DropAllLocked(emptied);
    SettleLocked();
    lock_.unlock();
  }

  size_t EvictExpired(size_t budget) {
    lock_.lock();
    DrainLocked();
    size_t n = ttl_items_ != 0 ? SweepLocked(budget) : 0;
    if (n != 0) SettleLocked();
    lock_.unlock();
    return n;
  }

  void AddStats(CacheStats* s) {
    uint64_t misses = misses_.load(std::memory_order_relaxed);
    s->hits += lock_.counted_acquisitions() - misses;
    s->misses += misses;
    lock_.lock_shared();
    s->inserts += inserts_;
    s->evictions += evictions_;
    s->expirations += expirations_;
    s->items += items_;
    s->bytes += Used();
    s->item_bytes += count_items_ ? 0 : item_weight_;
    s->pinned_bytes += count_items_ ? 0 : pinned_weight_;
    s->capacity += capacity_;
    lock_.unlock_shared();
  }

 private:
  static constexpr size_t kSweepSlotsPerWrite = 8;

  // Whether key and value need an external block rather than a slab chunk (with an expiry slot,
  // the larger case).
  static bool NeedsExternal(size_t key_size, size_t value_size, ValueKind kind) {
    return Item::InlineBytes(key_size, value_size, true, static_cast<uint32_t>(kind)) >
           size_class::kMaxBytes;
  }

  // What an item costs the budget. External items always have an expiry slot.
  uint64_t WeightOf(size_t key_size, size_t value_size, bool slot, ValueKind kind,
                    const ExternalBlock* ext) const {
    if (count_items_) return 1;
    if (ext != nullptr) {
      return size_class::ChunkBytes(size_class::ForBytes(Item::ExternalStubBytes(true))) +
             malloc_usable_size(const_cast<ExternalBlock*>(ext));
    }
    return size_class::ChunkBytes(size_class::ForBytes(
        Item::InlineBytes(key_size, value_size, slot, static_cast<uint32_t>(kind))));
  }

  ItemView ViewOf(ItemRef ref) const {
    const Item* it = arena_->At(ref);
    ItemView v;
    v.key = it->key();
    v.value = it->value();
    v.kind = static_cast<ValueKind>(it->kind());
    v.expires_at_ms = it->expires_at();
    v.memory_bytes = Weight(ref);
    return v;
  }

  // REQUIRES: exclusive lock. The live item of key; an expired one is removed on the way.
  ItemRef FindLiveLocked(uint64_t hash, std::string_view key) {
    ItemRef ref = index_.Find(hash, key);
    if (ref != kNullRef && IsExpiredNow(arena_->At(ref))) {
      RemoveLocked(hash, ref);
      ++expirations_;
      ref = kNullRef;
    }
    return ref;
  }

  // REQUIRES: exclusive lock. Tells Options::on_change that key now holds `ref` (kNullRef:
  // removed).
  void NotifyChange(std::string_view key, ItemRef ref) {
    if (on_change_ == nullptr) return;
    if (ref == kNullRef) return (*on_change_)(key, nullptr);
    ItemView view = ViewOf(ref);
    (*on_change_)(key, &view);
  }

  // REQUIRES: exclusive lock. An access that is not a lookup (a write that kept the item).
  void TouchLocked(ItemRef ref) {
    if constexpr (P::kBufferedHits) {
      policy_.Touch(ref);
      EvictPendingLocked();
    } else {
      P::OnReadHit(arena_->At(ref));
    }
  }

  // REQUIRES: exclusive lock; `old` live. Items with an expiry slot change it in place; one
  // without gets a slot by moving to a new chunk (inline items only: external ones have one).
  Status SetExpiryLocked(uint64_t hash, ItemRef old, int64_t expires_at) {
    Item* it = arena_->At(old);
    if (it->has_ttl()) {
      SetExpiryCounted(it, expires_at);
      TouchLocked(old);
      return Status::OK();
    }
    if (expires_at == 0) return Status::OK();
    std::string copy(it->value());  // the chunk may be evicted while making room
    std::string key(it->key());
    Item* stored = nullptr;
    return StoreLocked(hash, key, copy, expires_at, static_cast<ValueKind>(it->kind()), nullptr,
                       old, false, &stored, /*notify=*/false);
  }

  // REQUIRES: the exclusive locks of this shard and dst; ref (key's) is external and only the
  // index refers to it. Removes it without freeing its block, which then becomes dst_key's, its
  // budget moving with it. If dst cannot store it, it is put back.
  Status MoveLocked(uint64_t hash, std::string_view key, ItemRef ref, Shard& dst, uint64_t dst_hash,
                    std::string_view dst_key) {
    const Item* it = arena_->At(ref);
    const int64_t expires_at = it->expires_at();
    const auto kind = static_cast<ValueKind>(it->kind());
    const std::string old_key(key);  // `key` may point into the block
    const uint64_t used = Used();
    ExternalBlock* b = nullptr;
    RemoveLocked(hash, ref, &b);
    NotifyChange(old_key, kNullRef);
    const uint64_t released = used - Used();
    if (&dst != this && pool_ != nullptr && !count_items_) {  // the budget follows the block
      SetReserved(reserved_ - released);
      dst.SetReserved(dst.reserved_ + released);
    }
    b->key_size = dst_key.size();
    std::memcpy(b->key(), dst_key.data(), dst_key.size());
    const std::string_view value(b->value(), b->value_size);
    Item* stored = nullptr;
    Status st = dst.StoreLocked(dst_hash, b->key_view(), value, expires_at, kind, b,
                                dst.FindLiveLocked(dst_hash, dst_key), false, &stored);
    if (st.ok()) return st;
    if (&dst != this && pool_ != nullptr && !count_items_) {
      dst.SetReserved(dst.reserved_ - released);
      SetReserved(reserved_ + released);
    }
    b->key_size = old_key.size();
    std::memcpy(b->key(), old_key.data(), old_key.size());
    if (!StoreLocked(hash, b->key_view(), value, expires_at, kind, b, kNullRef, false, &stored)
             .ok()) {
      arena_->blocks().Free(b);  // not seen in any test: the room it left was taken meanwhile
    }
    return st;
  }

  // REQUIRES: exclusive lock. Stores key = value (in `ext` if given, which it takes over if it
  // succeeds; on failure the caller still owns it), replacing `old` (kNullRef for a new key).
  // With `pin`, *stored carries a pin for the caller.
  Status StoreLocked(uint64_t hash, std::string_view key, std::string_view value,
                     int64_t expires_at, ValueKind kind, ExternalBlock* ext, ItemRef old, bool pin,
                     Item** stored, bool notify = true) {
    const bool slot = expires_at != 0 || ext != nullptr;
    const int cls = ext != nullptr
                        ? size_class::ForBytes(Item::ExternalStubBytes(true))
                        : size_class::ForBytes(Item::InlineBytes(key.size(), value.size(), slot,
                                                                 static_cast<uint32_t>(kind)));
    const uint64_t weight = WeightOf(key.size(), value.size(), slot, kind, ext);
    if (old != kNullRef && !pin && OverwriteInPlace(old, cls, ext, value, slot, expires_at, kind)) {
      *stored = arena_->At(old);
      if (notify) NotifyChange(key, old);
      return Status::OK();
    }
    if (old == kNullRef) {
      policy_.BeforeInsert(hash);
      EvictPendingLocked();
    }
    // Evicts the policy's next victim (which may be `old`); false when it has none.
    auto evict_one = [&] {
      ItemRef victim = policy_.Evict();
      if (victim == kNullRef) return false;
      if (victim == old) old = kNullRef;
      EvictedLocked(victim);
      EvictPendingLocked();
      if (old != kNullRef && !arena_->At(old)->linked()) old = kNullRef;
      return true;
    };
    // Make room before inserting, as a simulator does: the new item is never its own victim.
    for (;;) {
      uint64_t need = weight + (old == kNullRef && !count_items_ ? index_.GrowthBytes() : 0);
      if (ReserveLocked(need)) break;
      if (!evict_) {
        return Status::NoSpace("the memory budget is full and eviction is off");
      }
      if (!evict_one()) break;
    }
    if (!ReserveLocked(weight)) {
      return Status::NoSpace("cannot make room: the remaining items are pinned by readers");
    }
    ItemRef ref = slabs_.Allocate(cls);
    // The shard's stripe of the arena has no page left: its pages are held by sparse chunks of
    // other size classes. Evicting frees chunks until one of those pages empties and is reused.
    while (ref == kNullRef && evict_ && evict_one()) ref = slabs_.Allocate(cls);
    if (ref == kNullRef) {
      return Status::NoSpace("item memory is exhausted (fragmented across size classes)");
    }
    Item* it = arena_->At(ref);
    uint32_t sizes =
        (slot ? sizes::kHasTtl : 0) | (static_cast<uint32_t>(kind) << sizes::kKindShift);
    if (ext != nullptr) {
      it->sizes = sizes | sizes::kExternal;
      std::memcpy(it->body(), &ext, sizeof(ext));
    } else {
      it->sizes = sizes | static_cast<uint32_t>(key.size()) |
                  (static_cast<uint32_t>(value.size()) << sizes::kLenBits);
      it->WriteInline(key, value);  // after the sizes: a tensor's value offset depends on them
    }
    if (slot) it->set_expires_at(expires_at);
    it->state.store(state::kLinked | (pin ? 2u : 1u), std::memory_order_relaxed);
    item_weight_ += weight;
    ++items_;
    ++inserts_;
    CountKeySpace(it, +1);
    if (old != kNullRef) {
      index_.Replace(hash, old, ref);
      policy_.Replace(old, ref);
      DropIndexRef(old);
    } else {
      index_.Insert(hash, ref);
      policy_.Insert(ref, hash);
    }
    // A listener sees what was written before the policy may evict it again.
    if (notify) NotifyChange(key, ref);
    EvictPendingLocked();
    // The policy's own metadata may have grown with the insert.
    while (evict_ && !ReserveLocked(0)) {
      ItemRef victim = policy_.Evict();
      if (victim == kNullRef) break;
      EvictedLocked(victim);
      EvictPendingLocked();
    }
    if (ttl_items_ != 0) SweepLocked(kSweepSlotsPerWrite);
    *stored = it;
    return Status::OK();
  }

  // Writes a new value over the old item's when nothing else can see it: no Handle pins it
  // (readers are excluded by the lock) and it fits the same chunk with the same layout. Saves
  // the allocation, the index and policy updates and the free of a replacing write. Counts as
  // an access. The kind may change (the chunk's class was chosen for the new kind's pad).
  bool OverwriteInPlace(ItemRef ref, int cls, const ExternalBlock* ext, std::string_view value,
                        bool slot, int64_t expires_at, ValueKind kind) {
    Item* it = arena_->At(ref);
    if (ext != nullptr || it->external() || it->has_ttl() != slot ||
        arena_->page(Arena::PageOf(ref)).cls != cls ||
        // Acquire: a Handle's last reads of the value happen before its unpin (release).
        (it->state.load(std::memory_order_acquire) & state::kRefMask) != 1) {
      return false;
    }
    std::string_view key = it->key();
    char key_copy[size_class::kMaxBytes];
    std::memcpy(key_copy, key.data(), key.size());
    it->sizes = (it->sizes & ~((sizes::kLenMask << sizes::kLenBits) | (3u << sizes::kKindShift))) |
                (static_cast<uint32_t>(value.size()) << sizes::kLenBits) |
                (static_cast<uint32_t>(kind) << sizes::kKindShift);
    it->WriteInline(std::string_view(key_copy, key.size()), value);
    if (slot) SetExpiryCounted(it, expires_at);
    ++inserts_;
    TouchLocked(ref);
    return true;
  }

  uint64_t Used() const {
    return count_items_ ? item_weight_
                        : item_weight_ + index_.memory_bytes() + policy_.metadata_bytes();
  }

  // REQUIRES: exclusive lock. Whether `need` more fits the budget this shard holds, after taking
  // more from the pool (the shortfall and a step) or, for a shard below its share when the pool
  // is empty, back from the shard holding most above its own.
  bool ReserveLocked(uint64_t need) {
    const uint64_t want = Used() + need;
    if (want <= reserved_) return true;
    if (pool_ == nullptr) return false;
    int64_t avail = pool_->free.load(std::memory_order_relaxed);
    while (avail > 0) {
      const int64_t take = std::min<int64_t>(avail, static_cast<int64_t>(want - reserved_ + step_));
      if (pool_->free.compare_exchange_weak(avail, avail - take, std::memory_order_relaxed)) {
        SetReserved(reserved_ + static_cast<uint64_t>(take));
        break;
      }
    }
    if (want <= reserved_) return true;
    if (!evict_) return false;
    bool busy = false;
    if (reserved_ < capacity_ && pool_->lenders.load(std::memory_order_relaxed) != 0) {
      ShardCore* lender = nullptr;
      uint64_t most = 0;
      for (ShardCore* s : pool_->shards) {
        const uint64_t over = s->over();
        if (s != this && over > most) {
          most = over;
          lender = s;
        }
      }
      if (lender != nullptr) {
        // At least a 256th of the share at a time: each loan costs the lender a burst of
        // evictions under its lock (and ours), so fewer, larger ones.
        const uint64_t ask =
            std::min(capacity_ - reserved_, std::max(want - reserved_, capacity_ / 256));
        SetReserved(reserved_ + lender->Lend(ask, false, &busy));
        if (want <= reserved_) return true;
      }
    }
    // An item of more than a quarter of the share: the other shards make room for it together,
    // each evicting about as much in its own policy's order, rather than this shard alone (which
    // could not for one larger than its share). A shard whose lock is taken is asked again, a
    // few rounds at most.
    if (count_items_ || need <= capacity_ / 4) return false;
    for (int round = 0; round < 16 && want > reserved_; ++round) {
      const uint64_t slice = (want - reserved_) / (pool_->shards.size() - 1) + step_;
      busy = false;
      for (ShardCore* s : pool_->shards) {
        if (s != this && want > reserved_) SetReserved(reserved_ + s->Lend(slice, true, &busy));
      }
      if (!busy) break;
      std::this_thread::yield();
    }
    return want <= reserved_;
  }

  // REQUIRES: exclusive lock. Gives up to `want` of the budget this shard holds above `floor`,
  // evicting for it in policy order (at most *max_evictions items, counted down; none in a
  // cache that does not evict), and returns how much.
  uint64_t GiveLocked(uint64_t want, uint64_t floor, size_t* max_evictions) {
    want = std::min(want, reserved_ > floor ? reserved_ - floor : 0);
    while (want != 0 && Used() + want > reserved_ && *max_evictions != 0 && evict_) {
      ItemRef victim = policy_.Evict();
      if (victim == kNullRef) break;
      EvictedLocked(victim);
      EvictPendingLocked();
      --*max_evictions;
    }
    const uint64_t used = Used();
    const uint64_t lent = std::min(want, reserved_ > used ? reserved_ - used : 0);
    if (lent != 0) SetReserved(reserved_ - lent);
    return lent;
  }

  // REQUIRES: exclusive lock. Gives what this shard holds beyond its use and a step back to the
  // pool, once that is more than two steps.
  void SettleLocked() {
    if (pool_ == nullptr) return;
    const uint64_t keep = Used() + step_;
    if (reserved_ <= keep + step_) return;
    pool_->free.fetch_add(static_cast<int64_t>(reserved_ - keep), std::memory_order_relaxed);
    SetReserved(keep);
  }

  void DrainLocked() {
    if constexpr (P::kBufferedHits) {
      // Replaying a hit moves list nodes: the item and its neighbours are cache misses. Load
      // them all in parallel first (two waves: the items, then the neighbours their links
      // name) instead of one after another inside the policy.
      const uint32_t n = read_buffer_.pending();
      if (n == 0) return;
      for (uint32_t i = 0; i < n; ++i) __builtin_prefetch(arena_->At(read_buffer_.at(i)));
      for (uint32_t i = 0; i < n; ++i) {
        const Item* it = arena_->At(read_buffer_.at(i));
        __builtin_prefetch(arena_->At(it->prev));
        __builtin_prefetch(arena_->At(it->next));
      }
      read_buffer_.Drain([&](ItemRef r) {
        // Stale refs are possible (the item may have gone); only linked items are touched.
        if (arena_->At(r)->linked()) {
          policy_.Touch(r);
          EvictPendingLocked();
        }
      });
    }
  }

  // Some policies evict as a side effect of a hit or an insert (an SLRU segment overflowing,
  // a bounded sub-queue); they queue those victims for the shard to unlink here.
  void EvictPendingLocked() {
    if constexpr (requires(P & p) {
                    { p.TakePendingVictim() } -> std::same_as<ItemRef>;
                  }) {
      for (ItemRef v; (v = policy_.TakePendingVictim()) != kNullRef;) EvictedLocked(v);
    }
  }

  void RemoveLocked(uint64_t hash, ItemRef ref, ExternalBlock** keep_block = nullptr) {
    policy_.Remove(ref);
    index_.Erase(hash, ref);
    DropIndexRef(ref, keep_block);
  }

  // REQUIRES: the policy has already unlinked `victim`.
  void EvictedLocked(ItemRef victim) {
    index_.Erase(HashOf(victim), victim);
    DropIndexRef(victim);
    ++evictions_;
  }

  void RemoveIfExpired(uint64_t hash, std::string_view key) {
    lock_.lock();
    DrainLocked();
    ItemRef ref = index_.Find(hash, key);
    if (ref != kNullRef && IsExpiredNow(arena_->At(ref))) {
      RemoveLocked(hash, ref);
      ++expirations_;
    }
    lock_.unlock();
  }

  // Examines `slots` index slots from the sweep cursor and removes the expired items found.
  size_t SweepLocked(size_t slots) {
    constexpr size_t kChunk = 64;
    const int64_t now = Now();
    size_t removed = 0;
    // Never more than one lap: a slot seen twice would remove its item twice.
    slots = std::min(slots, index_.slot_count());
    while (slots > 0 && ttl_items_ != 0) {
      size_t chunk = slots < kChunk ? slots : kChunk;
      slots -= chunk;
      ItemRef expired[kChunk];
      size_t n = 0;
      index_.Scan(chunk, [&](ItemRef r) {
        if (IsExpired(arena_->At(r), now)) expired[n++] = r;
      });
      for (size_t i = 0; i < n; ++i) {
        RemoveLocked(HashOf(expired[i]), expired[i]);
        ++expirations_;
      }
      removed += n;
    }
    return removed;
  }

  P policy_;
};

}  // namespace kvcache::internal
