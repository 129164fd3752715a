// test_am.cc — active-message conformance: ping-pong, send-to-self, per-peer
// ordering across eager and rendezvous sizes, all-to-all, a 64 MiB message, the
// max_am_bytes limit, 1000 outstanding sends, and a job of one rank.
// The transport.h contract: handlers see (src, payload); AMs from one sender to
// one receiver run in send order whatever their size; send() completion means
// the payload may be reused.
#include <atomic>
#include <deque>

#include "common.h"

using namespace conf;

namespace {

constexpr ft::HandlerId kPing = 1, kPong = 2, kData = 3, kSelf = 4;

// Ping-pong: rank 0 sends 1000 pings of cycling sizes, rank 1 echoes each; rank 0
// waits for every echo on a Promise bound to the transport (busy mode: it polls).
void ping_pong_body(RankEnv& env) {
  auto& t = env.transport();
  std::mutex mu;
  std::unique_ptr<ferry::Promise<ft::Bytes>> pending;  // guarded by mu
  FERRY_REQUIRE_OK(t.set_handler(kPing, [&](Rank src, ft::ByteView p) {
    FERRY_REQUIRE(src == 0u);
    (void)t.send_owned(src, kPong, ft::Bytes(p.begin(), p.end()));
  }));
  FERRY_REQUIRE_OK(t.set_handler(kPong, [&](Rank src, ft::ByteView p) {
    FERRY_REQUIRE(src == 1u);
    // Take the promise out first: once set_value wakes the waiter, the body may
    // return and destroy `mu` and `pending` while this handler is still running.
    std::unique_ptr<ferry::Promise<ft::Bytes>> promise;
    {
      std::lock_guard<std::mutex> lock(mu);
      FERRY_REQUIRE(pending != nullptr);
      promise = std::move(pending);
    }
    promise->set_value(ft::Bytes(p.begin(), p.end()));
  }));
  env.barrier();
  if (env.rank() == 0) {
    const std::size_t sizes[] = {0, 1, 8, 100, 4 * KiB, 64 * KiB};
    auto t0 = steady::now();
    for (std::uint64_t i = 0; i < 1000; ++i) {
      std::size_t size = sizes[i % std::size(sizes)];
      auto msg = make_message(size, i, ferry::test::make_seed(0, i));
      ferry::Future<ft::Bytes> echo;
      {
        std::lock_guard<std::mutex> lock(mu);
        pending = std::make_unique<ferry::Promise<ft::Bytes>>(env.progressor());
        echo = pending->get_future();
      }
      require_ok(t.send(1, kPing, msg), "ping send");
      auto got = FERRY_VALUE(FERRY_WAIT(echo, kOpWait));
      verify_message(got, size, i, ferry::test::make_seed(0, i), 1);
    }
    ferry::test::note("ping-pong: 1000 round trips in " + std::to_string(ms_since(t0)) + " ms (" +
                      mode_name(env.options().progress) + ")");
  }
  env.barrier();
}

// Message k of the ordering stream: sizes mix zero, small (eager), medium and
// large (rendezvous) payloads, up to exactly 4 MiB.
std::size_t ordering_size(std::uint64_t k) {
  if (k == 497) return 4 * MiB;  // inside the stream at any FERRY_TEST_VOLUME
  if (k % 50 == 0) return 0;
  if (k % 24 == 5) return 256 * KiB + (k * 7919) % (4 * MiB - 256 * KiB);
  if (k % 4 == 1) return 8 * KiB + (k * 104729) % (248 * KiB);
  return (k * 31) % (8 * KiB + 1);
}

// Sends `count` ordering-stream messages to every rank in `dsts`, keeping up to
// `window` sends outstanding (so eager and rendezvous messages overlap in flight).
void send_stream(RankEnv& env, const std::vector<Rank>& dsts, std::uint64_t count, std::size_t window,
                 std::size_t (*size_of)(std::uint64_t)) {
  struct Pending {
    std::unique_ptr<std::byte[]> buf;
    ferry::Future<void> done;
  };
  std::deque<Pending> inflight;
  for (std::uint64_t k = 0; k < count; ++k) {
    for (Rank dst : dsts) {
      std::size_t size = size_of(k);
      auto buf = raw_buffer(size);
      fill_message(buf.get(), size, k, ferry::test::make_seed(env.rank(), k, dst));
      auto f = env.transport().send(dst, kData, ft::ByteView(buf.get(), size));
      inflight.push_back({std::move(buf), std::move(f)});
      if (inflight.size() > window) {
        require_ok(std::move(inflight.front().done), "stream send");
        inflight.pop_front();
      }
    }
  }
  for (auto& p : inflight) require_ok(std::move(p.done), "stream send");
}

// Receives streams from `senders`, checking order and content; returns when done.
struct StreamReceiver {
  std::vector<std::uint64_t> next;  // per source; touched only by the handler (serialized per transport)
  Counter received;
  std::size_t (*size_of)(std::uint64_t);
  std::mutex mu;

  StreamReceiver(Rank n, std::size_t (*sz)(std::uint64_t)) : next(n, 0), size_of(sz) {}
  void install(RankEnv& env) {
    FERRY_REQUIRE_OK(env.transport().set_handler(kData, [this, me = env.rank()](Rank src, ft::ByteView p) {
      {
        std::lock_guard<std::mutex> lock(mu);
        FERRY_REQUIRE(src < next.size());
        std::uint64_t k = next[src]++;
        verify_message(p, size_of(k), k, ferry::test::make_seed(src, k, me), src);
      }
      // Counted last, outside mu: the body may return (and destroy this receiver, mu included)
      // as soon as the final count is reached, while this handler is still running.
      received.add();
    }));
  }
};

void ordering_body(RankEnv& env) {
  const std::uint64_t kCount = ferry::test::scaled(2000);
  StreamReceiver rx(env.size(), ordering_size);
  rx.install(env);
  env.barrier();
  auto t0 = steady::now();
  Rank peer = 1 - env.rank();
  send_stream(env, {peer}, kCount, 64, ordering_size);
  if (!rx.received.wait_for_at_least(kCount, 60s))
    FERRY_FAIL("only " + std::to_string(rx.received.value()) + " of " + std::to_string(kCount) +
               " messages arrived within 60 s");
  ferry::test::note("ordering: " + std::to_string(kCount) + " mixed messages each way in " +
                    std::to_string(ms_since(t0)) + " ms (" +
                    mode_name(env.options().progress) + ")");
  env.barrier();
}

std::size_t all_to_all_size(std::uint64_t k) { return k % 10 == 3 ? 64 * KiB + k * 997 : (k * 131) % 2048; }

}  // namespace

TEST_CASE("am: ping-pong (busy and blocking progress)", "[am][modes]") {
  for (auto mode : kModes) {
    DYNAMIC_SECTION("progress " << mode_name(mode)) {
      FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 90, mode), ping_pong_body));
    }
  }
}

TEST_CASE("am: send to self, in order, up to 1 MiB", "[am]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), [](RankEnv& env) {
    auto& t = env.transport();
    const Rank me = env.rank();
    std::uint64_t next = 0;
    Counter got;
    auto size_of = [](std::uint64_t k) -> std::size_t { return k == 50 ? MiB : (k * 61) % 3000; };
    FERRY_REQUIRE_OK(t.set_handler(kSelf, [&](Rank src, ft::ByteView p) {
      FERRY_REQUIRE(src == me);
      std::uint64_t k = next++;
      verify_message(p, size_of(k), k, ferry::test::make_seed(me, k, 77), src);
      got.add();
    }));
    env.barrier();
    std::vector<ferry::Future<void>> sends;
    for (std::uint64_t k = 0; k < 100; ++k)
      sends.push_back(t.send_owned(me, kSelf, make_message(size_of(k), k, ferry::test::make_seed(me, k, 77))));
    for (auto& f : sends) require_ok(std::move(f), "send to self");
    FERRY_REQUIRE(got.wait_for_at_least(100, kOpWait));
    env.barrier();
  }));
}

TEST_CASE("am: per-peer ordering of 2000 (times FERRY_TEST_VOLUME) mixed-size messages (busy and blocking)",
          "[am][modes][order]") {
  for (auto mode : kModes) {
    DYNAMIC_SECTION("progress " << mode_name(mode)) {
      FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 150, mode), ordering_body));
    }
  }
}

TEST_CASE("am: all-to-all among 4 ranks, self included", "[am]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(4, 120), [](RankEnv& env) {
    constexpr std::uint64_t kCount = 100;
    StreamReceiver rx(env.size(), all_to_all_size);
    rx.install(env);
    env.barrier();
    send_stream(env, {0, 1, 2, 3}, kCount, 32, all_to_all_size);
    if (!rx.received.wait_for_at_least(kCount * env.size(), 60s))
      FERRY_FAIL("only " + std::to_string(rx.received.value()) + " of 400 messages arrived within 60 s");
    for (Rank r = 0; r < env.size(); ++r) FERRY_REQUIRE(rx.next[r] == kCount);
    env.barrier();
  }));
}

TEST_CASE("am: a 64 MiB message each way, verified byte for byte", "[am][large]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 120), [](RankEnv& env) {
    constexpr std::size_t kSize = 64 * MiB;
    auto& t = env.transport();
    Counter got;
    FERRY_REQUIRE_OK(t.set_handler(kData, [&](Rank src, ft::ByteView p) {
      verify_message(p, kSize, 1234, ferry::test::make_seed(src, 64), src);
      got.add();
    }));
    env.barrier();
    auto buf = raw_buffer(kSize);
    fill_message(buf.get(), kSize, 1234, ferry::test::make_seed(env.rank(), 64));
    auto t0 = steady::now();
    require_ok(t.send(1 - env.rank(), kData, ft::ByteView(buf.get(), kSize)), "64 MiB send");
    FERRY_REQUIRE(got.wait_for_at_least(1, kOpWait));
    ferry::test::note("64 MiB AM each way in " + std::to_string(ms_since(t0)) + " ms");
    env.barrier();
  }));
}

TEST_CASE("am: send() above max_am_bytes fails with invalid_argument", "[am]") {
  auto o = group(2, 60);
  o.configure = [](ft::Options& opts) { opts.max_am_bytes = MiB; };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, [](RankEnv& env) {
    auto& t = env.transport();
    FERRY_REQUIRE(env.options().max_am_bytes == MiB);
    Counter got;
    FERRY_REQUIRE_OK(t.set_handler(kData, [&](Rank, ft::ByteView p) {
      FERRY_REQUIRE(p.size() == MiB);
      got.add();
    }));
    env.barrier();
    Rank peer = 1 - env.rank();
    auto big = raw_buffer(MiB + 1);
    require_code(t.send(peer, kData, ft::ByteView(big.get(), MiB + 1)), Errc::invalid_argument,
                 "send of max_am_bytes + 1");
    require_code(t.send(env.rank(), kData, ft::ByteView(big.get(), MiB + 1)), Errc::invalid_argument,
                 "send to self of max_am_bytes + 1");
    require_code(t.send_owned(peer, kData, ft::Bytes(2 * MiB)), Errc::invalid_argument,
                 "send_owned of 2 * max_am_bytes");
    require_ok(t.send(peer, kData, ft::ByteView(big.get(), MiB)), "send of exactly max_am_bytes");
    FERRY_REQUIRE(got.wait_for_at_least(1, kOpWait));
    env.barrier();
    FERRY_REQUIRE(got.value() == 1u);  // the rejected ones never arrived
  }));
}

TEST_CASE("am: send() to a rank outside the job fails with invalid_argument", "[am]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), [](RankEnv& env) {
    ft::Bytes b(16);
    require_code(env.transport().send(2, kData, b), Errc::invalid_argument, "send to rank 2 of 2");
    require_code(env.transport().send(ft::kInvalidRank, kData, b), Errc::invalid_argument, "send to kInvalidRank");
  }));
}

TEST_CASE("am: 1000 outstanding sends complete and arrive in order", "[am][outstanding]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 90), [](RankEnv& env) {
    constexpr std::uint64_t kCount = 1000;
    auto size_of = [](std::uint64_t k) -> std::size_t { return k % 100 == 7 ? 128 * KiB : (k * 13) % 1025; };
    StreamReceiver rx(env.size(), +size_of);
    rx.install(env);
    env.barrier();
    Rank peer = 1 - env.rank();
    std::vector<ft::Bytes> bufs;
    std::vector<ferry::Future<void>> sends;
    for (std::uint64_t k = 0; k < kCount; ++k)
      bufs.push_back(make_message(size_of(k), k, ferry::test::make_seed(env.rank(), k, peer)));
    for (std::uint64_t k = 0; k < kCount; ++k) sends.push_back(env.transport().send(peer, kData, bufs[k]));
    for (auto& f : sends) require_ok(std::move(f), "outstanding send");
    FERRY_REQUIRE(rx.received.wait_for_at_least(kCount, kOpWait));
    env.barrier();
  }));
}

TEST_CASE("am: a job of one rank sends to itself, registers and gets", "[am][single]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(1, 60), [](RankEnv& env) {
    auto& t = env.transport();
    FERRY_REQUIRE(t.size() == 1u);
    FERRY_REQUIRE(t.rank() == 0u);
    Counter got;
    FERRY_REQUIRE_OK(t.set_handler(kSelf, [&](Rank src, ft::ByteView p) {
      FERRY_REQUIRE(src == 0u);
      FERRY_REQUIRE(read_u64(p) == 99u);
      got.add();
    }));
    require_ok(t.send_owned(0, kSelf, u64_bytes(99)), "send to self");
    FERRY_REQUIRE(got.wait_for_at_least(1, kOpWait));
    auto regions = make_regions(env, 64 * KiB, 1);
    std::vector<std::byte> dst(1000);
    require_ok(t.get(regions->key(0), regions->base(0) + 5, dst.data(), dst.size()), "get from self");
    FERRY_REQUIRE_PATTERN(dst.data(), dst.size(), regions->seed_of(0), 5);
    FERRY_REQUIRE(t.failed_peers().empty());
  }));
}
