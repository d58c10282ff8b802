// RwSpinLock's slow path: sleeping on the lock word with a futex.
#include "core/rw_spinlock.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bit>
#include <climits>

namespace kvcache::internal {
namespace {

static_assert(std::endian::native == std::endian::little, "the futex word is the low half");

long Futex(std::atomic<uint64_t>* word, int op, uint32_t value) {
  // The low 32 bits of the word: reader count, writer bit, sleepers bit, low count bits.
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

}  // namespace

void RwSpinLock::Sleep() {
  uint64_t cur = word_.load(std::memory_order_relaxed);
  if ((cur & kWriter) == 0) return;
  if ((cur & kSleepers) == 0) {
    // If the word changed meanwhile (the writer left, or readers came and went), look again
    // rather than sleep on a stale value.
    if (!word_.compare_exchange_strong(cur, cur | kSleepers, std::memory_order_relaxed)) return;
    cur |= kSleepers;
  }
  // Returns at once if the low half is no longer `cur` (the writer unlocked, clearing both
  // bits); otherwise when the writer's unlock wakes it, or spuriously. The caller looks again.
  Futex(&word_, FUTEX_WAIT_PRIVATE, static_cast<uint32_t>(cur));
}

void RwSpinLock::WakeSleepers() { Futex(&word_, FUTEX_WAKE_PRIVATE, INT_MAX); }

}  // namespace kvcache::internal
