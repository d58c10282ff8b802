// Workload generation for kvcache-bench: Zipf-distributed key ranks (Gray et al.'s method, as
// YCSB uses it), scrambled so that popular keys are spread over the key space.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kvcache::bench {

class ZipfGenerator {
 public:
  // Ranks 0..n-1 with P(rank) ~ 1/(rank+1)^theta. theta == 0 is uniform.
  ZipfGenerator(uint64_t n, double theta) : n_(n), theta_(theta) {
    if (theta_ <= 0) return;
    for (uint64_t i = 1; i <= n_; ++i) zetan_ += 1.0 / std::pow(double(i), theta_);
    double zeta2 = 1.0 + 1.0 / std::pow(2.0, theta_);
    alpha_ = 1.0 / (1.0 - theta_);
    eta_ = (1.0 - std::pow(2.0 / double(n_), 1.0 - theta_)) / (1.0 - zeta2 / zetan_);
  }

  template <typename Rng>
  uint64_t Next(Rng& rng) {
    double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    if (theta_ <= 0) return static_cast<uint64_t>(u * double(n_)) % n_;
    double uz = u * zetan_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + std::pow(0.5, theta_)) return 1;
    uint64_t r = static_cast<uint64_t>(double(n_) * std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return r < n_ ? r : n_ - 1;
  }

 private:
  uint64_t n_;
  double theta_;
  double zetan_ = 0, alpha_ = 0, eta_ = 0;
};

// A fixed random permutation of 0..n-1: rank r (by popularity) is key Permutation(n)[r], the
// same in every run and implementation, with popular keys spread over the key space.
inline std::vector<uint32_t> Permutation(uint64_t n) {
  std::vector<uint32_t> p(n);
  for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<uint32_t>(i);
  std::mt19937_64 rng(0x9E3779B97F4A7C15ull);
  std::shuffle(p.begin(), p.end(), rng);
  return p;
}

// "key:" + 12 digits, 16 bytes: what redis-benchmark -r sends.
inline std::string KeyName(uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "key:%012llu", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace kvcache::bench
