// kvcache-bench's cache implementations.
#include "engine_impls.h"

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include <list>
#include <mutex>
#include <unordered_map>

#include "kvcache/cache.h"

namespace kvcache::bench {
namespace {

class KvCacheBench final : public BenchCache {
 public:
  explicit KvCacheBench(std::unique_ptr<Cache> c) : cache_(std::move(c)) {}
  int Read(std::string_view key) override {
    Handle h = cache_->Get(key);
    return h ? static_cast<unsigned char>(h.value()[0]) + 1 : 0;
  }
  void Write(std::string_view key, std::string_view value) override { cache_->Put(key, value); }
  uint64_t items() override { return cache_->Stats().items; }
  uint64_t accounted_bytes() override { return cache_->Stats().bytes; }

 private:
  std::unique_ptr<Cache> cache_;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// The textbook LRU cache: one mutex around a hash map and a list.
class MutexLru final : public BenchCache {
 public:
  explicit MutexLru(uint64_t capacity) : capacity_(capacity) {}
  int Read(std::string_view key) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return 0;
    lru_.splice(lru_.begin(), lru_, it->second);
    const std::string& v = it->second->second;
    return static_cast<unsigned char>(v[0]) + 1;
  }
  void Write(std::string_view key, std::string_view value) override {
    std::lock_guard<std::mutex> l(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->second.assign(value);
      lru_.splice(lru_.begin(), lru_, it->second);
      return;
    }
    if (map_.size() >= capacity_) {
      map_.erase(lru_.back().first);
      lru_.pop_back();
    }
    lru_.emplace_front(std::string(key), std::string(value));
    map_.emplace(lru_.front().first, lru_.begin());
  }
  uint64_t items() override {
    std::lock_guard<std::mutex> l(mu_);
    return map_.size();
  }

 private:
  using Entry = std::pair<std::string, std::string>;
  std::mutex mu_;
  uint64_t capacity_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator, StringHash, std::equal_to<>> map_;
};

// No eviction and no lock: the cost of a bare hash-map lookup, single-threaded only.
class AbslMap final : public BenchCache {
 public:
  int Read(std::string_view key) override {
    // Debian's Abseil has its own string_view type.
    auto it = map_.find(absl::string_view(key.data(), key.size()));
    return it == map_.end() ? 0 : static_cast<unsigned char>(it->second[0]) + 1;
  }
  void Write(std::string_view key, std::string_view value) override {
    map_[absl::string_view(key.data(), key.size())].assign(value);
  }
  uint64_t items() override { return map_.size(); }
  bool thread_safe() const override { return false; }

 private:
  absl::flat_hash_map<std::string, std::string> map_;
};

}  // namespace

std::unique_ptr<BenchCache> MakeBenchCache(const std::string& impl, uint64_t capacity_items,
                                           size_t key_bytes, size_t value_bytes,
                                           std::string* error) {
  if (impl == "mutex-lru") return std::make_unique<MutexLru>(capacity_items);
  if (impl == "absl-map") return std::make_unique<AbslMap>();
  if (impl.rfind("kvcache:", 0) != 0) {
    *error = "unknown --impl '" + impl + "' (kvcache:<policy>, mutex-lru, absl-map)";
    return nullptr;
  }
  Options o;
  o.policy = impl.substr(8);
  // Measure what one item of this shape costs in a full cache (item memory, index and policy
  // metadata, which some policies size by the capacity), then give the cache room for
  // capacity_items of them.
  o.capacity_bytes = 16 << 20;
  o.shards = 1;
  Status st;
  auto probe = NewCache(o, &st);
  if (!probe) {
    *error = st.ToString();
    return nullptr;
  }
  std::string value(value_bytes, 'v');
  for (int i = 0; probe->Stats().evictions < 50000; ++i) {
    std::string k = std::to_string(i);
    k.insert(0, key_bytes > k.size() ? key_bytes - k.size() : 0, 'k');
    probe->Put(k, value);
  }
  CacheStats s = probe->Stats();
  double per_item = double(s.bytes) / double(s.items);
  probe.reset();
  o.shards = 0;
  o.capacity_bytes = static_cast<size_t>(per_item * double(capacity_items)) + (1 << 20);
  auto cache = NewCache(o, &st);
  if (!cache) {
    *error = st.ToString();
    return nullptr;
  }
  return std::make_unique<KvCacheBench>(std::move(cache));
}

}  // namespace kvcache::bench
