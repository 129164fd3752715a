// test_threads.cc — futures on transport operations (then() continuations,
// chained gets issued from continuations, wait_for timeouts in both progress
// modes) and concurrent sends/gets from 4 application threads per rank.
#include <atomic>
#include <deque>
#include <thread>

#include "common.h"

using namespace conf;

namespace {

constexpr ft::HandlerId kData = 40, kRequest = 41, kThreaded = 42;

// then() on sends and on gets; gets chained from continuations; wait_for bounds.
void futures_body(RankEnv& env) {
  auto& t = env.transport();
  auto regions = make_regions(env, 4 * MiB, 8);
  const Rank peer = 1 - env.rank();
  Counter got;
  FERRY_REQUIRE_OK(t.set_handler(kData, [&](Rank, ft::ByteView) { got.add(); }));
  FERRY_REQUIRE_OK(t.set_handler(kRequest, [](Rank, ft::ByteView) {}));  // never replies
  env.barrier();

  // 100 sends, each with a continuation.
  Counter continued;
  std::atomic<int> send_errors{0};
  std::vector<ft::Bytes> msgs(100, ft::Bytes(256));
  for (auto& m : msgs)
    t.send(peer, kData, m).then([&](ferry::Result<void>&& r) {
      if (!r) ++send_errors;
      continued.add();
    });
  FERRY_REQUIRE(continued.wait_for_at_least(100, kOpWait));
  FERRY_REQUIRE(send_errors.load() == 0);
  FERRY_REQUIRE(got.wait_for_at_least(100, kOpWait));

  // 16 gets, each issued by the previous one's continuation (on the completing thread).
  constexpr int kChain = 16;
  constexpr std::size_t kChunk = 200 * KiB + 3;
  auto dst = raw_buffer(kChunk * kChain);
  ferry::Promise<int> chain_done(env.progressor());
  auto chain_future = chain_done.get_future();
  std::function<void(int)> step = [&](int i) {
    t.get(regions->key(peer), regions->base(peer) + i * kChunk, dst.get() + i * kChunk, kChunk)
        .then([&, i](ferry::Result<void>&& r) {
          if (!r) return chain_done.set_error(r.status());
          if (auto mm = ferry::test::find_mismatch(dst.get() + i * kChunk, kChunk, regions->seed_of(peer), i * kChunk))
            FERRY_FAIL("chained get " + std::to_string(i) + ": " + mm->describe(kChunk));
          if (i + 1 == kChain) chain_done.set_value(kChain);
          else step(i + 1);
        });
  };
  step(0);
  FERRY_REQUIRE(FERRY_VALUE(FERRY_WAIT(chain_future, kOpWait)) == kChain);

  // then() on an already-completed future runs inline, on this thread.
  auto f = t.send_owned(peer, kData, ft::Bytes(8));
  FERRY_REQUIRE(f.wait_for(kOpWait));
  std::thread::id ran_on;
  std::move(f).then([&](ferry::Result<void>&&) { ran_on = std::this_thread::get_id(); });
  FERRY_REQUIRE(ran_on == std::this_thread::get_id());

  // wait_for on something that never completes returns false on time (busy mode polls).
  ferry::Promise<void> never(env.progressor());
  auto nf = never.get_future();
  auto t0 = steady::now();
  FERRY_REQUIRE(!nf.wait_for(100ms));
  double waited = ms_since(t0);
  FERRY_REQUIRE(waited >= 100.0);
  FERRY_REQUIRE(waited < 2000.0);
  require_ok(t.send_owned(peer, kRequest, ft::Bytes(8)), "request without reply");
  FERRY_REQUIRE(!nf.wait_for(200ms));
  never.set_value();
  FERRY_REQUIRE(nf.wait_for(1ms));
  FERRY_REQUIRE(got.wait_for_at_least(101, kOpWait));
  env.barrier();
}

// 4 application threads per rank send AMs (thread id + sequence number) and get
// random slices of the peer's region concurrently; the receiver checks each
// thread's messages arrive in that thread's order.
void threads_body(RankEnv& env) {
  constexpr int kThreads = 4, kIters = 300;
  constexpr std::size_t kRegion = 8 * MiB;
  auto& t = env.transport();
  auto regions = make_regions(env, kRegion, 9);
  const Rank peer = 1 - env.rank();
  std::mutex mu;
  std::vector<std::uint64_t> next(kThreads, 0);
  Counter got;
  FERRY_REQUIRE_OK(t.set_handler(kThreaded, [&](Rank src, ft::ByteView p) {
    FERRY_REQUIRE(p.size() >= 16u);
    std::uint64_t th = read_u64(p), seq = read_u64(p, 8);
    FERRY_REQUIRE(th < static_cast<std::uint64_t>(kThreads));
    {
      std::lock_guard<std::mutex> lock(mu);
      if (seq != next[th])
        FERRY_FAIL("thread " + std::to_string(th) + " of rank " + std::to_string(src) + ": expected message #" +
                   std::to_string(next[th]) + ", got #" + std::to_string(seq));
      ++next[th];
    }
    FERRY_REQUIRE(p.size() == 16 + (seq * 37 + th) % 8192);
    FERRY_REQUIRE_PATTERN(p.data() + 16, p.size() - 16, ferry::test::make_seed(src, th, seq), 16);
    got.add();
  }));
  env.barrier();
  auto worker = [&](int th) {
    std::vector<std::byte> dst(64 * KiB);
    std::deque<std::pair<ft::Bytes, ferry::Future<void>>> inflight;
    std::uint64_t rng = ferry::test::make_seed(env.rank(), th);
    for (std::uint64_t seq = 0; seq < kIters; ++seq) {
      std::size_t size = 16 + (seq * 37 + th) % 8192;
      ft::Bytes msg(size);
      std::uint64_t th64 = static_cast<std::uint64_t>(th);
      std::memcpy(msg.data(), &th64, 8);
      std::memcpy(msg.data() + 8, &seq, 8);
      ferry::test::fill_pattern(msg.data() + 16, size - 16, ferry::test::make_seed(env.rank(), th, seq), 16);
      auto f = t.send(peer, kThreaded, msg);
      inflight.emplace_back(std::move(msg), std::move(f));
      if (inflight.size() > 16) {
        require_ok(std::move(inflight.front().second), "threaded send");
        inflight.pop_front();
      }
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      std::size_t len = 1 + (rng >> 33) % dst.size();
      std::size_t off = (rng >> 13) % (kRegion - len);
      require_ok(t.get(regions->key(peer), regions->base(peer) + off, dst.data(), len), "threaded get");
      FERRY_REQUIRE_PATTERN(dst.data(), len, regions->seed_of(peer), off);
    }
    for (auto& [msg, f] : inflight) require_ok(std::move(f), "threaded send");
  };
  std::vector<std::thread> threads;
  auto t0 = steady::now();
  for (int th = 0; th < kThreads; ++th) threads.emplace_back(worker, th);
  for (auto& th : threads) th.join();
  FERRY_REQUIRE(got.wait_for_at_least(kThreads * kIters, kOpWait));
  ferry::test::note("4 threads x 300 sends + gets in " + std::to_string(ms_since(t0)) + " ms");
  env.barrier();
}

}  // namespace

TEST_CASE("futures: then() continuations, chained gets, wait_for timeouts (busy and blocking)",
          "[futures][modes]") {
  for (auto mode : kModes) {
    DYNAMIC_SECTION("progress " << mode_name(mode)) {
      FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60, mode), futures_body));
    }
  }
}

TEST_CASE("threads: concurrent sends and gets from 4 application threads", "[threads]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 120), threads_body));
}
