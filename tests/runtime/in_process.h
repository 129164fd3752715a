// in_process.h — the harness of the in-process tests: N real runtimes (Core, fetch, Tasks) in
// one process over the loopback transport (ferry_test/loopback.h), with injected faults.
//
//   REQUIRE_RANKS(inproc::run_in_process(setup, [](inproc::RankCtx& c) { ... }));
//
// Each rank runs the body on its own thread, which acts as that rank (rt::testing::act_as_rank;
// the runtime's executor threads and the fabric's delivery threads act as their rank too). Refs
// cross ranks only serialized (tasks, actors, exchange()), as between processes. Rank bodies
// must not use Catch2 macros (Catch2 v2 is single-threaded): they throw (inproc::expect), and
// the Catch2 thread reports every rank's failure (REQUIRE_RANKS).
//
// Thread-safety: run_in_process from the Catch2 thread, one at a time; RankCtx belongs to its
// rank's thread.
#pragma once

#include <catch2/catch.hpp>

#include <cereal/archives/binary.hpp>
#include <cereal/types/vector.hpp>
#include <chrono>
#include <functional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "current.h"
#include "ferry/ferry.h"
#include "ferry_test/loopback.h"

namespace inproc {

using namespace std::chrono_literals;
using ferry::test::LoopbackFabric;
using Rank = ferry::transport::Rank;

inline void expect(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

struct RankCtx {
  Rank rank;
  LoopbackFabric& fab;
  ferry::Runtime& rt;
  ferry::transport::Transport& transport;
  ferry::transport::Bootstrap& boot() { return fab.bootstrap(rank); }
  void barrier() { expect(boot().barrier().is_ok(), "barrier"); }
};

// Every rank's `mine` (a cereal-serializable value: refs, actor handles), in rank order.
template <class T>
std::vector<T> exchange(RankCtx& c, const T& mine) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(mine);
  }
  std::string s = std::move(os).str();
  auto all = c.boot().allgather(std::as_bytes(std::span<const char>(s.data(), s.size())));
  expect(all.is_ok(), "allgather: " + all.status().to_string());
  std::vector<T> out(all->size());
  for (std::size_t r = 0; r < all->size(); ++r) {
    std::istringstream is(std::string(reinterpret_cast<const char*>((*all)[r].data()), (*all)[r].size()),
                          std::ios::binary);
    cereal::BinaryInputArchive ar(is);
    ar(out[r]);
  }
  return out;
}

template <class T>
std::vector<std::vector<ferry::ObjectRef<T>>> exchange_refs(RankCtx& c, const std::vector<ferry::ObjectRef<T>>& mine) {
  return exchange(c, mine);
}

struct Setup {
  Rank ranks = 2;
  ferry::RuntimeOptions options;
  std::function<void(LoopbackFabric&)> before;  // faults to set before the runtimes start
  bool shutdown_may_fail = false;                 // e.g. a read left waiting for a lost reply
};

// Runs body on every rank (own thread, real Runtime over the fabric); returns one line per failed rank.
inline std::vector<std::string> run_in_process(const Setup& setup, const std::function<void(RankCtx&)>& body) {
  LoopbackFabric fab(setup.ranks, [](Rank r) { ferry::rt::testing::act_as_rank(static_cast<int>(r)); });
  if (setup.before) setup.before(fab);
  ferry::rt::testing::set_in_process_ranks(true);
  std::vector<std::string> errors(setup.ranks);
  std::vector<std::thread> threads;
  for (Rank r = 0; r < setup.ranks; ++r) {
    threads.emplace_back([&, r] {
      ferry::rt::testing::act_as_rank(static_cast<int>(r));
      try {
        ferry::transport::Options topts;
        topts.peer_timeout = 10s;
        auto t = fab.make_transport(r, topts);
        expect(t.is_ok(), "loopback transport: " + t.status().to_string());
        auto rt = ferry::Runtime::create(**t, fab.bootstrap(r), setup.options);
        expect(rt.is_ok(), "Runtime::create: " + rt.status().to_string());
        RankCtx c{r, fab, **rt, **t};
        body(c);
        ferry::Status s = (*rt)->shutdown();
        expect(s.is_ok() || !fab.alive(r) || setup.shutdown_may_fail, "runtime shutdown: " + s.to_string());
        rt->reset();
        s = (*t)->shutdown();
        expect(s.is_ok() || !fab.alive(r), "transport shutdown: " + s.to_string());
      } catch (const std::exception& e) {
        errors[r] = "rank " + std::to_string(r) + ": " + e.what();
      }
      ferry::rt::testing::act_as_rank(-1);
    });
  }
  for (auto& t : threads) t.join();
  ferry::rt::testing::set_in_process_ranks(false);
  std::vector<std::string> failed;
  for (auto& e : errors)
    if (!e.empty()) failed.push_back(e);
  return failed;
}

// run_in_process on `ranks` ranks with `options` and nothing injected before start.
inline std::vector<std::string> run_ranks(Rank ranks, const ferry::RuntimeOptions& options,
                                          const std::function<void(RankCtx&)>& body) {
  Setup setup;
  setup.ranks = ranks;
  setup.options = options;
  return run_in_process(setup, body);
}

// Polls rt.stats() until nothing is owned, borrowed, cached, read, stored or pending on this rank;
// throws with the last stats after `timeout`.
// Waits (bounded) until every task and actor call this rank submitted has completed,
// including those whose result handles were dropped.
inline void wait_tasks_done(ferry::Runtime& rt, const std::string& what, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (rt.stats().tasks_pending != 0) {
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error(what + ": tasks still pending after " + std::to_string(timeout.count()) + " ms: " +
                               rt.stats().describe());
    std::this_thread::sleep_for(10ms);
  }
}

inline void wait_clean(ferry::Runtime& rt, const std::string& what, std::chrono::milliseconds timeout = 60s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const ferry::RuntimeStats s = rt.stats();
    if (s.owned == 0 && s.leases == 0 && s.secondary == 0 && s.borrowed == 0 && s.cached_values == 0 &&
        s.copies == 0 && s.fetches == 0 && s.store_objects == 0 && s.store_used == 0 && s.tasks_pending == 0 &&
        s.executor_load == 0)
      return;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error(what + " (not clean within " + std::to_string(timeout.count()) + " ms): " +
                               s.describe());
    std::this_thread::sleep_for(10ms);
  }
}

}  // namespace inproc

#define REQUIRE_RANKS(errors)                       \
  do {                                              \
    const auto errs_ = (errors);                    \
    for (const auto& e_ : errs_) UNSCOPED_INFO(e_); \
    REQUIRE(errs_.empty());                         \
  } while (0)
