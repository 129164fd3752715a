// ferry_actor_fault_probe — actor fault tolerance end to end, in separate processes: the
// actor's host rank is SIGKILLed while a call runs on it. Driven by actor_fault_cases.sh
// under ferry-run --keep-going -n 3; prints "actor-ft: ..." lines the script checks.
//
//   restart   Counter on rank 1 with max_restarts 1, max_task_retries 1; a slow call is in
//             flight when rank 1 dies: it is retried on the restarted instance (fresh state,
//             on rank 2), and later calls reach it.
//   died      Counter on rank 1 without restarts: the call in flight and a later call fail
//             with actor_died naming the actor and rank 1.
// Every wait is bounded (kTimeout); the script bounds the launch too.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "ferry/ferry.h"
#include "ferry_test/probe_check.h"

namespace {

constexpr auto kTimeout = std::chrono::seconds(120);  // UCX over shm notices a SIGKILL by keepalive

FERRY_TEST_PROBE("actor-ft probe")

struct Counter {
  explicit Counter(std::int64_t start) : value(start) {}
  std::int64_t add(std::int64_t d) { return value += d; }
  std::int64_t slow_add(std::int64_t d, std::int64_t ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return value += d;
  }
  std::int64_t pid() const { return ::getpid(); }
  std::uint32_t where() const { return ferry::this_rank(); }
  std::int64_t value;
};
inline const auto counter_cls = ferry::actor_class<Counter, std::int64_t>("actor_ft.Counter");
FERRY_METHOD(Counter, add);
FERRY_METHOD(Counter, slow_add);
FERRY_METHOD(Counter, pid);
FERRY_METHOD(Counter, where);

// Starts a slow call on `a`, then SIGKILLs its host process; returns the call's ref.
ferry::ObjectRef<std::int64_t> kill_host_during_call(const ferry::actor<Counter>& a) {
  const auto pid = static_cast<pid_t>(a.call(Counter_pid).get(kTimeout));
  auto in_flight = a.call(Counter_slow_add, 1, 3000);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // it runs now (or is about to)
  std::printf("actor-ft: SIGKILL rank 1 (pid %d)\n", static_cast<int>(pid));
  std::fflush(stdout);
  CHECK(::kill(pid, SIGKILL) == 0);
  return in_flight;
}

void restart() {
  auto a = counter_cls.on(ferry::rank{1}).options({.max_restarts = 1, .max_task_retries = 1}).create(std::int64_t{10});
  CHECK(a.call(Counter_add, 5).get(kTimeout) == 15);
  CHECK(a.call(Counter_where).get(kTimeout) == 1u);
  auto in_flight = kill_host_during_call(a);
  CHECK(in_flight.get(kTimeout) == 11);  // retried on a fresh instance (start 10)
  const auto now = a.call(Counter_where).get(kTimeout);
  std::printf("actor-ft: restarted on rank %u\n", now);
  CHECK(now == 2u);
  CHECK(a.call(Counter_add, 1).get(kTimeout) == 12);
  std::printf("actor-ft: restart ok\n");
}

void died() {
  auto a = counter_cls.on(ferry::rank{1}).create(std::int64_t{0});
  CHECK(a.call(Counter_add, 1).get(kTimeout) == 1);
  auto in_flight = kill_host_during_call(a);
  auto r = in_flight.try_get(kTimeout);
  CHECK(!r.is_ok());
  std::printf("actor-ft: in flight: %s\n", r.status().to_string().c_str());
  CHECK(r.status().code() == ferry::Errc::actor_died);
  const std::string id = "actor:0:" + std::to_string(a.id().counter);
  CHECK(r.status().message().find(id) != std::string::npos);
  CHECK(r.status().message().find("rank 1") != std::string::npos);
  auto later = a.call(Counter_add, 1).try_get(kTimeout);
  CHECK(!later.is_ok() && later.status().code() == ferry::Errc::actor_died);
  std::printf("actor-ft: later: %s\n", later.status().to_string().c_str());
  std::printf("actor-ft: died ok\n");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "restart" && mode != "died") {
    std::fprintf(stderr, "usage: ferry_actor_fault_probe restart|died (under ferry-run -n 3)\n");
    return 2;
  }
  return ferry::run(argc, argv, [&](ferry::Session& s) {
    if (s.size() < 3) fail("needs 3 ranks");
    if (mode == "restart") restart();
    else died();
    std::fflush(stdout);
  });
}
