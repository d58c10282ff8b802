// Ticks: a cheap monotonic clock for timing commands (INFO commandstats). Reading the system
// clock costs ~50-100 ns through the vDSO with a paravirtual clock source, and timing every
// command twice that way was ~2% of the server's CPU at pipeline depth 16. Redis's monotonic
// clock reads the processor's counter for the same reason. On x86-64 with an invariant TSC
// (CPUID 0x80000007 EDX bit 8) a tick is a TSC cycle; elsewhere a steady_clock nanosecond.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace kvcache::server {

namespace tick_internal {
extern const bool kUseTsc;  // decided once, at static initialization
}  // namespace tick_internal

inline uint64_t TicksNow() {
#if defined(__x86_64__)
  if (tick_internal::kUseTsc) return __rdtsc();
#endif
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

// Microseconds per tick, measured once against the steady clock (~10 ms, on first use).
double MicrosPerTick();

}  // namespace kvcache::server
