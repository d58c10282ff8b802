// The caches kvcache-bench drives, behind one small interface: kvcache with any policy, the
// textbook mutex-protected LRU, and a bare absl::flat_hash_map.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace kvcache::bench {

class BenchCache {
 public:
  virtual ~BenchCache() = default;
  // Reads key; on a hit copies nothing and returns the value's first byte + 1, on a miss 0.
  virtual int Read(std::string_view key) = 0;
  virtual void Write(std::string_view key, std::string_view value) = 0;
  virtual uint64_t items() = 0;
  // Bytes the cache accounts for itself, or 0 if it does not.
  virtual uint64_t accounted_bytes() { return 0; }
  virtual bool thread_safe() const { return true; }
};

// "kvcache:<policy>", "mutex-lru" or "absl-map". capacity_items bounds the cache (kvcache: the
// bytes that many items of this shape take, measured). Returns nullptr and sets *error on a
// bad name.
std::unique_ptr<BenchCache> MakeBenchCache(const std::string& impl, uint64_t capacity_items,
                                           size_t key_bytes, size_t value_bytes,
                                           std::string* error);

}  // namespace kvcache::bench
