// Stats: counters of a cache, summed over its shards when Cache::Stats() is called.
//
// Contract: a snapshot. Counters are monotonic over the cache's life except items and bytes,
// which are current levels. Under concurrent use the fields are each exact but not taken at one
// instant together.
#pragma once

#include <cstdint>

namespace kvcache {

struct CacheStats {
  uint64_t hits = 0;          // lookups that found a live item
  uint64_t misses = 0;        // lookups that found nothing (or an expired item)
  uint64_t inserts = 0;       // items stored (new keys and overwrites)
  uint64_t evictions = 0;     // items removed by the policy to make room
  uint64_t expirations = 0;   // items removed because their TTL passed
  uint64_t items = 0;         // items currently stored
  uint64_t bytes = 0;         // bytes currently accounted against the capacity
  uint64_t item_bytes = 0;    // of which item memory (as handed out by the allocator)
  uint64_t pinned_bytes = 0;  // of which held by items already removed but still pinned by a Handle
  uint64_t capacity = 0;      // the budget, in bytes (or items when bounded by items)
};

}  // namespace kvcache
