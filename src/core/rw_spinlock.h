// RwSpinLock: a reader-writer spin lock for short critical sections (a shard's index probe),
// which also counts the lookups made under it.
//
// Readers (lookups) share it and never wait for each other; a writer (insert, erase, eviction)
// announces itself by setting the writer bit, which turns new readers away, then waits for the
// readers inside to leave. Waiting spins with a pause and yields the CPU after a while, so a
// preempted holder does not burn the other core.
//
// The 64-bit word holds the reader count (bits 0-15), the writer bit (16) and, above, a count
// of counted shared acquisitions: a lookup that takes the lock with lock_shared_counted() is
// counted by the same atomic add that admits it, so the shard's hit counter costs no second
// read-modify-write on the hot path.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace kvcache::internal {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#else
  std::atomic_signal_fence(std::memory_order_seq_cst);
#endif
}

class SpinWait {
 public:
  void Once() {
    if (++spins_ < 64) {
      CpuRelax();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  uint32_t spins_ = 0;
};

class RwSpinLock {
 public:
  void lock_shared() { LockShared(kReader); }
  // lock_shared() that also adds one to counted_acquisitions().
  void lock_shared_counted() { LockShared(kReader + kCount); }
  void unlock_shared() { word_.fetch_sub(kReader, std::memory_order_release); }

  void lock() {
    SpinWait w;
    uint64_t cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      if ((cur & kWriter) == 0 &&
          word_.compare_exchange_weak(cur, cur | kWriter, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
        break;
      }
      w.Once();
      cur = word_.load(std::memory_order_relaxed);
    }
    SpinWait drain;
    while (word_.load(std::memory_order_acquire) & kReaderMask) drain.Once();
  }
  bool try_lock() {
    uint64_t cur = word_.load(std::memory_order_relaxed);
    return (cur & (kWriter | kReaderMask)) == 0 &&
           word_.compare_exchange_strong(cur, cur | kWriter, std::memory_order_acquire,
                                         std::memory_order_relaxed);
  }
  void unlock() { word_.fetch_and(~kWriter, std::memory_order_release); }

  uint64_t counted_acquisitions() const {
    return word_.load(std::memory_order_relaxed) >> kCountShift;
  }

 private:
  static constexpr uint64_t kReader = 1;
  static constexpr uint64_t kReaderMask = 0xFFFF;
  static constexpr uint64_t kWriter = uint64_t{1} << 16;
  static constexpr uint32_t kCountShift = 17;
  static constexpr uint64_t kCount = uint64_t{1} << kCountShift;

  void LockShared(uint64_t add) {
    for (;;) {
      uint64_t prev = word_.fetch_add(add, std::memory_order_acquire);
      if ((prev & kWriter) == 0) return;
      word_.fetch_sub(add, std::memory_order_relaxed);
      SpinWait w;
      while (word_.load(std::memory_order_relaxed) & kWriter) w.Once();
    }
  }

  std::atomic<uint64_t> word_{0};
};

}  // namespace kvcache::internal
