// kvcache-sim: replays cache traces through the real engine (the same policy code as the
// library, in an item-bounded cache with one shard) and prints miss ratios as CSV.
//
//   kvcache-sim --trace FILE [--format txt|oracleGeneral] --policy lru,s3fifo,...
//               --size 0.01,0.05,300,... [--plot out.png] [--jobs N]
//
// A size below 1 is a fraction of the trace's distinct objects (rounded down); 1 and above is a
// number of objects. "default" in --policy names the library's default policy.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "kvcache/cache.h"
#include "trace.h"

namespace {

using kvcache::Status;

struct Job {
  size_t trace;
  std::string policy;
  uint64_t size;
  uint64_t misses = 0;
  std::string error;
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
  return out;
}

void RunJob(const std::vector<uint64_t>& ids, Job* job) {
  kvcache::Options o;
  o.policy = job->policy;
  o.capacity_items = job->size;
  o.shards = 1;
  Status st;
  auto cache = kvcache::NewCache(o, &st);
  if (!cache) {
    job->error = st.ToString();
    return;
  }
  uint64_t misses = 0;
  char key[8];
  for (uint64_t id : ids) {
    std::memcpy(key, &id, sizeof(id));
    std::string_view k(key, sizeof(key));
    if (!cache->Get(k)) {
      ++misses;
      st = cache->Put(k, {});
      if (!st.ok()) {
        job->error = st.ToString();
        return;
      }
    }
  }
  job->misses = misses;
}

std::string SelfDir() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, static_cast<size_t>(n));
  return p.substr(0, p.find_last_of('/'));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Replays cache traces through kvcache's eviction policies and prints miss ratios."};
  std::vector<std::string> traces;
  std::string format_name = "auto", policies_arg, sizes_arg, plot;
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--trace", traces, "trace file(s); repeat or separate with commas")
      ->required()
      ->delimiter(',');
  app.add_option("--format", format_name, "txt, oracleGeneral or auto (by file name)");
  app.add_option("--policy", policies_arg, "comma-separated policy names; 'default' too")
      ->required();
  app.add_option("--size", sizes_arg,
                 "comma-separated cache sizes: <1 a fraction of distinct objects, >=1 a count")
      ->required();
  app.add_option("--plot", plot, "also draw miss ratio against cache size into this PNG");
  app.add_option("--jobs", jobs, "simulations run in parallel")->check(CLI::Range(1u, 256u));
  CLI11_PARSE(app, argc, argv);

  kvcache::tools::TraceFormat format;
  Status st = kvcache::tools::ParseTraceFormat(format_name, &format);
  if (!st.ok()) {
    std::fprintf(stderr, "kvcache-sim: %s\n", st.message().c_str());
    return 2;
  }
  std::vector<std::string> policies = SplitList(policies_arg);
  std::vector<double> sizes;
  for (const std::string& s : SplitList(sizes_arg)) {
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (end == s.c_str() || *end != '\0' || !(v > 0) || !std::isfinite(v)) {
      std::fprintf(stderr, "kvcache-sim: bad --size '%s' (a positive number)\n", s.c_str());
      return 2;
    }
    sizes.push_back(v);
  }
  if (policies.empty() || sizes.empty()) {
    std::fprintf(stderr, "kvcache-sim: --policy and --size need at least one value\n");
    return 2;
  }
  for (const std::string& p : policies) {
    kvcache::Options o;
    o.policy = p;
    o.capacity_items = 1;
    o.shards = 1;
    if (!kvcache::NewCache(o, &st)) {
      std::fprintf(stderr, "kvcache-sim: %s\n", st.message().c_str());
      return 2;
    }
  }

  std::vector<std::vector<uint64_t>> ids(traces.size());
  std::vector<Job> work;
  for (size_t t = 0; t < traces.size(); ++t) {
    st = kvcache::tools::LoadTrace(traces[t], format, &ids[t]);
    if (!st.ok()) {
      std::fprintf(stderr, "kvcache-sim: %s\n", st.message().c_str());
      return 1;
    }
    size_t distinct = kvcache::tools::CountDistinct(ids[t]);
    for (const std::string& p : policies) {
      for (double s : sizes) {
        uint64_t n = s < 1 ? static_cast<uint64_t>(std::floor(s * static_cast<double>(distinct)))
                           : static_cast<uint64_t>(s);
        if (n == 0) {
          std::fprintf(stderr, "kvcache-sim: size %g of %zu objects rounds to 0, skipped\n", s,
                       distinct);
          continue;
        }
        work.push_back(Job{t, p, n, 0, {}});
      }
    }
  }

  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < std::min<size_t>(jobs, work.size()); ++i) {
    pool.emplace_back([&] {
      for (size_t j; (j = next.fetch_add(1)) < work.size();) RunJob(ids[work[j].trace], &work[j]);
    });
  }
  for (auto& th : pool) th.join();

  std::string csv = "trace,policy,cache_size_objects,requests,miss_ratio\n";
  int failed = 0;
  for (const Job& j : work) {
    if (!j.error.empty()) {
      std::fprintf(stderr, "kvcache-sim: %s %s %lu: %s\n", traces[j.trace].c_str(),
                   j.policy.c_str(), static_cast<unsigned long>(j.size), j.error.c_str());
      ++failed;
      continue;
    }
    char row[512];
    std::snprintf(row, sizeof(row), "%s,%s,%lu,%zu,%.6f\n",
                  kvcache::tools::TraceName(traces[j.trace]).c_str(), j.policy.c_str(),
                  static_cast<unsigned long>(j.size), ids[j.trace].size(),
                  static_cast<double>(j.misses) / static_cast<double>(ids[j.trace].size()));
    csv += row;
  }
  std::fputs(csv.c_str(), stdout);
  std::fflush(stdout);

  if (!plot.empty()) {
    std::string tmp = plot + ".csv";
    FILE* f = std::fopen(tmp.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "kvcache-sim: cannot write %s\n", tmp.c_str());
      return 1;
    }
    std::fputs(csv.c_str(), f);
    std::fclose(f);
    std::string cmd =
        "/usr/bin/python3 '" + SelfDir() + "/kvcache-plot.py' '" + tmp + "' '" + plot + "'";
    int rc = std::system(cmd.c_str());
    std::remove(tmp.c_str());
    if (rc != 0) {
      std::fprintf(stderr, "kvcache-sim: plotting failed (python3-matplotlib installed?)\n");
      return 1;
    }
  }
  return failed == 0 ? 0 : 1;
}
