// Cache: a sharded, byte-bounded in-memory cache of byte keys and byte values.
//
// Contract: a Cache has internal synchronization and may be used from many threads at once.
// Values are immutable once stored: Put() of an existing key stores a new item and retires the
// old one. Get() returns a Handle that pins the item: the bytes it points to stay valid and
// unchanged while the Handle lives, even if the item is evicted, erased, expired or overwritten
// meanwhile. Lookups of present keys do not serialize on a lock.
//
// REQUIRES: every Handle is destroyed (or Reset) before the Cache that returned it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/options.h"
#include "kvcache/stats.h"
#include "kvcache/status.h"

namespace kvcache {

namespace internal {
class ShardCore;
}  // namespace internal

// Time to live of an item, in milliseconds.
using Ttl = std::chrono::milliseconds;
// Pass as a Put() ttl to use Options::default_ttl.
inline constexpr Ttl kDefaultTtl{-1};
// Pass as a Put() ttl for an item that never expires.
inline constexpr Ttl kNoExpiry{0};

// A pinned reference to a stored item. Move-only; empty when default-constructed or when a
// lookup missed. Not synchronized: one Handle object belongs to one thread at a time.
class Handle {
 public:
  Handle() = default;
  Handle(Handle&& other) noexcept { MoveFrom(other); }
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      Reset();
      MoveFrom(other);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { Reset(); }

  explicit operator bool() const { return item_ != nullptr; }
  std::string_view key() const { return {key_, key_size_}; }
  std::string_view value() const { return {value_, value_size_}; }
  // Absolute expiry time in milliseconds since the Unix epoch, or 0 if the item never expires.
  int64_t expires_at_ms() const { return expires_at_ms_; }

  // Drops the pin. The Handle becomes empty.
  void Reset();

 private:
  friend class internal::ShardCore;

  void MoveFrom(Handle& other) {
    shard_ = other.shard_;
    item_ = other.item_;
    value_ = other.value_;
    value_size_ = other.value_size_;
    key_ = other.key_;
    key_size_ = other.key_size_;
    expires_at_ms_ = other.expires_at_ms_;
    other.shard_ = nullptr;
    other.item_ = nullptr;
  }

  internal::ShardCore* shard_ = nullptr;
  void* item_ = nullptr;
  const char* value_ = nullptr;
  size_t value_size_ = 0;
  const char* key_ = nullptr;
  size_t key_size_ = 0;
  int64_t expires_at_ms_ = 0;
};

// Produces the value of a key on a miss (GetOrLoad). Returns OK and fills *value (and, if it
// wants one, *ttl; it starts as kDefaultTtl); NotFound if the key does not exist; any other
// status is passed to every caller waiting on that key.
using Loader = std::function<Status(std::string_view key, std::string* value, Ttl* ttl)>;

class Cache {
 public:
  virtual ~Cache() = default;

  // Stores value under key, replacing any previous value. Evicts items as the policy chooses
  // to make room. InvalidArgument (nothing changed): empty key, key longer than
  // Options::max_key_bytes, an item larger than the cache can ever hold, a negative ttl other
  // than kDefaultTtl. NoSpace: the items that could make room are all pinned.
  virtual Status Put(std::string_view key, std::string_view value, Ttl ttl = kDefaultTtl) = 0;

  // A pinned handle to the live value of key, or an empty Handle. Counts as an access for the
  // eviction policy and as a hit or a miss in Stats().
  virtual Handle Get(std::string_view key) = 0;

  // Looks up many keys; the result has one Handle per key, in order (empty for a miss).
  virtual std::vector<Handle> MultiGet(std::span<const std::string_view> keys) = 0;

  // Get(), and on a miss calls loader once for all concurrent callers of this key
  // (single-flight), stores what it produced and returns it pinned in *out. The loader runs on
  // the calling thread of the first caller, without any lock of the cache held.
  virtual Status GetOrLoad(std::string_view key, const Loader& loader, Handle* out) = 0;

  // Removes key. Returns whether a live item was removed.
  virtual bool Erase(std::string_view key) = 0;

  // Whether key holds a live item. Not an access: changes neither the policy nor Stats().
  virtual bool Contains(std::string_view key) = 0;

  // Removes every item.
  virtual void Clear() = 0;

  // Removes expired items, examining at most `budget` index slots in total. Returns how many
  // items it removed. Put() already does a little of this on every call; a server calls it from
  // a timer so that expired bytes do not linger in an idle cache.
  virtual size_t EvictExpired(size_t budget) = 0;

  virtual CacheStats Stats() const = 0;
  virtual const char* policy_name() const = 0;
  virtual size_t shard_count() const = 0;
};

// Builds a cache. On bad options returns nullptr and, if status is given, sets it to
// InvalidArgument with the reason.
std::unique_ptr<Cache> NewCache(const Options& options, Status* status = nullptr);

}  // namespace kvcache
