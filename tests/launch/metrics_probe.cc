// ferry_metrics_probe — a workload of known size that then waits, so the metrics can be read
// from outside while the ranks run (tests/launch/metrics-endpoint.sh).
//
//   FERRY_PROBE_RELEASE=FILE ferry-run -n 2 ferry_metrics_probe
//
// Every rank: 10 puts of 1000-byte objects, 20 no-op tasks on the next rank, a get of all 20
// results and of the 10 puts (30 gets). Its ferry::stats() must then show exactly that; it
// prints "ready <rank>" and waits (at most 60 s) until FILE exists, then shuts down and prints
// "rank R/N: metrics probe ok". Exits 1 on any mismatch.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "ferry/stats.h"

namespace {

int noop(int x) { return x; }
inline const auto noop_fn = ferry::function<&noop>("metrics_probe.noop");

int check(const char* what, std::uint64_t got, std::uint64_t want) {
  if (got == want) return 0;
  std::fprintf(stderr, "metrics probe: %s = %llu, expected %llu\n", what, static_cast<unsigned long long>(got),
               static_cast<unsigned long long>(want));
  return 1;
}

}  // namespace

int main(int argc, char** argv) try {
  const char* release = std::getenv("FERRY_PROBE_RELEASE");
  if (!release || !*release) {
    std::fprintf(stderr, "metrics probe: set FERRY_PROBE_RELEASE to a file name\n");
    return 2;
  }
  ferry::Session s = ferry::init(argc, argv);
  const unsigned me = s.rank(), n = s.size();
  std::vector<ferry::ObjectRef<std::vector<std::uint8_t>>> puts;
  for (int i = 0; i < 10; ++i) puts.push_back(ferry::put(std::vector<std::uint8_t>(1000, std::uint8_t(i))));
  std::vector<ferry::ObjectRef<int>> tasks;
  for (int i = 0; i < 20; ++i) tasks.push_back(noop_fn.on(ferry::rank{(me + 1) % n}).remote(i));
  int bad = 0;
  const std::vector<int> got = ferry::get(tasks);
  for (int i = 0; i < 20; ++i) bad += got[i] != i;
  for (auto& p : puts) bad += p.get().size() != 1000;
  s.barrier();  // every rank's tasks are done: executed counts are final
  const ferry::Stats st = ferry::stats();
  bad += check("puts", st.puts, 10) + check("put_bytes", st.put_bytes, 10 * 1000) +
         check("tasks_submitted", st.tasks_submitted, 20) + check("tasks_finished", st.tasks_finished, 20) +
         check("tasks_failed", st.tasks_failed, 0) + check("tasks_in_flight", st.tasks_in_flight, 0) +
         check("tasks_executed", st.tasks_executed, 20) + check("gets", st.gets, 30) +
         check("get_bytes", st.get_bytes, 10 * 1000 + 20 * sizeof(int)) + check("rank", st.rank, me) +
         check("running", st.running ? 1 : 0, 1) + check("owned_bytes", st.owned_bytes, 10 * 1000);
  std::printf("ready %u\n", me);
  std::fflush(stdout);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!std::filesystem::exists(release)) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "metrics probe: %s did not appear within 60 s\n", release);
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  s.barrier();
  s.shutdown();
  if (bad) return 1;
  std::printf("rank %u/%u: metrics probe ok\n", me, n);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "metrics probe: %s\n", e.what());
  return 1;
}
