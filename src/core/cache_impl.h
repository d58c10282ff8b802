// CacheImpl<P>: the public Cache for eviction policy P — key validation, shard routing,
// external blocks for large items, single-flight loading. Instantiated once per policy.
#pragma once

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/hash.h"
#include "core/shard_impl.h"
#include "kvcache/cache.h"

namespace kvcache::internal {

// How a cache is cut into shards; computed from Options by PlanLayout (cache.cc).
struct CacheLayout {
  uint32_t shard_bits = 0;
  uint64_t shard_capacity = 0;  // weight units
  bool count_items = false;
  size_t arena_bytes = 0;
};
Status PlanLayout(const Options& options, CacheLayout* layout);

// Cache::SetCapacity, Reclaim and max_capacity over a byte-bounded cache's parts, for every
// policy (cache.cc). REQUIRES for the first two: the cache's resize mutex.
Status ResizeCache(Arena& arena, BudgetPool& pool, uint32_t shard_bits, uint64_t bytes);
uint64_t ReclaimCache(BudgetPool& pool, uint32_t shard_bits, size_t max_items);
uint64_t MaxCapacity(const Arena& arena, uint32_t shard_bits);

template <EvictionPolicy P>
class CacheImpl final : public Cache {
 public:
  CacheImpl(const Options& options, const CacheLayout& layout)
      : options_(options),
        layout_(layout),
        // Freed large blocks kept warm: a sixteenth of the budget (sixteen 16 MiB values in 4 GiB).
        arena_(layout.arena_bytes, layout.shard_bits,
               layout.count_items ? 0 : options.capacity_bytes / 16,
               /*growable=*/!layout.count_items) {
    ShardConfig config;
    config.capacity = layout.shard_capacity;
    config.count_items = layout.count_items;
    config.clock = &options_.clock;
    config.key_spaces = options.key_spaces;
    config.evict = options.evict;
    config.on_change = &options_.on_change;
    if (layout.shard_bits != 0) config.pool = &pool_;
    pool_.total.store(layout.shard_capacity << layout.shard_bits, std::memory_order_relaxed);
    shards_.reserve(size_t{1} << layout.shard_bits);
    for (uint32_t i = 0; i < (1u << layout.shard_bits); ++i) {
      config.id = static_cast<uint16_t>(i);
      shards_.push_back(std::make_unique<Shard<P>>(&arena_, config));
      pool_.shards.push_back(shards_.back().get());
    }
    // Each shard starts holding its share; what it does not use goes to the pool.
    if (config.pool != nullptr) {
      for (auto& s : shards_) s->Settle();
    }
  }
  ~CacheImpl() override { shards_.clear(); }

  bool ok() const { return arena_.ok(); }

  Status Put(std::string_view key, std::string_view value, Ttl ttl) override {
    WriteOptions o;
    o.ttl = ttl;
    return WriteImpl(key, value, o, nullptr, nullptr);
  }

  Status Write(std::string_view key, std::string_view value, const WriteOptions& options,
               Handle* previous, Handle* stored) override {
    return WriteImpl(key, value, options, stored, previous);
  }

  // A large value gets its external block at once, to be filled in place; others are copied.
  ValueBuffer NewValue(std::string_view key, size_t value_size, size_t room) override {
    if (!KeyOk(key) || !NeedsExternalBlock(key.size(), value_size, ValueKind::kString)) {
      return Cache::NewValue(key, value_size);
    }
    ExternalBlock* b = arena_.NewExternalBlock(key, value_size, room);
    if (b == nullptr) return ValueBuffer();
    return MakeValueBuffer(b, std::free, b->value(), value_size, b->key(), key.size());
  }

  Status Write(ValueBuffer buffer, const WriteOptions& options, Handle* previous,
               Handle* stored) override {
    const std::string_view key = buffer.key();
    const std::string_view value(buffer.data(), buffer.size());
    if (NeedsExternalBlock(key.size(), value.size(), options.kind)) {
      if (void* block = TakeValueMemory(buffer)) {
        return WriteImpl(key, value, options, stored, previous, static_cast<ExternalBlock*>(block));
      }
    }
    return WriteImpl(key, value, options, stored, previous);
  }

  Status Rename(std::string_view from, std::string_view to, bool* moved) override {
    *moved = false;
    Status st = CheckKey(from);
    if (st.ok()) st = CheckKey(to);
    if (!st.ok()) return st;
    const uint64_t hf = HashKey(from), ht = HashKey(to);
    return ShardFor(hf).MoveTo(hf, from, ShardFor(ht), ht, to, moved);
  }

  Handle Peek(std::string_view key) override {
    Handle h;
    if (!KeyOk(key)) return h;
    uint64_t hash = HashKey(key);
    ShardFor(hash).Get(hash, key, &h, /*record=*/false);
    return h;
  }

  Status Update(std::string_view key, FunctionRef<void(const ItemView*, Mutation*)> fn) override {
    Status st = CheckKey(key);
    if (!st.ok()) return st;
    uint64_t hash = HashKey(key);
    return ShardFor(hash).Update(hash, key, fn);
  }

  uint64_t Scan(uint64_t cursor, size_t count, FunctionRef<void(const ItemView&)> fn) override {
    // cursor = shard << 32 | next low-32-bit hash position; 0 starts (and ends) the walk.
    constexpr uint64_t kSpan = uint64_t{1} << 32;
    uint64_t shard = cursor >> 32;
    uint64_t pos = cursor & (kSpan - 1);
    size_t seen = 0;
    if (count == 0) count = 1;
    for (int rounds = 0; shard < shards_.size() && seen < count && rounds < 64; ++rounds) {
      Shard<P>& s = *shards_[shard];
      uint64_t items = s.item_count();
      uint64_t step = items == 0 ? kSpan : std::max<uint64_t>(1, kSpan / items * (count - seen));
      uint64_t end = std::min(kSpan, pos + step);
      seen += s.ScanRange(static_cast<uint32_t>(pos), end, fn);
      pos = end;
      if (pos == kSpan) {
        ++shard;
        pos = 0;
      }
    }
    return shard >= shards_.size() ? 0 : (shard << 32 | pos);
  }

  KeySpaceStats KeySpace(uint8_t space) override {
    KeySpaceStats k;
    for (auto& s : shards_) s->AddKeySpace(space, &k);
    return k;
  }

  int64_t NowMs() const override { return shards_[0]->Now(); }

  Handle Get(std::string_view key) override {
    Handle h;
    if (!KeyOk(key)) return h;
    uint64_t hash = HashKey(key);
    ShardFor(hash).Get(hash, key, &h);
    return h;
  }

  void Prefetch(std::span<const std::string_view> keys, bool for_write = false) override {
    uint64_t hashes[kPrefetchWindow];
    for (size_t base = 0; base < keys.size(); base += kPrefetchWindow) {
      const size_t n = std::min(kPrefetchWindow, keys.size() - base);
      PrefetchWindow(keys.subspan(base, n), hashes);
      if (!for_write) continue;
      for (size_t i = 0; i < n; ++i) ShardFor(hashes[i]).PrefetchLinks(hashes[i]);
    }
  }

  void ReadMany(std::span<const std::string_view> keys,
                FunctionRef<void(size_t, const ItemView*)> fn) override {
    ForEachPrefetched(keys, [&](size_t index, uint64_t hash) {
      if (!KeyOk(keys[index])) return fn(index, nullptr);
      ShardFor(hash).Read(hash, keys[index], [&](const ItemView* item) { fn(index, item); });
    });
  }

  std::vector<Handle> MultiGet(std::span<const std::string_view> keys) override {
    std::vector<Handle> out(keys.size());
    ForEachPrefetched(keys, [&](size_t index, uint64_t hash) {
      if (KeyOk(keys[index])) ShardFor(hash).Get(hash, keys[index], &out[index]);
    });
    return out;
  }

  Status GetOrLoad(std::string_view key, const Loader& loader, Handle* out) override {
    Status st = CheckKey(key);
    if (!st.ok()) return st;
    uint64_t hash = HashKey(key);
    Shard<P>& shard = ShardFor(hash);
    if (shard.Get(hash, key, out)) return Status::OK();
    bool leader = false;
    std::shared_ptr<Flight> flight = shard.JoinFlight(key, &leader);
    if (!leader) {
      std::unique_lock<std::mutex> l(flight->mu);
      flight->cv.wait(l, [&] { return flight->done; });
      if (!flight->status.ok()) return flight->status;
      *out = shard.Clone(flight->handle);
      return Status::OK();
    }
    Handle loaded;
    // A flight for this key may have ended between our miss and our joining: look again.
    if (!shard.Get(hash, key, &loaded, /*record=*/false)) {
      std::string value;
      Ttl ttl = kDefaultTtl;
      try {
        st = loader(key, &value, &ttl);
      } catch (const std::exception& e) {
        st = Status::Aborted(std::string("loader threw: ") + e.what());
      } catch (...) {
        st = Status::Aborted("loader threw");
      }
      if (st.ok()) st = PutPinned(key, value, ttl, &loaded);
    }
    {
      std::lock_guard<std::mutex> l(flight->mu);
      flight->status = st;
      if (st.ok()) flight->handle = shard.Clone(loaded);
      flight->done = true;
    }
    flight->cv.notify_all();
    shard.EndFlight(key);
    if (st.ok()) *out = std::move(loaded);
    return st;
  }

  bool Erase(std::string_view key) override {
    if (!KeyOk(key)) return false;
    uint64_t hash = HashKey(key);
    return ShardFor(hash).Erase(hash, key);
  }

  bool Contains(std::string_view key) override {
    if (!KeyOk(key)) return false;
    uint64_t hash = HashKey(key);
    return ShardFor(hash).Contains(hash, key);
  }

  [[gnu::cold]] Status AccessFrequency(std::string_view key, uint32_t* frequency) override {
    if constexpr (Shard<P>::kCountsUses) {
      if (!KeyOk(key)) return Status::NotFound("no such key");
      uint64_t hash = HashKey(key);
      if (ShardFor(hash).Frequency(hash, key, frequency)) return Status::OK();
      return Status::NotFound("no such key");
    } else {
      (void)key;
      (void)frequency;
      return Status::InvalidArgument(std::string("the ") + P::kName +
                                     " policy does not count accesses");
    }
  }

  void Clear() override {
    // The emptied pages of all shards together: they lie side by side (the stripes interleave),
    // so a few madvise calls give them all back.
    std::vector<uint32_t> emptied;
    for (auto& s : shards_) s->Clear(&emptied);
    arena_.ReleasePages(&emptied);
  }

  size_t EvictExpired(size_t budget) override {
    size_t per_shard = budget / shards_.size() + 1;
    size_t n = 0;
    for (auto& s : shards_) n += s->EvictExpired(per_shard);
    return n;
  }

  Status SetCapacity(uint64_t capacity_bytes) override {
    if (layout_.count_items) {
      return Status::InvalidArgument("the capacity of an item-bounded cache cannot change");
    }
    std::lock_guard<std::mutex> l(resize_mu_);
    return ResizeCache(arena_, pool_, layout_.shard_bits, capacity_bytes);
  }
  uint64_t Reclaim(size_t max_items) override {
    if (layout_.count_items) return 0;
    std::lock_guard<std::mutex> l(resize_mu_);
    return ReclaimCache(pool_, layout_.shard_bits, max_items);
  }
  void SetEvict(bool evict) override {
    for (auto& s : shards_) s->SetEvict(evict);
  }
  uint64_t max_capacity() const override {
    return layout_.count_items ? 0 : MaxCapacity(arena_, layout_.shard_bits);
  }

  CacheStats Stats() const override {
    CacheStats s;
    for (auto& sh : shards_) sh->AddStats(&s);
    return s;
  }
  const char* policy_name() const override { return P::kName; }
  size_t shard_count() const override { return shards_.size(); }

 private:
  // Calls fn(index, hash) for every key in order, with the memory it will touch requested
  // ahead: a pipeline over windows of keys, four stages apart, each stage touching only lines
  // the previous one requested a window earlier: window w+3's index lines are requested, window
  // w+2's item headers, window w+1's values, and window w is read. So a batch waits for memory
  // about once, not three times per key.
  template <typename Fn>
  void ForEachPrefetched(std::span<const std::string_view> keys, Fn&& fn) {
    constexpr size_t kWindow = 8;
    constexpr size_t kStages = 4;
    uint64_t hashes[kStages][kWindow];
    const size_t windows = (keys.size() + kWindow - 1) / kWindow;
    auto window = [&](size_t w) {
      return keys.subspan(w * kWindow, std::min(kWindow, keys.size() - w * kWindow));
    };
    auto prefetch_items = [&](size_t w) {
      const uint64_t* h = hashes[w % kStages];
      for (size_t i = 0; i < window(w).size(); ++i) ShardFor(h[i]).PrefetchItems(h[i]);
    };
    for (size_t w = 0; w + 1 < kStages && w < windows; ++w) {
      PrefetchIndex(window(w), hashes[w % kStages]);
    }
    for (size_t w = 0; w < 2 && w < windows; ++w) prefetch_items(w);
    if (windows > 0) PrefetchValues(window(0), hashes[0]);
    for (size_t w = 0; w < windows; ++w) {
      if (w + 3 < windows) PrefetchIndex(window(w + 3), hashes[(w + 3) % kStages]);
      if (w + 2 < windows) prefetch_items(w + 2);
      if (w + 1 < windows) PrefetchValues(window(w + 1), hashes[(w + 1) % kStages]);
      const uint64_t* h = hashes[w % kStages];
      for (size_t i = 0; i < window(w).size(); ++i) fn(w * kWindow + i, h[i]);
    }
  }

  // Lookups in windows: the index lines of a window's keys are requested together, then their
  // items, so that a window waits for memory about twice rather than twice per key.
  static constexpr size_t kPrefetchWindow = 16;
  void PrefetchWindow(std::span<const std::string_view> keys, uint64_t* hashes) {
    PrefetchIndex(keys, hashes);
    for (size_t i = 0; i < keys.size(); ++i) ShardFor(hashes[i]).PrefetchItems(hashes[i]);
  }
  void PrefetchValues(std::span<const std::string_view> keys, const uint64_t* hashes) {
    for (size_t i = 0; i < keys.size(); ++i) {
      if (KeyOk(keys[i])) ShardFor(hashes[i]).PrefetchValue(hashes[i]);
    }
  }
  void PrefetchIndex(std::span<const std::string_view> keys, uint64_t* hashes) {
    for (size_t i = 0; i < keys.size(); ++i) {
      hashes[i] = HashKey(keys[i]);
      ShardFor(hashes[i]).Prefetch(hashes[i]);
    }
  }

  Shard<P>& ShardFor(uint64_t hash) { return *shards_[ShardOf(hash, layout_.shard_bits)]; }

  bool KeyOk(std::string_view key) const {
    return !key.empty() && key.size() <= options_.max_key_bytes;
  }
  Status CheckKey(std::string_view key) const {
    if (key.empty()) return Status::InvalidArgument("empty key");
    if (key.size() > options_.max_key_bytes) {
      return Status::InvalidArgument("key of " + std::to_string(key.size()) +
                                     " bytes exceeds the limit of " +
                                     std::to_string(options_.max_key_bytes) + " bytes");
    }
    return Status::OK();
  }

  Status PutPinned(std::string_view key, std::string_view value, Ttl ttl, Handle* pin) {
    WriteOptions o;
    o.ttl = ttl;
    return WriteImpl(key, value, o, pin, nullptr);
  }

  static bool NeedsExternalBlock(size_t key_size, size_t value_size, ValueKind kind) {
    return Item::InlineBytes(key_size, value_size, true, static_cast<uint32_t>(kind)) >
           size_class::kMaxBytes;
  }

  // `filled`, if given, is an external block that already holds key and value (NewValue); it
  // is owned from here on.
  Status WriteImpl(std::string_view key, std::string_view value, const WriteOptions& o, Handle* pin,
                   Handle* previous, ExternalBlock* filled = nullptr) {
    std::unique_ptr<ExternalBlock, decltype(&std::free)> owned(filled, &std::free);
    Status st = CheckKey(key);
    if (!st.ok()) return st;
    uint64_t hash = HashKey(key);
    Shard<P>& shard = ShardFor(hash);
    typename Shard<P>::WriteArgs a;
    a.key = key;
    a.value = value;
    a.keep_ttl = o.keep_ttl;
    a.condition = o.condition;
    a.current = o.current;
    a.kind = o.kind;
    a.pin = pin;
    a.previous = previous;
    if (o.expires_at_ms != 0) {
      a.expires_at = o.expires_at_ms;
    } else {
      Ttl ttl = o.ttl == kDefaultTtl ? options_.default_ttl : o.ttl;
      if (ttl.count() < 0) return Status::InvalidArgument("negative ttl");
      a.expires_at = ttl.count() == 0 ? 0 : shard.Now() + ttl.count();
    }
    if (NeedsExternalBlock(key.size(), value.size(), o.kind)) {
      // Built outside the shard's lock, so that copying a large value stalls no other client.
      size_t bytes = ExternalBlock::AllocationBytes(key.size(), value.size());
      if (!layout_.count_items && bytes > shard.max_item_weight()) {
        return Status::InvalidArgument(shard.TooLargeMessage(bytes));
      }
      if (owned == nullptr) {
        owned.reset(arena_.NewExternalBlock(key, value.size()));
        if (owned == nullptr) return Status::NoSpace("out of memory for a large item");
        std::memcpy(owned->value(), value.data(), value.size());
      }
      a.ext = owned.release();
    }
    return shard.Write(hash, a);
  }

  Options options_;
  CacheLayout layout_;
  Arena arena_;
  BudgetPool pool_;  // with every cache's shards in `shards`, pooled or not
  std::vector<std::unique_ptr<Shard<P>>> shards_;
  std::mutex resize_mu_;  // one SetCapacity or Reclaim at a time
};

// Builds CacheImpl<P>; each policy's .cc instantiates it.
template <EvictionPolicy P>
std::unique_ptr<Cache> MakeCache(const Options& options, const CacheLayout& layout,
                                 Status* status) {
  auto cache = std::make_unique<CacheImpl<P>>(options, layout);
  if (!cache->ok()) {
    if (status) *status = Status::NoSpace("cannot reserve address space for the item arena");
    return nullptr;
  }
  return cache;
}

}  // namespace kvcache::internal
