// Server: the engine behind the Redis protocol. Owns the cache, the settings, the command
// registry and one worker thread per core, each with its own epoll loop and listening socket
// (SO_REUSEPORT: the kernel spreads connections over the workers). The engine is shared and
// sharded; a worker runs its clients' commands against it directly.
//
// The world lock: every worker holds it shared while it runs a batch of commands; the few
// commands that must see every shard at once (EXEC, MSETNX, RENAME, FLUSHALL, CONFIG SET...)
// take it exclusively, which is what makes them atomic, as a single-threaded Redis is.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/rw_spinlock.h"
#include "kvcache/cache.h"
#include "protocol/reply_builder.h"
#include "protocol/request_parser.h"
#include "server/command.h"
#include "server/config.h"
#include "server/pubsub.h"
#include "server/watch_table.h"

namespace kvcache::server {

class Connection;
class OriginService;

// SLOWLOG keeps at most this much of an argument, as Redis (SLOWLOG_ENTRY_MAX_STRING).
inline constexpr size_t kLoggedArgBytes = 128;
// A value of at least this size that a command builds anew or copies (SETRANGE, APPEND, COPY)
// is built in steps (RunInSteps), not in one go under a lock.
inline constexpr size_t kBuildInStepsBytes = 8 << 20;

// The second half of a command whose work ran on a background thread: runs on the thread that
// owns the connection and writes the reply.
using Completion = std::function<void(Connection&)>;

// Counters of one worker, written by it alone, summed by INFO (relaxed atomics: no RMW).
struct WorkerStats final : protocol::ReplyBuilder::ErrorSink {
  // A command's duration in ticks falls in one of kLatencyBuckets buckets: 0-7 exactly, then 4
  // per power of two (the two bits below the highest set bit), up to 2^41 ticks (minutes).
  static constexpr size_t kLatencyBuckets = 4 * 40 + 8;
  static size_t LatencyBucket(uint64_t ticks) {
    if (ticks < 8) return static_cast<size_t>(ticks);
    const int msb = 63 - __builtin_clzll(ticks);
    const size_t b = static_cast<size_t>(msb - 1) * 4 + ((ticks >> (msb - 2)) & 3);
    return b < kLatencyBuckets ? b : kLatencyBuckets - 1;
  }
  // The least duration (ticks) of bucket b; the bucket ends where b + 1 begins.
  static uint64_t LatencyBucketStart(size_t b) {
    if (b < 8) return b;
    return (uint64_t{4} + b % 4) << (b / 4 - 1);
  }
  struct PerCommand {
    std::atomic<uint64_t> calls{0}, ticks{0}, failed{0}, rejected{0};  // ticks: tick_clock.h
    std::atomic<uint64_t> latency[kLatencyBuckets] = {};  // calls by duration (latency-tracking)
  };
  std::atomic<uint64_t> commands{0};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> net_input_bytes{0};
  std::atomic<uint64_t> net_output_bytes{0};
  std::atomic<uint64_t> clients{0};
  // One per command, in pages of their own from the kernel (zero, an all-zero atomic counter
  // being a counter at 0): the latency buckets of commands never run take no resident memory.
  PerCommand* per_command = nullptr;
  void AllocatePerCommand(size_t commands);
  ~WorkerStats();
  size_t per_command_bytes = 0;

  static void Add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  // Error replies by their first word (INFO errorstats, total_error_replies). Errors are rare,
  // so a mutex; at most kMaxErrorKinds kinds are told apart, as Redis does.
  static constexpr size_t kMaxErrorKinds = 128;
  std::mutex errors_mu;
  std::map<std::string, uint64_t, std::less<>> errors;
  uint64_t error_replies = 0;
  void CountError(std::string_view prefix) override {
    std::lock_guard<std::mutex> l(errors_mu);
    ++error_replies;
    auto it = errors.find(prefix);
    if (it != errors.end()) {
      ++it->second;
    } else if (errors.size() < kMaxErrorKinds) {
      errors.emplace(std::string(prefix), 1);
    }
  }
};

class Worker {
 public:
  Worker(Server& server, int index);
  ~Worker();
  // Sets up the worker's event loop on its sockets. REQUIRES: they are bound and listening
  // (non-blocking).
  Status Prepare(std::vector<int> listen_fds);
  // Starts its thread. The server prepares every worker first: a client of the first could
  // otherwise wake the others (SHUTDOWN, CLIENT KILL) before they have an event loop.
  void Launch();
  void Wake();  // async-signal-safe
  void Join();
  int index() const { return index_; }
  WorkerStats& stats() { return stats_; }
  // Thread-safe: queues `done` for connection `conn_id`; dropped if it has closed by then.
  void Post(uint64_t conn_id, Completion done);
  // The same for what is not the end of a deferred command (a pub/sub message): `done` runs
  // whether the connection is waiting for a completion or not, and leaves it as it was.
  void PostPush(uint64_t conn_id, Completion done);
  // On the worker's thread, for one of its connections. WAIT: answers it at `deadline_ms`
  // unless its wait (number `token`) has ended before (Server::EndWait).
  void AddWaitDeadline(int64_t deadline_ms, uint64_t conn_id, uint64_t token);
  // CLIENT PAUSE: runs the connection's postponed command again once the pause is over.
  void AddPostponed(uint64_t conn_id) { postponed_.push_back(conn_id); }

 private:
  void Run();
  void RunCompletions();
  // Runs a completion of connection c and what it had buffered after it.
  void Finish(Connection* c, const Completion& done);
  // Ends the waits whose deadline has come and, once a pause is over, reruns the postponed.
  void RunTimers(int64_t now);
  // How long epoll may wait: until the next cron tick, WAIT deadline or end of a pause.
  int PollTimeoutMs(int cron_ms, int64_t now) const;
  void Accept(int listen_fd);
  void Close(Connection* c);
  void UpdateInterest(Connection* c);
  void Cron();

  Server& server_;
  int index_;
  int epoll_fd_ = -1;
  int event_fd_ = -1;
  std::vector<int> listen_fds_;
  std::thread thread_;
  std::unordered_map<int, std::unique_ptr<Connection>> conns_;
  std::unordered_map<uint64_t, Connection*> by_id_;
  std::unordered_map<int, uint32_t> interest_;
  WorkerStats stats_;
  std::mutex mailbox_mu_;
  std::vector<std::pair<uint64_t, Completion>> mailbox_;
  std::vector<std::pair<uint64_t, Completion>> pushes_;  // PostPush's, under mailbox_mu_
  std::multimap<int64_t, std::pair<uint64_t, uint64_t>> wait_deadlines_;  // -> (conn id, token)
  std::vector<uint64_t> postponed_;  // connections holding a command back for CLIENT PAUSE
};

// What CLIENT LIST shows of a connection and what CLIENT KILL needs to reach it.
struct ClientInfo {
  Connection* conn;
  Worker* worker;
};

struct MetricSamples;

// The machine's physical memory in bytes (1 GiB if the system does not say).
uint64_t PhysicalMemory();

// One LATENCY event class ("command", "fast-command"): Redis's latencyTimeSeries, the worst
// latency of each second in which one was sampled, the last 160 of them, and the worst ever.
struct LatencySample {
  int64_t unix_seconds = 0;  // 0: an unused slot
  uint64_t ms = 0;
};
struct LatencyEvent {
  static constexpr size_t kSamples = 160;
  LatencySample samples[kSamples];
  size_t next = 0;
  uint64_t max = 0;
  const LatencySample& latest() const { return samples[(next + kSamples - 1) % kSamples]; }
};

// One SLOWLOG entry, as Redis keeps it: the arguments are cut to 32, each to 128 bytes.
struct SlowlogEntry {
  uint64_t id;
  int64_t unix_seconds;
  uint64_t micros;
  std::vector<std::string> args;
  std::string peer;
  std::string client_name;
};

class Server {
 public:
  explicit Server(const ServerConfig& config);
  ~Server();

  // Builds the cache. For tests that run commands in-process, nothing else is needed; they
  // may give the cache a clock.
  Status Init(std::function<int64_t()> clock = nullptr);
  // Binds and starts the workers; logs one line when ready. REQUIRES: Init().
  Status Start();
  // Blocks until shutdown is requested, then stops the workers.
  void Wait();
  // Async-signal-safe.
  void RequestShutdown();
  bool shutting_down() const { return shutdown_.load(std::memory_order_relaxed); }

  // Runs one command for a connection (parsing done). Writes exactly one reply, possibly later
  // (see Defer).
  void Execute(Connection& conn, std::span<const std::string_view> args);
  // Whether `name` is a known command flagged write (a pipeline's prefetch loads more for them).
  bool IsWriteCommand(std::string_view name) const;

  // Runs `work` on a background thread, then the Completion it returns on the connection's own
  // thread; the connection runs no further command meanwhile, so replies stay in order. Inside
  // EXEC, both run at once on the calling thread.
  void Defer(Connection& conn, std::function<Completion()> work);
  // Defer for work that finishes by itself later: `start` runs on a background thread and
  // must eventually call post(completion) exactly once, from any thread.
  void DeferAsync(Connection& conn,
                  std::function<void(std::function<void(Completion)> post)> start);
  // Runs a command that walks much (KEYS) in steps on the connection's own thread, so that
  // its event loop serves the other clients in between: `step` does a bounded piece of the
  // work and returns true once the reply is complete. The connection runs nothing else
  // meanwhile; what it had answered before goes out. Inside EXEC all steps run at once. The
  // steps hold the world lock as the command does (exclusively for kExclusive commands, so
  // that a multi-key command's last step is atomic). Their time counts toward `command`'s
  // statistics (INFO commandstats).
  void RunInSteps(Connection& conn, std::string_view command,
                  std::function<bool(Connection&)> step);
  // For connections without a worker (in-process tests): runs posted completions, waiting up
  // to timeout_ms for one if none is ready. Returns how many ran.
  size_t RunLocalCompletions(int timeout_ms);

  // The slower tier, or nullptr when no origin is configured.
  OriginService* origin() { return origin_.get(); }

  Cache& cache() { return *cache_; }
  // When a step of a RunInSteps command that starts now is to stop (ServerConfig::step_time_us).
  std::chrono::steady_clock::time_point StepDeadline() const {
    return std::chrono::steady_clock::now() + std::chrono::microseconds(config_.step_time_us);
  }
  ServerConfig& config() { return config_; }
  const CommandRegistry& commands() const { return commands_; }
  internal::RwSpinLock& world() { return world_; }
  // The keys clients WATCH (MULTI/EXEC's optimistic locking).
  WatchTable& watches() { return watches_; }
  PubSub& pubsub() { return pubsub_; }
  // client-output-buffer-limit's pubsub class, for any thread.
  OutputBufferLimit pubsub_output_limit() const {
    return {pubsub_hard_.load(std::memory_order_relaxed),
            pubsub_soft_.load(std::memory_order_relaxed),
            pubsub_soft_seconds_.load(std::memory_order_relaxed)};
  }
  // How to reach conn with a push from any thread (Worker::PostPush; in-process, the local
  // mailbox, which RunLocalCompletions runs).
  std::function<void(Completion)> Pusher(Connection& conn);
  // The engine's key space (db_key.h) that holds a client's database `db`: the same number
  // until SWAPDB exchanges two. Read by every command; changed only under the exclusive world
  // lock, while none runs (relaxed atomics for the prefetch, which runs outside the lock).
  uint8_t StoredDb(uint8_t db) const { return db_map_[db].load(std::memory_order_relaxed); }
  void SwapDbs(uint8_t a, uint8_t b) {
    const uint8_t stored_a = StoredDb(a);
    db_map_[a].store(StoredDb(b), std::memory_order_relaxed);
    db_map_[b].store(stored_a, std::memory_order_relaxed);
  }
  protocol::ParserLimits& parser_limits() { return parser_limits_; }
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }
  WorkerStats& stats_for(Worker* w) { return w != nullptr ? w->stats() : local_stats_; }
  const std::string& engine_policy() const { return engine_policy_; }
  bool evicting() const { return evict_; }
  int64_t start_ms() const { return start_ms_; }
  MetricSamples& metrics() { return *metrics_; }
  // 40 random hex digits, new at every start (INFO's run_id).
  const std::string& run_id() const { return run_id_; }
  int listening_port() const { return port_; }

  uint64_t NextClientId() { return next_client_id_.fetch_add(1, std::memory_order_relaxed); }
  void RegisterClient(Connection* c, Worker* w);
  void UnregisterClient(Connection* c);
  // Calls fn(conn, worker) for every client under the registry lock.
  template <typename Fn>
  void ForEachClient(Fn&& fn) {
    std::lock_guard<std::mutex> l(clients_mu_);
    for (auto& [id, info] : clients_) fn(info.conn, info.worker);
  }
  size_t client_count() {
    std::lock_guard<std::mutex> l(clients_mu_);
    return clients_.size();
  }
  // Whether a connection from this peer must be refused by protected mode.
  bool ProtectedModeRefuses(const std::string& peer_ip) const;
  // Applies settings whose change has effects beyond the table (logging, parser limits).
  void ApplyConfig();

  // CONFIG SET maxmemory: gives the cache its new budget. A lower one is reached by evicting
  // a slice at a time on worker 0, between its events (ReclaimStep), so that no client waits
  // for the whole eviction; in a server that does not evict, writes are refused until deletes
  // make room. REQUIRES: the world lock exclusively, and a budget the cache accepts.
  // bytes 0 is Redis's "no limit": the budget is then NoLimitBudget().
  Status SetMaxMemory(int64_t bytes);
  // What maxmemory 0 gives the cache: the machine's memory, or less if the cache cannot address
  // that much (its arena's bound, "Changing the budget" in design.md).
  uint64_t NoLimitBudget() const;
  // Evicts one slice (a few thousand items, about a millisecond) toward a lowered budget.
  // Returns whether to go on at once: more remains and this slice made progress. Without
  // progress (the rest is pinned) worker 0 retries once per cron tick. Takes the world lock
  // shared; called by worker 0 only.
  bool ReclaimStep();
  // CONFIG SET maxmemory-policy: noeviction and back. The engine's own policy is compiled in
  // and chosen at start: a name that resolves to another one is refused with the reason.
  // REQUIRES: the world lock exclusively.
  Status SetMaxMemoryPolicy(const std::string& name);
  // SLOWLOG: the newest entries first, at most `count` (SIZE_MAX: all); how many are kept;
  // forgetting them.
  // MONITOR: `conn` is sent a line for every command run from now on (Redis's format), until
  // it closes or RESETs. The lines are posted to its worker, as completions are.
  void AddMonitor(Connection& conn);
  // After a command ran (ExecuteLocked, and ExecuteQueued for EXEC's): sends it to the
  // monitors, if any, unless it is one MONITOR does not show.
  void MaybeFeedMonitors(Connection& conn, const CommandSpec& spec,
                         std::span<const std::string_view> args,
                         std::span<const size_t> sizes = {}) {
    if (monitor_count_.load(std::memory_order_relaxed) != 0 && Monitored(spec, args)) {
      FeedMonitors(conn, args, sizes);
    }
  }
  void RemoveMonitor(Connection& conn);
  std::vector<SlowlogEntry> SlowlogGet(size_t count);
  size_t SlowlogLen();
  void SlowlogReset();
  // LATENCY LATEST / HISTORY / RESET: copies of the event classes sampled so far, by name.
  std::map<std::string, LatencyEvent> LatencyEvents();
  // Forgets the named classes (all when `events` is empty); returns how many it forgot.
  size_t LatencyReset(std::span<const std::string_view> events);

  // CLIENT PAUSE: until `end_ms` (the cache's clock), clients' write commands (or, with `all`,
  // all their commands) are held back, each on its connection, and run once the pause is over.
  // A pause only ever grows: a later end, or from WRITE to ALL. Unpause ends it now.
  void Pause(int64_t end_ms, bool all);
  void Unpause();
  // When the pause ends (0: none).
  int64_t pause_end_ms() const { return pause_end_ms_.load(std::memory_order_acquire); }
  // WAIT: the connection waits until deadline_ms (0: until CLIENT UNBLOCK or it closes).
  // REQUIRES: on its worker's thread.
  void WaitForReplicas(Connection& conn, int64_t deadline_ms);
  // Ends the connection's wait if it still waits: true for the caller that ends it, who must
  // then answer it. Any thread.
  bool EndWait(Connection& conn);
  // How many connections wait (INFO's blocked_clients).
  uint64_t waiting_clients() const { return waiting_.load(std::memory_order_relaxed); }

  // Has worker 0 evict toward the budget (ReclaimStep). REQUIRES: the world lock exclusively.
  void StartReclaim();
  // Whether SetMaxMemoryPolicy would accept `name`, and whether it means evicting.
  Status CheckMaxMemoryPolicy(const std::string& name, bool* evict) const;
  bool reclaiming() const { return reclaiming_.load(std::memory_order_relaxed); }
  bool reclaim_eager() const { return reclaim_eager_.load(std::memory_order_relaxed); }

 private:
  Status InitOrigin();
  // What hands a completion to the connection's thread, callable from any thread.
  std::function<void(Completion)> Poster(Connection& conn);
  // Poster (push false) and Pusher (true).
  std::function<void(Completion)> Sender(Connection& conn, bool push);
  using Step = std::shared_ptr<std::function<bool(Connection&)>>;
  // Posts the next step of a RunInSteps command.
  void PostStep(Connection& conn, const CommandSpec* spec, Step step);
  // Read-through: defers the command until its missing keys are loaded. True if it did.
  bool LoadKeysFirst(Connection& conn, const CommandSpec& spec,
                     std::span<const std::string_view> args);
  void ExecuteLocked(Connection& conn, const CommandSpec& spec,
                     std::span<const std::string_view> args);
  // Whether CLIENT PAUSE holds this command back.
  bool PauseHolds(const Connection& conn, const CommandSpec& spec);

  ServerConfig config_;
  std::unique_ptr<Cache> cache_;
  std::string engine_policy_;
  bool evict_ = true;
  CommandRegistry commands_;
  internal::RwSpinLock world_;
  WatchTable watches_;  // before workers_: their connections unwatch when destroyed
  PubSub pubsub_;       // the same
  std::array<std::atomic<uint8_t>, 256> db_map_;  // StoredDb; the identity until a SWAPDB
  protocol::ParserLimits parser_limits_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<int> listen_fds_;
  WorkerStats local_stats_;  // for in-process connections without a worker
  std::atomic<bool> shutdown_{false};
  // Logs the command if it took at least the slowlog threshold.
  // `sizes`, when not empty, are the arguments' real sizes: an argument received into memory of
  // its own is passed as a copy of its first kLoggedArgBytes (ExecuteLocked).
  void MaybeLogSlow(Connection& conn, const CommandSpec& spec,
                    std::span<const std::string_view> args, std::span<const size_t> sizes,
                    uint64_t ticks);
  // Whether MONITOR shows the command: not admin commands, as Redis.
  static bool Monitored(const CommandSpec& spec, std::span<const std::string_view> args);
  // Sends the command to every MONITOR connection.
  void FeedMonitors(Connection& conn, std::span<const std::string_view> args,
                    std::span<const size_t> sizes = {});
  // A monitor's lines not yet handed to its worker: one completion carries all that piled up
  // while the previous one waited, rather than one completion (a lock and a wakeup) per line.
  struct MonitorOutbox {
    std::mutex mu;
    std::string pending;
  };
  struct Monitor {
    uint64_t id;
    std::function<void(Completion)> post;
    std::shared_ptr<MonitorOutbox> box;
  };
  std::mutex monitors_mu_;
  std::vector<Monitor> monitors_;
  std::atomic<size_t> monitor_count_{0};
  std::atomic<uint64_t> slowlog_ticks_{UINT64_MAX};
  std::atomic<uint64_t> latency_ticks_{UINT64_MAX};  // latency-monitor-threshold; MAX: off
  std::atomic<bool> latency_tracking_{true};
  std::atomic<int64_t> pubsub_hard_{0}, pubsub_soft_{0}, pubsub_soft_seconds_{0};
  void AddLatencySample(const char* event, uint64_t ticks);
  std::mutex latency_mu_;
  std::map<std::string, LatencyEvent, std::less<>> latency_;  // the threshold in ticks; MAX: off
  std::mutex slowlog_mu_;
  std::deque<SlowlogEntry> slowlog_;  // newest at the front
  uint64_t slowlog_next_id_ = 0;
  std::atomic<bool> reclaiming_{false};  // a lowered maxmemory is still being evicted down to
  std::atomic<bool> reclaim_eager_{false};  // ... and the last slice made progress
  uint64_t reclaim_left_ = 0;               // what the last slice left (worker 0's)
  int shutdown_pipe_[2] = {-1, -1};
  std::atomic<uint64_t> next_client_id_{1};
  std::atomic<int64_t> pause_end_ms_{0};
  std::atomic<bool> pause_all_{false};
  std::mutex pause_mu_;  // orders Pause and Unpause
  std::atomic<uint64_t> waiting_{0};
  std::atomic<uint64_t> next_wait_token_{1};
  std::mutex clients_mu_;
  std::unordered_map<uint64_t, ClientInfo> clients_;
  std::unique_ptr<OriginService> origin_;
  std::mutex local_mu_;
  std::condition_variable local_cv_;
  std::vector<std::pair<Connection*, Completion>> local_mailbox_;
  std::vector<std::pair<Connection*, Completion>> local_pushes_;
  int64_t start_ms_ = 0;
  int port_ = 0;
  std::unique_ptr<MetricSamples> metrics_ = std::make_unique<MetricSamples>();
  std::string run_id_;
  friend class Worker;
};

// INFO's rates and peaks, as Redis keeps them: worker 0 takes a sample every cron tick (100 ms
// at hz 10) and a rate is the mean over the last 16 samples (server_family.cc).
struct MetricSamples {
  static constexpr int kSamples = 16;
  struct Rate {
    int64_t last_ms = 0;
    uint64_t last_value = 0;
    double per_sec[kSamples] = {};
    int next = 0;
    void Add(int64_t now_ms, uint64_t value);
    double Mean() const;
  };
  std::mutex mu;
  Rate ops, input_bytes, output_bytes;
  uint64_t peak_used_memory = 0;
  // used_memory above maxmemory (a lowered maxmemory being evicted down to, or pinned bytes):
  // since when (0: not now), and for how long before, in ms. Sampled by the cron.
  int64_t over_since_ms = 0;
  int64_t over_total_ms = 0;
};
// Takes one sample (worker 0's cron) and raises the peak.
void SampleMetrics(Server& server, int64_t now_ms);

// The slower tier's side of dispatch (origin_commands.cc). Write-through: turns a data write
// into an origin batch and defers its reply; true if it handled the command (or refused it).
bool WriteThroughCommand(Server& server, Connection& conn, const CommandSpec& spec,
                         std::span<const std::string_view> args);

// Called by EXEC to run queued commands while the world lock is already exclusive.
void ExecuteQueued(Server& server, Connection& conn, std::span<const std::string_view> args);

}  // namespace kvcache::server
