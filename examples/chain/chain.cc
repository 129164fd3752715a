// chain — a dependency chain of K tasks, each taking the previous task's ref (SPMD).
//
//   ferry-run -n 2 ferry_chain [--links K]        (also mpirun, srun --mpi=pmix, or one rank)
//
// Each rank builds a chain x_0 = seed, x_{i+1} = step(x_i, i), link i placed on rank
// (me + i) % size, so consecutive links hop between ranks and every argument is a ref to an
// object produced elsewhere. The whole chain is submitted before anything completes; only the
// last ref is read (ferry::get), then ferry::wait checks that every link is ready, and a sample
// of intermediate links is compared with the same recurrence computed locally.
// A second, nested chain is built inside a task (`grow`): tasks submitted from a task.
// Prints "rank R/S: ... ok" per rank; exits 1 on any wrong result.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"
#include "ferry/init.h"

namespace {

constexpr std::uint64_t kMod = 1000000007ull;

std::uint64_t step(std::uint64_t prev, std::uint64_t i) { return (prev * 31 + i + 7) % kMod; }
inline const auto step_fn = ferry::function<&step>("chain.step");

// Runs inside a task: extends a chain by `links` links from `start`, placed round robin from
// this rank, and returns the last value (nested submission: this rank owns those links).
std::uint64_t grow(std::uint64_t start, std::uint64_t links) {
  ferry::Runtime* rt = ferry::Runtime::current();
  // Every link's ref is kept until the end: this task owns them, and an input must stay alive
  // until the task reading it is done.
  std::vector<ferry::ObjectRef<std::uint64_t>> links_made{ferry::put(start)};
  for (std::uint64_t i = 0; i < links; ++i)
    links_made.push_back(step_fn.on(ferry::rank{static_cast<std::uint32_t>((rt->rank() + i + 1) % rt->size())})
                             .remote(links_made.back(), i));
  return links_made.back().get();
}
inline const auto grow_fn = ferry::function<&grow>("chain.grow");

std::uint64_t local_chain(std::uint64_t x, std::uint64_t links) {
  for (std::uint64_t i = 0; i < links; ++i) x = step(x, i);
  return x;
}

void run(ferry::Session& s, int argc, char** argv) {
  const auto links = static_cast<std::uint64_t>(example::int_arg(argc, argv, "--links", 100));
  const unsigned me = s.rank(), size = s.size();
  const std::uint64_t seed = 12345 + me;

  std::vector<ferry::ObjectRef<std::uint64_t>> chain{ferry::put(seed)};
  for (std::uint64_t i = 0; i < links; ++i)
    chain.push_back(step_fn.on(ferry::rank{static_cast<std::uint32_t>((me + i) % size)}).remote(chain.back(), i));

  const std::uint64_t last = chain.back().get();
  EXAMPLE_CHECK(last == local_chain(seed, links), "the chain's last value differs from the local recurrence");
  auto [ready, not_ready] = ferry::wait(chain, chain.size(), std::chrono::seconds(30));
  EXAMPLE_CHECK(ready.size() == chain.size() && not_ready.empty(), "a link is not ready after the last one");
  for (std::uint64_t i = 0; i <= links; i += 1 + links / 10)
    EXAMPLE_CHECK(chain[i].get() == local_chain(seed, i), "link " + std::to_string(i) + " differs");

  // A nested chain, built by a task running on the next rank.
  const std::uint64_t nested_links = links / 4 + 1;
  auto nested = grow_fn.on(ferry::rank{(me + 1) % size}).remote(seed, nested_links);
  EXAMPLE_CHECK(nested.get() == local_chain(seed, nested_links), "the nested chain's value differs");

  s.shutdown();
  std::printf("rank %u/%u: chain of %llu links (+%llu nested) verified ok\n", me, size,
              static_cast<unsigned long long>(links), static_cast<unsigned long long>(nested_links));
}

}  // namespace

int main(int argc, char** argv) try {
  ferry::Session s = ferry::init(argc, argv);  // throws ferry::Error with the reason if ferry cannot start
  return example::guarded("chain", s, [&] { run(s, argc, argv); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "chain: %s\n", e.what());
  return 1;
}
