// NewCache: option checks, the shard layout, and the policy registry.
#include "kvcache/cache.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/cache_impl.h"
#include "core/policy/registry.h"
#include "kvcache/options.h"

namespace kvcache {

namespace {

using internal::PolicyEntry;

// Order matters only for display; "default" resolves through DefaultPolicyName().
constexpr PolicyEntry kPolicies[] = {
    {"lru", internal::NewLruCache},     {"lfu", internal::NewLfuCache},
    {"fifo", internal::NewFifoCache},   {"s3fifo", internal::NewS3FifoCache},
    {"sieve", internal::NewSieveCache}, {"wtinylfu", internal::NewWTinyLfuCache},
    {"arc", internal::NewArcCache},     {"lirs", internal::NewLirsCache},
    {"twoq", internal::NewTwoQCache},   {"wtinylfu-adaptive", internal::NewAdaptiveWTinyLfuCache},
};

const char* const kPolicyNames[] = {"lru",      "lfu", "fifo", "s3fifo", "sieve",
                                    "wtinylfu", "arc", "lirs", "twoq",   "wtinylfu-adaptive"};
static_assert(std::size(kPolicyNames) == std::size(kPolicies));

// Shards hold at least this much, so that a policy's queues stay meaningful per shard.
constexpr uint64_t kMinShardBytes = 4 << 20;
constexpr uint64_t kMinShardItems = 4096;
constexpr uint32_t kMaxShards = 1024;
// Arena beyond the items: per shard, a partly used page for each size class; per cache, 16 MiB.
constexpr uint64_t kStripeSpareBytes = 8 << 20;
constexpr uint64_t kArenaSpareBytes = 16 << 20;
// 4096 pages of 64 KiB, less one MiB for the arena's rounding.
constexpr uint64_t kFullTagStripeBytes = uint64_t{255} << 20;

// The arena a byte-bounded shard of `capacity` gets: half as much again as it may hold, for
// pages that size classes keep partly used (beyond that the shard evicts until a page empties).
uint64_t StripeBytes(uint64_t capacity, uint32_t shards) {
  return capacity / 2 * 3 + kStripeSpareBytes + kArenaSpareBytes / shards;
}

}  // namespace

// Measured (docs/design.md, "The default policy"): the lowest mean miss ratio over the real
// traces at 1%, 5%, 10% and 20% of their objects.
const char* DefaultPolicyName() { return "lirs"; }

const char* const* PolicyNames(size_t* count) {
  *count = std::size(kPolicyNames);
  return kPolicyNames;
}

std::string Status::ToString() const {
  static const char* const kNames[] = {"OK",          "NotFound", "InvalidArgument", "NoSpace",
                                       "Unavailable", "IOError",  "Aborted"};
  if (ok()) return "OK";
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message_;
}

void ValueBuffer::Reset() {
  if (memory_ != nullptr) free_(memory_);
  memory_ = nullptr;
  data_ = nullptr;
  size_ = 0;
  key_ = nullptr;
  key_size_ = 0;
}

// The layout any Cache can store, with one copy: the value, then the key.
ValueBuffer Cache::NewValue(std::string_view key, size_t value_size, size_t /*room*/) {
  char* memory = static_cast<char*>(std::malloc(std::max<size_t>(1, value_size + key.size())));
  if (memory == nullptr) return ValueBuffer();
  std::memcpy(memory + value_size, key.data(), key.size());
  ValueBuffer b =
      MakeValueBuffer(memory, std::free, memory, value_size, memory + value_size, key.size());
  b.maker_ = nullptr;
  return b;
}

Status Cache::Write(ValueBuffer value, const WriteOptions& options, Handle* previous,
                    Handle* stored) {
  return Write(value.key(), std::string_view(value.data(), value.size()), options, previous,
               stored);
}

ValueBuffer Cache::MakeValueBuffer(void* memory, void (*release)(void*), char* data, size_t size,
                                   const char* key_data, size_t key_size) const {
  ValueBuffer b;
  b.memory_ = memory;
  b.free_ = release;
  b.maker_ = this;
  b.data_ = data;
  b.size_ = size;
  b.key_ = key_data;
  b.key_size_ = key_size;
  return b;
}

void* Cache::TakeValueMemory(ValueBuffer& buffer) const {
  if (buffer.memory_ == nullptr || buffer.maker_ != this) return nullptr;
  void* memory = buffer.memory_;
  buffer.memory_ = nullptr;
  buffer.Reset();
  return memory;
}

namespace internal {

Status PlanLayout(const Options& o, CacheLayout* layout) {
  layout->count_items = o.capacity_items != 0;
  const uint64_t total = layout->count_items ? o.capacity_items : o.capacity_bytes;
  if (total == 0) return Status::InvalidArgument("capacity must be positive");
  if (o.max_key_bytes == 0 || o.max_key_bytes > 65535) {
    return Status::InvalidArgument("max_key_bytes must be between 1 and 65535");
  }
  if (o.default_ttl.count() < 0) return Status::InvalidArgument("default_ttl must not be negative");
  if (o.key_spaces > 256) return Status::InvalidArgument("key_spaces must be at most 256");

  uint32_t shards = o.shards;
  if (shards == 0) {
    uint64_t by_size = total / (layout->count_items ? kMinShardItems : kMinShardBytes);
    uint32_t hw = std::max(1u, std::thread::hardware_concurrency());
    // A few shards per hardware thread keep lock contention low; more would only make each
    // shard's policy see fewer items.
    uint64_t cap = std::min<uint64_t>(64, std::bit_ceil(uint64_t{hw}) * 4);
    shards = static_cast<uint32_t>(std::bit_floor(std::clamp<uint64_t>(by_size, 1, cap)));
    // Big caches get more shards, so that a shard's stripe of the arena stays within 4096 pages
    // and its index keeps 7 bits of tag beside each item's local offset (hash_index.h).
    while (!layout->count_items && shards < kMaxShards &&
           StripeBytes(total / shards, shards) > kFullTagStripeBytes) {
      shards *= 2;
    }
  }
  if (!std::has_single_bit(shards) || shards > kMaxShards) {
    return Status::InvalidArgument("shards must be a power of two between 1 and 1024");
  }
  if (total < shards) return Status::InvalidArgument("capacity is smaller than the shard count");
  layout->shard_bits = static_cast<uint32_t>(std::countr_zero(shards));
  layout->shard_capacity = total / shards;

  // Virtual address space only; pages are committed as items are written. In an item-bounded
  // cache items are small (trace simulation), so 256 bytes each is plenty.
  constexpr uint64_t kMaxArena = uint64_t{32} << 30;
  uint64_t arena = layout->count_items
                       ? total * 256 + uint64_t{shards} * kStripeSpareBytes + kArenaSpareBytes
                       : StripeBytes(total / shards, shards) * shards;
  layout->arena_bytes = static_cast<size_t>(std::min(arena, kMaxArena));
  return Status::OK();
}

}  // namespace internal

std::unique_ptr<Cache> NewCache(const Options& options, Status* status) {
  std::string name = options.policy == "default" ? DefaultPolicyName() : options.policy;
  const PolicyEntry* entry = nullptr;
  for (const PolicyEntry& e : kPolicies) {
    if (name == e.name) entry = &e;
  }
  if (entry == nullptr) {
    std::string known;
    for (const char* n : kPolicyNames) known += std::string(known.empty() ? "" : ", ") + n;
    if (status) {
      *status = Status::InvalidArgument("unknown policy '" + options.policy +
                                        "' (known: default, " + known + ")");
    }
    return nullptr;
  }
  internal::CacheLayout layout;
  Status st = internal::PlanLayout(options, &layout);
  if (!st.ok()) {
    if (status) *status = st;
    return nullptr;
  }
  if (status) *status = Status::OK();
  return entry->make(options, layout, status);
}

}  // namespace kvcache
