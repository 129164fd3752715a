// test_objects.cc — put/get across ranks over the configured transport
// (registered once per transport setting: runtime.objects.<setting>).
//
// Sizes 0 B .. 256 MiB verified byte for byte (inline and one-sided paths,
// cached copies, zero-copy views), many concurrent readers (4 ranks x 4
// threads, with a cross-process leak check at the end), one object read by
// every rank (secondary copies, drop on free), wait(), and single-rank local
// semantics (reference counting frees, from_id of a freed id, one runtime per
// process).
#include <algorithm>
#include <atomic>
#include <random>

#include "objects_common.h"

using namespace objs;

namespace {

constexpr std::size_t kSizes[] = {0, 8, 64 * KiB - 1, 64 * KiB + 1, MiB, 64 * MiB};

void sizes_body(RankEnv& env) {
  auto rt = start_runtime(env);
  const Rank me = env.rank(), peer = (me + 1) % env.size();
  std::vector<ObjectRef<Blob>> mine;
  for (std::size_t i = 0; i < std::size(kSizes); ++i) mine.push_back(ferry::put(make_blob(kSizes[i], seed(me, i))));
  FERRY_REQUIRE(mine[0].owner() == me);
  auto all = exchange_refs(env, mine);
  for (std::size_t i = 0; i < std::size(kSizes); ++i) {
    const std::string what = "size " + std::to_string(kSizes[i]);
    // Remote object: get() (one copy out), twice (the second read is local), then a view.
    Blob v = all[peer][i].get();
    verify_blob(v.data(), v.size(), kSizes[i], seed(peer, i), what + " from rank " + std::to_string(peer));
    Blob again = all[peer][i].get();
    FERRY_REQUIRE(again == v);
    auto view = all[peer][i].view();
    verify_blob(view.data().data(), view.data().size(), kSizes[i], seed(peer, i), what + " (view)");
    // Own object: local read.
    Blob own = mine[i].get();
    verify_blob(own.data(), own.size(), kSizes[i], seed(me, i), what + " (local)");
  }
  // Small objects were answered inline (kept as values), large ones cached as copies in the arena.
  auto s = rt->stats();
  FERRY_CHECK(s.cached_values == 3u);  // 0, 8, 64K-1: inline in the owner's reply
  FERRY_CHECK(s.copies == 3u);         // 64K+1, 1M, 64M: one-sided gets into this arena
  env.barrier();  // readers are done: owners may drop
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

void big_body(RankEnv& env) {
  auto rt = start_runtime(env, runtime_options(768 * MiB));
  const std::size_t kBig = 256 * MiB;
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0) mine.push_back(ferry::put(make_blob(kBig, seed(0, 256))));
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    auto t0 = steady::now();
    auto view = all[0][0].view();  // one-sided get into this arena, no copy out
    double ms = ms_since(t0);
    verify_blob(view.data().data(), view.data().size(), kBig, seed(0, 256), "256 MiB view");
    ferry::test::note("256 MiB remote get (view): " + std::to_string(ms) + " ms");
    Blob v = all[0][0].get();  // local copy now: one copy out
    verify_blob(v.data(), v.size(), kBig, seed(0, 256), "256 MiB get");
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

constexpr std::size_t kMixed[] = {8, 100, 64 * KiB, 200 * KiB, MiB, 3 * MiB};

void concurrent_body(RankEnv& env) {
  auto rt = start_runtime(env);
  const Rank me = env.rank();
  std::vector<ObjectRef<Blob>> mine;
  for (std::size_t i = 0; i < std::size(kMixed); ++i) mine.push_back(ferry::put(make_blob(kMixed[i], seed(me, i))));
  auto all = exchange_refs(env, mine);
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(me * 16 + t);
      std::vector<std::pair<Rank, std::size_t>> order;
      for (Rank r = 0; r < env.size(); ++r)
        for (std::size_t i = 0; i < std::size(kMixed); ++i) order.emplace_back(r, i);
      for (int round = 0; round < 3; ++round) {
        std::shuffle(order.begin(), order.end(), rng);
        for (auto [r, i] : order) {
          // Each thread reads through its own copy of the ref (reference counting under concurrency).
          ObjectRef<Blob> ref = all[r][i];
          Blob v = ref.get();
          verify_blob(v.data(), v.size(), kMixed[i], seed(r, i),
                      "thread " + std::to_string(t) + ": object " + std::to_string(i) + " of rank " + std::to_string(r));
          ++reads;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  FERRY_REQUIRE(reads.load() == 4u * 3u * env.size() * std::size(kMixed));
  // Batched get of everything, concurrently fetched.
  std::vector<ObjectRef<Blob>> flat;
  for (auto& v : all) flat.insert(flat.end(), v.begin(), v.end());
  auto values = ferry::get(flat, std::chrono::milliseconds(60000));
  FERRY_REQUIRE(values.size() == flat.size());
  for (std::size_t k = 0; k < flat.size(); ++k)
    verify_blob(values[k].data(), values[k].size(), kMixed[k % std::size(kMixed)],
                seed(k / std::size(kMixed), k % std::size(kMixed)), "batched get #" + std::to_string(k));
  env.barrier();
  mine.clear();
  all.clear();
  flat.clear();
  env.barrier();
  wait_clean(*rt);  // every copy on every rank dropped, every block freed
  env.barrier();
}

void one_object_body(RankEnv& env) {
  auto rt = start_runtime(env);
  const std::size_t kSize = 16 * MiB;
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0) mine.push_back(ferry::put(make_blob(kSize, seed(0, 1))));
  auto all = exchange_refs(env, mine);
  ObjectRef<Blob> ref = all[0][0];
  auto read = [&] {
    Blob v = ref.get();
    verify_blob(v.data(), v.size(), kSize, seed(0, 1), "the shared object");
  };
  // Phase 1: rank 1 reads (and caches) first; phase 2: everyone else at once,
  // served by the primary or rank 1's copy.
  if (env.rank() == 1) read();
  env.barrier();
  if (env.rank() != 1) read();
  env.barrier();
  if (env.rank() == 0) {
    wait_stats(*rt, [&](const ferry::RuntimeStats& s) { return s.secondary == env.size() - 1 && s.leases == 0; },
               "owner did not learn of every reader's copy");
  } else {
    FERRY_CHECK(rt->stats().copies == 1u);
  }
  env.barrier();
  ref.reset();
  all.clear();
  mine.clear();  // the owner's last ref: the object and every copy go
  wait_clean(*rt);
  env.barrier();
}

void wait_body(RankEnv& env) {
  auto rt = start_runtime(env);
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0)
    for (std::size_t i = 0; i < 5; ++i) mine.push_back(ferry::put(make_blob(i % 2 ? 10 : 2 * MiB, seed(0, i))));
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    auto& refs = all[0];
    bool threw = false;
    try {
      (void)ferry::wait(refs, 6, 1s);
    } catch (const ferry::Error& e) {
      threw = e.code() == Errc::invalid_argument;
    }
    FERRY_CHECK(threw);
    auto none = ferry::wait(refs, 0, 0ms);
    FERRY_CHECK(none.ready.size() + none.not_ready.size() == 5u);
    auto w = ferry::wait(refs, 5, 30s);
    FERRY_REQUIRE(w.ready.size() == 5u);
    FERRY_REQUIRE(w.not_ready.empty());
    // wait() fetched them: the large ones are cached copies, the small ones values.
    auto s = rt->stats();
    FERRY_CHECK(s.copies == 3u);
    FERRY_CHECK(s.cached_values == 2u);
    for (std::size_t i = 0; i < 5; ++i) {
      Blob v = refs[i].get(0ms);  // already here: no waiting needed
      verify_blob(v.data(), v.size(), i % 2 ? 10 : 2 * MiB, seed(0, i), "after wait");
    }
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

struct Point {
  double x, y;
};
struct Named {
  std::string name;
  std::vector<ObjectRef<int>> parts;
  template <class A>
  void serialize(A& ar) {
    ar(name, parts);
  }
};

void local_body(RankEnv& env) {
  {
    auto no_rt = ferry::try_put(1);
    FERRY_REQUIRE(!no_rt.is_ok());
    FERRY_CHECK(no_rt.status().code() == Errc::shut_down);
  }
  auto rt = start_runtime(env);
  auto second = ferry::Runtime::create(env.transport(), env.bootstrap(), runtime_options());
  FERRY_CHECK(!second.is_ok());

  auto i = ferry::put(42);
  auto p = ferry::put(Point{1.5, -2});
  auto s = ferry::put("text");
  std::vector<double> backing{1, 2, 3, 4};
  auto v = ferry::put(std::span<const double>(backing).subspan(1));
  auto n = ferry::put(Named{"n", {i, i}});
  FERRY_CHECK(i.get() == 42);
  FERRY_CHECK(p.get().y == -2.0);
  FERRY_CHECK(s.get() == "text");
  FERRY_CHECK(v.get() == std::vector<double>{2, 3, 4});
  FERRY_CHECK(v.view().data()[2] == 4.0);
  FERRY_CHECK(i.view().value() == 42);
  Named back = n.get();
  FERRY_CHECK(back.name == "n");
  FERRY_REQUIRE(back.parts.size() == 2u);
  FERRY_CHECK(back.parts[1].get() == 42);
  FERRY_CHECK(rt->stats().owned == 5u);

  // Reference counting: copies keep the object, the last drop frees it.
  const ferry::ObjectId id = i.id();
  {
    auto copy = i;
    i.reset();
    back.parts.clear();
    n.reset();  // Named's parts were refs to i as well (deserialized: counted)
    FERRY_CHECK(copy.get() == 42);
  }
  FERRY_CHECK(rt->stats().owned == 3u);
  auto stale = ObjectRef<int>::from_id(id).try_get();
  require_error(stale, Errc::not_found, {id.to_string(), "owner rank 0"}, "get of a freed id");
  p.reset();
  s.reset();
  v.reset();
  auto st = rt->stats();
  FERRY_CHECK(st.owned == 0u);
  FERRY_CHECK(st.store_objects == 0u);
  FERRY_CHECK(st.store_used == 0u);
  FERRY_REQUIRE_OK(rt->shutdown());
  FERRY_CHECK(!ferry::Runtime::current());
  auto after = ObjectRef<int>::from_id(id).try_get();
  FERRY_CHECK(after.status().code() == Errc::shut_down);
}

// What a remote read costs on the wire, counted by the transport (the design's
// "<= 2 AM round trips + one get"): a small object is one AM round trip (the
// owner answers the locate with the value); a large one is a locate round trip,
// one one-sided get of header + payload, and a one-way done message. A second
// read is local (no message), and the owner sends one reply per read.
void protocol_cost_body(RankEnv& env) {
  auto rt = start_runtime(env);
  constexpr std::size_t kCosted[] = {8, 4 * KiB, 200 * KiB, MiB};
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 1)
    for (std::size_t i = 0; i < std::size(kCosted); ++i) mine.push_back(ferry::put(make_blob(kCosted[i], seed(1, i))));
  auto all = exchange_refs(env, mine);
  ferry::transport::Transport& t = env.transport();
  env.barrier();  // the refs' registrations (borrowers) are answered before counting
  const auto owner_before = t.counters();
  env.barrier();
  if (env.rank() == 0) {
    for (std::size_t i = 0; i < std::size(kCosted); ++i) {
      const std::size_t size = kCosted[i];
      const bool inlined = size <= rt->options().inline_bytes;
      const std::string what = std::to_string(size) + "-byte remote object";
      const auto c0 = t.counters();
      Blob v = all[1][i].get();
      const auto c1 = t.counters();
      verify_blob(v.data(), v.size(), size, seed(1, i), what);
      const std::uint64_t ams = c1.ams_sent - c0.ams_sent, gets = c1.gets - c0.gets;
      if (inlined && (ams != 1 || gets != 0))
        FERRY_FAIL_CHECK(what + ": " + std::to_string(ams) + " AMs and " + std::to_string(gets) +
                         " gets for an inline read (expected the locate only)");
      if (!inlined && (ams != 2 || gets != 1 || c1.bytes_got - c0.bytes_got != size + 64))
        FERRY_FAIL_CHECK(what + ": " + std::to_string(ams) + " AMs, " + std::to_string(gets) + " gets of " +
                         std::to_string(c1.bytes_got - c0.bytes_got) +
                         " bytes (expected locate + done, one get of the 64-byte header + payload)");
      auto view = all[1][i].view();  // now local: no message at all
      const auto c2 = t.counters();
      verify_blob(view.data().data(), view.data().size(), size, seed(1, i), what + " (second read)");
      if (c2.ams_sent != c1.ams_sent || c2.gets != c1.gets) FERRY_FAIL_CHECK(what + ": a second read went to the wire");
    }
  }
  env.barrier();
  if (env.rank() == 1) {  // one reply per read, nothing read one-sided by the owner
    const auto owner_after = t.counters();
    FERRY_CHECK(owner_after.ams_sent - owner_before.ams_sent == std::size(kCosted));
    FERRY_CHECK(owner_after.gets == owner_before.gets);
  }
  env.barrier();  // the reader's drops retire its copies (kDropCopy): only after counting
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

// The Runtime makes (and shuts down) its own transport from the bootstrap.
void owned_transport_body(RankEnv& env) {
  auto topts = FERRY_VALUE(ferry::transport::Options::from_env());
  topts.heartbeat_interval = ferry::test::kTestHeartbeat;
  topts.peer_timeout = std::chrono::seconds(10);
  auto rt = FERRY_VALUE(ferry::Runtime::create(env.bootstrap(), topts, runtime_options()));
  FERRY_REQUIRE(rt->size() == env.size());
  std::vector<ObjectRef<Blob>> mine{ferry::put(make_blob(100, seed(env.rank(), 0))),
                                    ferry::put(make_blob(MiB, seed(env.rank(), 1)))};
  auto all = exchange_refs(env, mine);
  const Rank peer = (env.rank() + 1) % env.size();
  verify_blob(all[peer][0].get().data(), 100, 100, seed(peer, 0), "small object, owned transport");
  Blob big = all[peer][1].get();
  verify_blob(big.data(), big.size(), MiB, seed(peer, 1), "large object, owned transport");
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  FERRY_REQUIRE_OK(rt->shutdown());  // collective; also shuts the transport down
  FERRY_REQUIRE_OK(rt->shutdown());  // idempotent
}

// Hidden ([.perf]): rough steady-state numbers, not a benchmark (bench/ has those).
// Small gets: one AM round trip each (fresh refs, nothing cached). Large gets: a new
// object per iteration, whose copy lands in the reader's arena block reused from the
// previous iteration (already faulted in).
void perf_body(RankEnv& env) {
  auto rt = start_runtime(env, runtime_options(1024 * MiB));
  for (std::size_t size : {std::size_t{8}, 4 * KiB}) {
    std::vector<ObjectRef<Blob>> mine;
    if (env.rank() == 0)
      for (int i = 0; i < 2000; ++i) mine.push_back(ferry::put(make_blob(size, seed(0, i))));
    auto all = exchange_refs(env, mine);
    if (env.rank() == 1) {
      for (int i = 0; i < 100; ++i) (void)all[0][i].get();  // warm-up
      auto t0 = steady::now();
      for (int i = 100; i < 2000; ++i) (void)all[0][i].get();
      ferry::test::note("remote get of " + std::to_string(size) + " B: " + std::to_string(ms_since(t0) * 1000 / 1900) +
                        " us per get");
    }
    env.barrier();
    mine.clear();
    all.clear();
    env.barrier();
  }
  for (std::size_t size : {MiB, 64 * MiB}) {
    double best = 1e30;
    for (int it = 0; it < 6; ++it) {
      std::vector<ObjectRef<Blob>> mine;
      if (env.rank() == 0) mine.push_back(ferry::put(make_blob(size, seed(0, it))));
      auto all = exchange_refs(env, mine);
      if (env.rank() == 1) {
        auto t0 = steady::now();
        auto v = all[0][0].view();
        best = std::min(best, ms_since(t0));
        FERRY_REQUIRE(v.size_bytes() == size);
      }
      env.barrier();
      mine.clear();
      all.clear();
      env.barrier();
      wait_clean(*rt);  // the reader's copy is dropped: its block is reused next time
      env.barrier();
    }
    if (env.rank() == 1)
      ferry::test::note("remote get of " + std::to_string(size >> 20) + " MiB (view, best of 6): " +
                        std::to_string(best) + " ms = " + std::to_string(size / best / 1e6) + " GB/s");
  }
}

}  // namespace

TEST_CASE("objects: sizes 0 B .. 64 MiB between two ranks, verified", "[objects][sizes]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 150), sizes_body));
}

TEST_CASE("objects: 256 MiB remote object, verified", "[objects][large]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 150), big_body));
}

TEST_CASE("objects: 4 ranks x 4 threads read every object concurrently, nothing leaks", "[objects][threads]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(4, 150), concurrent_body));
}

TEST_CASE("objects: one object read by every rank, copies dropped with it", "[objects][copies]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(4, 120), one_object_body));
}

TEST_CASE("objects: a remote read costs one AM round trip, or one round trip + one get", "[objects][cost]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), protocol_cost_body));
}

TEST_CASE("objects: wait() returns ready sets and fetches", "[objects][wait]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 90), wait_body));
}

TEST_CASE("objects: local put/get, reference counting, one runtime per process", "[objects][local]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(1, 60), local_body));
}

TEST_CASE("objects: a Runtime created from a bootstrap owns its transport", "[objects][owned]") {
  auto o = group(2, 60);
  o.connect_transport = false;
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, owned_transport_body));
}

TEST_CASE("objects: rough latency and bandwidth numbers", "[.perf]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 300), perf_body));
}
