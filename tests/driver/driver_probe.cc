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
//   cofib N        the same as coroutine tasks (co_await ref, co_await when_all); a coroutine that
//                  throws fails its task with ferry::task_error.
//   hello          init (incl. the start-up barrier) and shutdown only (start-up at scale).
//   async          typed futures: get_async().then() chains (incl. a future-returning step),
//                  when_all / when_any, error propagation, a throwing continuation, chains
//                  waited for inside tasks.
// Every wait is bounded (get timeouts; ferry-run --timeout in the script).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"
#include "ferry_test/probe_check.h"

namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

FERRY_TEST_PROBE("driver probe")

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

ferry::task<long> cofib(int n);
FERRY_REMOTE(cofib);

// Coroutine fib: waits with co_await (odd n) or co_await when_all (even n); no thread is held.
ferry::task<long> cofib(int n) {
  if (n < 2) co_return n;
  auto a = cofib_fn.remote(n - 1);
  auto b = cofib_fn.remote(n - 2);
  if (n % 2) {
    const long x = co_await a;
    const long y = co_await b;
    co_return x + y;
  }
  std::vector<ferry::ObjectRef<long>> refs;
  refs.push_back(a);
  refs.push_back(b);
  ferry::future<std::vector<long>> all = ferry::when_all(refs);
  std::vector<long> both = co_await all;
  co_return both[0] + both[1];
}

ferry::task<int> co_fails(int n) {
  const long v = co_await cofib_fn.remote(n);
  if (v > 0) throw std::runtime_error("coroutine failure " + std::to_string(v));
  co_return 0;
}
FERRY_REMOTE(co_fails);

int twice(int x) { return 2 * x; }
FERRY_REMOTE(twice);

int thrower(int x) {
  if (x > 0) throw std::runtime_error("thrower " + std::to_string(x));
  return x;
}
FERRY_REMOTE(thrower);

// Inside a task: a chain of futures, waited for with a blocking get (the thread helps).
std::string chain_in_task(int x) {
  return twice_fn.remote(x).get_async().then([](int v) { return twice_fn.remote(v).get_async(); })
      .then([](int v) { return std::to_string(v); })
      .get();
}
FERRY_REMOTE(chain_in_task);

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

int cofib_mode(int argc, char** argv, int n) {
  return ferry::run(argc, argv, [n] {
    const auto t0 = std::chrono::steady_clock::now();
    const long v = cofib_fn.remote(n).get(std::chrono::seconds(600));
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(v == fib_local(n));
    try {
      (void)co_fails_fn.remote(10).get(kTimeout);
      fail("a throwing coroutine task did not fail");
    } catch (const ferry::task_error& e) {
      CHECK(std::string(e.what()).find("coroutine failure 55") != std::string::npos);
    }
    std::printf("driver cofib(%d) = %ld on %u ranks in %.1f s ok\n", n, v, ferry::world_size(), secs);
  });
}

int async_mode(int argc, char** argv) {
  return ferry::run(argc, argv, [] {
    // then() chains: plain values, a future-returning step (flattened), void.
    ferry::future<std::string> s = twice_fn.remote(5).get_async().then([](int v) { return v + 1; }).then([](int v) {
      return std::to_string(v);
    });
    CHECK(s.get(kTimeout) == "11");
    auto flat = twice_fn.on(1).remote(3).get_async().then([](int v) { return twice_fn.remote(v).get_async(); });
    CHECK(flat.get(kTimeout) == 12);
    // when_all / when_any over futures and refs.
    std::vector<ferry::ObjectRef<int>> refs;
    for (int i = 0; i < 20; ++i) refs.push_back(twice_fn.on(i % ferry::world_size()).remote(i));
    const std::vector<int> all = ferry::when_all(refs).get(kTimeout);
    for (int i = 0; i < 20; ++i) CHECK(all[i] == 2 * i);
    std::vector<ferry::future<int>> fs;
    for (auto& r : refs) fs.push_back(r.get_async().then([](int v) { return v + 1; }));
    const auto [index, value] = ferry::when_any(fs).get(kTimeout);
    CHECK(index < 20 && value == 2 * static_cast<int>(index) + 1);
    // Errors pass through then() (the continuation is skipped) and when_all.
    bool ran = false;
    auto bad = thrower_fn.remote(7).get_async().then([&ran](int v) { ran = true; return v; });
    try {
      (void)bad.get(kTimeout);
      fail("a failed task's future did not fail");
    } catch (const ferry::task_error& e) {
      CHECK(std::string(e.what()).find("thrower 7") != std::string::npos);
    }
    CHECK(!ran);
    try {
      (void)ferry::when_all(std::vector{twice_fn.remote(1), thrower_fn.remote(3)}).get(kTimeout);
      fail("when_all with a failed input did not fail");
    } catch (const ferry::task_error& e) {
      CHECK(std::string(e.what()).find("thrower 3") != std::string::npos);
    }
    // A dependent task's error carries the root cause as fields.
    try {
      (void)twice_fn.remote(thrower_fn.on(1 % ferry::world_size()).remote(9)).get(kTimeout);
      fail("a task depending on a failed one did not fail");
    } catch (const ferry::task_error& e) {
      CHECK(e.function() == "twice");
      CHECK(e.root_function() == "thrower");
      CHECK(e.root_rank() == 1 % ferry::world_size());
      CHECK(e.root_message() == "thrower 9");
      CHECK(e.chain().size() == 2);
    }
    // wait() as Ray's: exactly num_returns ready refs (all 20 are ready by now).
    auto w = ferry::wait(refs, 3, kTimeout);
    CHECK(w.ready.size() == 3 && w.not_ready.size() == 17);
    // A continuation that throws fails its future.
    auto throws = twice_fn.remote(1).get_async().then([](int) -> int { throw std::runtime_error("in then"); });
    CHECK(!throws.try_get(kTimeout).is_ok());
    // Futures inside tasks (blocking get of a chain on an executor thread).
    std::vector<ferry::ObjectRef<std::string>> chains;
    for (int i = 0; i < 16; ++i) chains.push_back(chain_in_task_fn.on(i % ferry::world_size()).remote(i));
    for (int i = 0; i < 16; ++i) CHECK(chains[i].get(kTimeout) == std::to_string(4 * i));
    std::printf("driver async ok\n");
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
    if (mode == "cofib" && argc == 3) return cofib_mode(argc, argv, std::atoi(argv[2]));
    if (mode == "async") return async_mode(argc, argv);
    if (mode == "hello") {
      ferry::Session s = ferry::init(argc, argv);
      s.shutdown();
      std::printf("driver hello: rank %u ok\n", s.rank());
      return 0;
    }
    if (mode == "early") return early_mode(argc, argv), 0;
    if (mode == "barrier" && argc == 3) return barrier_mode(argc, argv, std::atoi(argv[2])), 0;
  } catch (const std::exception& e) {
    fail(std::string("unexpected exception: ") + e.what());
  }
  fail("unknown mode " + mode);
}
