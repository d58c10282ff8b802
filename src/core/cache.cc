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
  return std::string(kNames[static_cast<int>(code_)]) + ": " + message();
}

const std::string& Status::EmptyMessage() {
  static const std::string empty;
  return empty;
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

namespace {

// The pages per stripe a byte-bounded cache of shards with this share needs.
size_t StripePagesForShare(uint64_t share, uint32_t shard_bits) {
  const uint32_t shards = 1u << shard_bits;
  return Arena::StripePagesFor(StripeBytes(share, shards) * shards, shard_bits);
}

}  // namespace

uint64_t MaxCapacity(const Arena& arena, uint32_t shard_bits) {
  const uint32_t shards = 1u << shard_bits;
  const uint64_t most_pages = arena.max_stripe_pages();
  // StripeBytes is linear in the share: start from its inverse, then step down past rounding.
  const uint64_t spare = kStripeSpareBytes + kArenaSpareBytes / shards + 2 * Arena::kPageBytes;
  const uint64_t stripe = most_pages * Arena::kPageBytes;
  uint64_t share = stripe > spare ? (stripe - spare) / 3 * 2 : 0;
  while (share != 0 && StripePagesForShare(share, shard_bits) > most_pages) {
    share -= std::min<uint64_t>(share, 1 << 20);
  }
  return share << shard_bits;
}

Status ResizeCache(Arena& arena, BudgetPool& pool, uint32_t shard_bits, uint64_t bytes) {
  const uint32_t shards = 1u << shard_bits;
  if (bytes < shards) return Status::InvalidArgument("capacity is smaller than the shard count");
  const uint64_t most = MaxCapacity(arena, shard_bits);
  if (bytes > most) {
    return Status::InvalidArgument("capacity of " + std::to_string(bytes) +
                                   " bytes is more than this cache's address range can hold "
                                   "with " +
                                   std::to_string(shards) + " shards (at most " +
                                   std::to_string(most) + ")");
  }
  const uint64_t share = bytes >> shard_bits;
  const uint64_t total = share << shard_bits;
  // Longer stripes first, so that the shards may use the pages their new shares need; if their
  // local offsets need another bit, every index gets it before the first page past the old end
  // is handed out.
  const size_t pages = StripePagesForShare(share, shard_bits);
  if (pages > arena.stripe_pages()) {
    const uint32_t bits = Arena::LocalRefBitsFor(pages);
    if (bits > arena.local_ref_bits()) {
      for (ShardCore* s : pool.shards) s->WidenIndex(bits);
    }
    arena.SetStripePages(pages);
  }
  const uint64_t old_total = pool.total.exchange(total, std::memory_order_relaxed);
  // A lower budget can leave `free` below zero: the shards hold more than there is, and no
  // shard takes from the pool until Reclaim (or their own settling) has given the excess back.
  if (shard_bits != 0) {
    pool.free.fetch_add(static_cast<int64_t>(total) - static_cast<int64_t>(old_total),
                        std::memory_order_relaxed);
  }
  for (ShardCore* s : pool.shards) s->Resize(share, total);
  return Status::OK();
}

uint64_t ReclaimCache(BudgetPool& pool, uint32_t shard_bits, size_t max_items) {
  auto excess = [&]() -> uint64_t {
    if (shard_bits == 0) return pool.shards[0]->over();
    const int64_t free = pool.free.load(std::memory_order_relaxed);
    return free < 0 ? static_cast<uint64_t>(-free) : 0;
  };
  // The shards hold `excess` more than the budget, so together at least that much more than
  // their shares: taking only from above the shares always suffices, and leaves alone a shard
  // that holds less than its share.
  std::vector<bool> spent(pool.shards.size());  // gave nothing: no item left it could evict
  for (uint64_t left = excess(); left != 0; left = excess()) {
    size_t most = SIZE_MAX;
    uint64_t over = 0;
    for (size_t i = 0; i < pool.shards.size(); ++i) {
      if (!spent[i] && pool.shards[i]->over() > over) {
        over = pool.shards[i]->over();
        most = i;
      }
    }
    if (most == SIZE_MAX) return left;
    const uint64_t given = pool.shards[most]->Reclaim(std::min(left, over), &max_items);
    if (shard_bits != 0)
      pool.free.fetch_add(static_cast<int64_t>(given), std::memory_order_relaxed);
    // A shard that gave nothing has nothing left it may evict (or max_items ran out): with
    // max_items 0 each shard gives only what it holds unused, and is then passed over.
    if (given == 0) spent[most] = true;
  }
  return 0;
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
