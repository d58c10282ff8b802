#include "server/tick_clock.h"

#include <thread>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace kvcache::server {
namespace tick_internal {
namespace {

bool UseTsc() {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  return __get_cpuid(0x80000007, &a, &b, &c, &d) && ((d >> 8) & 1) != 0;
#else
  return false;
#endif
}

}  // namespace

const bool kUseTsc = UseTsc();

}  // namespace tick_internal

double MicrosPerTick() {
  static const double kValue = [] {
    if (!tick_internal::kUseTsc) return 1e-3;
    const auto c0 = std::chrono::steady_clock::now();
    const uint64_t t0 = TicksNow();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const uint64_t t1 = TicksNow();
    const double us =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - c0).count();
    return t1 > t0 ? us / static_cast<double>(t1 - t0) : 1e-3;
  }();
  return kValue;
}

}  // namespace kvcache::server
