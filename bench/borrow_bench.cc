// borrow_bench — the cost of borrowing on the async task rate, run as 2 ranks:
//   ferry-run -n 2 ferry_bench_borrow [--benchmark_* flags]
// Rank 0 submits batches of tasks to rank 1 and gets them all (as task_bench's task_async):
//   plain/<batch>  each task takes a 16-byte value argument (no ref travels)
//   borrow/<batch> each task takes an ObjectRef<Blob> parameter to an object rank 0 owns: rank 0
//                  holds it for the pending task, rank 1 decodes it as a covered argument (no
//                  registration: the task does not keep it; docs/ARCHITECTURE.md "Borrowers")
// Both report tasks_per_s; bench/borrow-cost.sh prints the ratio (target: borrow >= 0.9 x plain).
#include <benchmark/benchmark.h>

#include <array>
#include <optional>
#include <cstdint>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "two_rank_main.h"

namespace {

constexpr double kWarmUpSeconds = 0.2;
using Blob = std::vector<std::uint8_t>;
using Value16 = std::array<std::uint64_t, 2>;  // the size of a ref on the wire

std::uint64_t plain(Value16 v) { return v[0] + v[1]; }
std::uint64_t borrow(ferry::ObjectRef<Blob> r) { return r.id().counter(); }

inline const auto plain_fn = ferry::function<&plain>("bench.borrow.plain");
inline const auto borrow_fn = ferry::function<&borrow>("bench.borrow.borrow");

std::optional<ferry::ObjectRef<Blob>> g_object;  // rank 0's object whose ref the tasks borrow

template <class Submit>
void run_batches(benchmark::State& state, Submit submit) {
  const auto batch = static_cast<std::size_t>(state.range(0));
  std::vector<ferry::ObjectRef<std::uint64_t>> refs;
  refs.reserve(batch);
  for (auto _ : state) {
    for (std::size_t i = 0; i < batch; ++i) refs.push_back(submit(i));
    (void)ferry::get(refs);
    refs.clear();
  }
  state.counters["tasks_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}

void plain_tasks(benchmark::State& state) {
  run_batches(state, [](std::size_t i) { return plain_fn.on(ferry::rank{1}).remote(Value16{i, 1}); });
}
BENCHMARK(plain_tasks)->Name("plain")->Arg(1000)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

void borrow_tasks(benchmark::State& state) {
  run_batches(state, [](std::size_t) { return borrow_fn.on(ferry::rank{1}).remote(*g_object); });
}
BENCHMARK(borrow_tasks)->Name("borrow")->Arg(1000)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return ferry_bench::run_two_ranks(
      argc, argv, "ferry_bench_borrow", [] { g_object = ferry::put(Blob(1024, 7)); }, [] { g_object.reset(); });
}
