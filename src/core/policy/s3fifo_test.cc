// S3-FIFO in a shard whose room differs from the capacity it was given (a shard of a
// byte-bounded cache above or below its share of the budget).
#include "core/policy/s3fifo.h"

#include <gtest/gtest.h>

#include "core/policy/policy_test_driver.h"

namespace kvcache::internal {
namespace {

// A shard with room for 100 items told its capacity is 200: the queues are 10% and 90% of the
// 100 it holds. With targets taken from the capacity, the main queue (target 180) was never over
// its target, so every eviction took the small queue's items: once the main queue held nearly
// all of the room, a new key was evicted by the next insert.
TEST(S3Fifo, QueuesFollowWhatTheShardHolds) {
  Driver<S3FifoPolicy> d(100);
  d.policy().SetCapacity(200);
  // Keys 0..99, each read twice: the first eviction moves them all to the main queue.
  for (uint64_t k = 0; k < 100; ++k) {
    d.Access(k);
    d.Access(k);
    d.Access(k);
  }
  // A new key survives the next three new keys: the small queue has room for about ten.
  int survived = 0;
  for (uint64_t k = 1000; k < 1200; k += 4) {
    for (uint64_t j = 0; j < 4; ++j) d.Access(k + j);
    survived += d.resident(k) ? 1 : 0;
  }
  EXPECT_EQ(survived, 50);
  EXPECT_EQ(d.count(), 100u);
}

}  // namespace
}  // namespace kvcache::internal
