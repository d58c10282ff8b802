// Arena: huge-page alignment and committing memory ahead of the writers that will touch it.
#include "core/arena.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

namespace kvcache::internal {
namespace {

constexpr size_t kHuge = Arena::kHugeBytes;
constexpr uint32_t kPagesPerHuge = kHuge / Arena::kPageBytes;

char* PageAddress(const Arena& arena, uint32_t id) {
  return reinterpret_cast<char*>(arena.At(id << Arena::kPageShift));
}

// Whether the 4 KiB page at p is resident.
bool Resident(const void* p) {
  const uintptr_t page = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095};
  unsigned char v = 0;
  EXPECT_EQ(mincore(reinterpret_cast<void*>(page), 4096, &v), 0) << std::strerror(errno);
  return (v & 1) != 0;
}

bool KernelCanPopulate() {
#ifdef MADV_POPULATE_WRITE
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  const bool ok = madvise(p, 4096, MADV_POPULATE_WRITE) == 0;
  munmap(p, 4096);
  return ok;
#else
  return false;
#endif
}

TEST(Arena, StartsOnAHugePageBoundary) {
  Arena arena(64 << 20);
  ASSERT_TRUE(arena.ok());
  // Page 0 (never handed out) starts the arena.
  const auto base = reinterpret_cast<uintptr_t>(PageAddress(arena, 1)) - Arena::kPageBytes;
  EXPECT_EQ(base % kHuge, 0u);
}

TEST(Arena, PopulateAheadCommitsTheNextHugePageOnlyWhenAsked) {
  if (!KernelCanPopulate()) GTEST_SKIP() << "no MADV_POPULATE_WRITE in this kernel";
  Arena arena(64 << 20);
  ASSERT_TRUE(arena.ok());
  const char* next_huge = PageAddress(arena, kPagesPerHuge);
  // Up to three quarters of the first huge page nothing is asked for.
  for (uint32_t want = 1; want < kPagesPerHuge * 3 / 4; ++want) {
    ASSERT_EQ(arena.AcquirePage(), want);
  }
  arena.PopulateAhead();
  EXPECT_FALSE(Resident(next_huge));
  EXPECT_FALSE(Resident(next_huge + kHuge - 4096));
  // The page at three quarters asks for the next huge page; the writer commits it.
  ASSERT_EQ(arena.AcquirePage(), kPagesPerHuge * 3 / 4);
  EXPECT_FALSE(Resident(next_huge));
  arena.PopulateAhead();
  EXPECT_TRUE(Resident(next_huge));
  EXPECT_TRUE(Resident(next_huge + kHuge - 4096));
  EXPECT_FALSE(Resident(next_huge + kHuge));  // not the one after
  // Committed memory reads as zero, and a second call has nothing left to do.
  EXPECT_EQ(next_huge[0], 0);
  arena.PopulateAhead();
  EXPECT_FALSE(Resident(next_huge + kHuge));
}

TEST(Arena, AReleasedPageComesBackZeroedAndCommitted) {
  Arena arena(64 << 20);
  ASSERT_TRUE(arena.ok());
  std::vector<uint32_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(arena.AcquirePage());
  char* p = PageAddress(arena, ids[2]);
  std::memset(p, 0x5A, Arena::kPageBytes);
  arena.ReleasePage(ids[2]);
  EXPECT_EQ(arena.pages_in_use(), 3u);
  ASSERT_EQ(arena.AcquirePage(), ids[2]);  // reused before fresh pages
  if (KernelCanPopulate()) {
    EXPECT_TRUE(Resident(p + Arena::kPageBytes - 1));
  }
  for (size_t i = 0; i < Arena::kPageBytes; i += 997) ASSERT_EQ(p[i], 0) << i;
}

TEST(Arena, EachShardTakesPagesFromItsOwnStripe) {
  // 4 stripes of 16 pages (62 pages asked for, plus page 0 and a spare, rounded up).
  Arena arena(62 * Arena::kPageBytes, /*shard_bits=*/2);
  ASSERT_TRUE(arena.ok());
  EXPECT_EQ(arena.local_ref_bits(), Arena::kPageShift + 4);
  std::vector<uint32_t> ones;
  for (uint32_t id; (id = arena.AcquirePage(1)) != 0;) {
    EXPECT_EQ(id % 4, 1u);
    EXPECT_EQ(id / 4, ones.size()) << "a stripe hands out its pages in address order";
    ones.push_back(id);
  }
  EXPECT_EQ(ones.size(), 16u);
  // Stripe 0 never hands out page 0 (ItemRef 0 is null); the other stripes are untouched.
  EXPECT_EQ(arena.AcquirePage(0), 4u);
  EXPECT_EQ(arena.AcquirePage(3), 3u);
  EXPECT_EQ(arena.pages_in_use(), 18u);
  // A released page goes back to its own stripe only.
  arena.ReleasePage(ones[5]);
  EXPECT_EQ(arena.AcquirePage(2), 2u);
  EXPECT_EQ(arena.AcquirePage(1), ones[5]);
  EXPECT_EQ(arena.AcquirePage(1), 0u);
}

// A shard keeps the last page of a class when it empties (an insert right after would need it
// again), but only a few: a value that moves through the size classes (a hash growing one field
// at a time) would otherwise leave an empty page, a huge page of resident memory, in each.
TEST(SlabAllocator, KeepsOnlyAFewEmptyPages) {
  Arena arena(64 << 20);
  ASSERT_TRUE(arena.ok());
  SlabAllocator slabs(&arena, 0);
  constexpr int kClasses = 20;
  int released = 0;
  for (int cls = 0; cls < kClasses; ++cls) {
    const ItemRef ref = slabs.Allocate(cls);
    ASSERT_NE(ref, kNullRef);
    arena.At(ref)->sizes = 1;
    released += slabs.Free(ref) ? 1 : 0;
  }
  EXPECT_EQ(released, kClasses - 8);
  EXPECT_EQ(slabs.page_bytes(), 8 * Arena::kPageBytes);
  EXPECT_EQ(arena.pages_in_use(), 8u);
  // A kept page serves its class again without a new page, and counts as empty no longer.
  const ItemRef again = slabs.Allocate(0);
  EXPECT_EQ(slabs.page_bytes(), 8 * Arena::kPageBytes);
  const ItemRef other = slabs.Allocate(kClasses);  // a new page
  EXPECT_EQ(slabs.page_bytes(), 9 * Arena::kPageBytes);
  EXPECT_FALSE(slabs.Free(again)) << "room for one more empty page again";
  EXPECT_TRUE(slabs.Free(other));
  EXPECT_EQ(slabs.page_bytes(), 8 * Arena::kPageBytes);
}

}  // namespace
}  // namespace kvcache::internal
