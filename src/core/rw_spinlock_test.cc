#include "core/rw_spinlock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace kvcache::internal {
namespace {

// Writers exclude each other and readers; readers see only whole updates.
TEST(RwSpinLock, ExcludesAndCountsReads) {
  RwSpinLock lock;
  uint64_t a = 0, b = 0;  // a writer keeps them equal
  std::atomic<bool> torn{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        if ((i + t) % 4 == 0) {
          lock.lock();
          ++a;
          ++b;
          lock.unlock();
        } else {
          lock.lock_shared_counted();
          if (a != b) torn = true;
          lock.unlock_shared();
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_FALSE(torn);
  EXPECT_EQ(a, 20000u);
  EXPECT_EQ(lock.counted_acquisitions(), 60000u);
}

}  // namespace
}  // namespace kvcache::internal
