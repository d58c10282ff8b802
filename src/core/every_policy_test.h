// For tests run once per policy: the policies' names, and a test name made of each (gtest allows
// only letters, digits and '_' there).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kvcache/cache.h"
#include "kvcache/options.h"

namespace kvcache {

inline std::vector<std::string> AllPolicies() {
  size_t n = 0;
  const char* const* names = PolicyNames(&n);
  return std::vector<std::string>(names, names + n);
}

// A byte-bounded cache of `policy`, or a test failure saying why not.
inline std::unique_ptr<Cache> MakeTestCache(const std::string& policy, size_t bytes = 8 << 20,
                                            uint32_t shards = 1, bool evict = true) {
  Options o;
  o.policy = policy;
  o.capacity_bytes = bytes;
  o.shards = shards;
  o.evict = evict;
  Status st;
  auto c = NewCache(o, &st);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return c;
}

inline std::string PolicyTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

}  // namespace kvcache
