// commit-cost: the CPU it takes to commit anonymous memory, by page fault or by
// madvise(MADV_POPULATE_WRITE), with and without transparent huge pages (docs/design.md, item
// memory).
//
//   commit-cost [--mib 1024] [--rounds 3] [--pause-ms 5000]
//
// Each round maps --mib MiB per method, in turn, and prints the CPU time (user + system, from
// getrusage) per 4 KiB committed, twice:
//   fresh   after --pause-ms of sleep. In a virtual machine whose kernel reports free memory to
//           the host (virtio-balloon free page reporting, about 2 s after the memory is freed),
//           the host has then taken back what the last measurement freed, and must back the
//           memory again on first touch: what a newly started server pays to fill its memory.
//   reused  at once, in the memory the fresh measurement has just freed, still backed by the
//           host: what a process pays for memory freed a moment ago (or any process on bare
//           metal).
// The methods:
//   touch-4k        one write per 4 KiB page, THP off (a page fault each)
//   touch-thp       the same with MADV_HUGEPAGE (a fault per 2 MiB, the rest hits)
//   populate-64k    one madvise(MADV_POPULATE_WRITE) per 64 KiB, THP off
//   populate-thp    one madvise(MADV_POPULATE_WRITE) per 2 MiB with MADV_HUGEPAGE (the arena)
#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

double CpuSeconds() {
  rusage r{};
  getrusage(RUSAGE_SELF, &r);
  return static_cast<double>(r.ru_utime.tv_sec + r.ru_stime.tv_sec) +
         static_cast<double>(r.ru_utime.tv_usec + r.ru_stime.tv_usec) / 1e6;
}

struct Method {
  const char* name;
  bool huge;
  size_t populate_step;  // 0: touch every 4 KiB page instead
};

// CPU microseconds per 4 KiB to commit `bytes` with method m, or a negative value on failure.
double Measure(const Method& m, size_t bytes) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return -1;
  auto* base = static_cast<char*>(p);
  madvise(base, bytes, m.huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  const double start = CpuSeconds();
  bool ok = true;
  if (m.populate_step == 0) {
    for (size_t off = 0; off < bytes; off += 4096) base[off] = 1;
  } else {
    for (size_t off = 0; off < bytes && ok; off += m.populate_step) {
      ok = madvise(base + off, m.populate_step, MADV_POPULATE_WRITE) == 0;
    }
  }
  const double cpu = CpuSeconds() - start;
  munmap(base, bytes);
  if (!ok) return -1;
  return cpu * 1e6 / static_cast<double>(bytes / 4096);
}

}  // namespace

int main(int argc, char** argv) {
  size_t mib = 1024;
  int rounds = 3;
  long pause_ms = 5000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--mib") {
      mib = std::strtoull(argv[i + 1], nullptr, 10);
    } else if (flag == "--rounds") {
      rounds = std::atoi(argv[i + 1]);
    } else if (flag == "--pause-ms") {
      pause_ms = std::atol(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: commit-cost [--mib 1024] [--rounds 3] [--pause-ms 5000]\n");
      return 2;
    }
  }
  // Huge pages only cover 2 MiB-aligned ranges: round the size up to whole ones.
  const size_t bytes = ((mib << 20) + (2 << 20) - 1) & ~size_t{(2 << 20) - 1};
  const Method methods[] = {{"touch-4k", false, 0},
                            {"touch-thp", true, 0},
                            {"populate-64k", false, 64 << 10},
                            {"populate-thp", true, 2 << 20}};
  for (int r = 0; r < rounds; ++r) {
    std::printf("round %d:", r);
    for (const Method& m : methods) {
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      const double fresh = Measure(m, bytes);
      const double reused = Measure(m, bytes);
      if (fresh < 0 || reused < 0) {
        std::printf(" %s failed (%s);", m.name, std::strerror(errno));
      } else {
        std::printf(" %s fresh %.2f reused %.2f;", m.name, fresh, reused);
      }
    }
    std::printf(" CPU us per 4 KiB committed, %zu MiB each\n", bytes >> 20);
    std::fflush(stdout);
  }
  return 0;
}
