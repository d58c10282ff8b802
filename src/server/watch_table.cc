#include "server/watch_table.h"

#include <algorithm>

namespace kvcache::server {

void WatchTable::Watch(WatchState* w, std::string_view key, bool existed) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = watchers_.find(key);
  if (it == watchers_.end()) {
    it = watchers_.emplace(std::string(key), std::vector<WatchState*>()).first;
  }
  // Once per key: found among the key's watchers (few), not among the connection's keys (a
  // WATCH of many keys would be quadratic).
  std::vector<WatchState*>& v = it->second;
  if (std::find(v.begin(), v.end(), w) != v.end()) return;
  v.push_back(w);
  w->keys.push_back({std::string(key), existed});
  entries_.fetch_add(1);
}

void WatchTable::UnwatchAll(WatchState* w) {
  if (!w->keys.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    for (const WatchState::Key& k : w->keys) {
      auto it = watchers_.find(k.key);
      if (it == watchers_.end()) continue;
      std::vector<WatchState*>& v = it->second;
      v.erase(std::remove(v.begin(), v.end(), w), v.end());
      if (v.empty()) watchers_.erase(it);
    }
    entries_.fetch_sub(w->keys.size());
    w->keys.clear();
  }
  w->dirty.store(false, std::memory_order_relaxed);
}

void WatchTable::Touch(std::string_view key) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = watchers_.find(key);
  if (it == watchers_.end()) return;
  for (WatchState* w : it->second) w->dirty.store(true, std::memory_order_relaxed);
}

std::vector<std::string> WatchTable::Keys() {
  std::vector<std::string> keys;
  std::lock_guard<std::mutex> l(mu_);
  keys.reserve(watchers_.size());
  for (const auto& entry : watchers_) keys.push_back(entry.first);
  return keys;
}

}  // namespace kvcache::server
