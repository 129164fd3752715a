// fan_out — fan-out / fan-in over every rank (SPMD: every rank is a driver).
//
//   ferry-run -n 2 ferry_fan_out [--tasks N]        (also mpirun, srun --mpi=pmix, or one rank)
//
// Each rank submits N `square` tasks, task i placed on rank (me + i) % size, and
//   1. checks every task ran where it was placed (`square` returns the executing rank too),
//   2. fans in twice: ferry::get of all N refs summed here, and a reduction tree of `add`
//      tasks whose arguments are the refs themselves (a DAG: no value passes through the driver),
//   3. compares both sums with the closed form sum_{i<N} (i + base)^2.
// Then it shuts down (shutdown keeps running the peers' tasks until every rank has called it).
// Prints "rank R/S: ... ok" per rank; exits 1 on any wrong result.
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"
#include "ferry/init.h"

namespace {

struct Squared {
  std::uint64_t value;
  std::uint32_t rank;  // where the task ran
};

Squared square(std::uint64_t x) { return Squared{x * x, ferry::Runtime::current()->rank()}; }
std::uint64_t value_of(const Squared& s) { return s.value; }
std::uint64_t add(std::uint64_t a, std::uint64_t b) { return a + b; }

inline const auto square_fn = ferry::function<&square>("fan_out.square");
inline const auto value_fn = ferry::function<&value_of>("fan_out.value_of");
inline const auto add_fn = ferry::function<&add>("fan_out.add");

// Sums refs pairwise with add tasks until one is left (tree depth log2 N).
ferry::ObjectRef<std::uint64_t> reduce(std::vector<ferry::ObjectRef<std::uint64_t>> level, unsigned size) {
  unsigned placement = 0;
  while (level.size() > 1) {
    std::vector<ferry::ObjectRef<std::uint64_t>> next;
    for (std::size_t i = 0; i + 1 < level.size(); i += 2)
      next.push_back(add_fn.on(ferry::rank{placement++ % size}).remote(level[i], level[i + 1]));
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  return level.front();
}

void run(ferry::Session& s, int argc, char** argv) {
  const auto n_tasks = static_cast<std::uint64_t>(example::int_arg(argc, argv, "--tasks", 200));
  const unsigned me = s.rank(), size = s.size();
  const std::uint64_t base = 1000 * me;  // each rank sums a different range

  std::vector<ferry::ObjectRef<Squared>> squares;
  for (std::uint64_t i = 0; i < n_tasks; ++i)
    squares.push_back(square_fn.on(ferry::rank{static_cast<std::uint32_t>((me + i) % size)}).remote(base + i));

  std::uint64_t expected = 0;
  for (std::uint64_t i = 0; i < n_tasks; ++i) expected += (base + i) * (base + i);

  // Fan-in 1: every result here.
  std::uint64_t sum = 0;
  std::vector<Squared> got = ferry::get(squares);
  for (std::uint64_t i = 0; i < n_tasks; ++i) {
    EXAMPLE_CHECK(got[i].value == (base + i) * (base + i), "task " + std::to_string(i) + " returned a wrong square");
    EXAMPLE_CHECK(got[i].rank == (me + i) % size, "task " + std::to_string(i) + " ran on the wrong rank");
    sum += got[i].value;
  }
  EXAMPLE_CHECK(sum == expected, "the gathered sum differs from the closed form");

  // Fan-in 2: a tree of add tasks over the refs (values never come back here until the root).
  std::vector<ferry::ObjectRef<std::uint64_t>> values;
  for (std::uint64_t i = 0; i < n_tasks; ++i)
    values.push_back(value_fn.on(ferry::rank{static_cast<std::uint32_t>((me + i + 1) % size)}).remote(squares[i]));
  const std::uint64_t tree_sum = reduce(std::move(values), size).get();
  EXAMPLE_CHECK(tree_sum == expected, "the reduction tree's sum differs from the closed form");

  s.shutdown();
  std::printf("rank %u/%u: fan_out of %llu tasks over %u rank(s), sum %llu verified twice ok\n", me, size,
              static_cast<unsigned long long>(n_tasks), size, static_cast<unsigned long long>(sum));
}

}  // namespace

int main(int argc, char** argv) try {
  ferry::Session s = ferry::init(argc, argv);  // throws ferry::Error with the reason if ferry cannot start
  return example::guarded("fan_out", s, [&] { run(s, argc, argv); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "fan_out: %s\n", e.what());
  return 1;
}
