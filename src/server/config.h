// The server's settings: one table (name, kind, default, bounds, whether CONFIG SET may change
// it) that serves the command line, the config file and CONFIG GET/SET alike, with Redis's
// names and value formats ("1gb", "yes").
//
// Not synchronized: settings are read by every worker and written by CONFIG SET while holding
// the server's exclusive world lock (see Server), so a read under the shared one is safe.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvcache/status.h"

namespace kvcache::server {

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
  // Persistence is not a cache's job; these answer what clients ask (redis-benchmark reads them).
  std::string save;
  std::string appendonly = "no";
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

const std::vector<ConfigEntry>& ConfigTable();
const ConfigEntry* FindConfig(std::string_view name);  // case-insensitive

// Reads "name value" lines ('#' comments, quoted values as in Redis). Errors name the line.
Status LoadConfigFile(const std::string& path, ServerConfig* config);

// Redis's memory units: 100, 1k (1000), 1kb (1024), 5m, 5mb, 1g, 1gb.
bool ParseMemory(std::string_view text, int64_t* bytes);

// The engine policy a maxmemory-policy value stands for ("allkeys-lru" -> "lru"); "noeviction"
// gives the default policy with eviction off. False for names that are not supported.
bool ResolvePolicy(std::string_view value, std::string* engine_policy, bool* evict);

}  // namespace kvcache::server
