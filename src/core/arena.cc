// Arena and SlabAllocator: virtual memory reservation, pages and size-class chunks.
#include "core/arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>

namespace kvcache::internal {

namespace size_class {
namespace {

struct Table {
  std::array<uint32_t, kCount> units{};
  std::array<uint8_t, kMaxBytes / kUnit + 1> by_units{};
  Table() {
    int n = 0;
    for (uint32_t u = 2; u <= 32; ++u) units[n++] = u;  // 16..256 bytes, 8 apart
    for (uint32_t lo = 32; lo < kMaxBytes / kUnit; lo *= 2) {
      for (uint32_t i = 1; i <= 16; ++i) units[n++] = lo + i * (lo / 16);
    }
    int cls = 0;
    for (uint32_t u = 0; u <= kMaxBytes / kUnit; ++u) {
      while (units[cls] < u) ++cls;
      by_units[u] = static_cast<uint8_t>(cls);
    }
  }
};
const Table& T() {
  static const Table t;
  return t;
}

}  // namespace

int ForBytes(size_t bytes) {
  if (bytes > kMaxBytes) return -1;
  return T().by_units[(bytes + kUnit - 1) / kUnit];
}
size_t ChunkBytes(int cls) { return size_t{T().units[cls]} * kUnit; }

}  // namespace size_class

static_assert(size_class::kCount == 31 + 6 * 16);

size_t Arena::StripePagesFor(size_t bytes, uint32_t shard_bits) {
  const size_t stripes = size_t{1} << shard_bits;
  return std::max<size_t>((bytes / kPageBytes + 2 + stripes - 1) / stripes, 1);
}

size_t Arena::MaxStripePages(uint32_t shard_bits) {
  // An ItemRef addresses 2^32 units of 8 bytes; a local offset leaves the index a tag bit.
  return std::min((size_t{1} << 31) / kPageUnits, (size_t{1} << 32) / kPageUnits >> shard_bits);
}

Arena::Arena(size_t bytes, uint32_t shard_bits, size_t keep_block_bytes, bool growable)
    : blocks_(keep_block_bytes) {
  const size_t stripes = size_t{1} << shard_bits;
  const size_t most = MaxStripePages(shard_bits);
  const size_t stripe_pages = std::min(StripePagesFor(bytes, shard_bits), most);
  // A growable arena reserves the address range its stripes could ever grow to (up to 32 GiB
  // of address space, nothing committed), so that SetStripePages needs no move; if that much
  // cannot be had, the range planned.
  void* p = MAP_FAILED;
  for (size_t reserve : {growable ? most : stripe_pages, stripe_pages}) {
    const size_t pages = reserve * stripes;
    // One huge page more than needed, so that the arena can start on a huge page boundary.
    map_bytes_ = pages * kPageBytes + kHugeBytes;
    p = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) continue;
    void* m = mmap(nullptr, pages * sizeof(PageMeta), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) {
      munmap(p, map_bytes_);
      p = MAP_FAILED;
      continue;
    }
    pages_ = static_cast<PageMeta*>(m);
    page_count_ = static_cast<uint32_t>(pages);
    max_stripe_pages_ = static_cast<uint32_t>(reserve);
    break;
  }
  if (p == MAP_FAILED) return;
  char* aligned = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + kHugeBytes - 1) &
                                          ~uintptr_t{kHugeBytes - 1});
  // Lookups land anywhere in the arena: with 2 MiB pages most of them miss no TLB entry. The
  // cost is that resident memory follows the items in 2 MiB steps instead of 4 KiB ones.
  madvise(aligned, size_t{page_count_} * kPageBytes, MADV_HUGEPAGE);
  map_base_ = p;
  base_ = aligned;
  reserved_bytes_ = size_t{page_count_} * kPageBytes;
  shard_bits_ = shard_bits;
  stripe_pages_ = static_cast<uint32_t>(stripe_pages);
  stripe_page_bits_ = static_cast<uint32_t>(std::bit_width(stripe_pages - 1));
  stripes_.resize(stripes);
  stripes_[0].high_water = 1;
}

uint32_t Arena::LocalRefBitsFor(size_t stripe_pages) {
  return kPageShift + static_cast<uint32_t>(std::bit_width(stripe_pages - 1));
}

void Arena::SetStripePages(size_t pages) {
  std::lock_guard<std::mutex> l(mu_);
  if (pages <= stripe_pages_ || pages > max_stripe_pages_) return;
  stripe_pages_ = static_cast<uint32_t>(pages);
  stripe_page_bits_ = static_cast<uint32_t>(std::bit_width(pages - 1));
}

Arena::~Arena() {
  if (base_ == nullptr) return;
  munmap(map_base_, map_bytes_);
  munmap(pages_, size_t{page_count_} * sizeof(PageMeta));
}

uint32_t Arena::AcquirePage(uint32_t owner) {
  uint32_t id;
  bool recycled;
  {
    std::lock_guard<std::mutex> l(mu_);
    Stripe& s = stripes_[owner];
    recycled = !s.free_pages.empty();
    if (recycled) {
      id = s.free_pages.back();
      s.free_pages.pop_back();
    } else if (s.high_water < stripe_pages_) {
      id = (s.high_water++ << shard_bits_) | owner;
    } else {
      return 0;
    }
  }
  if (recycled) {
    Populate(base_ + size_t{id} * kPageBytes, kPageBytes);  // released with MADV_DONTNEED
    return id;
  }
  // Each stripe hands out its pages in address order, and the stripes fill at about the same
  // rate, so fresh pages move through the arena from its start. Past three quarters of a huge page,
  // ask for the next one to be committed: the writer does it after leaving its shard's lock (see
  // PopulateAhead), so that the other writers do not wait for a huge page to be zeroed. At most
  // one huge page is committed before it is needed.
  constexpr uint32_t kPagesPerHuge = kHugeBytes / kPageBytes;
  if (id % kPagesPerHuge >= kPagesPerHuge * 3 / 4) {
    const uint32_t want = id / kPagesPerHuge + 2;
    uint32_t cur = populate_wanted_.load(std::memory_order_relaxed);
    while (cur < want &&
           !populate_wanted_.compare_exchange_weak(cur, want, std::memory_order_relaxed)) {
    }
  }
  return id;
}

void Arena::PopulateAheadSlow() {
  uint32_t done = populate_claimed_.load(std::memory_order_relaxed);
  while (done < populate_wanted_.load(std::memory_order_relaxed)) {
    if (!populate_claimed_.compare_exchange_weak(done, done + 1, std::memory_order_relaxed)) {
      continue;
    }
    const size_t start = size_t{done} * kHugeBytes;
    if (start < reserved_bytes_) {
      Populate(base_ + start, std::min(kHugeBytes, reserved_bytes_ - start));
    }
    ++done;
  }
}

void Arena::Populate(char* p, size_t bytes) {
  // One system call commits and zeroes the memory; touching it instead costs a page fault per
  // 4 KiB page that THP does not cover, and page faults are many times dearer than a loop in
  // the kernel, above all in a virtual machine. Failure (a kernel before 5.14, or no memory
  // left) is harmless: the first touch commits the memory as before.
#ifdef MADV_POPULATE_WRITE
  if (populate_ok_.load(std::memory_order_relaxed) && madvise(p, bytes, MADV_POPULATE_WRITE) != 0 &&
      errno == EINVAL) {
    populate_ok_.store(false, std::memory_order_relaxed);
  }
#else
  (void)p;
  (void)bytes;
#endif
}

void Arena::ReleasePage(uint32_t id) {
  // Before the page is visible to other shards again; the next toucher gets zeroed memory.
  madvise(base_ + size_t{id} * kPageBytes, kPageBytes, MADV_DONTNEED);
  std::lock_guard<std::mutex> l(mu_);
  ReturnLocked(id);
}

void Arena::ReturnLocked(uint32_t id) {
  pages_[id].chunks = 0;  // not held (SlabAllocator::Sweep)
  stripes_[id & ((1u << shard_bits_) - 1)].free_pages.push_back(id);
}

void Arena::ReleasePages(std::vector<uint32_t>* ids) {
  std::sort(ids->begin(), ids->end());
  for (size_t i = 0; i < ids->size();) {
    size_t j = i + 1;
    while (j < ids->size() && (*ids)[j] == (*ids)[j - 1] + 1) ++j;
    madvise(base_ + size_t{(*ids)[i]} * kPageBytes, (j - i) * kPageBytes, MADV_DONTNEED);
    i = j;
  }
  std::lock_guard<std::mutex> l(mu_);
  for (uint32_t id : *ids) ReturnLocked(id);
  ids->clear();
}

size_t Arena::pages_in_use() const {
  std::lock_guard<std::mutex> l(mu_);
  size_t n = 0;
  for (const Stripe& s : stripes_) n += s.high_water - s.free_pages.size();
  return n - 1;  // page 0
}

uint32_t Arena::stripe_high_water(uint32_t owner) const {
  std::lock_guard<std::mutex> l(mu_);
  return stripes_[owner].high_water;
}

SlabAllocator::~SlabAllocator() {
  for (int cls = 0; cls < size_class::kCount; ++cls) {
    while (uint32_t id = partial_[cls]) {
      RemovePartial(cls, id);
      arena_->ReleasePage(id);
    }
  }
}

void SlabAllocator::PushPartial(int cls, uint32_t id) {
  PageMeta& m = arena_->page(id);
  m.prev = 0;
  m.next = partial_[cls];
  if (m.next) arena_->page(m.next).prev = id;
  partial_[cls] = id;
}

void SlabAllocator::RemovePartial(int cls, uint32_t id) {
  PageMeta& m = arena_->page(id);
  if (m.prev) {
    arena_->page(m.prev).next = m.next;
  } else {
    partial_[cls] = m.next;
  }
  if (m.next) arena_->page(m.next).prev = m.prev;
  m.prev = m.next = 0;
}

ItemRef SlabAllocator::Allocate(int cls) {
  uint32_t id = partial_[cls];
  if (id == 0) {
    id = arena_->AcquirePage(owner_);
    if (id == 0) return kNullRef;
    ++pages_held_;
    PageMeta& m = arena_->page(id);
    m = PageMeta{};
    m.cls = static_cast<uint16_t>(cls);
    m.owner = owner_;
    m.chunks = static_cast<uint32_t>(Arena::kPageBytes / size_class::ChunkBytes(cls));
    PushPartial(cls, id);
  } else if (arena_->page(id).live == 0) {
    --empty_kept_;  // a kept empty page
  }
  PageMeta& m = arena_->page(id);
  ItemRef ref;
  if (m.free_head != kNullRef) {
    ref = m.free_head;
    m.free_head = arena_->At(ref)->next;
  } else {
    ref = (id << Arena::kPageShift) +
          m.bump * static_cast<uint32_t>(size_class::ChunkBytes(cls) / size_class::kUnit);
    ++m.bump;
  }
  ++m.live;
  if (m.free_head == kNullRef && m.bump == m.chunks) {
    RemovePartial(cls, id);
  } else {
    // The chunk the next item of this class will get: start owning its first lines now, so that
    // writing that item does not wait for them (a fresh chunk is cold memory).
    const char* next =
        reinterpret_cast<const char*>(arena_->At(m.free_head != kNullRef ? m.free_head : ref)) +
        (m.free_head != kNullRef ? 0 : size_class::ChunkBytes(cls));
    __builtin_prefetch(next, 1);
    __builtin_prefetch(next + 64, 1);
  }
  Item* it = arena_->At(ref);
  it->state.store(0, std::memory_order_relaxed);
  it->prev = it->next = kNullRef;
  it->sizes = 0;
  return ref;
}

bool SlabAllocator::Free(ItemRef ref) {
  uint32_t id = Arena::PageOf(ref);
  PageMeta& m = arena_->page(id);
  int cls = m.cls;
  bool was_full = m.free_head == kNullRef && m.bump == m.chunks;
  Item* it = arena_->At(ref);
  it->state.store(0, std::memory_order_relaxed);  // not linked: stale refs to it are ignored
  it->sizes = 0;
  it->next = m.free_head;
  m.free_head = ref;
  --m.live;
  if (was_full) PushPartial(cls, id);
  if (m.live == 0) {
    // Keep the last page with room of a class, since an insert right after would need it again
    // (and giving a page back costs a TLB shootdown): but only a few, or a small cache whose
    // values move through the size classes (a growing hash) holds an empty page for each class
    // it passed, each in a huge page of its own (a shard's pages are 16 apart).
    if (partial_[cls] == id && m.next == 0 && empty_kept_ < kMaxEmptyPages) {
      ++empty_kept_;
      return false;
    }
    RemovePartial(cls, id);
    --pages_held_;
    arena_->ReleasePage(id);
    return true;
  }
  return false;
}

void SlabAllocator::Sweep(FunctionRef<bool(ItemRef)> drop, std::vector<uint32_t>* emptied) {
  const uint32_t high = arena_->stripe_high_water(owner_);
  for (uint32_t k = 0; k < high; ++k) {
    const uint32_t id = (k << arena_->shard_bits()) | owner_;
    PageMeta& m = arena_->page(id);
    if (m.chunks == 0) continue;  // page 0, or given back
    const int cls = m.cls;
    const bool listed = !(m.free_head == kNullRef && m.bump == m.chunks);  // in partial_
    const uint32_t units = static_cast<uint32_t>(size_class::ChunkBytes(cls) / size_class::kUnit);
    ItemRef free_head = kNullRef;
    Item* free_tail = nullptr;  // the list is built in address order, the order Allocate hands out
    uint32_t live = 0;
    const ItemRef first = id << Arena::kPageShift;
    // A few chunks ahead are requested, so that the headers' waits for memory overlap.
    constexpr uint32_t kAhead = 8;
    for (uint32_t i = 0; i < std::min(kAhead, m.bump); ++i) {
      __builtin_prefetch(arena_->At(first + i * units), 1);
    }
    for (uint32_t i = 0; i < m.bump; ++i) {
      if (i + kAhead < m.bump) __builtin_prefetch(arena_->At(first + (i + kAhead) * units), 1);
      const ItemRef ref = first + i * units;
      Item* it = arena_->At(ref);
      if (it->sizes != 0 && !drop(ref)) {
        ++live;
        continue;
      }
      it->state.store(0, std::memory_order_relaxed);
      it->sizes = 0;
      it->next = kNullRef;
      if (free_tail != nullptr) {
        free_tail->next = ref;
      } else {
        free_head = ref;
      }
      free_tail = it;
    }
    if (live == 0) {
      if (listed) RemovePartial(cls, id);
      --pages_held_;
      m.chunks = 0;  // not held from now on, though not yet given back
      emptied->push_back(id);
      continue;
    }
    m.free_head = free_head;
    m.live = live;
    if (!listed && free_head != kNullRef) PushPartial(cls, id);
  }
  empty_kept_ = 0;  // every page left without a chunk in use went
}

}  // namespace kvcache::internal
