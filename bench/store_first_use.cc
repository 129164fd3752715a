// store_first_use — a job's first use of its object store against its later uses (bench/data-limits.sh).
//   ferry-run -n 1 ferry_bench_store_first_use [MiB] [passes]
// Rank 0 times its ferry::init, then `passes` passes (default 3) that each put MiB (default 1024) of
// 64 MiB objects (one copy from a warm buffer into the arena), read each back with get() (one copy out
// into a fresh vector) and drop them. Pass 1 meets fresh arena pages; later passes reuse them.
// Prints one line per pass, "store_first_use: init_ms=... pass=N ms=... GBps=..." and a summary with
// first/later (later = the median of passes 2..N). Run it with FERRY_STORE_PREFAULT=0 for the cold
// baseline (bench/data-limits.sh runs both). FERRY_STORE_BYTES must hold MiB + 64 MiB.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ferry/ferry.h"

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }
}  // namespace

int main(int argc, char** argv) {
  const std::size_t mib = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1024;
  const int passes = argc > 2 ? std::atoi(argv[2]) : 3;
  const auto t0 = Clock::now();
  ferry::Session s = ferry::init(argc, argv);
  const double init_ms = ms_since(t0);
  if (s.rank() == 0) {
    constexpr std::size_t kObject = std::size_t{64} << 20;
    const std::vector<std::byte> value(kObject, std::byte{0x5a});  // warm source
    std::vector<double> times;
    for (int pass = 1; pass <= passes; ++pass) {
      const auto t = Clock::now();
      std::vector<ferry::ObjectRef<std::vector<std::byte>>> refs;
      for (std::size_t done = 0; done + 64 <= mib; done += 64) refs.push_back(ferry::put(value));
      for (const auto& r : refs)
        if (r.get().back() != std::byte{0x5a}) {
          std::fprintf(stderr, "store_first_use: wrong bytes\n");
          return 1;
        }
      refs.clear();
      times.push_back(ms_since(t));
      std::printf("store_first_use: init_ms=%.1f pass=%d ms=%.1f GBps=%.2f\n", init_ms, pass, times.back(),
                  static_cast<double>(mib << 20) / times.back() / 1e6);
    }
    if (times.size() > 1) {
      std::vector<double> later(times.begin() + 1, times.end());
      std::nth_element(later.begin(), later.begin() + later.size() / 2, later.end());
      const double med = later[later.size() / 2];
      std::printf("store_first_use: summary init_ms=%.1f first_ms=%.1f later_ms=%.1f first_over_later=%.2f\n",
                  init_ms, times.front(), med, times.front() / med);
    }
  }
  s.shutdown();
  return 0;
}
