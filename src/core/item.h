// Item: the layout of one cached key-value pair in arena memory.
//
// One allocation per item: a 16-byte header, an optional 8-byte expiry, then the value
// (8-byte aligned) followed by the key. Items too large for a slab chunk keep only the header,
// the expiry and a pointer to an external block holding key and value (value 64-byte aligned).
// The value of a tensor item (kind kTensorKind) starts at the first 64-byte boundary at or after
// the expiry, so that SIMD code can read tensor data in place: the pad (0..56 bytes, items being
// 8-byte aligned) follows from the item's address and kind, so nothing more is stored, and
// InlineBytes reserves the worst case for tensor items only.
// Items are addressed by a 32-bit ItemRef (an offset in 8-byte units into the cache's arena),
// which is what the index and the policy links store: half the size of a pointer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

namespace kvcache::internal {

using ItemRef = uint32_t;
inline constexpr ItemRef kNullRef = 0;

// The state word, changed with atomic read-modify-writes only: readers pin (refcount) and set
// hot bits under the shard's shared lock, Handles unpin with no lock at all, and writers change
// the rest under the exclusive lock.
namespace state {
inline constexpr uint32_t kRefMask = (1u << 20) - 1;  // pins + 1 while linked in the index
inline constexpr uint32_t kLinked = 1u << 20;         // in the index and the policy
inline constexpr uint32_t kHotShift = 21;             // 2 bits set by readers on a hit
inline constexpr uint32_t kHotMask = 3u << kHotShift;
inline constexpr uint32_t kPolicyShift = 24;  // 8 bits owned by the eviction policy
inline constexpr uint32_t kPolicyMask = 0xFFu << kPolicyShift;
// Pins are refused before the count could overflow into the flag bits.
inline constexpr uint32_t kMaxRefs = kRefMask - 64;
}  // namespace state

// The sizes word: key length, inline value length and flags. Written only while the item is
// not visible to readers, or under the shard's exclusive lock.
namespace sizes {
inline constexpr uint32_t kLenBits = 14;
inline constexpr uint32_t kLenMask = (1u << kLenBits) - 1;
inline constexpr uint32_t kExternal = 1u << 28;
inline constexpr uint32_t kHasTtl = 1u << 29;
inline constexpr uint32_t kKindShift = 30;  // 2 bits of value kind for the layers above
// The kind whose inline values are 64-byte aligned (ValueKind::kTensor; checked in shard.h).
inline constexpr uint32_t kTensorKind = 2;
inline constexpr size_t kTensorAlign = 64;
// The most an item's address can fall short of the alignment (items are 8-byte aligned).
inline constexpr size_t kMaxTensorPad = kTensorAlign - 8;
}  // namespace sizes

// Key and value of an item too large for a slab chunk.
struct ExternalBlock {
  static size_t AllocationBytes(size_t key_size, size_t value_size) {
    return (ValueOffset(key_size) + value_size + 63) & ~size_t{63};
  }
  uint64_t key_size;
  uint64_t value_size;
  // key at offset 16, value at ValueOffset(key_size)
  static size_t ValueOffset(size_t key_size) {
    return (sizeof(ExternalBlock) + key_size + 63) & ~size_t{63};
  }
  char* key() { return reinterpret_cast<char*>(this + 1); }
  std::string_view key_view() { return {key(), key_size}; }
  char* value() { return reinterpret_cast<char*>(this) + ValueOffset(key_size); }
};

// Lays out an external block holding key and room for the value (filled by the caller: a
// server receives a large value straight into it) in `memory`, 64-byte aligned and of at least
// AllocationBytes(key.size(), value_size) bytes, malloc'ed (freed by std::free). Null stays null.
inline ExternalBlock* InitExternalBlock(void* memory, std::string_view key, size_t value_size) {
  auto* b = static_cast<ExternalBlock*>(memory);
  if (b == nullptr) return nullptr;
  b->key_size = key.size();
  b->value_size = value_size;
  std::memcpy(b->key(), key.data(), key.size());
  return b;
}

struct Item {
  std::atomic<uint32_t> state;
  ItemRef prev;  // policy links; `next` also links free chunks
  ItemRef next;
  uint32_t sizes;

  static size_t HeaderBytes(bool ttl) { return sizeof(Item) + (ttl ? sizeof(int64_t) : 0); }
  // Bytes an inline item of this value kind needs in a slab chunk, wherever the chunk lies.
  static size_t InlineBytes(size_t key_size, size_t value_size, bool ttl, uint32_t kind) {
    return HeaderBytes(ttl) + (kind == sizes::kTensorKind ? sizes::kMaxTensorPad : 0) +
           ((value_size + 7) & ~size_t{7}) + key_size;
  }
  static size_t ExternalStubBytes(bool ttl) { return HeaderBytes(ttl) + sizeof(void*); }

  bool external() const { return sizes & sizes::kExternal; }
  // Whether the item has an expiry slot (external items always do).
  bool has_ttl() const { return sizes & sizes::kHasTtl; }
  uint32_t kind() const { return sizes >> sizes::kKindShift; }

  char* body() { return reinterpret_cast<char*>(this) + HeaderBytes(has_ttl()); }
  const char* body() const { return reinterpret_cast<const char*>(this) + HeaderBytes(has_ttl()); }

  // The expiry slot (ms since the epoch; 0 = none) may change in place while Handles pin the
  // item, hence atomic accesses.
  int64_t expires_at() const {
    if (!has_ttl()) return 0;
    return std::atomic_ref<int64_t>(*ExpirySlot()).load(std::memory_order_relaxed);
  }
  void set_expires_at(int64_t t) {
    std::atomic_ref<int64_t>(*ExpirySlot()).store(t, std::memory_order_relaxed);
  }

  ExternalBlock* ext() const {
    ExternalBlock* b;
    std::memcpy(&b, body(), sizeof(b));
    return b;
  }

  // Where an inline value starts: the body, or for a tensor the next 64-byte boundary.
  // Branch-free, since every key comparison of the index comes through here.
  const char* inline_value() const {
    const char* b = body();
    const uintptr_t tensor = kind() == sizes::kTensorKind;
    const uintptr_t pad = (0 - reinterpret_cast<uintptr_t>(b)) & (sizes::kTensorAlign - 1);
    return b + (pad & (0 - tensor));
  }
  char* inline_value() { return const_cast<char*>(std::as_const(*this).inline_value()); }

  std::string_view value() const {
    if (external()) {
      ExternalBlock* b = ext();
      return {b->value(), b->value_size};
    }
    return {inline_value(), (sizes >> sizes::kLenBits) & sizes::kLenMask};
  }
  std::string_view key() const {
    if (external()) {
      ExternalBlock* b = ext();
      return {b->key(), b->key_size};
    }
    size_t vlen = (sizes >> sizes::kLenBits) & sizes::kLenMask;
    return {inline_value() + ((vlen + 7) & ~size_t{7}), sizes & sizes::kLenMask};
  }
  // Fills an inline item whose sizes word (lengths and kind) is already set.
  void WriteInline(std::string_view key, std::string_view value) {
    char* v = inline_value();
    std::memcpy(v, value.data(), value.size());
    std::memcpy(v + ((value.size() + 7) & ~size_t{7}), key.data(), key.size());
  }

  int64_t* ExpirySlot() const {
    return reinterpret_cast<int64_t*>(const_cast<char*>(reinterpret_cast<const char*>(this)) +
                                      sizeof(Item));
  }

  uint32_t load_state() const { return state.load(std::memory_order_relaxed); }
  bool linked() const { return load_state() & state::kLinked; }
  uint32_t hot() const { return (load_state() & state::kHotMask) >> state::kHotShift; }
  uint8_t policy_byte() const { return static_cast<uint8_t>(load_state() >> state::kPolicyShift); }

  // Writer-side (exclusive lock) updates of the policy byte and hot bits; atomic because
  // Handles may unpin concurrently.
  void set_policy_byte(uint8_t v) {
    uint32_t cur = state.load(std::memory_order_relaxed);
    while (!state.compare_exchange_weak(
        cur, (cur & ~state::kPolicyMask) | (uint32_t{v} << state::kPolicyShift),
        std::memory_order_relaxed)) {
    }
  }
  void set_hot(uint32_t v) {
    uint32_t cur = state.load(std::memory_order_relaxed);
    while (!state.compare_exchange_weak(cur, (cur & ~state::kHotMask) | (v << state::kHotShift),
                                        std::memory_order_relaxed)) {
    }
  }
  // Reader-side: raises the hot counter by one, saturating at 3.
  void BumpHot() {
    uint32_t cur = state.load(std::memory_order_relaxed);
    while ((cur & state::kHotMask) != state::kHotMask) {
      if (state.compare_exchange_weak(cur, cur + (1u << state::kHotShift),
                                      std::memory_order_relaxed)) {
        return;
      }
    }
  }
  // Reader-side: sets the hot counter to at least 1.
  void MarkHot() {
    if ((state.load(std::memory_order_relaxed) & state::kHotMask) == 0) {
      state.fetch_or(1u << state::kHotShift, std::memory_order_relaxed);
    }
  }
};
static_assert(sizeof(Item) == 16, "the item header is part of the per-item overhead budget");

}  // namespace kvcache::internal
