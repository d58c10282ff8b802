// A Zipf read load against a Redis-protocol server (kvcache-server or redis-server), for the
// slower-tier and tensor benchmarks: `kvcache-bench redis ...`.
#pragma once

#include <cstdint>
#include <string>

namespace kvcache::bench {

struct RedisLoadArgs {
  std::string host = "127.0.0.1";
  int port = 6379;
  std::string key_prefix = "key:";  // keys are prefix + rank's key id (decimal)
  uint64_t keys = 60000;
  double zipf = 0.99;
  double seconds = 5;
  int connections = 4;
  int pipeline = 16;
  std::string command = "GET";  // or "DIRECT:<origin spec>": read the origin in-process
};

// Prints one line ending in ops_per_sec=<number>. Returns a process exit code.
int RunRedisLoad(const RedisLoadArgs& args);

}  // namespace kvcache::bench
