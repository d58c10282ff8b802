// ShardCore: item lifetime (pins, retirement, freeing) and single-flight bookkeeping.
#include "core/shard.h"

#include <malloc.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>

#include "core/hash.h"

namespace kvcache::internal {

ShardCore::ShardCore(Arena* arena, const ShardConfig& config)
    : arena_(arena),
      slabs_(arena, config.id),
      index_(arena, config.id),
      capacity_(config.capacity),
      pool_(config.pool),
      step_(std::max<uint64_t>(1, config.capacity / 64)),
      reserved_(config.capacity),
      count_items_(config.count_items),
      evict_(config.evict),
      clock_(config.clock),
      on_change_(config.on_change != nullptr && *config.on_change ? config.on_change : nullptr) {
  PolicyContext::arena = arena;
  PolicyContext::count_items = config.count_items;
  key_spaces_.resize(config.key_spaces);
}

ShardCore::~ShardCore() {
  // External blocks are the only memory outside the arena; linked items hold them.
  index_.ForEach([&](ItemRef ref) {
    Item* it = arena_->At(ref);
    if (it->external()) std::free(it->ext());
  });
}

void ShardCore::SetReserved(uint64_t reserved) { SetReservedAndShare(reserved, capacity_); }

void ShardCore::SetReservedAndShare(uint64_t reserved, uint64_t share) {
  const bool was_lender = reserved_ >= capacity_ + step_;
  reserved_ = reserved;
  if (share != capacity_) {
    std::atomic_ref<uint64_t>(capacity_).store(share,
                                               std::memory_order_relaxed);  // see max_item_weight
    step_ = std::max<uint64_t>(1, share / 64);
  }
  over_.store(reserved > capacity_ ? reserved - capacity_ : 0, std::memory_order_relaxed);
  const bool lender = reserved_ >= capacity_ + step_;
  if (lender != was_lender && pool_ != nullptr) {
    if (lender) {
      pool_->lenders.fetch_add(1, std::memory_order_relaxed);
    } else {
      pool_->lenders.fetch_sub(1, std::memory_order_relaxed);
    }
  }
}

void ShardCore::WidenIndex(uint32_t bits) {
  lock_.lock();
  index_.SetRefBits(bits);
  lock_.unlock();
}

void ShardCore::SetEvict(bool evict) {
  lock_.lock();
  evict_ = evict;
  lock_.unlock();
}

int64_t ShardCore::Now() const {
  if (clock_ != nullptr && *clock_) return (*clock_)();
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

uint64_t ShardCore::Weight(ItemRef ref) const {
  if (count_items_) return 1;
  const Item* it = arena_->At(ref);
  uint64_t w = slabs_.ChunkBytes(ref);
  if (it->external()) w += malloc_usable_size(it->ext());
  return w;
}

uint64_t ShardCore::HashOf(ItemRef ref) const { return HashKey(arena_->At(ref)->key()); }

void ShardCore::FillHandle(Handle* out, Item* it) { FillHandle(out, it, it->expires_at()); }

void ShardCore::FillHandle(Handle* out, Item* it, int64_t expires_at) {
  out->Reset();
  out->shard_ = this;
  out->item_ = it;
  std::string_view v = it->value();
  std::string_view k = it->key();
  out->value_ = v.data();
  out->value_size_ = v.size();
  out->key_ = k.data();
  out->key_size_ = k.size();
  out->expires_at_ms_ = expires_at;
  out->kind_ = static_cast<ValueKind>(it->kind());
}

Handle ShardCore::Clone(const Handle& h) {
  Item* it = static_cast<Item*>(h.item_);
  it->state.fetch_add(1, std::memory_order_relaxed);
  Handle out;
  FillHandle(&out, it);
  return out;
}

void ShardCore::Uncharge(ItemRef ref) {
  Item* it = arena_->At(ref);
  item_weight_ -= Weight(ref);
  if (it->external()) arena_->blocks().Free(it->ext());
}

void ShardCore::FreeItem(ItemRef ref) {
  Uncharge(ref);
  if (slabs_.Free(ref)) read_buffer_.Clear();  // its refs may point into the page that left
}

bool ShardCore::DropRef(ItemRef ref) {
  Item* it = arena_->At(ref);
  // When the index holds the only reference, as it does for all but a few items, nothing can
  // change the state meanwhile: a new pin needs the shard's lock, which the caller holds. A
  // plain store then, not two atomic read-modify-writes, which would also keep the next loads
  // from starting early (Clear walks a million items this way). The acquire pairs with the
  // release of the last Handle that unpinned it.
  const uint32_t s = it->state.load(std::memory_order_acquire);
  if ((s & state::kLinked) && (s & state::kRefMask) == 1) {
    it->state.store(0, std::memory_order_relaxed);
    return true;
  }
  // Otherwise two steps, which an unpin may come between.
  it->state.fetch_and(~state::kLinked, std::memory_order_relaxed);
  if ((it->state.fetch_sub(1, std::memory_order_acq_rel) & state::kRefMask) == 1) return true;
  pinned_weight_ += Weight(ref);
  return false;
}

void ShardCore::DropIndexRef(ItemRef ref, ExternalBlock** keep_block) {
  Item* it = arena_->At(ref);
  if (it->linked()) {  // the linked bit changes only under the exclusive lock
    --items_;
    CountKeySpace(it, -1);  // reads the key, which may be in the block
  }
  if (keep_block != nullptr) {
    *keep_block = it->ext();
    item_weight_ -= malloc_usable_size(*keep_block);
    ExternalBlock* none = nullptr;  // the stub's free then leaves the block alone
    std::memcpy(it->body(), &none, sizeof(none));
  }
  if (DropRef(ref)) FreeItem(ref);
}

void ShardCore::DropAllLocked(std::vector<uint32_t>* emptied) {
  slabs_.Sweep(
      [&](ItemRef ref) {
        // A retired item, still pinned, stays: its last Release frees it.
        if (!arena_->At(ref)->linked() || !DropRef(ref)) return false;
        Uncharge(ref);
        return true;
      },
      emptied);
  items_ = 0;
  ttl_items_ = 0;
  for (KeySpaceCount& k : key_spaces_) k = KeySpaceCount{};
}

void ShardCore::Release(Item* it) {
  uint32_t prev = it->state.fetch_sub(1, std::memory_order_acq_rel);
  if ((prev & state::kRefMask) != 1) return;
  // The index had already let go: this was a retired item's last pin.
  ItemRef ref = arena_->RefOf(it);
  lock_.lock();
  pinned_weight_ -= Weight(ref);
  FreeItem(ref);
  lock_.unlock();
}

std::shared_ptr<Flight> ShardCore::JoinFlight(std::string_view key, bool* leader) {
  std::lock_guard<std::mutex> l(flight_mu_);
  auto [it, inserted] = flights_.try_emplace(std::string(key));
  if (inserted) it->second = std::make_shared<Flight>();
  *leader = inserted;
  return it->second;
}

void ShardCore::EndFlight(std::string_view key) {
  std::lock_guard<std::mutex> l(flight_mu_);
  flights_.erase(std::string(key));
}

}  // namespace kvcache::internal

namespace kvcache {

Handle Handle::Clone() const {
  if (item_ == nullptr) return Handle();
  return shard_->Clone(*this);
}

void Handle::Reset() {
  if (item_ != nullptr) {
    shard_->Release(static_cast<internal::Item*>(item_));
    item_ = nullptr;
    shard_ = nullptr;
  }
}

}  // namespace kvcache
