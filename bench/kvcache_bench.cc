// kvcache-bench: workload generators for the engine's speed and memory.
//
//   kvcache-bench engine --impl NAME --threads T --keys N --zipf S --read-ratio R --seconds D
//                        [--capacity-ratio C] [--value-bytes V]
//   kvcache-bench memory --items N --key-bytes K --value-bytes V [--impl NAME]
//
// engine fills the cache (every key once, in scrambled order), then runs the mix on T threads
// for D seconds: a read that misses inserts the key, as a cache's user would. It prints one
// line ending in ops_per_sec=<number>. memory builds a cache with room for N items, writes
// 2*N distinct items (so that it is full and has evicted, as caches are in their steady
// state) and prints one line ending in overhead_bytes_per_item=<number>:
// (RSS growth - M*(K+V)) / M, where M is the number of items it holds (about N).
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine_impls.h"
#include "redis_load.h"
#include "workload.h"

namespace {

using kvcache::bench::BenchCache;

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

uint64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

struct EngineArgs {
  std::string impl = "kvcache:default";
  unsigned threads = 1;
  uint64_t keys = 1000000;
  double zipf = 0.99;
  double read_ratio = 0.9;
  double seconds = 5;
  double capacity_ratio = 0.5;
  size_t value_bytes = 64;
};

int RunEngine(const EngineArgs& a) {
  std::string error;
  const uint64_t capacity = std::max<uint64_t>(1, uint64_t(a.capacity_ratio * double(a.keys)));
  std::unique_ptr<BenchCache> cache =
      kvcache::bench::MakeBenchCache(a.impl, capacity, 16, a.value_bytes, &error);
  if (!cache) {
    std::fprintf(stderr, "kvcache-bench: %s\n", error.c_str());
    return 2;
  }
  if (!cache->thread_safe() && a.threads != 1) {
    std::fprintf(stderr, "kvcache-bench: %s is single-threaded; use --threads 1\n", a.impl.c_str());
    return 2;
  }
  std::vector<std::string> keys(a.keys);
  for (uint64_t i = 0; i < a.keys; ++i) keys[i] = kvcache::bench::KeyName(i);
  const std::string value(a.value_bytes, 'v');
  const std::vector<uint32_t> by_rank = kvcache::bench::Permutation(a.keys);
  // Key ids are in random order of popularity, so filling by id warms nothing in particular.
  for (uint64_t i = 0; i < a.keys; ++i) cache->Write(keys[i], value);

  // Each thread cycles through its own pre-drawn requests, so that drawing them costs nothing
  // in the timed loop. Bit 31 marks a write.
  constexpr size_t kStream = 1 << 22;
  kvcache::bench::ZipfGenerator zipf(a.keys, a.zipf);
  std::vector<std::vector<uint32_t>> streams(a.threads);
  for (unsigned t = 0; t < a.threads; ++t) {
    std::mt19937_64 rng(0x5eed + t);
    std::uniform_real_distribution<double> coin(0, 1);
    streams[t].resize(kStream);
    for (auto& r : streams[t]) {
      uint32_t id = by_rank[zipf.Next(rng)];
      r = id | (coin(rng) < a.read_ratio ? 0u : 1u << 31);
    }
  }

  std::atomic<bool> go{false}, stop{false};
  std::vector<uint64_t> ops(a.threads), hits(a.threads), reads(a.threads);
  std::vector<double> cpu(a.threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < a.threads; ++t) {
    workers.emplace_back([&, t] {
      const std::vector<uint32_t>& s = streams[t];
      uint64_t n = 0, h = 0, r = 0;
      while (!go.load(std::memory_order_acquire)) {
      }
      const double cpu_start = ThreadCpuSeconds();
      size_t i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int batch = 0; batch < 256; ++batch) {
          uint32_t req = s[i];
          i = (i + 1) & (kStream - 1);
          const std::string& key = keys[req & 0x7FFFFFFF];
          if (req >> 31) {
            cache->Write(key, value);
          } else {
            ++r;
            if (cache->Read(key) != 0) {
              ++h;
            } else {
              cache->Write(key, value);
            }
          }
        }
        n += 256;
      }
      ops[t] = n;
      hits[t] = h;
      reads[t] = r;
      cpu[t] = ThreadCpuSeconds() - cpu_start;
    });
  }
  auto start = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop.store(true);
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t total = 0, total_hits = 0, total_reads = 0;
  double total_cpu = 0;
  for (unsigned t = 0; t < a.threads; ++t) {
    total_cpu += cpu[t];
    total += ops[t];
    total_hits += hits[t];
    total_reads += reads[t];
  }
  std::printf(
      "engine impl=%s threads=%u keys=%llu zipf=%g read_ratio=%g capacity_ratio=%g "
      "value_bytes=%zu seconds=%.2f items=%llu hit_ratio=%.4f ops=%llu ops_per_cpu_sec=%.0f "
      "ops_per_sec=%.0f\n",
      a.impl.c_str(), a.threads, static_cast<unsigned long long>(a.keys), a.zipf, a.read_ratio,
      a.capacity_ratio, a.value_bytes, elapsed, static_cast<unsigned long long>(cache->items()),
      total_reads ? double(total_hits) / double(total_reads) : 0.0,
      static_cast<unsigned long long>(total), double(total) / total_cpu, double(total) / elapsed);
  return 0;
}

struct MemoryArgs {
  std::string impl = "kvcache:default";
  uint64_t items = 1000000;
  size_t key_bytes = 16;
  size_t value_bytes = 64;
};

int RunMemory(const MemoryArgs& a) {
  if (a.key_bytes < 8) {
    std::fprintf(stderr, "kvcache-bench: --key-bytes must be at least 8\n");
    return 2;
  }
  std::string error;
  std::unique_ptr<BenchCache> cache =
      kvcache::bench::MakeBenchCache(a.impl, a.items, a.key_bytes, a.value_bytes, &error);
  if (!cache) {
    std::fprintf(stderr, "kvcache-bench: %s\n", error.c_str());
    return 2;
  }
  // Measured from the empty cache on, so that what sizing it cost (a probe cache) is left out.
  const uint64_t rss_before = RssBytes();
  // Write twice as many distinct items as fit, so that the cache is in its steady state: full,
  // and holding whatever its policy keeps about evicted keys.
  std::string key(a.key_bytes, '0');
  const std::string value(a.value_bytes, 'v');
  for (uint64_t i = 0; i < 2 * a.items; ++i) {
    uint64_t v = i;
    for (size_t p = a.key_bytes; p-- > 0 && v != 0; v /= 10) key[p] = char('0' + v % 10);
    cache->Write(key, value);
  }
  const uint64_t rss_after = RssBytes();
  const uint64_t held = cache->items();
  const double growth = double(rss_after - rss_before);
  const double payload = double(held) * double(a.key_bytes + a.value_bytes);
  std::printf(
      "memory impl=%s items=%llu key_bytes=%zu value_bytes=%zu rss_growth_bytes=%.0f "
      "accounted_bytes=%llu bytes_per_item=%.1f overhead_bytes_per_item=%.1f\n",
      a.impl.c_str(), static_cast<unsigned long long>(held), a.key_bytes, a.value_bytes, growth,
      static_cast<unsigned long long>(cache->accounted_bytes()), growth / double(held),
      (growth - payload) / double(held));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kvcache benchmarks: engine throughput and memory overhead."};
  app.require_subcommand(1);

  EngineArgs e;
  CLI::App* engine = app.add_subcommand("engine", "throughput of a Zipf read/write mix");
  engine->add_option("--impl", e.impl, "kvcache:<policy> | mutex-lru | absl-map");
  engine->add_option("--threads", e.threads)->check(CLI::Range(1u, 1024u));
  engine->add_option("--keys", e.keys)->check(CLI::Range(uint64_t{1}, uint64_t{1} << 31));
  engine->add_option("--zipf", e.zipf, "Zipf exponent (0: uniform)")
      ->check(CLI::Range(0.0, 0.9999));
  engine->add_option("--read-ratio", e.read_ratio)->check(CLI::Range(0.0, 1.0));
  engine->add_option("--seconds", e.seconds)->check(CLI::Range(0.01, 3600.0));
  engine->add_option("--capacity-ratio", e.capacity_ratio, "room for this fraction of the keys")
      ->check(CLI::Range(0.0001, 1.0));
  engine->add_option("--value-bytes", e.value_bytes)->check(CLI::Range(size_t{1}, size_t{1} << 24));

  MemoryArgs m;
  CLI::App* memory = app.add_subcommand("memory", "bytes per item beyond key and value");
  memory->add_option("--impl", m.impl, "kvcache:<policy> | mutex-lru | absl-map");
  memory->add_option("--items", m.items)->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  memory->add_option("--key-bytes", m.key_bytes)->check(CLI::Range(size_t{8}, size_t{65535}));
  memory->add_option("--value-bytes", m.value_bytes)->check(CLI::Range(size_t{0}, size_t{1} << 24));

  kvcache::bench::RedisLoadArgs rl;
  CLI::App* redis = app.add_subcommand("redis", "Zipf GETs against a Redis-protocol server");
  redis->add_option("--host", rl.host);
  redis->add_option("--port", rl.port)->check(CLI::Range(1, 65535));
  redis->add_option("--key-prefix", rl.key_prefix, "keys are PREFIX<id>");
  redis->add_option("--keys", rl.keys)->check(CLI::Range(uint64_t{1}, uint64_t{1} << 31));
  redis->add_option("--zipf", rl.zipf)->check(CLI::Range(0.0, 0.9999));
  redis->add_option("--seconds", rl.seconds)->check(CLI::Range(0.01, 3600.0));
  redis->add_option("--connections", rl.connections)->check(CLI::Range(1, 256));
  redis->add_option("--pipeline", rl.pipeline)->check(CLI::Range(1, 10000));
  redis->add_option("--command", rl.command,
                    "GET, or DIRECT:<origin spec> to read the origin in-process instead");

  CLI11_PARSE(app, argc, argv);
  if (*engine) return RunEngine(e);
  if (*redis) return kvcache::bench::RunRedisLoad(rl);
  return RunMemory(m);
}
