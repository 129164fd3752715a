// task_bench — Google Benchmark figures of tasks and actors, run as 2 ranks:
//   ferry-run -n 2 ferry_bench_task [--benchmark_* flags]
// Rank 0 runs the benchmarks; rank 1 executes what it is sent (its main thread waits until
// rank 0 sends it a `stop` task after the last benchmark; then both shut down).
//   task_sync_rtt             submit a no-op to rank 1 and get it: one task round trip
//   task_async/<batch>        rank 0 -> rank 1: submit <batch> no-ops, then get them all
//   task_async_all/<batch>    every rank -> every rank: rank 0 submits <batch>/2 no-ops to rank 1
//                             while a driver task on rank 1 submits <batch>/2 to rank 0
//   chain/<links>             a chain of links alternating between the ranks, each taking the
//                             previous link's ref; reported time is per link
//   actor_call_rtt            call a no-op method of an actor on rank 1 and get the result
//   task_value_arg_rtt / task_ref_arg_rtt  a one-argument task on rank 1, the argument a value /
//                             a ref to a small object rank 0 put (sent inline: the same cost)
// Every benchmark reports tasks_per_s (a rate counter). Use FERRY_PROGRESS=busy for latency and
// UCX_TLS to pick the path; bench/compare-limits.sh runs this beside ucx_perftest.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "two_rank_main.h"

namespace {

// Steady state: a warm-up run first (fresh hash-table and allocator memory costs page faults, ~10 us
// each on some VMs), as ucx_perftest warms up with -w.
constexpr double kWarmUpSeconds = 0.2;

void noop() {}
std::uint64_t next_link(std::uint64_t prev) { return prev + 1; }

inline const auto noop_fn = ferry::function<&noop>("bench.noop");
inline const auto link_fn = ferry::function<&next_link>("bench.next_link");

// Runs on rank 1: submits `n` no-ops to rank 0 and waits for them (the other half of "all -> all").
std::uint64_t drive(std::uint64_t n) {
  std::vector<ferry::ObjectRef<ferry::none>> refs;
  refs.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) refs.push_back(noop_fn.on(ferry::rank{0}).remote());
  (void)ferry::get(refs);
  return n;
}
inline const auto drive_fn = ferry::function<&drive>("bench.drive");

struct Echo {
  int ping(int x) { return x; }
};
inline const auto echo_class = ferry::actor_class<Echo>("bench.Echo");
inline const auto echo_ping = ferry::method<&Echo::ping>("bench.Echo::ping");

void count_tasks(benchmark::State& state, double tasks_per_iteration) {
  state.counters["tasks_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * tasks_per_iteration, benchmark::Counter::kIsRate);
}

void task_sync_rtt(benchmark::State& state) {
  for (auto _ : state) noop_fn.on(ferry::rank{1}).remote().get();
  count_tasks(state, 1);
}
BENCHMARK(task_sync_rtt)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

// The same one-argument task with its argument passed as a value and as a ref to a small
// object this rank owns (inlined into the submit record: no locate round trip).
void task_value_arg_rtt(benchmark::State& state) {
  for (auto _ : state)
    if (link_fn.on(ferry::rank{1}).remote(std::uint64_t{41}).get() != 42) state.SkipWithError("wrong value");
  count_tasks(state, 1);
}
BENCHMARK(task_value_arg_rtt)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

void task_ref_arg_rtt(benchmark::State& state) {
  const auto x = ferry::put(std::uint64_t{41});
  for (auto _ : state)
    if (link_fn.on(ferry::rank{1}).remote(x).get() != 42) state.SkipWithError("wrong value");
  count_tasks(state, 1);
}
BENCHMARK(task_ref_arg_rtt)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

void task_async(benchmark::State& state) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  std::vector<ferry::ObjectRef<ferry::none>> refs;
  refs.reserve(batch);
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i) refs.push_back(noop_fn.on(ferry::rank{1}).remote());
    (void)ferry::get(refs);
    refs.clear();
  }
  count_tasks(state, static_cast<double>(batch));
}
BENCHMARK(task_async)->Arg(1000)->Arg(10000)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

void task_async_all(benchmark::State& state) {
  const auto half = static_cast<std::uint64_t>(state.range(0) / 2);
  std::vector<ferry::ObjectRef<ferry::none>> refs;
  refs.reserve(half);
  for (auto _ : state) {
    auto other = drive_fn.on(ferry::rank{1}).remote(half);
    for (std::uint64_t i = 0; i < half; ++i) refs.push_back(noop_fn.on(ferry::rank{1}).remote());
    (void)ferry::get(refs);
    refs.clear();
    if (other.get() != half) state.SkipWithError("the driver task on rank 1 ran a wrong number of tasks");
  }
  count_tasks(state, 2.0 * static_cast<double>(half));
}
BENCHMARK(task_async_all)->Arg(2000)->Arg(20000)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

void chain(benchmark::State& state) {
  const auto links = static_cast<std::uint64_t>(state.range(0));
  std::vector<ferry::ObjectRef<std::uint64_t>> refs;
  refs.reserve(links + 1);
  for (auto _ : state) {
    refs.push_back(ferry::put(std::uint64_t{0}));
    for (std::uint64_t i = 0; i < links; ++i)
      refs.push_back(link_fn.on(ferry::rank{static_cast<std::uint32_t>((i + 1) % 2)}).remote(refs.back()));
    if (refs.back().get() != links) state.SkipWithError("the chain computed a wrong value");
    refs.clear();
  }
  count_tasks(state, static_cast<double>(links));
  // Time per link, as a rate inverted: seconds per link.
  state.counters["s_per_link"] = benchmark::Counter(static_cast<double>(state.iterations() * links),
                                                    benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(chain)->Arg(100)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

ferry::actor<Echo> g_echo;

void actor_call_rtt(benchmark::State& state) {
  int i = 0;
  for (auto _ : state) {
    ++i;
    if (g_echo.call(echo_ping, i).get() != i) state.SkipWithError("the actor echoed a wrong value");
  }
  count_tasks(state, 1);
}
BENCHMARK(actor_call_rtt)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return ferry_bench::run_two_ranks(
      argc, argv, "task_bench", [] { g_echo = echo_class.on(ferry::rank{1}).create(); },
      [] {
        g_echo.kill();
        g_echo = ferry::actor<Echo>();
      });
}
