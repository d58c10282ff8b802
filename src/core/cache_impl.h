// CacheImpl<P>: the public Cache for eviction policy P — key validation, shard routing,
// external blocks for large items, single-flight loading. Instantiated once per policy.
#pragma once

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

template <EvictionPolicy P>
class CacheImpl final : public Cache {
 public:
  CacheImpl(const Options& options, const CacheLayout& layout)
      : options_(options), layout_(layout), arena_(layout.arena_bytes) {
    ShardConfig config;
    config.capacity = layout.shard_capacity;
    config.count_items = layout.count_items;
    config.clock = &options_.clock;
    shards_.reserve(size_t{1} << layout.shard_bits);
    for (uint32_t i = 0; i < (1u << layout.shard_bits); ++i) {
      config.id = static_cast<uint16_t>(i);
      shards_.push_back(std::make_unique<Shard<P>>(&arena_, config));
    }
  }
  ~CacheImpl() override { shards_.clear(); }

  bool ok() const { return arena_.ok(); }

  Status Put(std::string_view key, std::string_view value, Ttl ttl) override {
    return PutPinned(key, value, ttl, nullptr);
  }

  Handle Get(std::string_view key) override {
    Handle h;
    if (!KeyOk(key)) return h;
    uint64_t hash = HashKey(key);
    ShardFor(hash).Get(hash, key, &h);
    return h;
  }

  std::vector<Handle> MultiGet(std::span<const std::string_view> keys) override {
    std::vector<Handle> out(keys.size());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (!KeyOk(keys[i])) continue;
      uint64_t hash = HashKey(keys[i]);
      ShardFor(hash).Get(hash, keys[i], &out[i]);
    }
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

  void Clear() override {
    for (auto& s : shards_) s->Clear();
  }

  size_t EvictExpired(size_t budget) override {
    size_t per_shard = budget / shards_.size() + 1;
    size_t n = 0;
    for (auto& s : shards_) n += s->EvictExpired(per_shard);
    return n;
  }

  CacheStats Stats() const override {
    CacheStats s;
    for (auto& sh : shards_) sh->AddStats(&s);
    return s;
  }
  const char* policy_name() const override { return P::kName; }
  size_t shard_count() const override { return shards_.size(); }

 private:
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
    Status st = CheckKey(key);
    if (!st.ok()) return st;
    if (ttl == kDefaultTtl) ttl = options_.default_ttl;
    if (ttl.count() < 0) return Status::InvalidArgument("negative ttl");
    uint64_t hash = HashKey(key);
    Shard<P>& shard = ShardFor(hash);
    int64_t expires_at = ttl.count() == 0 ? 0 : shard.Now() + ttl.count();
    ExternalBlock* ext = nullptr;
    if (Item::InlineBytes(key.size(), value.size(), expires_at != 0) > size_class::kMaxBytes) {
      // Built outside the shard's lock, so that copying a large value stalls no other client.
      size_t off = ExternalBlock::ValueOffset(key.size());
      size_t bytes = (off + value.size() + 63) & ~size_t{63};
      if (!layout_.count_items && bytes > shard.max_item_weight()) {
        return Status::InvalidArgument("item of " + std::to_string(bytes) +
                                       " bytes is larger than a shard can hold (" +
                                       std::to_string(shard.max_item_weight()) +
                                       "); raise the capacity or lower the shard count");
      }
      ext = static_cast<ExternalBlock*>(std::aligned_alloc(64, bytes));
      if (ext == nullptr) return Status::NoSpace("out of memory for a large item");
      ext->key_size = key.size();
      ext->value_size = value.size();
      std::memcpy(ext->key(), key.data(), key.size());
      std::memcpy(ext->value(), value.data(), value.size());
    }
    return shard.Put(hash, key, value, expires_at, ext, pin);
  }

  Options options_;
  CacheLayout layout_;
  Arena arena_;
  std::vector<std::unique_ptr<Shard<P>>> shards_;
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
