// The server's settings: one table (name, kind, default, bounds, whether CONFIG SET may change
// it) that serves the command line, the config file and CONFIG GET/SET alike, with Redis's
// names and value formats ("1gb", "yes").
//
// Not synchronized: settings are read by every worker and written by CONFIG SET while holding
// the server's exclusive world lock (see Server), so a read under the shared one is safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/status.h"

namespace kvcache::server {

// client-output-buffer-limit, per class of client: a hard limit, a soft one, and for how many
// seconds the soft one may be passed (bytes, bytes, seconds; 0 is no limit).
struct OutputBufferLimit {
  int64_t hard = 0;
  int64_t soft = 0;
  int64_t seconds = 0;
};
enum OutputBufferClass { kObufNormal = 0, kObufReplica = 1, kObufPubSub = 2 };

struct ServerConfig {
  std::string bind = "127.0.0.1";
  int64_t port = 6379;
  int64_t maxmemory = int64_t{1} << 30;
  std::string maxmemory_policy = "default";
  std::string requirepass;
  int64_t threads = 0;  // 0: one worker per hardware thread
  int64_t shards = 0;   // engine shards; 0: from the capacity
  int64_t maxclients = 10000;
  int64_t proto_max_bulk_len = int64_t{512} << 20;
  int64_t client_query_buffer_limit = int64_t{1} << 30;
  // Redis's defaults. Only the pubsub class is enforced: a normal client's output is bounded by
  // reading no more of its requests while much is unsent, and there are no replicas.
  OutputBufferLimit obuf_limits[3] = {{0, 0, 0},
                                      {int64_t{256} << 20, int64_t{64} << 20, 60},
                                      {int64_t{32} << 20, int64_t{8} << 20, 60}};
  bool protected_mode = true;
  int64_t timeout = 0;  // idle client timeout in seconds; 0: never
  int64_t databases = 16;
  std::string loglevel = "notice";
  std::string logfile;
  int64_t hz = 10;
  int64_t tcp_keepalive = 300;
  int64_t tcp_backlog = 511;
  // The slower tier (origin_service.h): origins (space-separated specs), write policy,
  // timeouts, background threads, write-back bounds, files to preload at startup.
  std::string origin;
  std::string write_policy = "none";
  int64_t origin_timeout_ms = 1000;
  int64_t origin_negative_ttl_ms = 0;
  int64_t origin_threads = 8;
  int64_t write_back_delay_ms = 1000;
  int64_t write_back_max_dirty = 100000;
  int64_t write_through_max_batch = 4096;  // requests per durable sync (1: one sync per write)
  std::string preload;
  // SLOWLOG: commands that ran at least this many microseconds are logged (negative: none,
  // 0: all), the newest slowlog_max_len of them kept.
  int64_t slowlog_log_slower_than = 10000;
  int64_t slowlog_max_len = 128;
  // LATENCY: commands that took at least this many milliseconds are sampled (0: off).
  int64_t latency_monitor_threshold = 0;
  // How long one step of a command run in steps (Server::RunInSteps) works, in microseconds,
  // before its event loop serves the other clients. Not a setting: tests set 0, one unit of
  // work a step, so that what they check does not depend on the machine's speed.
  int64_t step_time_us = 1000;
  // Per-command latency histograms (LATENCY HISTOGRAM, INFO latencystats) and the percentiles
  // INFO reports, as Redis 7.0's settings of the same names.
  bool latency_tracking = true;
  std::string latency_tracking_info_percentiles = "50 99 99.9";
  // Persistence is not a cache's job; these answer what clients ask (redis-benchmark reads them).
  std::string save;
  std::string appendonly = "no";
  // Process settings of a Redis config file: run in the background, write the PID to a file,
  // work in a directory (main.cc).
  bool daemonize = false;
  std::string pidfile;
  std::string dir;
  // Keyspace notifications are not sent: only "" (none), Redis's default, is accepted.
  std::string notify_keyspace_events;
  // Redis settings that mean nothing here (persistence, replication, encodings, process title),
  // kept as given so that a Redis config file loads and CONFIG GET answers (IgnoredSettings).
  std::map<std::string, std::string, std::less<>> ignored;
  // Not a setting: the absolute path of the file given with --config, for CONFIG REWRITE.
  std::string config_file;
};

// One setting: how to read it as text and set it from text.
struct ConfigEntry {
  const char* name;
  bool mutable_at_runtime;
  std::function<std::string(const ServerConfig&)> get;
  // Parses and stores the value; an error message (Redis's wording) on bad input.
  std::function<Status(ServerConfig*, std::string_view)> set;
  // Given several times (on the command line or in a file), the values add up, space-separated.
  bool list = false;
};

// The words of a setting that lists several (bind, origin, preload, percentiles).
std::vector<std::string> SplitSpaces(const std::string& s);

const std::vector<ConfigEntry>& ConfigTable();
const ConfigEntry* FindConfig(std::string_view name);  // case-insensitive

// Reads "name value" lines ('#' comments, quoted values as in Redis). Errors name the line.
Status LoadConfigFile(const std::string& path, ServerConfig* config);

// CONFIG REWRITE, as Redis does it: the file's comments, blank lines and line order stay; the
// first line of each setting gets its current value and later ones go; settings not in the
// file that differ from their defaults are appended under "# Generated by CONFIG REWRITE"
// (at the end, below that line if an earlier rewrite left it).
// Written to a temporary file, synced, then renamed over `path` (created if missing).
Status RewriteConfigFile(const std::string& path, const ServerConfig& config);

// Redis's memory units: 100, 1k (1000), 1kb (1024), 5m, 5mb, 1g, 1gb.
bool ParseMemory(std::string_view text, int64_t* bytes);

// The engine policy a maxmemory-policy value stands for ("allkeys-lru" -> "lru"); "noeviction"
// gives the default policy with eviction off. False for names that are not supported.
bool ResolvePolicy(std::string_view value, std::string* engine_policy, bool* evict);

}  // namespace kvcache::server
