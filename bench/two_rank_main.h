// two_rank_main.h — the driver the runtime-level benchmarks share (task_bench, object_bench):
// ferry::init on exactly 2 ranks; rank 1 serves (runs what rank 0 submits) until rank 0, after the
// last benchmark, submits `bench.stop` to it; rank 0 runs Google Benchmark between `setup` and
// `teardown` (which create and release what the benchmarks use on rank 1). Errors: a message on
// stderr and exit code 1.
#pragma once

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <exception>

#include "ferry/ferry.h"
#include "ferry/init.h"

namespace ferry_bench {

inline std::atomic<bool> g_stop{false};
inline void stop() {
  g_stop.store(true);
  g_stop.notify_all();
}
inline const auto stop_fn = ferry::function<&stop>("bench.stop");

template <class Setup, class Teardown>
int run_two_ranks(int argc, char** argv, const char* name, Setup setup, Teardown teardown) {
  try {
    ferry::Session s = ferry::init(argc, argv);
    if (s.size() != 2) {
      std::fprintf(stderr, "%s: run with exactly 2 ranks (ferry-run -n 2 %s)\n", name, argv[0]);
      return 1;
    }
    if (s.rank() == 1) {
      // Blocks (no timed wake-ups: on 2 cores each one preempts a polling thread).
      g_stop.wait(false);
    } else {
      setup();
      benchmark::Initialize(&argc, argv);
      benchmark::RunSpecifiedBenchmarks();
      benchmark::Shutdown();
      teardown();
      stop_fn.on(ferry::rank{1}).remote().get();
    }
    s.shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace ferry_bench
