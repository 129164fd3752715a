// test_actor_faults.cc — actor restart (max_restarts, max_task_retries, actor_died)
// and owner death (owner_died, tasks of a dead submitter dropped, nothing left in the
// store), with N real runtimes in one process over the loopback transport, whose
// kill(rank) is the injected failure.
//
// Each rank runs on its own thread acting as that rank; a killed rank's thread goes
// on taking part in the fabric's bootstrap collectives (which the kill does not
// touch), so they synchronise the test's steps. Rank bodies throw (Catch2 v2 is
// single-threaded); the Catch2 thread reports every rank's failure.
#include <catch2/catch.hpp>

#include <cereal/archives/binary.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "current.h"
#include "ferry/ferry.h"
#include "ferry/stats.h"
#include "ferry_test/loopback.h"
#include "in_process.h"

namespace {

using namespace std::chrono_literals;
using ferry::Errc;
using ferry::test::LoopbackFabric;
using Rank = ferry::transport::Rank;
using Blob = std::vector<std::uint8_t>;

using inproc::expect;

template <class T>
void expect_error(const ferry::Result<T>& r, Errc code, const std::vector<std::string>& words, const std::string& what) {
  expect(!r.is_ok(), what + ": succeeded, expected " + ferry::to_string(code));
  const std::string m = r.status().to_string();
  expect(r.status().code() == code, what + ": expected " + ferry::to_string(code) + ", got " + m);
  for (const auto& w : words) expect(m.find(w) != std::string::npos, what + ": '" + w + "' missing from: " + m);
}

using inproc::RankCtx;
using inproc::run_ranks;

// Rank `from`'s value of `v` on every rank (through the bootstrap, like a launcher).
template <class T>
T share(RankCtx& c, Rank from, const T& v) {
  std::ostringstream os(std::ios::binary);
  if (c.rank == from) {
    cereal::BinaryOutputArchive ar(os);
    ar(v);
  }
  const std::string s = std::move(os).str();
  auto all = c.boot().allgather(std::as_bytes(std::span<const char>(s.data(), s.size())));
  expect(all.is_ok(), "allgather");
  const auto& b = (*all)[from];
  std::istringstream is(std::string(reinterpret_cast<const char*>(b.data()), b.size()), std::ios::binary);
  cereal::BinaryInputArchive ar(is);
  T out;
  ar(out);
  return out;
}


std::atomic<int> g_constructed{0};
std::atomic<bool> g_slow_started{false};

struct Counter {
  explicit Counter(std::int64_t start) : value(start) { ++g_constructed; }
  std::int64_t add(std::int64_t d) { return value += d; }
  // Sleeps first: a call that is still running when the test kills the host.
  std::int64_t slow_add(std::int64_t d, std::int64_t ms) {
    g_slow_started = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    return value += d;
  }
  std::uint32_t where() const { return ferry::Runtime::current()->rank(); }
  std::int64_t value;
};
inline const auto counter_cls = ferry::actor_class<Counter, std::int64_t>("actor_faults.Counter");
FERRY_METHOD(Counter, add);
FERRY_METHOD(Counter, slow_add);
FERRY_METHOD(Counter, where);

ferry::RuntimeOptions opts() {
  ferry::RuntimeOptions o;
  o.executor_threads = 2;
  o.shutdown_timeout = 5s;
  return o;
}

}  // namespace

TEST_CASE("actor faults: the host dies -> restarted on a live rank, in-flight calls retried, state lost",
          "[in-process][actor-faults]") {
  g_constructed = 0;
  REQUIRE_RANKS(run_ranks(3, opts(), [](RankCtx& c) {
    ferry::actor<Counter> a;
    if (c.rank == 0)
      a = counter_cls.on(ferry::rank{1}).options({.max_restarts = 1, .max_task_retries = 1}).create(std::int64_t{10});
    a = share(c, 0, a);
    expect(a.options().max_restarts == 1 && a.options().max_task_retries == 1, "options travel with the handle");
    if (c.rank == 0) {
      expect(a.call(Counter_add, 5).get(30s) == 15, "add before the failure");
      expect(a.call(Counter_where).get(30s) == 1u, "the actor lives on rank 1");
    }
    c.barrier();
    if (c.rank == 0) {
      auto in_flight = a.call(Counter_slow_add, 1, 400);  // running on rank 1 when it dies
      auto queued = a.call(Counter_add, 100);              // queued behind it
      std::this_thread::sleep_for(100ms);
      c.fab.kill(1);
      // Retried on the new instance (fresh state: 10), in order, each delivered once.
      expect(in_flight.get(30s) == 11, "the in-flight call, retried on the restarted actor");
      expect(queued.get(30s) == 111, "the queued call, retried after it");
      expect(a.call(Counter_where).get(30s) == 2u, "restarted on the next live rank");
      expect(a.call(Counter_add, 1).get(30s) == 112, "later calls reach the new instance");
    }
    c.barrier();
    if (c.rank == 2) {  // another caller learns the new host from the creator
      expect(a.call(Counter_where).get(30s) == 2u, "rank 2's call goes to the new host");
      expect(a.call(Counter_add, 0).get(30s) == 112, "rank 2 sees the new instance's state");
    }
    c.barrier();
  }));
  CHECK(g_constructed.load() == 2);
}

TEST_CASE("actor faults: no restarts -> calls in flight and later fail with actor_died naming the actor",
          "[in-process][actor-faults]") {
  REQUIRE_RANKS(run_ranks(3, opts(), [](RankCtx& c) {
    ferry::actor<Counter> a;
    if (c.rank == 0) a = counter_cls.on(ferry::rank{1}).create(std::int64_t{0});
    a = share(c, 0, a);
    const std::string id = "actor:0:" + std::to_string(a.id().counter);
    if (c.rank != 1) expect(a.call(Counter_add, 1).get(30s) >= 1, "a call before the failure");
    c.barrier();
    std::optional<ferry::ObjectRef<std::int64_t>> in_flight;
    if (c.rank != 1) in_flight = a.call(Counter_slow_add, 1, 2000);
    c.barrier();
    if (c.rank == 0) {
      std::this_thread::sleep_for(100ms);
      c.fab.kill(1);
    }
    if (c.rank != 1) {
      expect_error(in_flight->try_get(30s), Errc::actor_died, {id, "rank 1", "Counter"}, "the call in flight");
      expect_error(a.call(Counter_add, 1).try_get(30s), Errc::actor_died, {id, "rank 1"}, "a later call");
    }
    c.barrier();
  }));
}

TEST_CASE("actor faults: max_task_retries 0 fails the in-flight call; the last restart used -> actor_died",
          "[in-process][actor-faults]") {
  REQUIRE_RANKS(run_ranks(4, opts(), [](RankCtx& c) {
    if (c.rank != 0) {
      c.barrier();
      c.barrier();
      return;
    }
    auto a = counter_cls.on(ferry::rank{1}).options({.max_restarts = 1}).create(std::int64_t{0});
    const std::string id = "actor:0:" + std::to_string(a.id().counter);
    expect(a.call(Counter_add, 1).get(30s) == 1, "a call before the failure");
    auto in_flight = a.call(Counter_slow_add, 1, 2000);
    std::this_thread::sleep_for(100ms);
    c.fab.kill(1);
    expect_error(in_flight.try_get(30s), Errc::actor_died, {id, "no retries left"}, "the in-flight call");
    expect(a.call(Counter_where).get(30s) == 2u, "restarted on rank 2");
    expect(a.call(Counter_add, 5).get(30s) == 5, "state lost: a fresh instance");
    c.fab.kill(2);
    expect_error(a.call(Counter_add, 1).try_get(30s), Errc::actor_died,
                 {id, "Counter", "rank 2", "no restarts left"}, "a call after the second death");
    c.barrier();
    c.barrier();
  }));
}

namespace {

std::atomic<bool> g_sleep_started{false};
std::atomic<int> g_counted{0};

Blob sleepy_blob(std::int64_t ms) {
  g_sleep_started = true;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return Blob(1 << 20, 7);  // above inline_bytes: stored in the executor's arena
}
int counted(int i) {
  ++g_counted;
  return i;
}
inline const auto sleepy_fn = ferry::function<&sleepy_blob>("actor_faults.sleepy_blob");
inline const auto counted_fn = ferry::function<&counted>("actor_faults.counted");

// Polls `f` (the runtime cleans up asynchronously); false after 20 s.
bool eventually(const std::function<bool()>& f) {
  const auto end = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < end) {
    if (f()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return f();
}

}  // namespace

TEST_CASE("owner death: queued tasks of a dead submitter are dropped, results and borrowed copies freed, "
          "gets fail with owner_died",
          "[in-process][owner-death]") {
  g_sleep_started = false;
  g_counted = 0;
  auto o = opts();
  o.executor_threads = 1;  // rank 1 runs one task at a time: the others queue behind the sleeper
  REQUIRE_RANKS(run_ranks(3, o, [](RankCtx& c) {
    const auto base = ferry::stats().store_used_bytes;
    ferry::ObjectRef<Blob> x;
    if (c.rank == 0) x = ferry::put(Blob(1 << 20, 3));
    x = share(c, 0, x);
    if (c.rank == 2) expect(x.get(30s) == Blob(1 << 20, 3), "rank 2 reads rank 0's object (a cached copy)");
    c.barrier();
    if (c.rank == 0) {
      auto sleeper = sleepy_fn.on(ferry::rank{1}).remote(std::int64_t{500});
      std::vector<ferry::ObjectRef<int>> queued;
      for (int i = 0; i < 10; ++i) queued.push_back(counted_fn.on(ferry::rank{1}).remote(i));
      expect(eventually([] { return g_sleep_started.load(); }), "the sleeper started on rank 1");
      std::this_thread::sleep_for(200ms);  // the queued ones arrived behind it (loopback delivers at once)
      c.fab.kill(0);
    }
    c.barrier();
    if (c.rank == 1) {
      std::this_thread::sleep_for(800ms);  // the sleeper finished; the queue was worked off
      expect(g_counted.load() == 0, std::to_string(g_counted.load()) + " tasks of the dead submitter ran");
      expect(eventually([&] { return ferry::stats().store_used_bytes == base; }),
             "the dead submitter's task result is still in rank 1's store: " + ferry::stats().describe());
    }
    if (c.rank == 2) {
      // The cached copy may still serve a get until this rank learns of the death (asynchronously).
      auto r = x.try_get(30s);
      expect(eventually([&] { return !(r = x.try_get(30s)).is_ok(); }), "gets of a dead owner's object still succeed");
      expect_error(r, Errc::owner_died, {"rank 0", x.id().to_string()}, "a get of a dead owner's object");
      expect(eventually([&] { return ferry::stats().store_used_bytes == base; }),
             "the dead owner's cached copy is still in rank 2's store: " + ferry::stats().describe());
    }
    c.barrier();
  }));
}

TEST_CASE("owner death: an actor drops the queued calls of a dead caller and keeps serving the others",
          "[in-process][owner-death]") {
  g_slow_started = false;
  REQUIRE_RANKS(run_ranks(3, opts(), [](RankCtx& c) {
    ferry::actor<Counter> a;
    if (c.rank == 2) a = counter_cls.on(ferry::rank{1}).create(std::int64_t{0});
    a = share(c, 2, a);
    c.barrier();
    if (c.rank == 0) {
      auto running = a.call(Counter_slow_add, 1, 500);
      std::vector<ferry::ObjectRef<std::int64_t>> queued;
      for (int i = 0; i < 5; ++i) queued.push_back(a.call(Counter_add, 100));
      expect(eventually([] { return g_slow_started.load(); }), "the slow call started on rank 1");
      std::this_thread::sleep_for(200ms);  // the queued calls arrived behind it
      c.fab.kill(0);
    }
    c.barrier();
    if (c.rank == 2) {  // the running call finished; the dead caller's queued calls never ran
      const auto v = a.call(Counter_add, 0).get(30s);
      expect(v == 1, "the actor's value is " + std::to_string(v) + ", expected 1 (the dead caller's running call only)");
    }
    c.barrier();
  }));
}
