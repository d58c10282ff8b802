// For tests run once per policy: the policies' names, and a test name made of each (gtest allows
// only letters, digits and '_' there).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kvcache/cache.h"

namespace kvcache {

inline std::vector<std::string> AllPolicies() {
  size_t n = 0;
  const char* const* names = PolicyNames(&n);
  return std::vector<std::string>(names, names + n);
}

inline std::string PolicyTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

}  // namespace kvcache
