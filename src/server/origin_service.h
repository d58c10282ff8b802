// OriginService: the server's side of the slower tier. It owns the Origin and
//   - a pool of threads that run the commands that wait for it (Server::Defer), so that no
//     event loop ever waits for the origin;
//   - read-through loading: a miss loads from the origin, single-flight per key, and stores
//     what it found (optionally remembering for a while that a key is absent);
//   - write-through: writes queue up and one thread applies them to the origin in batches, one
//     durable sync per batch for however many clients wrote meanwhile (group commit), then to
//     the cache, then acknowledges them;
//   - write-back: writes go to the cache and a dirty set; a flusher thread writes the dirty set
//     to the origin in batches within a bounded delay, and everything at shutdown;
//   - preloading a tensor file or an origin range into the cache in the background.
//
// What the origin stores per key: a string's bytes as they are; a hash as a 4-byte marker
// ("\xff" "KH" "\x01") followed by the hash's encoding; a tensor as "\xff" "KT" "\x01" followed
// by its stored value (kvcache/tensor.h: data, then dtype and shape). A string that begins with
// a marker (and, for the tensor one, is followed by a valid tensor) would read back as that kind.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kvcache/cache.h"
#include "kvcache/origin.h"

namespace kvcache::server {

class Server;

enum class WritePolicy { kNone, kThrough, kBack };
bool ParseWritePolicy(std::string_view s, WritePolicy* p);
const char* WritePolicyName(WritePolicy p);

struct OriginSettings {
  WritePolicy write_policy = WritePolicy::kNone;
  int timeout_ms = 1000;
  int64_t negative_ttl_ms = 0;    // remember absent keys this long (0: never)
  int threads = 8;                // for commands waiting on the origin
  int64_t write_back_delay_ms = 1000;
  int64_t write_back_max_dirty = 100000;
  int64_t write_through_max_batch = 4096;  // write requests per durable sync
};

// One key's new state, as written through or flushed back.
struct KeyWrite {
  std::string key;  // engine key
  bool erase = false;
  std::string value;
  ValueKind kind = ValueKind::kString;
  int64_t expires_at_ms = 0;  // for the cached copy only; the origin keeps the data
  // Write-through conditions, checked in order against what earlier writes left.
  WriteOptions::Condition condition = WriteOptions::Condition::kAlways;
  bool keep_ttl = false;
  // Write-through read-modify-write (HSET, HDEL): computes the new value from the current one
  // (nullptr: absent). Returns false to leave the key as it is; sets *erase to delete it.
  std::function<bool(const std::string* current, std::string* value, bool* erase)> transform;
};

// What a queued write-through did.
struct WriteOutcome {
  Status status;
  std::vector<bool> applied;                // per KeyWrite: whether its condition held
  std::vector<std::optional<std::string>> previous;  // per KeyWrite, when asked: the old value
};

class OriginService {
 public:
  OriginService(Cache* cache, std::unique_ptr<Origin> origin, const OriginSettings& settings);
  ~OriginService();  // flushes the write-back set, stops the threads

  const OriginSettings& settings() const { return settings_; }
  Origin& origin() { return *origin_; }

  void Submit(std::function<void()> task);

  // ---- Reads (blocking: on pool threads)
  struct Loaded {
    Status status;  // OK, NotFound, or why the origin could not answer
    Handle handle;  // pinned, when OK
  };
  // The live value of each engine key: from the cache, else loaded from the origin (one
  // request for all the keys that need it; concurrent loads of a key share one request).
  // Calls done(results) when every key is resolved, on whichever thread resolved the last
  // one. Keys another request is loading cost no thread while they wait; keys this call loads
  // are read on the calling thread (a pool thread, never an event loop).
  void LoadAsync(const std::vector<std::string>& keys,
                 std::function<void(std::vector<Loaded>)> done);
  // LoadAsync, waiting for the results.
  std::vector<Loaded> Load(const std::vector<std::string>& keys);

  // ---- Writes
  // Write-through: queues the writes, calls done(outcome) once they are durable in the origin
  // and applied to the cache, or failed (then nothing changed). done runs on the writer thread.
  void WriteThrough(std::vector<KeyWrite> writes, bool want_previous,
                    std::function<void(WriteOutcome)> done);
  // Write-back: the cache's change listener (Options::on_change). Records the key's new state as
  // dirty, unless the change is the service's own (a value loaded from the origin). Runs under
  // a shard lock: copies and returns.
  void OnCacheChange(std::string_view key, const ItemView* now);
  // Whether the calling thread is storing a value of the service's own (a read-through load, a
  // row of a preloaded file) rather than running a client's change.
  static bool InOwnWrite();
  // Write-back: if the dirty set is full, waits (bounded by the origin timeout) until the
  // flusher has made room. Called after a write command, outside every lock.
  void WaitForDirtyRoom();
  // Write-back: writes every dirty key now.
  Status FlushDirty();

  // Read-through: whether `key` was found absent from the origin recently enough to answer a
  // miss without asking again (origin-negative-ttl-ms).
  bool KnownAbsent(const std::string& key);

  // ---- Preloading
  // Starts loading `spec` (a tensor file origin spec, or "origin" / "origin:BEGIN:END" for a
  // range of the configured origin) into the cache in the background.
  Status StartPreload(const std::string& spec);
  bool preloading() const { return preload_running_.load(); }

  // The INFO "origin" section, and the "loading" fields of "persistence".
  void AppendInfo(std::string* out) const;
  void AppendLoadingInfo(std::string* out) const;

  // How values are written to and read from the origin.
  static std::string EncodeForOrigin(ValueKind kind, std::string_view value);
  static ValueKind DecodeFromOrigin(std::string_view stored, std::string_view* value);

 private:
  struct Flight;
  struct LoadRequest;
  struct PendingWrite {
    std::vector<KeyWrite> writes;
    bool want_previous;
    std::function<void(WriteOutcome)> done;
  };

  void PoolLoop();
  void WriterLoop();
  void FlusherLoop();
  void PreloadLoop(std::string spec);
  Status StoreLoaded(const std::string& key, const OriginValue& v, Handle* out);
  Status FlushBatch(std::vector<KeyWrite>* batch);

  Cache* cache_;
  std::unique_ptr<Origin> origin_;
  OriginSettings settings_;
  std::atomic<bool> stopping_{false};

  // Pool
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> pool_;

  // Keys recently found absent: key -> until (ms)
  std::mutex absent_mu_;
  std::unordered_map<std::string, int64_t> absent_;

  // Single flight
  std::mutex flights_mu_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;

  // Write-through queue
  std::mutex write_mu_;
  std::condition_variable write_cv_;
  std::deque<PendingWrite> write_queue_;
  std::thread writer_;

  // Write-back dirty set: key -> its state when last marked
  mutable std::mutex dirty_mu_;
  std::condition_variable dirty_cv_;
  std::unordered_map<std::string, KeyWrite> dirty_;
  size_t flushing_ = 0;  // keys taken out of dirty_ by a flush still being written
  std::mutex flush_mu_;  // one flush at a time (the flusher, ORIGINFLUSH, shutdown)
  std::thread flusher_;

  // Preload
  std::thread preload_thread_;
  std::atomic<bool> preload_running_{false};
  mutable std::mutex preload_mu_;
  std::string preload_spec_;
  std::atomic<uint64_t> preload_total_bytes_{0};
  std::atomic<uint64_t> preload_loaded_bytes_{0};
  std::atomic<uint64_t> preload_loaded_keys_{0};
  std::atomic<int64_t> preload_start_ms_{0};
  std::atomic<int64_t> preload_end_ms_{0};
  std::string preload_error_;

  // Counters for INFO
  struct Stats {
    std::atomic<uint64_t> loads{0}, load_found{0}, load_absent{0}, load_errors{0};
    std::atomic<uint64_t> load_requests{0}, load_latency_us{0}, load_latency_max_us{0};
    std::atomic<uint64_t> shared_loads{0};
    std::atomic<uint64_t> writes{0}, write_batches{0}, write_errors{0};
    std::atomic<uint64_t> flushes{0}, flushed_keys{0}, flush_errors{0};
  };
  mutable Stats stats_;
};

}  // namespace kvcache::server
