// LargeArray<T>: a zero-initialised array of trivially copyable T for the engine's big
// metadata tables (index, ghost, frequency filter).
//
// Arrays of 64 KiB and more are mapped straight from the kernel and unmapped when freed:
// through malloc, a freed table could stay in the heap (glibc serves sizes under its moving
// mmap threshold from the heap, which rarely shrinks), and resident memory would drift above
// what the cache accounts for.
#pragma once

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>

namespace kvcache::internal {

template <typename T>
class LargeArray {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  LargeArray() = default;
  explicit LargeArray(size_t n) : size_(n) {
    if (n == 0) return;
    size_t bytes = n * sizeof(T);
    void* p;
    if (bytes >= kMapBytes) {
      p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        p = nullptr;
      } else if (bytes >= kHugeBytes) {
        madvise(p, bytes, MADV_HUGEPAGE);  // probed at random, like the arena
      }
    } else {
      p = std::calloc(n, sizeof(T));
    }
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
  }
  ~LargeArray() { Release(); }
  LargeArray(LargeArray&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  LargeArray& operator=(LargeArray&& o) noexcept {
    if (this != &o) {
      Release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  LargeArray(const LargeArray&) = delete;
  LargeArray& operator=(const LargeArray&) = delete;

  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  void Zero() {
    if (size_ != 0) std::memset(static_cast<void*>(data_), 0, size_ * sizeof(T));
  }
  size_t memory_bytes() const { return size_ * sizeof(T); }

 private:
  static constexpr size_t kMapBytes = 64 << 10;
  static constexpr size_t kHugeBytes = 2 << 20;
  void Release() {
    if (data_ == nullptr) return;
    if (size_ * sizeof(T) >= kMapBytes) {
      munmap(data_, size_ * sizeof(T));
    } else {
      std::free(data_);
    }
    data_ = nullptr;
    size_ = 0;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kvcache::internal
