// Arena: the item memory of one cache, and the slab allocator each shard carves it with.
//
// The arena reserves one range of virtual memory (committed page by page as it is touched)
// and hands it out in 64 KiB pages. A shard's SlabAllocator takes pages for one size class at
// a time and cuts them into equal chunks; size classes are 8 bytes apart up to 256 bytes and
// 16 per doubling above, so a chunk wastes at most about 6% of an item. Pages whose chunks are
// all free go back to the arena, which returns their memory to the operating system, so the
// process's resident memory follows what the cache holds.
//
// Because all items live in one range, an item is named by a 32-bit offset (in 8-byte units),
// half the size of a pointer, in the index and in the policies' links.
//
// Pages are striped over the shards: shard s of S gets pages s, s + S, s + 2S, ... So a shard's
// items lie in 1/S of the range, and its index names them by a local offset (page / S, offset
// in the page) a few bits narrower than an ItemRef; those bits hold part of the key's hash
// (HashIndex). The stripes interleave within every huge page, so the shards, which fill at the
// same rate, share the arena's committed front instead of each holding a partly used huge page.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "core/block_recycler.h"
#include "core/item.h"
#include "kvcache/cache.h"

namespace kvcache::internal {

namespace size_class {
inline constexpr size_t kUnit = 8;
inline constexpr size_t kMaxBytes = 16384;  // larger items go to an external block
inline constexpr int kCount = 127;
// The class whose chunk holds `bytes`, or -1 if bytes > kMaxBytes.
int ForBytes(size_t bytes);
size_t ChunkBytes(int cls);
}  // namespace size_class

struct PageMeta {
  ItemRef free_head;  // first free chunk (chunks link through Item::next)
  uint32_t bump;      // chunks never handed out start here
  uint32_t live;      // chunks in use
  uint32_t chunks;    // chunks per page for this class
  uint16_t cls;
  uint16_t owner;       // shard id
  uint32_t prev, next;  // the owner's list of pages of this class with free chunks
};

class Arena {
 public:
  static constexpr size_t kPageBytes = 64 << 10;
  static constexpr uint32_t kPageUnits = kPageBytes / size_class::kUnit;
  static constexpr uint32_t kPageShift = 13;  // log2(kPageUnits)
  static constexpr size_t kHugeBytes = 2 << 20;
  static_assert((1u << kPageShift) == kPageUnits);

  // Reserves room for about `bytes` of items (virtual memory only), in 2^shard_bits stripes of
  // pages. ok() tells whether the reservation succeeded. Keeps up to keep_block_bytes of freed
  // external blocks for reuse. A growable arena's stripes can be lengthened later
  // (SetStripePages), up to max_stripe_pages().
  explicit Arena(size_t bytes, uint32_t shard_bits = 0, size_t keep_block_bytes = 0,
                 bool growable = false);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  bool ok() const { return base_ != nullptr; }

  Item* At(ItemRef r) const {
    return reinterpret_cast<Item*>(base_ + size_t{r} * size_class::kUnit);
  }
  ItemRef RefOf(const void* p) const {
    return static_cast<ItemRef>((static_cast<const char*>(p) - base_) / size_class::kUnit);
  }
  static uint32_t PageOf(ItemRef r) { return r >> kPageShift; }
  PageMeta& page(uint32_t id) { return pages_[id]; }
  const PageMeta& page(uint32_t id) const { return pages_[id]; }

  uint32_t shard_bits() const { return shard_bits_; }
  // Bits of a local offset: the page within a stripe, then the 8-byte unit within the page.
  // At most 31, so that an index slot keeps at least one bit for a hash tag.
  uint32_t local_ref_bits() const { return kPageShift + stripe_page_bits_; }
  // The local_ref_bits of stripes of this many pages.
  static uint32_t LocalRefBitsFor(size_t stripe_pages);

  // Pages per stripe for about `bytes` of items in 2^shard_bits stripes.
  static size_t StripePagesFor(size_t bytes, uint32_t shard_bits);
  // The most pages a stripe may have: ItemRefs and local offsets must stay within 32 bits.
  static size_t MaxStripePages(uint32_t shard_bits);
  size_t stripe_pages() const { return stripe_pages_; }
  size_t max_stripe_pages() const { return max_stripe_pages_; }
  // Lengthens every stripe to `pages` (at most max_stripe_pages()). If that widens
  // local_ref_bits, the shards' indexes must be widened first (HashIndex::SetRefBits): from
  // now on pages are handed out past the old width.
  void SetStripePages(size_t pages);

  // A free page of shard `owner`'s stripe, or 0 when the stripe is used up.
  uint32_t AcquirePage(uint32_t owner = 0);
  // Gives a page back; its memory is returned to the operating system.
  void ReleasePage(uint32_t id);
  // Gives many pages back, with one madvise per run of adjacent pages: each call makes the
  // kernel shoot down the TLB of every CPU the process runs on, which in a virtual machine costs
  // ~100 us. Empties `ids`.
  void ReleasePages(std::vector<uint32_t>* ids);

  size_t pages_in_use() const;
  // Pages of shard `owner`'s stripe ever handed out: its local pages [0, n).
  uint32_t stripe_high_water(uint32_t owner) const;

  // Commits the huge page that the next fresh pages will come from, if AcquirePage asked for
  // it; a writer calls this with no shard lock held. Cheap when there is nothing to do.
  void PopulateAhead() {
    if (populate_claimed_.load(std::memory_order_relaxed) <
        populate_wanted_.load(std::memory_order_relaxed)) {
      PopulateAheadSlow();
    }
  }

  // Memory for external blocks (items too large for a chunk), reused while warm.
  BlockRecycler& blocks() { return blocks_; }
  // A block holding `key` with room for a value of value_size bytes (filled by the caller) and
  // `room` more after it, from blocks(); nullptr when out of memory.
  ExternalBlock* NewExternalBlock(std::string_view key, size_t value_size, size_t room = 0) {
    return InitExternalBlock(
        blocks_.Allocate(ExternalBlock::AllocationBytes(key.size(), value_size + room)), key,
        value_size);
  }

 private:
  // Commits [p, p + bytes) ahead of its first touch.
  void Populate(char* p, size_t bytes);
  // Puts a released page on its stripe's free list. REQUIRES: mu_.
  void ReturnLocked(uint32_t id);
  void PopulateAheadSlow();

  void* map_base_ = nullptr;
  size_t map_bytes_ = 0;
  char* base_ = nullptr;  // map_base_ rounded up to a huge page
  size_t reserved_bytes_ = 0;
  std::atomic<bool> populate_ok_{true};
  // Huge pages [0, wanted) should be committed ahead; [0, claimed) have been, or are being.
  std::atomic<uint32_t> populate_wanted_{0};
  std::atomic<uint32_t> populate_claimed_{0};
  uint32_t page_count_ = 0;
  PageMeta* pages_ = nullptr;

  uint32_t shard_bits_ = 0;
  uint32_t stripe_pages_ = 0;  // pages per stripe
  uint32_t max_stripe_pages_ = 0;  // what the reserved range allows
  uint32_t stripe_page_bits_ = 0;

  struct Stripe {
    uint32_t high_water = 0;  // local pages never handed out start here
    std::vector<uint32_t> free_pages;
  };
  mutable std::mutex mu_;
  std::vector<Stripe> stripes_;  // page 0 (stripe 0's first) is never used: ItemRef 0 means null
  BlockRecycler blocks_;
};

// One shard's view of the arena. Not synchronized: the shard calls it under its exclusive lock.
class SlabAllocator {
 public:
  SlabAllocator(Arena* arena, uint16_t owner) : arena_(arena), owner_(owner) {}
  ~SlabAllocator();
  SlabAllocator(const SlabAllocator&) = delete;
  SlabAllocator& operator=(const SlabAllocator&) = delete;

  // A chunk of class `cls`, its header zeroed, or kNullRef when the arena has no page left.
  ItemRef Allocate(int cls);
  // Returns the chunk. Returns true when this emptied a page that then left the shard, which
  // makes any stale ItemRef into it invalid.
  bool Free(ItemRef ref);
  size_t ChunkBytes(ItemRef ref) const {
    return size_class::ChunkBytes(arena_->page(Arena::PageOf(ref)).cls);
  }
  // Walks the chunks of every page this shard holds, in address order, and calls drop(ref) for
  // each chunk in use (header filled: its sizes word is never 0); a chunk for which it returns
  // true is freed. A page left with no chunk in use leaves the shard and is appended to
  // `emptied`, for the caller to give back with Arena::ReleasePages (until then no one can
  // take it). The shard's Clear: a sequential pass over item memory instead of a random walk
  // from the index.
  void Sweep(FunctionRef<bool(ItemRef)> drop, std::vector<uint32_t>* emptied);
  // Bytes of the pages this shard holds (used or not).
  size_t page_bytes() const { return pages_held_ * Arena::kPageBytes; }

 private:
  void PushPartial(int cls, uint32_t id);
  void RemovePartial(int cls, uint32_t id);

  // Empty pages a shard keeps, at most (see Free).
  static constexpr uint32_t kMaxEmptyPages = 8;

  Arena* arena_;
  uint16_t owner_;
  size_t pages_held_ = 0;
  uint32_t empty_kept_ = 0;
  std::array<uint32_t, size_class::kCount> partial_{};  // head page id per class, 0 = none
};

}  // namespace kvcache::internal
