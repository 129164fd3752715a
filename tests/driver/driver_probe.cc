// ferry_driver_probe — end-to-end checks of driver mode (ferry/driver.h), safe shutdown and the
// runtime barrier. Driven by driver_cases.sh under ferry-run; prints "driver ... ok" lines.
//
//   idle SECONDS   ferry::run: the driver sends a task to every worker, sleeps SECONDS while the
//                  workers idle in serve(), sends another round and returns 0 (exit 0 everywhere).
//   throw          ferry::run: the driver runs a task on every worker, then throws; every rank
//                  must exit non-zero and the workers print the driver's message.
//   early          SPMD without barriers: every rank but 0 calls shutdown() at once; rank 0 then
//                  (2 s later) runs tasks on every peer that read rank 0's objects and theirs.
//   barrier SECS   SPMD: two Session::barrier()s SECS apart (longer than the start-up timeout).
//   fib N          ferry::run: nested fib(N), each task submitting two tasks and blocking in get().
// Every wait is bounded (get timeouts; ferry-run --timeout in the script).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"

namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "driver probe: FAILED: %s\n", what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}
#define CHECK(cond) \
  do {              \
    if (!(cond)) fail(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond); \
  } while (0)

unsigned where_am_i(int x) { return ferry::this_rank() * 1000u + static_cast<unsigned>(x); }
FERRY_REMOTE(where_am_i);

long sum_both(const std::vector<long>& a, const std::vector<long>& b) {
  long s = 0;
  for (long v : a) s += v;
  for (long v : b) s += v;
  return s;
}
FERRY_REMOTE(sum_both);

std::vector<long> make_vec(long n) { return std::vector<long>(static_cast<std::size_t>(n), 1); }
FERRY_REMOTE(make_vec);

void round_trip(unsigned tag) {
  std::vector<ferry::ObjectRef<unsigned>> refs;
  for (unsigned r = 1; r < ferry::world_size(); ++r) refs.push_back(where_am_i_fn.on(r).remote(int(tag)));
  for (unsigned r = 1; r < ferry::world_size(); ++r) CHECK(refs[r - 1].get(kTimeout) == r * 1000u + tag);
}

int idle_mode(int argc, char** argv, int seconds) {
  return ferry::run(argc, argv, [&] {
    CHECK(ferry::this_rank() == 0);
    round_trip(1);
    std::printf("driver idle: sleeping %d s\n", seconds);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    round_trip(2);
    std::printf("driver idle ok\n");
  });
}

int throw_mode(int argc, char** argv) {
  int rc = ferry::run(argc, argv, [] {
    round_trip(3);
    throw std::runtime_error("deliberate driver failure 4711");
  });
  std::printf("driver throw: rank %s returned %d\n", std::getenv("FERRY_RANK") ? std::getenv("FERRY_RANK") : "?", rc);
  return rc;
}

void early_mode(int argc, char** argv) {
  ferry::Session s = ferry::init(argc, argv);
  const unsigned me = s.rank(), n = s.size();
  // Every rank owns a large object (read one-sided) the others' tasks will need.
  auto mine = ferry::put(std::vector<long>(100000, 1));
  if (me != 0) {
    s.shutdown();  // at once: no barrier; must keep serving rank 0 until it shuts down too
    std::printf("driver early: rank %u ok\n", me);
    return;
  }
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::vector<ferry::ObjectRef<long>> sums;
  for (unsigned r = 1; r < n; ++r) {
    auto theirs = make_vec_fn.on(r).remote(200000L);  // lives on rank r (large result)
    sums.push_back(sum_both_fn.on(r).remote(mine, theirs));
    sums.push_back(sum_both_fn.on((r + 1) % n).remote(theirs, mine));
  }
  for (auto& x : sums) CHECK(x.get(kTimeout) == 300000);
  s.shutdown();
  std::printf("driver early: rank 0 ok\n");
}

void barrier_mode(int argc, char** argv, int seconds) {
  ferry::Session s = ferry::init(argc, argv);
  s.barrier();
  if (s.rank() == 0) std::this_thread::sleep_for(std::chrono::seconds(seconds));
  s.barrier();  // the others wait longer than FERRY_BOOTSTRAP_TIMEOUT_MS here
  round_trip(5);
  s.barrier();
  s.shutdown();
  std::printf("driver barrier: rank %u ok\n", ferry::rank{s.rank()}.value);
}

long fib(int n);
FERRY_REMOTE(fib);  // declared before its body: fib submits itself

long fib(int n) {
  if (n < 2) return n;
  auto a = fib_fn.remote(n - 1);  // nested tasks; this task blocks in get() below
  auto b = fib_fn.remote(n - 2);
  return a.get() + b.get();
}

long fib_local(int n) { return n < 2 ? n : fib_local(n - 1) + fib_local(n - 2); }

int fib_mode(int argc, char** argv, int n) {
  return ferry::run(argc, argv, [n] {
    const auto t0 = std::chrono::steady_clock::now();
    const long v = fib_fn.remote(n).get(std::chrono::seconds(600));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(v == fib_local(n));
    std::printf("driver fib(%d) = %ld on %u ranks in %.1f s ok\n", n, v, ferry::world_size(), secs);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) fail("usage: ferry_driver_probe idle SECONDS | throw | early | barrier SECONDS");
  const std::string mode = argv[1];
  try {
    if (mode == "idle" && argc == 3) return idle_mode(argc, argv, std::atoi(argv[2]));
    if (mode == "throw") return throw_mode(argc, argv);
    if (mode == "fib" && argc == 3) return fib_mode(argc, argv, std::atoi(argv[2]));
    if (mode == "early") return early_mode(argc, argv), 0;
    if (mode == "barrier" && argc == 3) return barrier_mode(argc, argv, std::atoi(argv[2])), 0;
  } catch (const std::exception& e) {
    fail(std::string("unexpected exception: ") + e.what());
  }
  fail("unknown mode " + mode);
}
