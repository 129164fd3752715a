// test_in_process.cc — N real runtimes (Core, fetch, Tasks) in one process over the
// loopback transport (ferry_test/loopback.h), with injected faults.
//
// Each rank runs on its own thread, which acts as that rank (rt::testing::act_as_rank;
// the runtime's executor threads and the fabric's delivery threads act as their rank
// too). Refs cross ranks only serialized, through the fabric's bootstrap, as between
// processes. Rank bodies must not use Catch2 macros (Catch2 v2 is single-threaded):
// they throw, and the Catch2 thread reports every rank's failure.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "in_process.h"

namespace {

using namespace std::chrono_literals;
using ferry::Errc;
using ferry::ObjectRef;
using inproc::expect;
using inproc::LoopbackFabric;
using inproc::RankCtx;
using inproc::Rank;
using inproc::run_in_process;
using inproc::Setup;
using Blob = std::vector<std::uint8_t>;

Blob make_blob(std::size_t n, std::uint8_t seed) {
  Blob b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + i * 31);
  return b;
}

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return a + b; }
std::uint32_t where() { return ferry::Runtime::current()->rank(); }
inline const auto add_fn = ferry::function<&add>("in_process.add");
inline const auto where_fn = ferry::function<&where>("in_process.where");

}  // namespace

TEST_CASE("in-process: put on every rank, get across ranks (inline and one-sided)", "[in-process]") {
  Setup setup;
  setup.ranks = 3;
  REQUIRE_RANKS(run_in_process(setup, [](RankCtx& c) {
    const auto seed = static_cast<std::uint8_t>(c.rank * 7);
    std::vector<ObjectRef<Blob>> mine{ferry::put(make_blob(100, seed)), ferry::put(make_blob(1 << 20, seed + 1))};
    auto all = inproc::exchange_refs(c, mine);
    const auto gets_before = c.transport.counters().gets;
    for (Rank r = 0; r < all.size(); ++r) {
      const auto s = static_cast<std::uint8_t>(r * 7);
      expect(all[r][0].get(30s) == make_blob(100, s), "small object of rank " + std::to_string(r));
      expect(all[r][1].get(30s) == make_blob(1 << 20, s + 1), "1 MiB object of rank " + std::to_string(r));
    }
    // Two remote 1 MiB objects (above inline_bytes): read one-sided, at least one get each.
    expect(c.transport.counters().gets >= gets_before + 2, "large objects were not read one-sided");
    c.barrier();  // owners keep their objects until every reader is done
  }));
}

TEST_CASE("in-process: tasks run on the rank they are placed on, with ref arguments across ranks",
          "[in-process]") {
  Setup setup;
  setup.ranks = 3;
  REQUIRE_RANKS(run_in_process(setup, [](RankCtx& c) {
    const Rank n = c.rt.size();
    for (Rank r = 0; r < n; ++r)
      expect(where_fn.on(ferry::rank{r}).remote().get(30s) == r, "where() placed on rank " + std::to_string(r));
    std::vector<ObjectRef<std::uint64_t>> mine{ferry::put(std::uint64_t{c.rank + 1})};
    auto all = inproc::exchange_refs(c, mine);
    // Sum the ranks' values with tasks placed round the ring: refs travel as arguments.
    ObjectRef<std::uint64_t> acc = all[0][0];
    for (Rank r = 1; r < n; ++r) acc = add_fn.on(ferry::rank{(c.rank + r) % n}).remote(acc, all[r][0]);
    expect(acc.get(30s) == std::uint64_t{n} * (n + 1) / 2, "sum over tasks");
    c.barrier();
  }));
}

TEST_CASE("in-process: the owner killed while a read is in flight -> owner_died, no hang", "[in-process][faults]") {
  Setup setup;
  setup.ranks = 3;
  setup.before = [](LoopbackFabric& fab) { fab.delay(1, 0, 500ms); };  // rank 1's reads of rank 0 are slow
  REQUIRE_RANKS(run_in_process(setup, [](RankCtx& c) {
    std::vector<ObjectRef<Blob>> mine;
    if (c.rank == 0) mine.push_back(ferry::put(make_blob(4 << 20, 3)));
    auto all = inproc::exchange_refs(c, mine);
    c.barrier();
    if (c.rank == 0) {
      std::this_thread::sleep_for(100ms);  // rank 1's request is on the (delayed) way
      c.fab.kill(0);
      return;
    }
    if (c.rank == 1) {
      auto r = all[0][0].try_get(30s);
      expect(!r.is_ok(), "a read from a killed owner succeeded");
      expect(r.status().code() == Errc::owner_died, "read from a killed owner: " + r.status().to_string());
    }
  }));
}

TEST_CASE("in-process: a delayed link delivers late but intact, a dropped request times out clearly",
          "[in-process][faults]") {
  Setup setup;
  setup.ranks = 2;
  setup.options.get_timeout = 1s;
  setup.options.shutdown_timeout = 2s;  // rank 1's lost read is still waiting for its reply
  setup.shutdown_may_fail = true;
  REQUIRE_RANKS(run_in_process(setup, [](RankCtx& c) {
    std::vector<ObjectRef<Blob>> mine{ferry::put(make_blob(1000, 11)), ferry::put(make_blob(1000, 12))};
    auto all = inproc::exchange_refs(c, mine);
    c.barrier();
    if (c.rank == 1) {
      c.fab.delay(1, 0, 200ms);
      const auto t0 = std::chrono::steady_clock::now();
      expect(all[0][0].get(30s) == make_blob(1000, 11), "delayed read");
      expect(std::chrono::steady_clock::now() - t0 >= 200ms, "the delay was not applied");
      c.fab.delay(1, 0, 0ms);
      c.fab.drop(1, 0, 1);  // the next request to rank 0 is lost
      auto r = all[0][1].try_get(1s);
      expect(c.fab.dropped() == 1, "the request was not dropped");
      expect(r.status().code() == Errc::timeout, "read whose request was lost: " + r.status().to_string());
    }
    c.barrier();
  }));
}

namespace {
std::uint32_t nap_then_where(std::uint32_t ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ferry::Runtime::current()->rank();
}
inline const auto nap_fn = ferry::function<&nap_then_where>("in_process.nap_then_where");
}  // namespace

TEST_CASE("in-process: a task on a rank killed while it runs fails with peer_failed, others complete",
          "[in-process][faults]") {
  Setup setup;
  setup.ranks = 3;
  REQUIRE_RANKS(run_in_process(setup, [](RankCtx& c) {
    c.barrier();
    if (c.rank == 0) {
      auto doomed = nap_fn.on(ferry::rank{2}).remote(std::uint32_t{2000});
      auto fine = nap_fn.on(ferry::rank{1}).remote(std::uint32_t{10});
      std::this_thread::sleep_for(200ms);  // the doomed task is running on rank 2
      c.fab.kill(2);
      auto r = doomed.try_get(30s);
      expect(!r.is_ok() && r.status().code() == Errc::peer_failed,
             "task on the killed rank: " + (r.is_ok() ? std::string("succeeded") : r.status().to_string()));
      expect(fine.get(30s) == 1u, "task on a live rank");
    }
    if (c.rank == 2) std::this_thread::sleep_for(2500ms);  // keep the rank's runtime up while it "dies"
  }));
}

TEST_CASE("in-process: put_in_place writes a vector straight into the store, read locally and remotely",
          "[in-process][put_in_place]") {
  Setup setup;
  setup.ranks = 2;
  setup.options.store_bytes = std::size_t{64} << 20;
  REQUIRE_RANKS(run_in_process(setup, [](RankCtx& c) {
    constexpr std::size_t kCount = (std::size_t{1} << 20) / sizeof(std::uint32_t);
    auto value = [&c](std::size_t i) { return static_cast<std::uint32_t>(i * 3 + c.rank); };
    std::size_t filled = 0;
    ObjectRef<std::vector<std::uint32_t>> ref = ferry::put_in_place<std::uint32_t>(kCount, [&](std::span<std::uint32_t> out) {
      filled = out.size();
      for (std::size_t i = 0; i < out.size(); ++i) out[i] = value(i);
    });
    expect(filled == kCount, "fill was given " + std::to_string(filled) + " elements, not " + std::to_string(kCount));
    expect(ref.owner() == c.rank, "put_in_place's object is owned by the rank that made it");
    const auto local = ref.get(30s);
    bool same = local.size() == kCount;
    for (std::size_t i = 0; same && i < kCount; ++i) same = local[i] == value(i);
    expect(same, "the local get of a put_in_place object differs from what fill wrote");

    // Another rank reads it (one-sided: 1 MiB is above inline_bytes).
    auto all = inproc::exchange_refs(c, std::vector<ObjectRef<std::vector<std::uint32_t>>>{ref});
    const Rank other = (c.rank + 1) % c.rt.size();
    const auto remote = all[other][0].get(30s);
    same = remote.size() == kCount;
    for (std::size_t i = 0; same && i < kCount; ++i) same = remote[i] == static_cast<std::uint32_t>(i * 3 + other);
    expect(same, "rank " + std::to_string(c.rank) + " read rank " + std::to_string(other) + "'s object wrong");

    // A fill that throws stores nothing; the exception reaches the caller.
    const auto objects_before = c.rt.stats().store_objects;
    bool thrown = false;
    try {
      (void)ferry::put_in_place<std::uint32_t>(16, [](std::span<std::uint32_t>) { throw std::runtime_error("fill failed"); });
    } catch (const std::runtime_error& e) {
      thrown = std::string(e.what()) == "fill failed";
    }
    expect(thrown, "the fill's exception did not reach put_in_place's caller");
    expect(c.rt.stats().store_objects == objects_before, "a put_in_place whose fill threw left an object behind");

    // Larger than the whole store: store_full as a Result, fill never called.
    bool called = false;
    auto big = ferry::try_put_in_place<std::uint64_t>(std::size_t{16} << 20, [&](std::span<std::uint64_t>) { called = true; });
    expect(!big && big.status().code() == Errc::store_full,
           "a put_in_place larger than the store gave " + (big ? std::string("success") : big.status().to_string()));
    expect(!called, "fill was called for an object that could not be created");
    c.barrier();
  }));
}
