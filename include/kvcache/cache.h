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
#include <type_traits>
#include <utility>
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

// What a value holds, for the layers above the engine (which stores bytes either way).
enum class ValueKind : uint8_t { kString = 0, kHash = 1, kTensor = 2, kOther = 3 };

// A non-owning reference to a callable, for callbacks that run during the call only.
template <typename Signature>
class FunctionRef;
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: implicit, like a function pointer
      : obj_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* obj, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(obj))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(obj_, std::forward<Args>(args)...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

class Handle;

// How Cache::Write stores a value.
struct WriteOptions {
  enum class Condition : uint8_t {
    kAlways,
    kIfAbsent,   // only if the key holds no live item (SET NX)
    kIfPresent,  // only if it does (SET XX)
    kIfCurrent,  // only if the key's live item is the one `current` pins, or, when `current`
                 // is empty, if the key holds no live item: a value built from one read
                 // earlier is stored only if no one changed the key meanwhile
  };
  // Time to live; kDefaultTtl means Options::default_ttl. Ignored if expires_at_ms or
  // keep_ttl is set.
  Ttl ttl = kDefaultTtl;
  // Absolute expiry in ms since the Unix epoch (on the cache's clock); 0: use ttl.
  int64_t expires_at_ms = 0;
  // Keep the replaced item's expiry (SET KEEPTTL); none for a new key.
  bool keep_ttl = false;
  Condition condition = Condition::kAlways;
  ValueKind kind = ValueKind::kString;
  // kIfCurrent: a Handle from this cache's Get or Peek of the same key. Not null then.
  const Handle* current = nullptr;
};

// A live item as an Update or Scan callback sees it; valid during the callback only.
struct ItemView {
  std::string_view key;
  std::string_view value;
  ValueKind kind = ValueKind::kString;
  int64_t expires_at_ms = 0;  // 0: never
  size_t memory_bytes = 0;    // what the item costs the budget
  // Update callbacks only: the value's own bytes when the callback may change them in place (a
  // value that no Handle pins, so no one else sees it), with room for `capacity` bytes from
  // `writable` on; then Mutation::Action::kPatched keeps the change. A large value, in a block
  // of its own, may grow into the block's spare room; a small one, in its item's chunk, keeps
  // its size (capacity is its size). nullptr otherwise.
  char* writable = nullptr;
  size_t capacity = 0;
};

// Key spaces (Options::key_spaces): a key that begins with byte 0xFF and has at least two bytes
// is in the space its second byte names; every other key is in space 0. So space 0 costs its
// keys nothing, and a server numbers its databases 0xFF, N, key for N > 0 (and 0xFF, 0, key for
// a database 0 key that itself begins with 0xFF).
inline uint8_t KeySpaceOf(std::string_view key) {
  return key.size() >= 2 && static_cast<uint8_t>(key[0]) == 0xFF ? static_cast<uint8_t>(key[1])
                                                                   : 0;
}

struct KeySpaceStats {
  uint64_t items = 0;
  uint64_t expiring = 0;
};

// What an Update callback decides to do with the key.
struct Mutation {
  enum class Action : uint8_t {
    kKeep,       // leave it (an access, if it exists)
    kErase,      // remove it
    kStore,      // store value/kind/expires_at_ms (replacing any item)
    kSetExpiry,  // keep the value, set expires_at_ms (0: never expires)
    kPatched,    // the callback changed the value in place (ItemView::writable), which now has
                 // patched_size bytes (at most ItemView::capacity; exactly that for a value in
                 // its item's chunk); kind and expiry stay
  };
  Action action = Action::kKeep;
  std::string value;
  ValueKind kind = ValueKind::kString;
  int64_t expires_at_ms = 0;
  size_t patched_size = 0;
  // kStore: room to keep after a large value (one that gets a block of its own), so that later
  // Updates can grow it in place (kPatched) instead of copying it. Charged to the budget.
  size_t reserve = 0;
  // kStore, instead of `value`: a value of fill_size bytes that `fill` writes where the engine
  // keeps it, so that a large one is built once, in its own block. `fill` runs before the store,
  // under the same lock: it may read the ItemView the callback was given.
  std::function<void(char*)> fill;
  size_t fill_size = 0;
  // Set before the callback runs: no value larger than this can be stored under the key (the
  // cache's item limit, 7/8 of its budget; SIZE_MAX in a cache bounded by items). A callback about to build a
  // larger value gives up instead, since the store would fail after the copying.
  size_t max_value_bytes = SIZE_MAX;
};

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
  // Absolute expiry time in milliseconds since the Unix epoch, or 0 if the item never expires
  // (as of the lookup).
  int64_t expires_at_ms() const { return expires_at_ms_; }
  ValueKind kind() const { return kind_; }

  // Drops the pin. The Handle becomes empty.
  void Reset();
  // A second pin on the same item (an empty Handle for an empty one). Thread-safe.
  Handle Clone() const;
  // Whether both pin the same item: a key still holds the item an earlier lookup pinned if a
  // new lookup's Handle is the same item (a pinned item's memory is not reused).
  bool SameItem(const Handle& other) const { return item_ == other.item_; }

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
    kind_ = other.kind_;
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
  ValueKind kind_ = ValueKind::kString;
};

class Cache;

// Memory for a value that the caller fills in place and then stores without a copy
// (Cache::NewValue, then Cache::Write of the buffer): a server receives a 16 MiB value from its
// socket straight into the item that will keep it. Move-only; frees the memory unless it was
// stored. Not synchronized: one buffer belongs to one thread at a time.
class ValueBuffer {
 public:
  ValueBuffer() = default;
  ValueBuffer(ValueBuffer&& other) noexcept { MoveFrom(other); }
  ValueBuffer& operator=(ValueBuffer&& other) noexcept {
    if (this != &other) {
      Reset();
      MoveFrom(other);
    }
    return *this;
  }
  ValueBuffer(const ValueBuffer&) = delete;
  ValueBuffer& operator=(const ValueBuffer&) = delete;
  ~ValueBuffer() { Reset(); }

  explicit operator bool() const { return memory_ != nullptr; }
  // Where the value's size() bytes go.
  char* data() const { return data_; }
  size_t size() const { return size_; }
  std::string_view key() const { return {key_, key_size_}; }
  // Frees the memory. The buffer becomes empty.
  void Reset();

 private:
  friend class Cache;

  void MoveFrom(ValueBuffer& other) {
    memory_ = other.memory_;
    free_ = other.free_;
    maker_ = other.maker_;
    data_ = other.data_;
    size_ = other.size_;
    key_ = other.key_;
    key_size_ = other.key_size_;
    other.memory_ = nullptr;
  }

  void* memory_ = nullptr;  // what free_ releases
  void (*free_)(void*) = nullptr;
  const Cache* maker_ = nullptr;  // the cache whose layout the memory has, if any
  char* data_ = nullptr;
  size_t size_ = 0;
  const char* key_ = nullptr;
  size_t key_size_ = 0;
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

  // Put with conditions and options. NotFound (nothing changed) when the condition does not
  // hold. If `previous` is given and the key held a live item, it receives that item, pinned
  // (SET ... GET), also when the condition fails.
  // With `stored`, that receives the new item, pinned.
  virtual Status Write(std::string_view key, std::string_view value, const WriteOptions& options,
                       Handle* previous = nullptr, Handle* stored = nullptr) = 0;

  // Memory for a value of value_size bytes to be stored under key without a copy: fill
  // data()[0, value_size), then Write(std::move(buffer), options). For large values it is the
  // new item's own memory, with at least `room` bytes more after the value into which later
  // Updates can grow it in place (as Mutation::reserve; charged to the budget); small ones are
  // copied when written. Empty when out of memory.
  virtual ValueBuffer NewValue(std::string_view key, size_t value_size, size_t room = 0);

  // Write() of the buffer's key and value (same conditions, options and errors). The buffer is
  // consumed either way. REQUIRES: the buffer came from this cache's NewValue().
  virtual Status Write(ValueBuffer value, const WriteOptions& options, Handle* previous = nullptr,
                       Handle* stored = nullptr);

  // Moves the live item of `from` to key `to` without copying its value, replacing whatever
  // `to` held, with the same value, kind and expiry (RENAME of a large value): *moved says
  // whether it did. It does when the value is large (a block of its own), no Handle pins it and
  // the new key needs as much room before the value as the old one (keys of up to 48 bytes all
  // do); otherwise nothing changes, and the caller copies. NotFound when `from` holds no live
  // item. REQUIRES: from != to.
  virtual Status Rename(std::string_view from, std::string_view to, bool* moved) = 0;

  // The live item of key without it counting as an access: no statistics, no policy update
  // (a loader checking whether someone else already loaded the key).
  virtual Handle Peek(std::string_view key) = 0;

  // Read-modify-write of one key, atomic with respect to every other operation on it: fn sees
  // the live item (or nullptr) and fills the Mutation to apply. fn runs under the key's shard
  // lock: it must be quick and must not call the cache. The same errors as Put.
  virtual Status Update(std::string_view key,
                        FunctionRef<void(const ItemView* current, Mutation* mutation)> fn) = 0;

  // Iterates the live items in the order of their key hash, about `count` per call: start with
  // cursor 0 and pass the returned cursor back until it is 0. An item present during the whole
  // iteration is visited exactly once however the cache grows or shrinks meanwhile; items added
  // or removed meanwhile may or may not be. fn runs under a shard's shared lock: it must be
  // quick and must not call the cache.
  virtual uint64_t Scan(uint64_t cursor, size_t count, FunctionRef<void(const ItemView&)> fn) = 0;

  // Items whose key starts with byte `space`, and how many of them expire (Options::key_spaces;
  // zeros when not counted).
  virtual KeySpaceStats KeySpace(uint8_t space) = 0;

  // The cache's clock: milliseconds since the Unix epoch (Options::clock or the system's).
  virtual int64_t NowMs() const = 0;

  // A pinned handle to the live value of key, or an empty Handle. Counts as an access for the
  // eviction policy and as a hit or a miss in Stats().
  virtual Handle Get(std::string_view key) = 0;

  // A hint that these keys will be looked up soon: starts loading the memory their lookups read
  // (index lines, then the items), so that the cache misses of many lookups overlap instead of
  // following one another (a server calls it for the keys of a pipeline before running the
  // commands). Changes nothing: not an access, not counted. `for_write`: the keys are about to
  // be written, which for a key that exists replaces or moves its item among the eviction
  // policy's entries: the neighbours that writes are loaded too (a third wave, once the items'
  // headers have arrived).
  virtual void Prefetch(std::span<const std::string_view> keys, bool for_write = false) = 0;

  // Looks up many keys; the result has one Handle per key, in order (empty for a miss). The
  // lookups' memory accesses overlap, so this is faster than one Get per key.
  virtual std::vector<Handle> MultiGet(std::span<const std::string_view> keys) = 0;

  // Reads many keys without pinning them: calls fn(i, item) for each keys[i], in order, with the
  // live item or nullptr, while the item's shard is locked (shared). fn must be short (copy the
  // value out, or skip it) and must not call the cache. Counts as Get() of each key for the
  // policy and Stats(); the fastest way to gather many values, e.g. embedding rows into one
  // batch: no pin and unpin per key, and the keys' memory accesses overlap as in MultiGet.
  // The ItemView's memory_bytes is not filled in (0).
  virtual void ReadMany(std::span<const std::string_view> keys,
                        FunctionRef<void(size_t index, const ItemView* item)> fn) = 0;

  // Get(), and on a miss calls loader once for all concurrent callers of this key
  // (single-flight), stores what it produced and returns it pinned in *out. The loader runs on
  // the calling thread of the first caller, without any lock of the cache held.
  virtual Status GetOrLoad(std::string_view key, const Loader& loader, Handle* out) = 0;

  // Removes key. Returns whether a live item was removed.
  virtual bool Erase(std::string_view key) = 0;

  // Whether key holds a live item. Not an access: changes neither the policy nor Stats().
  virtual bool Contains(std::string_view key) = 0;

  // How often the eviction policy has seen key used, as far as it counts uses (Redis's OBJECT
  // FREQ): LFU's count (saturating at 255), W-TinyLFU's estimate from its frequency sketch,
  // S3-FIFO's 2-bit hit counter, SIEVE's visited bit. Not an access. NotFound when key holds
  // no live item; InvalidArgument for a policy that counts nothing (LRU, LIRS, ARC, ...).
  virtual Status AccessFrequency(std::string_view key, uint32_t* frequency) = 0;

  // Removes every item.
  virtual void Clear() = 0;

  // Removes expired items, examining at most `budget` index slots in total. Returns how many
  // items it removed. Put() already does a little of this on every call; a server calls it from
  // a timer so that expired bytes do not linger in an idle cache.
  virtual size_t EvictExpired(size_t budget) = 0;

  // Changes the byte budget of a byte-bounded cache (Options::capacity_bytes) while it is in
  // use; the shard count stays. A larger budget holds at once, up to max_capacity(). A smaller
  // one holds at once for new writes, but the items beyond it stay until Reclaim evicts them:
  // call Reclaim until it returns 0 (at once, or a slice at a time from a timer, as a server
  // does so that no request waits for the whole eviction). InvalidArgument for an item-bounded
  // cache, a budget smaller than the shard count or larger than max_capacity().
  virtual Status SetCapacity(uint64_t capacity_bytes) = 0;
  // After SetCapacity lowered the budget: evicts, in each shard's policy order and from the
  // shards holding most above their share first, at most max_items items. Returns the bytes the
  // cache still holds above its budget (0 when done). A cache that does not evict
  // (Options::evict false) gives back only budget its shards hold unused, and then keeps
  // refusing writes until enough is deleted.
  virtual uint64_t Reclaim(size_t max_items) = 0;
  // Whether a full cache evicts to make room (Options::evict), changed while in use. Turned on,
  // an excess left from a lowered budget still needs Reclaim.
  virtual void SetEvict(bool evict) = 0;
  // The largest budget SetCapacity accepts: what this cache's address range can hold with its
  // shard count (0 for an item-bounded cache).
  virtual uint64_t max_capacity() const = 0;

  virtual CacheStats Stats() const = 0;
  virtual const char* policy_name() const = 0;
  virtual size_t shard_count() const = 0;

 protected:
  // For implementations of NewValue: a buffer over `memory` (released with `release`), whose
  // value is at data and whose key at key_data, made by this cache in its own layout.
  ValueBuffer MakeValueBuffer(void* memory, void (*release)(void*), char* data, size_t size,
                              const char* key_data, size_t key_size) const;
  // Whether the buffer's memory has this cache's layout; if so, hands it over (the buffer
  // becomes empty and the caller owns the memory).
  void* TakeValueMemory(ValueBuffer& buffer) const;
};

// Builds a cache. On bad options returns nullptr and, if status is given, sets it to
// InvalidArgument with the reason.
std::unique_ptr<Cache> NewCache(const Options& options, Status* status = nullptr);

}  // namespace kvcache
