// kvcache-bench redis: pipelined GETs of Zipf-chosen keys over several connections (hiredis),
// or the same stream read straight from an origin in-process (no cache, no network).
#include "redis_load.h"

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kvcache/origin.h"
#include "workload.h"

namespace kvcache::bench {
namespace {

constexpr size_t kStream = 1 << 20;

std::vector<std::vector<uint32_t>> DrawStreams(const RedisLoadArgs& a) {
  ZipfGenerator zipf(a.keys, a.zipf);
  const std::vector<uint32_t> by_rank = Permutation(a.keys);
  std::vector<std::vector<uint32_t>> streams(a.connections);
  for (int c = 0; c < a.connections; ++c) {
    std::mt19937_64 rng(0x10ad + c);
    streams[c].resize(kStream);
    for (auto& id : streams[c]) id = by_rank[zipf.Next(rng)];
  }
  return streams;
}

}  // namespace

int RunRedisLoad(const RedisLoadArgs& a) {
  const auto streams = DrawStreams(a);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> ops{0}, nils{0}, errors{0};
  std::vector<std::thread> threads;
  std::unique_ptr<Origin> origin;
  const bool direct = a.command.rfind("DIRECT:", 0) == 0;
  if (direct) {
    Status st = OpenOrigin(a.command.substr(7), 5000, &origin);
    if (!st.ok()) {
      std::fprintf(stderr, "kvcache-bench: %s\n", st.ToString().c_str());
      return 2;
    }
  }
  const auto start = std::chrono::steady_clock::now();
  for (int c = 0; c < a.connections; ++c) {
    threads.emplace_back([&, c] {
      const std::vector<uint32_t>& s = streams[c];
      size_t i = 0;
      std::vector<std::string> keys(a.pipeline);
      if (direct) {
        std::vector<std::string_view> views(a.pipeline);
        std::vector<OriginValue> values;
        while (!stop.load(std::memory_order_relaxed)) {
          for (int p = 0; p < a.pipeline; ++p) {
            keys[p] = a.key_prefix + std::to_string(s[i++ & (kStream - 1)]);
            views[p] = keys[p];
          }
          origin->MultiGet(views, &values);
          for (const OriginValue& v : values) {
            if (v.status.IsNotFound()) nils.fetch_add(1, std::memory_order_relaxed);
            else if (!v.status.ok()) errors.fetch_add(1, std::memory_order_relaxed);
          }
          ops.fetch_add(a.pipeline, std::memory_order_relaxed);
        }
        return;
      }
      redisContext* ctx = redisConnect(a.host.c_str(), a.port);
      if (ctx == nullptr || ctx->err) {
        std::fprintf(stderr, "kvcache-bench: cannot connect to %s:%d\n", a.host.c_str(), a.port);
        errors.fetch_add(1);
        return;
      }
      while (!stop.load(std::memory_order_relaxed)) {
        for (int p = 0; p < a.pipeline; ++p) {
          keys[p] = a.key_prefix + std::to_string(s[i++ & (kStream - 1)]);
          const char* argv[2] = {a.command.c_str(), keys[p].c_str()};
          size_t lens[2] = {a.command.size(), keys[p].size()};
          redisAppendCommandArgv(ctx, 2, argv, lens);
        }
        for (int p = 0; p < a.pipeline; ++p) {
          void* reply = nullptr;
          if (redisGetReply(ctx, &reply) != REDIS_OK) {
            errors.fetch_add(1);
            stop = true;
            break;
          }
          auto* r = static_cast<redisReply*>(reply);
          if (r->type == REDIS_REPLY_NIL) nils.fetch_add(1, std::memory_order_relaxed);
          if (r->type == REDIS_REPLY_ERROR) errors.fetch_add(1, std::memory_order_relaxed);
          freeReplyObject(r);
        }
        ops.fetch_add(a.pipeline, std::memory_order_relaxed);
      }
      redisFree(ctx);
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("redis target=%s keys=%llu zipf=%g connections=%d pipeline=%d seconds=%.2f "
              "requests=%llu nil=%llu errors=%llu ops_per_sec=%.0f\n",
              direct ? a.command.c_str() : (a.host + ":" + std::to_string(a.port)).c_str(),
              static_cast<unsigned long long>(a.keys), a.zipf, a.connections, a.pipeline, elapsed,
              static_cast<unsigned long long>(ops.load()),
              static_cast<unsigned long long>(nils.load()),
              static_cast<unsigned long long>(errors.load()), double(ops.load()) / elapsed);
  return errors.load() == 0 ? 0 : 1;
}

}  // namespace kvcache::bench
