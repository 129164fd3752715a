// big_get — large objects between ranks through get() (SPMD: every rank is a driver).
//
//   ferry-run -n 2 ferry_big_get [--mib N] [--rounds R]   (also mpirun, srun --mpi=pmix, or one rank)
//
// Each rank asks the next rank (me + 1) % size to make a vector<double> of N MiB (default 64) with a
// task, so the object lives in that rank's store, and reads it with get() R times (default 3): a
// remote one-sided read into a fresh vector each time. It checks every element and prints the time of
// each get and whether the process started with GLIBC_TUNABLES naming hugetlb (ferry-run sets it,
// mpirun and srun do not; the runtime prepares large destinations itself either way). Times are
// for information only. Prints "rank R/S: ... ok" per rank; exits 1 on any wrong value.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"
#include "ferry/init.h"

namespace {

double value_at(std::uint64_t seed, std::size_t i) { return static_cast<double>(seed * 1000003 + i); }

std::vector<double> make_block(std::uint64_t seed, std::uint64_t count) {
  std::vector<double> v(count);
  for (std::size_t i = 0; i < count; ++i) v[i] = value_at(seed, i);
  return v;
}
inline const auto make_block_fn = ferry::function<&make_block>("big_get.make_block");

void run(ferry::Session& s, int argc, char** argv) {
  const auto mib = static_cast<std::uint64_t>(example::int_arg(argc, argv, "--mib", 64));
  const long rounds = example::int_arg(argc, argv, "--rounds", 3);
  const unsigned me = s.rank(), size = s.size(), from = (me + 1) % size;
  const std::uint64_t count = (mib << 20) / sizeof(double), seed = 17 + me;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  const bool hugetlb = tunables && std::strstr(tunables, "hugetlb");

  auto block = make_block_fn.on(ferry::rank{from}).remote(seed, count);
  std::string times;
  for (long r = 0; r < rounds; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<double> got = block.get();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    EXAMPLE_CHECK(got.size() == count, "a get returned " + std::to_string(got.size()) + " elements");
    for (std::size_t i = 0; i < count; ++i)
      if (got[i] != value_at(seed, i)) example::fail("element " + std::to_string(i) + " differs");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.1f", r ? " " : "", ms);
    times += buf;
    // Each later get reads the cached copy here; drop it so every round reads from the other rank.
    if (r + 1 < rounds && size > 1) {
      block.reset();
      block = make_block_fn.on(ferry::rank{from}).remote(seed, count);
    }
  }
  block.reset();
  s.shutdown();
  std::printf("rank %u/%u: %llu MiB from rank %u, get ms [%s], GLIBC_TUNABLES hugetlb %s ok\n", me, size,
              static_cast<unsigned long long>(mib), from, times.c_str(), hugetlb ? "yes" : "no");
}

}  // namespace

int main(int argc, char** argv) try {
  ferry::Session s = ferry::init(argc, argv);
  return example::guarded("big_get", s, [&] { run(s, argc, argv); });
} catch (const std::exception& e) {
  std::fprintf(stderr, "big_get: %s\n", e.what());
  return 1;
}
