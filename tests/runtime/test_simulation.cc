// test_simulation.cc — randomized multi-rank simulation of the ownership and borrowing
// protocols on the real runtime: 8 Runtimes (Core, fetch, Tasks, actors) in one process over
// the loopback transport (in_process.h), no copied glue.
//
// Every rank runs a random workload from its own seed, through the public API only:
//   put          a blob (inline and one-sided sizes) or a vector of held refs (nested refs)
//   get          a blob (verified against the oracle), or a nested vector and one of its refs
//   check        a task on a random rank reading a blob argument (dataflow; cached copies)
//   make         a task on a random rank returning a ref it made (a ref in a return)
//   relay        a task returning the refs it received (borrowed refs in a return)
//   nested       a task that passes its ref argument on to a task on a third rank
//   keep / take  an actor of a random rank keeps refs in its state, gives some back later
//   copy / drop  handles, in random order, also of outputs still pending
// Checks: (a) no read of a ref the reader holds fails (without a killed rank: no error at all,
// no runtime warning logged; with one: only owner_died / peer_failed / task_failed / object_lost / actor_died, never
// not_found); (b) every value read is the one its id was made with (the oracle); (c) after the
// last handle drops, every (surviving) rank owns, borrows, caches and stores nothing and has no
// task pending — a double free would show as a runtime warning or a broken store count.
// The second case kills a rank half-way (the loopback's fault injection).
#include <catch2/catch.hpp>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <barrier>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

#include "ferry_test/pattern.h"
#include "ferry_test/volume.h"
#include "in_process.h"

namespace {

using namespace std::chrono_literals;
using ferry::Errc;
using ferry::ObjectId;
using ferry::ObjectRef;
using inproc::expect;
using inproc::Rank;
using Blob = std::vector<std::uint8_t>;
using Nest = std::vector<ObjectRef<Blob>>;

constexpr std::size_t kSizes[] = {16, 200, 4000, 70000, 300000};  // the last two above inline_bytes
constexpr auto kGet = 60s;

// The seed of every blob made (id -> seed), recorded before its ref leaves the maker.
class Oracle {
 public:
  void set(const ObjectId& id, std::uint64_t seed) {
    std::lock_guard<std::mutex> lock(mu_);
    seeds_[id] = seed;
  }
  std::optional<std::uint64_t> get(const ObjectId& id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = seeds_.find(id);
    if (it == seeds_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::unordered_map<ObjectId, std::uint64_t> seeds_;  // guarded by mu_
};
Oracle& oracle() {
  static Oracle o;
  return o;
}

ObjectRef<Blob> put_blob(std::uint64_t seed, std::size_t n) {
  Blob b(n);
  std::memcpy(b.data(), &seed, sizeof seed);
  ferry::test::fill_pattern(b.data() + sizeof seed, n - sizeof seed, seed);
  auto r = ferry::put(b);
  oracle().set(r.id(), seed);
  return r;
}

// Throws unless `b` is the blob made with `seed` (`what` names the read).
void verify_seed(const std::string& what, const Blob& b, std::uint64_t seed) {
  std::uint64_t got = 0;
  expect(b.size() >= sizeof got, what + ": " + std::to_string(b.size()) + " bytes");
  std::memcpy(&got, b.data(), sizeof got);
  expect(got == seed, what + " returned another blob's bytes");
  auto mm = ferry::test::find_mismatch(b.data() + sizeof got, b.size() - sizeof got, got);
  expect(!mm, what + ": " + (mm ? mm->describe(b.size()) : std::string()));
}
std::uint64_t seed_of(const ObjectId& id) {
  auto seed = oracle().get(id);
  expect(seed.has_value(), id.to_string() + " is not a blob the simulation made");
  return *seed;
}
// Throws unless `b` is the value blob `id` was made with.
void verify(const ObjectId& id, const Blob& b) { verify_seed("read of " + id.to_string(), b, seed_of(id)); }

// ---- remote functions and the keeper actor
std::uint64_t sim_check(Blob b, std::uint64_t seed) {
  verify_seed("task argument", b, seed);
  return b.size();
}
inline const auto check_fn = ferry::function<&sim_check>("sim.check");

ObjectRef<Blob> sim_make(std::uint64_t seed, std::uint64_t size) { return put_blob(seed, size); }
inline const auto make_fn = ferry::function<&sim_make>("sim.make");

Nest sim_relay(Nest refs) { return refs; }
inline const auto relay_fn = ferry::function<&sim_relay>("sim.relay");

std::uint64_t sim_nested(ObjectRef<Blob> r, std::uint32_t via) {
  return check_fn.on(ferry::rank{via}).remote(r, seed_of(r.id())).get(kGet);
}
inline const auto nested_fn = ferry::function<&sim_nested>("sim.nested");

struct Keeper {
  explicit Keeper(int) {}
  std::uint64_t keep(ObjectRef<Blob> r) {
    held.push_back(std::move(r));
    if (held.size() > 6) held.erase(held.begin());
    return held.size();
  }
  Nest take() {
    Nest out;
    while (!held.empty() && out.size() < 2) {
      out.push_back(std::move(held.back()));
      held.pop_back();
    }
    return out;
  }
  std::uint64_t read() {
    for (auto& r : held) verify(r.id(), r.get(kGet));
    return held.size();
  }
  std::uint64_t clear() {
    held.clear();
    return 0;
  }
  Nest held;
};
inline const auto keeper_class = ferry::actor_class<Keeper, int>("sim.Keeper");
inline const auto keeper_keep = ferry::method<&Keeper::keep>("sim.Keeper::keep");
inline const auto keeper_take = ferry::method<&Keeper::take>("sim.Keeper::take");
inline const auto keeper_read = ferry::method<&Keeper::read>("sim.Keeper::read");
inline const auto keeper_clear = ferry::method<&Keeper::clear>("sim.Keeper::clear");

// Counts the runtime's warnings and errors (a double free, a refused registration, a
// malformed message are logged by the rank that sees them).
class WarningSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::atomic<std::uint64_t> count{0};
  std::string first;  // guarded by the sink's mutex

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level < spdlog::level::warn) return;
    if (count++ == 0) first.assign(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}
};

struct Counters {
  std::atomic<std::uint64_t> puts{0}, nested_puts{0}, gets{0}, nested_gets{0}, checks{0}, makes{0}, relays{0},
      nested{0}, keeps{0}, takes{0}, reads{0}, drops{0}, one_sided{0}, tolerated{0};
};

struct SimSetup {
  std::uint64_t seed = 1;
  Rank ranks = 8;
  int steps = 1000;
  std::optional<Rank> victim;  // killed half-way
};

// One rank's handles and workload.
class Worker {
 public:
  Worker(inproc::RankCtx& c, const SimSetup& s, Counters& n, std::vector<ferry::actor<Keeper>> keepers)
      : c_(c), s_(s), n_(n), keepers_(std::move(keepers)), rng_(s.seed * 1000003 + c.rank) {}

  // Without a killed rank every error fails the run; with one, only the failure codes.
  void outcome(const ferry::Status& st, const std::string& what) {
    if (st.is_ok()) return;
    const Errc e = st.code();
    if (s_.victim && (e == Errc::owner_died || e == Errc::peer_failed || e == Errc::task_failed ||
                     e == Errc::object_lost || e == Errc::actor_died)) {
      ++n_.tolerated;
      return;
    }
    throw std::runtime_error("rank " + std::to_string(c_.rank) + ": " + what + ": " + st.to_string());
  }

  void step() {
    const unsigned op = rng_() % 100;
    if (op < 12) return put();
    if (op < 17) return put_nest();
    if (op < 30) return get();
    if (op < 35) return get_nest();
    if (op < 44) return check();
    if (op < 50) return make();
    if (op < 55) return relay();
    if (op < 59) return nested();
    if (op < 66) return keep();
    if (op < 69) return take();
    if (op < 70) return read();
    if (op < 80) return resolve();
    if (op < 84) return copy();
    return drop();
  }

  // Resolves every pending output, then drops every handle.
  void wind_down() {
    while (!made_.empty() || !nests_.empty() || !counts_.empty()) resolve();
    blobs_.clear();
  }
  // A killed rank: drops every handle without reading.
  void abandon() {
    made_.clear();
    nests_.clear();
    counts_.clear();
    blobs_.clear();
  }

  std::uint64_t one_sided_gets() const { return c_.transport.counters().gets; }

 private:
  Rank any_rank() { return static_cast<Rank>(rng_() % s_.ranks); }
  template <class V>
  std::size_t pick(const V& v) { return rng_() % v.size(); }
  template <class V>
  void remove_at(V& v, std::size_t i) {
    std::swap(v[i], v.back());
    v.pop_back();
  }
  void hold(ObjectRef<Blob> r) {
    blobs_.push_back(std::move(r));
    if (blobs_.size() > 48) drop();
  }

  void put() {
    hold(put_blob(ferry::test::make_seed(s_.seed, c_.rank, next_++), kSizes[rng_() % std::size(kSizes)]));
    ++n_.puts;
  }
  void put_nest() {
    Nest v;
    for (unsigned k = rng_() % 4; k > 0 && !blobs_.empty(); --k) v.push_back(blobs_[pick(blobs_)]);
    nests_.push_back(ferry::put(v));
    ++n_.nested_puts;
  }
  void get() {
    if (blobs_.empty()) return;
    const ObjectRef<Blob> r = blobs_[pick(blobs_)];
    auto v = r.try_get(kGet);
    outcome(v.status(), "get of held " + r.id().to_string());
    if (v) verify(r.id(), *v);
    ++n_.gets;
  }
  void get_nest() {
    if (nests_.empty()) return;
    const ObjectRef<Nest> r = nests_[pick(nests_)];
    auto v = r.try_get(kGet);
    outcome(v.status(), "get of held nest " + r.id().to_string());
    if (!v || v->empty()) return;
    const ObjectRef<Blob> inner = (*v)[pick(*v)];
    auto b = inner.try_get(kGet);
    outcome(b.status(), "get of " + inner.id().to_string() + " decoded from " + r.id().to_string());
    if (b) verify(inner.id(), *b);
    if (rng_() % 2) hold(inner);
    ++n_.nested_gets;
  }
  void check() {
    if (blobs_.empty()) return;
    const ObjectRef<Blob>& r = blobs_[pick(blobs_)];
    counts_.push_back(check_fn.on(ferry::rank{any_rank()}).remote(r, seed_of(r.id())));
    ++n_.checks;
  }
  void make() {
    const std::uint64_t seed = ferry::test::make_seed(s_.seed, c_.rank, next_++);
    made_.push_back(make_fn.on(ferry::rank{any_rank()}).remote(seed, std::uint64_t{kSizes[rng_() % std::size(kSizes)]}));
    ++n_.makes;
  }
  void relay() {
    Nest v;
    for (unsigned k = 1 + rng_() % 3; k > 0 && !blobs_.empty(); --k) v.push_back(blobs_[pick(blobs_)]);
    nests_.push_back(relay_fn.on(ferry::rank{any_rank()}).remote(v));
    ++n_.relays;
  }
  void nested() {
    if (blobs_.empty()) return;
    counts_.push_back(nested_fn.on(ferry::rank{any_rank()}).remote(blobs_[pick(blobs_)], std::uint32_t{any_rank()}));
    ++n_.nested;
  }
  void keep() {
    if (blobs_.empty()) return;
    counts_.push_back(keepers_[any_rank()].call(keeper_keep, blobs_[pick(blobs_)]));
    if (rng_() % 2) drop();  // the caller may drop its own handle while the keeper holds one
    ++n_.keeps;
  }
  void take() {
    nests_.push_back(keepers_[any_rank()].call(keeper_take));
    ++n_.takes;
  }
  void read() {
    counts_.push_back(keepers_[any_rank()].call(keeper_read));
    ++n_.reads;
  }
  void copy() {
    if (!blobs_.empty()) hold(ObjectRef<Blob>(blobs_[pick(blobs_)]));
  }
  void drop() {
    const unsigned which = rng_() % 4;
    if (which == 0 && !nests_.empty()) remove_at(nests_, pick(nests_));
    else if (which == 1 && !made_.empty()) remove_at(made_, pick(made_));
    else if (which == 2 && !counts_.empty()) remove_at(counts_, pick(counts_));
    else if (!blobs_.empty()) remove_at(blobs_, pick(blobs_));
    ++n_.drops;
  }

  // Reads one pending output: made refs and decoded nests join the held blobs.
  void resolve() {
    const unsigned which = rng_() % 3;
    if (which == 0 && !made_.empty()) {
      const std::size_t i = pick(made_);
      auto r = made_[i].try_get(kGet);
      outcome(r.status(), "make output " + made_[i].id().to_string());
      remove_at(made_, i);
      if (r) hold(std::move(*r));
    } else if (which == 1 && !nests_.empty()) {
      const std::size_t i = pick(nests_);
      auto v = nests_[i].try_get(kGet);
      outcome(v.status(), "nest " + nests_[i].id().to_string());
      remove_at(nests_, i);
      if (v)
        for (auto& r : *v) hold(std::move(r));
    } else if (!counts_.empty()) {
      const std::size_t i = pick(counts_);
      auto v = counts_[i].try_get(kGet);
      outcome(v.status(), "task output " + counts_[i].id().to_string());
      remove_at(counts_, i);
    } else if (!made_.empty() || !nests_.empty()) {
      resolve();
    }
  }

  inproc::RankCtx& c_;
  const SimSetup& s_;
  Counters& n_;
  std::vector<ferry::actor<Keeper>> keepers_;  // one hosted on each rank
  std::mt19937_64 rng_;
  std::uint64_t next_ = 0;
  std::vector<ObjectRef<Blob>> blobs_;
  std::vector<ObjectRef<Nest>> nests_;
  std::vector<ObjectRef<ObjectRef<Blob>>> made_;
  std::vector<ObjectRef<std::uint64_t>> counts_;
};

// The whole run of one seed; returns the failed ranks' messages.
std::vector<std::string> simulate(const SimSetup& s, Counters& n) {
  inproc::Setup setup;
  setup.ranks = s.ranks;
  setup.options.store_bytes = std::size_t{64} << 20;
  setup.options.get_timeout = kGet;
  setup.before = [&s](inproc::LoopbackFabric& fab) {  // two slow links: replies and frees race differently
    std::mt19937_64 rng(s.seed);
    for (int k = 0; k < 2; ++k)
      fab.delay(static_cast<Rank>(rng() % s.ranks), static_cast<Rank>(rng() % s.ranks), std::chrono::milliseconds(1 + rng() % 3));
  };
  std::barrier<> sync(s.ranks);
  return inproc::run_in_process(setup, [&](inproc::RankCtx& c) {
    try {  // a failing rank leaves `sync`, so the others do not wait for it

      auto own_keeper = keeper_class.on(ferry::rank{c.rank}).create(0);
      Worker w(c, s, n, inproc::exchange(c, own_keeper));
      for (int i = 0; i < s.steps; ++i) {
        if (s.victim == c.rank && i == s.steps / 2) {
          c.fab.kill(c.rank);
          w.abandon();
          sync.arrive_and_drop();
          return;
        }
        w.step();
      }
      w.wind_down();
      // Calls whose result handles were dropped unread (a keep among them) may still be queued at
      // a keeper: they must have run before the keepers are cleared, or a keeper keeps a ref.
      inproc::wait_tasks_done(c.rt, "rank " + std::to_string(c.rank) + " winding down");
      sync.arrive_and_wait();  // no rank submits anything more, every call it made has completed
      w.outcome(own_keeper.call(keeper_clear).try_get(kGet).status(), "clearing the keeper");
      sync.arrive_and_wait();  // every handle and every keeper's refs dropped
      n.one_sided += w.one_sided_gets();
      inproc::wait_clean(c.rt, "rank " + std::to_string(c.rank) + " after the last handle dropped");
      sync.arrive_and_drop();
    } catch (...) {
      sync.arrive_and_drop();
      throw;
    }
  });
}

void report(const Counters& n) {
  INFO("puts " << n.puts << " (nested " << n.nested_puts << "), gets " << n.gets << " (nested " << n.nested_gets
               << "), one-sided " << n.one_sided << ", tasks: check " << n.checks << " make " << n.makes
               << " relay " << n.relays << " nested " << n.nested << ", keeper: keep " << n.keeps << " take "
               << n.takes << " read " << n.reads << ", drops " << n.drops << ", tolerated errors "
               << n.tolerated);
  // Every path ran (else the test proves nothing).
  CHECK(n.nested_puts > 20u);
  CHECK(n.nested_gets > 20u);
  CHECK(n.one_sided > 20u);
  CHECK(n.makes > 20u);
  CHECK(n.relays > 20u);
  CHECK(n.nested > 20u);
  CHECK(n.keeps > 20u);
  CHECK(n.takes > 10u);
}

std::shared_ptr<WarningSink> watch_warnings() {
  auto sink = std::make_shared<WarningSink>();
  spdlog::default_logger()->sinks().push_back(sink);
  return sink;
}
void unwatch(const std::shared_ptr<WarningSink>& sink) {
  auto& sinks = spdlog::default_logger()->sinks();
  sinks.erase(std::remove(sinks.begin(), sinks.end(), sink), sinks.end());
}

}  // namespace

TEST_CASE("simulation: 8 ranks, random ref passing (args, returns, nested, actor state), 8 seeds (times "
          "FERRY_TEST_VOLUME): no held "
          "ref is lost, nothing leaks",
          "[simulation][in-process]") {
  auto warnings = watch_warnings();
  const std::uint64_t seeds = ferry::test::scaled(8, 2);
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    INFO("seed " << seed);
    Counters n;
    SimSetup s;
    s.seed = seed;
    REQUIRE_RANKS(simulate(s, n));
    report(n);
    INFO("first runtime warning: " << warnings->first);
    CHECK(warnings->count == 0u);
  }
  unwatch(warnings);
}

TEST_CASE("simulation: a rank dies half-way: reads fail only with failure codes (never not_found), the survivors leak "
          "nothing",
          "[simulation][in-process][faults]") {
  const std::uint64_t seeds = ferry::test::scaled(4, 2);
  for (std::uint64_t seed = 11; seed < 11 + seeds; ++seed) {
    INFO("seed " << seed);
    Counters n;
    SimSetup s;
    s.seed = seed;
    s.victim = Rank{5};
    REQUIRE_RANKS(simulate(s, n));
    report(n);
    CHECK(n.tolerated > 0u);
  }
}
