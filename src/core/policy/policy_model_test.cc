// Each policy, driven through the public Cache API, against a small reference model written
// with standard containers straight from the policy's definition: the hit/miss sequence of a
// random skewed trace must be identical request by request.
#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/policy/counting_bloom_filter.h"
#include "kvcache/cache.h"

namespace kvcache {
namespace {

using Id = uint64_t;

std::string Key(Id id) {
  std::string k(8, '\0');
  std::memcpy(k.data(), &id, 8);
  return k;
}

// A reference model answers one request: true on a hit; a miss inserts.
class Model {
 public:
  virtual ~Model() = default;
  virtual bool Access(Id id) = 0;
};

class LruModel : public Model {
 public:
  explicit LruModel(size_t n) : n_(n) {}
  bool Access(Id id) override {
    auto it = pos_.find(id);
    if (it != pos_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return true;
    }
    if (order_.size() == n_) {
      pos_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(id);
    pos_[id] = order_.begin();
    return false;
  }

 private:
  size_t n_;
  std::list<Id> order_;
  std::unordered_map<Id, std::list<Id>::iterator> pos_;
};

class FifoModel : public Model {
 public:
  explicit FifoModel(size_t n) : n_(n) {}
  bool Access(Id id) override {
    if (in_.count(id)) return true;
    if (q_.size() == n_) {
      in_.erase(q_.front());
      q_.pop_front();
    }
    q_.push_back(id);
    in_.insert(id);
    return false;
  }

 private:
  size_t n_;
  std::deque<Id> q_;
  std::set<Id> in_;
};

// Least frequent first; among equals, the one that reached that frequency first.
class LfuModel : public Model {
 public:
  explicit LfuModel(size_t n) : n_(n) {}
  bool Access(Id id) override {
    auto it = freq_.find(id);
    if (it != freq_.end()) {
      Erase(id, it->second);
      ++it->second;
      buckets_[it->second].push_back(id);
      return true;
    }
    if (freq_.size() == n_) {
      auto b = buckets_.begin();
      Id victim = b->second.front();
      b->second.pop_front();
      if (b->second.empty()) buckets_.erase(b);
      freq_.erase(victim);
    }
    freq_[id] = 1;
    buckets_[1].push_back(id);
    return false;
  }

 private:
  void Erase(Id id, int f) {
    auto& l = buckets_[f];
    l.remove(id);
    if (l.empty()) buckets_.erase(f);
  }
  size_t n_;
  std::map<int, std::list<Id>> buckets_;
  std::unordered_map<Id, int> freq_;
};

class SieveModel : public Model {
 public:
  explicit SieveModel(size_t n) : n_(n) {}
  bool Access(Id id) override {
    auto it = pos_.find(id);
    if (it != pos_.end()) {
      visited_[id] = true;
      return true;
    }
    if (q_.size() == n_) Evict();
    q_.push_front(id);  // front = newest
    pos_[id] = q_.begin();
    visited_[id] = false;
    return false;
  }

 private:
  void Evict() {
    // The hand walks from the oldest (back) toward the newest (front), wrapping.
    auto h = hand_valid_ ? hand_ : std::prev(q_.end());
    while (visited_[*h]) {
      visited_[*h] = false;
      h = h == q_.begin() ? std::prev(q_.end()) : std::prev(h);
    }
    hand_valid_ = h != q_.begin();
    if (hand_valid_) hand_ = std::prev(h);
    pos_.erase(*h);
    visited_.erase(*h);
    q_.erase(h);
  }
  size_t n_;
  std::list<Id> q_;
  std::unordered_map<Id, std::list<Id>::iterator> pos_;
  std::unordered_map<Id, bool> visited_;
  std::list<Id>::iterator hand_;
  bool hand_valid_ = false;
};

// S3-FIFO with libCacheSim's defaults: small 10%, main 90%, ghost of 90% of the size (a FIFO
// whose hits remove the entry), move to main after 2 hits, 2-bit counters.
class S3FifoModel : public Model {
 public:
  explicit S3FifoModel(size_t n)
      : n_(n),
        small_max_(std::max<size_t>(1, n / 10)),
        ghost_max_(std::max<size_t>(1, n * 9 / 10)) {}
  bool Access(Id id) override {
    if (auto it = freq_.find(id); it != freq_.end()) {
      it->second = std::min(it->second + 1, 3);
      return true;
    }
    bool to_main = false;
    if (auto g = std::find(ghost_.begin(), ghost_.end(), id); g != ghost_.end()) {
      ghost_.erase(g);
      to_main = true;
    }
    while (small_.size() + main_.size() + 1 > n_) Evict();
    (to_main ? main_ : small_).push_back(id);
    freq_[id] = 0;
    return false;
  }

 private:
  void Evict() {
    if (main_.size() > n_ - small_max_ || small_.empty()) {
      for (;;) {
        Id t = main_.front();
        main_.pop_front();
        if (freq_[t] > 0) {
          --freq_[t];
          main_.push_back(t);
          continue;
        }
        freq_.erase(t);
        return;
      }
    }
    while (!small_.empty()) {
      Id t = small_.front();
      small_.pop_front();
      if (freq_[t] >= 2) {
        freq_[t] = 0;
        main_.push_back(t);
        continue;
      }
      freq_.erase(t);
      if (std::find(ghost_.begin(), ghost_.end(), t) == ghost_.end()) {
        ghost_.push_back(t);
        if (ghost_.size() > ghost_max_) ghost_.pop_front();
      }
      return;
    }
    Evict();  // everything moved to main
  }
  size_t n_, small_max_, ghost_max_;
  std::deque<Id> small_, main_, ghost_;  // front = oldest
  std::unordered_map<Id, int> freq_;
};

// W-TinyLFU as libCacheSim defines it (window 1%, SLRU 20/80, admission by the counting Bloom
// filter when strictly more frequent; one eviction round admits until a rejection).
class WTinyLfuModel : public Model {
 public:
  explicit WTinyLfuModel(size_t n) {
    w_max_ = std::max<size_t>(1, n / 100);
    m_max_ = n - w_max_;
    prob_max_ = std::max<size_t>(1, m_max_ / 5);
    prot_max_ = std::max<size_t>(1, m_max_ * 4 / 5);
    n_ = n;
    filter_.Resize(m_max_);
    decay_after_ = 32 * m_max_;
  }
  // Like the engine, applies hits in order from a buffer of 64, at the next miss or when the
  // buffer fills: a hit that overflows probation evicts only then.
  bool Access(Id id) override {
    if (Find(window_, id) || Find(prob_, id) || Find(prot_, id)) {
      buffered_.push_back(id);
      if (buffered_.size() == 64) Replay();
      return true;
    }
    Replay();
    while (window_.size() + prob_.size() + prot_.size() + 1 > n_) Evict();
    window_.push_front(id);
    filter_.Add(Key(id));
    return false;
  }

 private:
  void Replay() {
    for (Id id : buffered_) Hit(id);
    buffered_.clear();
  }
  void Hit(Id id) {
    std::string k = Key(id);
    if (Find(window_, id)) {
      Promote(window_, id);
    } else if (Find(prot_, id)) {
      Promote(prot_, id);
      MainHit(k);
    } else if (Find(prob_, id)) {
      prob_.remove(id);
      prot_.push_front(id);
      while (prot_.size() > prot_max_ && prot_.size() > 1) {
        Id d = prot_.back();
        prot_.pop_back();
        prob_.push_front(d);
        while (prob_.size() > prob_max_ && !prob_.empty()) prob_.pop_back();
      }
      MainHit(k);
    }
  }

  static bool Find(const std::list<Id>& l, Id id) {
    return std::find(l.begin(), l.end(), id) != l.end();
  }
  static void Promote(std::list<Id>& l, Id id) {
    l.remove(id);
    l.push_front(id);
  }
  void MainHit(const std::string& k) {
    filter_.Add(k);
    if (++main_hits_ >= decay_after_) {
      main_hits_ = 0;
      filter_.Decay();
    }
  }
  void MainInsert(Id id) {
    if (prob_.size() + 1 <= prob_max_ || prot_.size() + 1 > prot_max_) {
      prob_.push_front(id);
    } else {
      prot_.push_front(id);
    }
  }
  Id MainVictim() { return !prob_.empty() ? prob_.back() : prot_.back(); }
  void MainEvict() {
    if (!prob_.empty())
      prob_.pop_back();
    else
      prot_.pop_back();
  }
  void Evict() {
    while (!window_.empty()) {
      Id c = window_.back();
      std::string ck = Key(c);
      if (prob_.size() + prot_.size() + 1 <= m_max_) {
        window_.pop_back();
        MainInsert(c);
        filter_.Add(ck);
        continue;
      }
      if (filter_.Estimate(ck) > filter_.Estimate(Key(MainVictim()))) {
        MainEvict();
        window_.pop_back();
        MainInsert(c);
        filter_.Add(ck);
        continue;
      }
      window_.pop_back();
      filter_.Add(ck);
      return;
    }
    MainEvict();
  }
  size_t n_, w_max_, m_max_, prob_max_, prot_max_;
  uint64_t decay_after_, main_hits_ = 0;
  std::list<Id> window_, prob_, prot_;  // front = most recent
  std::vector<Id> buffered_;
  internal::CountingBloomFilter filter_;
};

std::unique_ptr<Model> MakeModel(const std::string& policy, size_t n) {
  if (policy == "lru") return std::make_unique<LruModel>(n);
  if (policy == "fifo") return std::make_unique<FifoModel>(n);
  if (policy == "lfu") return std::make_unique<LfuModel>(n);
  if (policy == "sieve") return std::make_unique<SieveModel>(n);
  if (policy == "s3fifo") return std::make_unique<S3FifoModel>(n);
  if (policy == "wtinylfu") return std::make_unique<WTinyLfuModel>(n);
  return nullptr;
}

struct Case {
  std::string policy;
  size_t size;
};

class PolicyVsModel : public ::testing::TestWithParam<Case> {};

TEST_P(PolicyVsModel, SameHitsAndMissesOnARandomSkewedTrace) {
  const Case& c = GetParam();
  Options o;
  o.policy = c.policy;
  o.capacity_items = c.size;
  o.shards = 1;
  auto cache = NewCache(o);
  ASSERT_TRUE(cache);
  auto model = MakeModel(c.policy, c.size);
  ASSERT_TRUE(model);
  std::mt19937_64 rng(42 + c.size);
  // Skewed: a hot set, a warm set and one-off scans.
  std::discrete_distribution<int> kind({60, 30, 10});
  uint64_t scan_id = 1'000'000;
  int mismatches = 0;
  size_t hits = 0;
  for (int i = 0; i < 20000; ++i) {
    Id id;
    switch (kind(rng)) {
      case 0:
        id = rng() % (c.size / 2 + 1);
        break;
      case 1:
        id = 1000 + rng() % (c.size * 4);
        break;
      default:
        id = scan_id++;
    }
    std::string k = Key(id);
    bool engine_hit = static_cast<bool>(cache->Get(k));
    if (!engine_hit) {
      ASSERT_TRUE(cache->Put(k, "").ok());
    }
    bool model_hit = model->Access(id);
    hits += model_hit;
    if (engine_hit != model_hit && ++mismatches <= 3) {
      ADD_FAILURE() << c.policy << " size " << c.size << " request " << i << " id " << id
                    << ": engine " << (engine_hit ? "hit" : "miss") << ", model "
                    << (model_hit ? "hit" : "miss");
    }
    ASSERT_LE(cache->Stats().items, c.size);
  }
  EXPECT_EQ(mismatches, 0);
  EXPECT_GT(hits, 1000u) << "the trace should exercise hits";
}

std::vector<Case> Cases() {
  std::vector<Case> v;
  for (const char* p : {"lru", "fifo", "lfu", "sieve", "s3fifo"}) {
    for (size_t n : {3, 10, 37, 60}) v.push_back({p, n});
  }
  for (size_t n : {100, 250, 400}) v.push_back({"wtinylfu", n});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Policies, PolicyVsModel, ::testing::ValuesIn(Cases()),
                         [](const auto& info) {
                           return info.param.policy + "_" + std::to_string(info.param.size);
                         });

}  // namespace
}  // namespace kvcache
