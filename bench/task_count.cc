// task_count — a fixed number of async no-op tasks, for instruction counting (bench/trace-overhead.sh
// runs each rank under valgrind --tool=callgrind):
//   ferry-run -n 2 [valgrind --tool=callgrind] ferry_bench_task_count N
// Rank 0 submits N no-ops to rank 1 in batches of 1000 and gets each batch (the workload of
// task_bench's task_async/1000), then stops rank 1; both shut down. Under callgrind each rank dumps
// its counts (part "tasks") when the tasks are done (rank 1: in the task that stops it), before
// shutdown (which writes a trace file when FERRY_TRACE is set: not the cost of a task). The
// difference of the dumped counts of two runs with different N, divided by the difference of N, is
// the cost of one task with start-up cancelled out. Outside valgrind the dump does nothing.
// Errors: a message on stderr and exit code 1.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"

#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_DUMP_STATS_AT(name)
#endif

namespace {

void noop() {}
inline const auto noop_fn = ferry::function<&noop>("bench.count.noop");

std::atomic<bool> g_done{false};
void finish() {
  CALLGRIND_DUMP_STATS_AT("tasks");
  g_done.store(true);
  g_done.notify_all();
}
inline const auto finish_fn = ferry::function<&finish>("bench.count.finish");

int run(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 0;
  if (n <= 0) {
    std::fprintf(stderr, "usage: ferry-run -n 2 %s N   (N > 0 tasks)\n", argv[0]);
    return 1;
  }
  ferry::Session s = ferry::init(argc, argv);
  if (s.size() != 2) {
    std::fprintf(stderr, "%s: run with exactly 2 ranks\n", argv[0]);
    return 1;
  }
  if (s.rank() == 1) {
    g_done.wait(false);  // blocks: no timed wake-ups to count
  } else {
    std::vector<ferry::ObjectRef<ferry::none>> refs;
    refs.reserve(1000);
    for (long done = 0; done < n;) {
      for (; refs.size() < 1000 && done < n; ++done) refs.push_back(noop_fn.on(ferry::rank{1}).remote());
      (void)ferry::get(refs);
      refs.clear();
    }
    CALLGRIND_DUMP_STATS_AT("tasks");
    finish_fn.on(ferry::rank{1}).remote().get();
    std::printf("task_count: %ld tasks done\n", n);
  }
  s.shutdown();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "task_count: %s\n", e.what());
    return 1;
  }
}
