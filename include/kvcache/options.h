// Options: how a cache is built. Every field has a default that suits a general-purpose cache.
//
// Contract: Options is a plain struct read once by NewCache(); changing it afterwards has no
// effect on a cache already built.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace kvcache {

struct Options {
  // The memory budget in bytes: item memory as the allocator hands it out, plus the hash index
  // and the eviction policy's metadata. The cache never holds more than this plus one item.
  size_t capacity_bytes = 64 << 20;

  // When nonzero, the cache is bounded by this many items instead of by bytes: every item costs
  // one unit and metadata is not counted. This is how trace simulations state cache sizes.
  size_t capacity_items = 0;

  // Eviction policy by name: "lru", "lfu", "fifo", "s3fifo", "sieve", "wtinylfu",
  // "wtinylfu-adaptive", "arc", "lirs", "twoq", or "default" for the policy with the best
  // measured hit ratio on real traces (see DefaultPolicyName()). Unknown names make NewCache fail
  // with InvalidArgument.
  std::string policy = "default";

  // Number of shards (each with its own lock, index and policy state). 0 picks a power of two
  // from the capacity and the number of hardware threads, so that small caches are not split
  // into shards too small for the policy to work well. Must be a power of two up to 1024. The
  // shards share the one budget: a shard may hold more than its share while the others leave
  // room, and one item may weigh up to 7/8 of the whole budget.
  uint32_t shards = 0;

  // When false, a write that does not fit the budget fails with NoSpace instead of evicting
  // (Redis's maxmemory-policy noeviction).
  bool evict = true;

  // Time to live for Put() calls that do not give one. Zero means items never expire.
  std::chrono::milliseconds default_ttl{0};

  // When nonzero (at most 256), the cache counts its items per key space (KeySpaceOf in
  // cache.h), for spaces below this value (Cache::KeySpace): a server keeps numbered databases
  // apart by key prefix and reads their sizes from here.
  uint32_t key_spaces = 0;

  // Longest key accepted, in bytes (at most 65535). Longer keys get InvalidArgument.
  size_t max_key_bytes = 65535;

  // Called after a client operation changed a key (Put, Write, a storing Update, Erase, an erasing
  // Update): with the new item, or nullptr when the key was removed. Not called for evictions,
  // expirations or Clear(). Runs under the key's shard lock: it must be quick and must not call
  // the cache. A server's write-back uses it to learn what to write to its origin.
  std::function<void(std::string_view key, const struct ItemView* now)> on_change;

  // Source of the current time in milliseconds since the Unix epoch. Empty means the system
  // clock. Tests set it to control expiry without sleeping.
  std::function<int64_t()> clock;
};

// The name of the policy "default" stands for.
const char* DefaultPolicyName();

// Every policy name NewCache accepts (without "default"), in a stable order.
const char* const* PolicyNames(size_t* count);

}  // namespace kvcache
