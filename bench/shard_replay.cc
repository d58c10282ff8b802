// shard-replay: a trace of integer ids (one per line, ../shared/traces/*.txt) replayed into a
// byte-bounded cache with several shards, as a server holds it: what a policy does when its
// shards share one budget (kvcache-sim runs one shard, bounded by items). A miss stores the key
// (16 digits) with a value of --value-bytes; the budget is --item-bytes per item of the cache's
// size, a fraction of the trace's distinct ids. With --large-every N, one id in N (by a hash of
// the id) has a value of --large-bytes instead, and the budget per item grows by
// large-bytes / N: a few shards then hold far more than their share and the others less.
//
//   shard-replay TRACE POLICY [--shards N (0: the default count)] [--value-bytes 64]
//                [--item-bytes 140] [--sizes 0.01,0.05,0.1,0.2]
//                [--large-every N --large-bytes B]
// Prints one line per size: policy, size, miss ratio.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "kvcache/cache.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: shard-replay TRACE POLICY [--shards N] [--value-bytes B] "
                         "[--item-bytes B] [--sizes F,F,...]\n");
    return 2;
  }
  uint32_t shards = 4;
  size_t value_bytes = 64, item_bytes = 140, large_every = 0, large_bytes = 0;
  std::vector<double> sizes = {0.01, 0.05, 0.1, 0.2};
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--shards") {
      shards = static_cast<uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    } else if (flag == "--value-bytes") {
      value_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--large-every") {
      large_every = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--large-bytes") {
      large_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--item-bytes") {
      item_bytes = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--sizes") {
      sizes.clear();
      for (char* p = argv[i + 1]; *p != '\0';) {
        sizes.push_back(std::strtod(p, &p));
        if (*p == ',') ++p;
      }
    } else {
      std::fprintf(stderr, "shard-replay: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::ifstream in(argv[1]);
  std::vector<uint64_t> ids;
  for (uint64_t x; in >> x;) ids.push_back(x);
  if (ids.empty()) {
    std::fprintf(stderr, "shard-replay: no ids in %s\n", argv[1]);
    return 2;
  }
  std::vector<uint64_t> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  const size_t distinct = std::unique(sorted.begin(), sorted.end()) - sorted.begin();
  const std::string value(value_bytes, 'v'), large(large_bytes, 'L');
  const double per_item = static_cast<double>(item_bytes) +
                          (large_every != 0 ? static_cast<double>(large_bytes) / large_every : 0);
  for (double size : sizes) {
    kvcache::Options o;
    o.policy = argv[2];
    o.capacity_bytes = static_cast<size_t>(static_cast<double>(distinct) * size * per_item);
    o.shards = shards;
    kvcache::Status st;
    auto cache = kvcache::NewCache(o, &st);
    if (!cache) {
      std::fprintf(stderr, "shard-replay: %s\n", st.ToString().c_str());
      return 2;
    }
    uint64_t misses = 0;
    char key[32];
    for (uint64_t id : ids) {
      std::snprintf(key, sizeof key, "%016llu", static_cast<unsigned long long>(id));
      if (!cache->Get(key)) {
        ++misses;
        const bool is_large =
            large_every != 0 && ((id * 0x9E3779B97F4A7C15ull) >> 40) % large_every == 0;
        cache->Put(key, is_large ? large : value);
      }
    }
    std::printf("%s %.2f %.4f\n", argv[2], size,
                static_cast<double>(misses) / static_cast<double>(ids.size()));
  }
  return 0;
}
