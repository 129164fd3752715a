// test_spin_policy.cc — adaptive progress: SpinPolicy (who may poll and for how
// long, and how the limit tunes itself) and a Future waiting through a
// Progressor with a bounded spin limit (it stops polling, says so, and sleeps).
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <chrono>
#include <thread>

#include "common/spin_policy.h"
#include "ferry/future.h"

using namespace std::chrono_literals;
using ferry::transport::ProgressMode;
using ferry::transport::common::SpinPolicy;

TEST_CASE("SpinPolicy: busy always polls, blocking never", "[progress]") {
  SpinPolicy busy(ProgressMode::busy, 8, 2);
  CHECK(busy.allowed());
  CHECK(busy.limit() == std::chrono::nanoseconds::max());
  busy.slept(1s);  // no tuning in busy mode
  CHECK(busy.limit() == std::chrono::nanoseconds::max());

  SpinPolicy blocking(ProgressMode::blocking, 1, 64);
  CHECK_FALSE(blocking.allowed());
  CHECK(blocking.limit() == 0ns);
}

TEST_CASE("SpinPolicy: adaptive polls only when the node's ranks fit its CPUs", "[progress]") {
  CHECK(SpinPolicy(ProgressMode::adaptive, 1, 2).allowed());
  CHECK(SpinPolicy(ProgressMode::adaptive, 2, 2).allowed());
  CHECK_FALSE(SpinPolicy(ProgressMode::adaptive, 3, 2).allowed());  // oversubscribed: never spin
  CHECK_FALSE(SpinPolicy(ProgressMode::adaptive, 1, 1).allowed());  // one CPU: the spinner takes it from the work
  CHECK(SpinPolicy(ProgressMode::adaptive, 0, 4).allowed());        // unknown layout counts as one rank
  SpinPolicy over(ProgressMode::adaptive, 4, 2);
  CHECK(over.limit() == 0ns);
}

TEST_CASE("SpinPolicy: the adaptive limit is bounded and tunes itself", "[progress]") {
  SpinPolicy p(ProgressMode::adaptive, 1, 2);
  CHECK(p.limit() == SpinPolicy::kStart);
  // Idle pollers that found nothing halve it, down to kMin.
  for (int i = 0; i < 40; ++i) p.idle_expired();
  CHECK(p.limit() == SpinPolicy::kMin);
  // A wait that slept but was satisfied soon: polling a little longer would have caught it.
  p.slept(30us);
  CHECK(p.limit() == 60us);
  // A wait caught while polling raises it to twice its length, never above kMax.
  p.caught(80us);
  CHECK(p.limit() == 160us);
  p.caught(10ms);
  CHECK(p.limit() == SpinPolicy::kMax);
  p.caught(1us);  // a short catch does not lower it
  CHECK(p.limit() == SpinPolicy::kMax);
  // Long waits (the answer takes longer than any spin) shrink it.
  p.slept(50ms);
  CHECK(p.limit() == SpinPolicy::kMax / 2);
  p.slept(50ms);
  CHECK(p.limit() == SpinPolicy::kMax / 4);
}

namespace {

// Polls find nothing; a bounded spin limit; counts what the waiter reports.
class BoundedProgressor : public ferry::Progressor {
 public:
  explicit BoundedProgressor(std::chrono::nanoseconds limit) : limit_(limit) {}
  bool waiters_poll() const noexcept override { return true; }
  bool poll_once() override {
    ++polls;
    return false;
  }
  std::chrono::nanoseconds spin_limit() const noexcept override { return limit_; }
  void spin_outcome(bool caught, std::chrono::nanoseconds) noexcept override { ++(caught ? caught_n : slept_n); }
  void before_sleep() noexcept override { ++sleeps; }
  std::atomic<long> polls{0};
  std::atomic<int> caught_n{0}, slept_n{0}, sleeps{0};

 private:
  std::chrono::nanoseconds limit_;
};

}  // namespace

TEST_CASE("Future: a bounded spin stops polling and sleeps until completed", "[future][progress]") {
  auto prog = std::make_shared<BoundedProgressor>(20us);
  ferry::Promise<int> p(prog);
  auto f = p.get_future();
  std::thread completer([&] {
    std::this_thread::sleep_for(200ms);
    p.set_value(7);
  });
  const long polls_before = prog->polls.load();
  CHECK(f.get() == 7);
  completer.join();
  CHECK(prog->polls.load() > polls_before);  // it polled first
  CHECK(prog->sleeps.load() == 1);           // then told the progressor it stops polling
  CHECK(prog->slept_n.load() == 1);          // and reported a wait that slept
  CHECK(prog->caught_n.load() == 0);
  // While it sleeps it does not poll: the count stays put between two looks during the wait.
  ferry::Promise<int> q(prog);
  auto g = q.get_future();
  std::atomic<int> got{0};
  std::thread waiter([&] { got = g.get(); });
  std::this_thread::sleep_for(100ms);
  const long mid = prog->polls.load();
  std::this_thread::sleep_for(100ms);
  CHECK(prog->polls.load() == mid);
  CHECK(got.load() == 0);
  q.set_value(1);
  waiter.join();
  CHECK(got.load() == 1);
}

TEST_CASE("SpinPolicy: nobody polls while the node is overloaded", "[progress]") {
  CHECK(SpinPolicy::runnable_from_loadavg("0.52 0.58 0.59 3/917 12345\n") == 3u);
  CHECK(SpinPolicy::runnable_from_loadavg("garbage") == 0u);
  SpinPolicy p(ProgressMode::adaptive, 2, 2);
  CHECK(p.polling_now());
  p.set_runnable(3);  // our own two spinners and one more: still fine
  CHECK(p.polling_now());
  CHECK(p.limit() > 0ns);
  p.set_runnable(12);  // a loaded node: sleep at once
  CHECK_FALSE(p.polling_now());
  CHECK(p.limit() == 0ns);
  p.set_runnable(2);
  CHECK(p.polling_now());
  // Busy mode ignores the load (the user asked for spinning).
  SpinPolicy busy(ProgressMode::busy, 2, 2);
  busy.set_runnable(40);
  CHECK(busy.polling_now());
  // Sampling the real file works (whatever it says, it says something parseable).
  SpinPolicy live(ProgressMode::adaptive, 1, 2);
  live.sample_load(std::chrono::steady_clock::now());
  FILE* f = std::fopen("/proc/loadavg", "r");
  REQUIRE(f != nullptr);
  char line[128] = {};
  REQUIRE(std::fgets(line, sizeof line, f) != nullptr);
  std::fclose(f);
  CHECK(SpinPolicy::runnable_from_loadavg(line) > 0u);  // at least this thread runs
}
