// RwSpinLock: a reader-writer spin lock for short critical sections (a shard's index probe),
// which also counts the lookups made under it.
//
// Readers (lookups) share it and never wait for each other; a writer (insert, erase, eviction)
// announces itself by setting the writer bit, which turns new readers away, then waits for the
// readers inside to leave. Waiting for a writer spins with a pause, then yields the CPU a few
// times, then sleeps on a futex until the writer leaves: a writer may hold the lock for
// milliseconds (a write that faults in a fresh huge page, zeroed by a virtual machine's host),
// and yielding all that time cost 9% of the server's CPU while `redis-benchmark -d 4096` filled
// 2 GB. Waiting for readers only spins and yields: they hold it for a lookup.
//
// The 64-bit word holds the reader count (bits 0-15), the writer bit (16), a bit saying that
// someone sleeps on the word (17) and, above, a count of counted shared acquisitions: a lookup
// that takes the lock with lock_shared_counted() is counted by the same atomic add that admits
// it, so the shard's hit counter costs no second read-modify-write on the hot path. A writer's
// unlock wakes the sleepers only when that bit is set, which costs nothing otherwise.
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
    uint32_t waits = 0;
    uint64_t cur = word_.load(std::memory_order_relaxed);
    for (;;) {
      if ((cur & kWriter) == 0) {
        if (word_.compare_exchange_weak(cur, cur | kWriter, std::memory_order_acquire,
                                        std::memory_order_relaxed)) {
          break;
        }
        CpuRelax();  // readers came or went
      } else {
        WaitForWriter(&waits);
      }
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
  void unlock() {
    if (word_.fetch_and(~(kWriter | kSleepers), std::memory_order_release) & kSleepers) {
      WakeSleepers();
    }
  }

  uint64_t counted_acquisitions() const {
    return word_.load(std::memory_order_relaxed) >> kCountShift;
  }

 private:
  static constexpr uint64_t kReader = 1;
  static constexpr uint64_t kReaderMask = 0xFFFF;
  static constexpr uint64_t kWriter = uint64_t{1} << 16;
  static constexpr uint64_t kSleepers = uint64_t{1} << 17;
  static constexpr uint32_t kCountShift = 18;
  static constexpr uint64_t kCount = uint64_t{1} << kCountShift;
  static constexpr uint32_t kSpins = 64;   // pauses before the first yield
  static constexpr uint32_t kYields = 16;  // yields before sleeping

  void LockShared(uint64_t add) {
    uint32_t waits = 0;
    for (;;) {
      uint64_t prev = word_.fetch_add(add, std::memory_order_acquire);
      if ((prev & kWriter) == 0) return;
      word_.fetch_sub(add, std::memory_order_relaxed);
      while (word_.load(std::memory_order_relaxed) & kWriter) WaitForWriter(&waits);
    }
  }
  // One step of waiting while a writer holds the lock: a pause, later a yield, later a sleep
  // until the writer unlocks.
  void WaitForWriter(uint32_t* waits) {
    const uint32_t n = (*waits)++;
    if (n < kSpins) {
      CpuRelax();
    } else if (n < kSpins + kYields) {
      std::this_thread::yield();
    } else {
      Sleep();
    }
  }
  void Sleep();         // rw_spinlock.cc
  void WakeSleepers();  // rw_spinlock.cc

  std::atomic<uint64_t> word_{0};
};

}  // namespace kvcache::internal
