#include "core/rw_spinlock.h"

#include <gtest/gtest.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace kvcache::internal {
namespace {

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

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

// A thread waiting for a writer that holds the lock a long time sleeps instead of spinning:
// while the writer holds it for 300 ms, the waiter uses a small fraction of that in CPU time
// (it yielded all along before, using about all of it), and it gets the lock only after the
// writer let go.
TEST(RwSpinLock, WaitingForALongWriterSleeps) {
  for (bool shared : {false, true}) {
    RwSpinLock lock;
    std::atomic<bool> released{false};
    lock.lock();
    double cpu = 0;
    bool after_release = false;
    std::thread waiter([&] {
      const double start = ThreadCpuSeconds();
      if (shared) {
        lock.lock_shared();
      } else {
        lock.lock();
      }
      after_release = released.load();
      cpu = ThreadCpuSeconds() - start;
      if (shared) {
        lock.unlock_shared();
      } else {
        lock.unlock();
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the long hold
    released = true;
    lock.unlock();
    waiter.join();
    EXPECT_TRUE(after_release) << (shared ? "reader" : "writer");
    EXPECT_LT(cpu, 0.1) << (shared ? "reader" : "writer");
    lock.lock();  // the word is clean again: no writer, no sleepers left behind
    lock.unlock();
  }
}

}  // namespace
}  // namespace kvcache::internal
