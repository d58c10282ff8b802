// WatchTable: the keys clients WATCH, and which clients watch each, so that a change to a key
// marks every transaction that watches it as failed (Redis's touchWatchedKey).
//
// Changes reach it from the engine's change listener (Options::on_change), which the engine calls
// for every client change that actually happened (a SETNX that finds the key set, a DEL of a
// missing key do not count), under the key's shard lock, from any worker thread; so the table
// has its own mutex, a leaf lock that nothing else is taken under. With nobody watching, a change
// costs one relaxed load (active()). What the listener does not hear of is handled elsewhere: an
// expiry set on a kept value (EXPIRE, PERSIST, GETEX touch the key themselves), evictions and
// expirations (EXEC checks that the keys that existed at WATCH still exist), and Clear()
// (FLUSHDB and FLUSHALL touch the watched keys they remove: Keys, then Touch).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kvcache::server {

// What one connection watches. Owned by the connection's worker, except `dirty`, which any
// thread sets (under the table's mutex).
struct WatchState {
  struct Key {
    std::string key;  // engine key (db_key.h)
    bool existed;     // the key was live when watched: its eviction or expiry fails EXEC
  };
  std::vector<Key> keys;
  std::atomic<bool> dirty{false};
};

class WatchTable {
 public:
  // Whether anyone watches anything: the change listener's fast path.
  bool active() const { return entries_.load(std::memory_order_relaxed) != 0; }

  // Adds `key` to what `w` watches (once).
  void Watch(WatchState* w, std::string_view key, bool existed);
  // Forgets everything `w` watches and clears its dirty mark.
  void UnwatchAll(WatchState* w);
  // Marks every watcher of `key` dirty.
  void Touch(std::string_view key);
  // Every watched key, once (a copy: the caller may look them up in the cache, which this
  // table's lock must not be held across).
  std::vector<std::string> Keys();

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::mutex mu_;
  std::unordered_map<std::string, std::vector<WatchState*>, Hash, std::equal_to<>> watchers_;
  std::atomic<size_t> entries_{0};  // (watcher, key) pairs
};

}  // namespace kvcache::server
