// fib — driver mode: rank 0 runs the program, every other rank serves its tasks.
//
//   ferry-run -n 4 ferry_fib [--n N]                (also mpirun, srun --mpi=pmix, or one rank)
//
// The driver computes fib(N) three ways and checks each against a local loop:
//   1. nested tasks that block in get() (the waiting executor thread runs other tasks meanwhile),
//   2. coroutine tasks that co_await their children (no thread waits at all),
//   3. a typed future chain: get_async().then(...) and when_all over a fan-out.
// Each function is named once (FERRY_REMOTE); one header; no barrier, no explicit shutdown:
// ferry::run ends the job when the driver returns (or aborts it if the driver throws).
// Prints "fib: ... ok" per rank; exits 1 on any wrong result.
#include <cstdio>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"

namespace {

long fib_blocking(int n);
FERRY_REMOTE(fib_blocking);
long fib_blocking(int n) {
  if (n < 2) return n;
  auto a = fib_blocking_fn.remote(n - 1);
  auto b = fib_blocking_fn.remote(n - 2);
  return a.get() + b.get();
}

ferry::task<long> fib_co(int n);
FERRY_REMOTE(fib_co);
ferry::task<long> fib_co(int n) {
  if (n < 2) co_return n;
  auto a = fib_co_fn.remote(n - 1);
  auto b = fib_co_fn.remote(n - 2);
  const long x = co_await a;
  const long y = co_await b;
  co_return x + y;
}

long square(long x) { return x * x; }
FERRY_REMOTE(square);

long fib_loop(int n) {
  long a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    const long c = a + b;
    a = b;
    b = c;
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = static_cast<int>(example::int_arg(argc, argv, "--n", 20));
  const int rc = ferry::run(argc, argv, [n] {
    const long want = fib_loop(n);
    EXAMPLE_CHECK(fib_blocking_fn.remote(n).get() == want, "nested blocking fib is wrong");
    EXAMPLE_CHECK(fib_co_fn.remote(n).get() == want, "coroutine fib is wrong");
    // A future chain: fib(n) squared, as a string, without blocking until the end.
    auto text = fib_co_fn.remote(n).get_async().then([](long v) { return square_fn.remote(v).get_async(); }).then(
        [](long v) { return std::to_string(v); });
    EXAMPLE_CHECK(text.get() == std::to_string(want * want), "the future chain is wrong");
    std::vector<ferry::ObjectRef<long>> squares;
    for (long i = 0; i < 100; ++i) squares.push_back(square_fn.on(i % ferry::world_size()).remote(i));
    long sum = 0;
    for (long v : ferry::when_all(squares).get()) sum += v;
    EXAMPLE_CHECK(sum == 328350, "when_all over a fan-out is wrong");
    std::printf("fib: driver on %u rank(s) computed fib(%d) = %ld three ways\n", ferry::world_size(), n, want);
  });
  if (rc == 0) std::printf("fib: this rank finished ok\n");
  return rc;
}
