// The key hash and the one function that maps a hash to a shard.
#pragma once

#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace kvcache::internal {

inline uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// Bits of the hash, so that their uses stay independent: the top bits pick the shard, bits
// 32..38 are the index's tag byte, the low 32 bits pick the index group, and the policies'
// ghost tables and sketches rehash the whole value.
inline uint32_t ShardOf(uint64_t hash, uint32_t shard_bits) {
  return shard_bits == 0 ? 0 : static_cast<uint32_t>(hash >> (64 - shard_bits));
}

}  // namespace kvcache::internal
