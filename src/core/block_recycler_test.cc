// BlockRecycler: large blocks come back warm, within the fit and the byte budget.
#include "core/block_recycler.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kvcache::internal {
namespace {

constexpr size_t kMiB = 1 << 20;

TEST(BlockRecycler, LargeBlockIsReusedForTheSameSize) {
  BlockRecycler r(64 * kMiB);
  void* a = r.Allocate(16 * kMiB + 128);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % BlockRecycler::kAlign, 0u);
  std::memset(a, 1, 16 * kMiB + 128);
  r.Free(a);
  EXPECT_GE(r.kept_bytes(), 16 * kMiB);
  EXPECT_EQ(r.Allocate(16 * kMiB + 128), a);
  EXPECT_EQ(r.kept_bytes(), 0u);
  r.Free(a);
}

TEST(BlockRecycler, OnlyABlockWithinAnEighthFits) {
  BlockRecycler r(64 * kMiB);
  void* a = r.Allocate(8 * kMiB);
  r.Free(a);
  void* smaller = r.Allocate(4 * kMiB);  // a would waste half of itself
  EXPECT_NE(smaller, a);
  void* larger = r.Allocate(9 * kMiB);  // a is too small
  EXPECT_NE(larger, a);
  EXPECT_EQ(r.Allocate(8 * kMiB - 512 * 1024), a);
  r.Free(a);
  r.Free(smaller);
  r.Free(larger);
}

TEST(BlockRecycler, SmallBlocksAndBlocksBeyondTheBudgetAreFreed) {
  BlockRecycler r(20 * kMiB);
  r.Free(r.Allocate(BlockRecycler::kMinBytes / 2));
  EXPECT_EQ(r.kept_bytes(), 0u);
  void* a = r.Allocate(16 * kMiB);
  void* b = r.Allocate(16 * kMiB);
  r.Free(a);
  r.Free(b);  // no room left in 20 MiB
  EXPECT_GE(r.kept_bytes(), 16 * kMiB);
  EXPECT_LE(r.kept_bytes(), 20 * kMiB);
  BlockRecycler none(0);
  void* c = none.Allocate(16 * kMiB);
  none.Free(c);
  EXPECT_EQ(none.kept_bytes(), 0u);
}

TEST(BlockRecycler, TheBlockFreedLastComesBackFirst) {
  BlockRecycler r(64 * kMiB);
  void* a = r.Allocate(4 * kMiB);
  void* b = r.Allocate(4 * kMiB);
  ASSERT_EQ(malloc_usable_size(a), malloc_usable_size(b));
  r.Free(a);
  r.Free(b);
  EXPECT_EQ(r.Allocate(4 * kMiB), b);
  EXPECT_EQ(r.Allocate(4 * kMiB), a);
  r.Free(a);
  r.Free(b);
}

}  // namespace
}  // namespace kvcache::internal
