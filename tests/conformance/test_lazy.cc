// test_lazy.cc — connections made on first use: a peer first contacted long after start-up,
// simultaneous first contact from both sides, and first contact to a peer that is already dead.
// These hold on every backend (a backend that connects eagerly passes them too); the UCX backend
// creates its endpoints lazily, so there they exercise the connect and connect-back paths.
#include <atomic>
#include <thread>

#include "common.h"

using namespace conf;

namespace {

constexpr ft::HandlerId kPing = 0x0710, kPong = 0x0711, kData = 0x0712;

// Short liveness settings, so "not monitored before first contact" and "a dead peer is found
// after first contact" are both observable within the test's bounds.
RunOptions lazy_group(int n, int timeout_s) {
  auto o = group(n, timeout_s);
  o.configure = [](ft::Options& opts) {
    opts.heartbeat_interval = std::chrono::milliseconds(100);
    opts.peer_timeout = std::chrono::milliseconds(3000);
  };
  return o;
}

}  // namespace

TEST_CASE("lazy: a peer first contacted late works both ways (AMs, replies, gets)", "[lazy]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(lazy_group(4, 90), [](RankEnv& env) {
    auto& t = env.transport();
    StatusLog failures;
    t.on_peer_failure([&](Rank peer, const Status& why) { failures.add(peer, why); });
    Counter pongs;
    FERRY_REQUIRE_OK(t.set_handler(kPing, [&](Rank src, ft::ByteView p) {
      // The reply goes to a peer this rank may never have sent to: it connects on the spot.
      (void)t.send_owned(src, kPong, ft::Bytes(p.begin(), p.end()));
    }));
    FERRY_REQUIRE_OK(t.set_handler(kPong, [&](Rank, ft::ByteView p) {
      if (p.size() == 8) pongs.add();
    }));
    auto regions = make_regions(env, 256 * KiB, 0x1A2);
    env.barrier();
    // Nobody talks for several peer timeouts: links never used must not be declared dead.
    std::this_thread::sleep_for(std::chrono::milliseconds(5000));
    if (!failures.snapshot().empty()) FERRY_FAIL("failures reported while idle: " + failures.describe());
    // Now every rank contacts every other for the first time: a ping (answered by a pong),
    // then a one-sided get from a key unpacked before the connection existed.
    for (Rank p = 0; p < env.size(); ++p)
      if (p != env.rank()) require_ok(t.send_owned(p, kPing, u64_bytes(p)), "first ping");
    if (!pongs.wait_for_at_least(env.size() - 1, kOpWait)) FERRY_FAIL("missing pongs from late-contacted peers");
    std::vector<std::byte> dst(64 * KiB);
    for (Rank p = 0; p < env.size(); ++p) {
      require_ok(t.get(regions->key(p), regions->base(p) + 4096, dst.data(), dst.size()), "get from a late peer");
      FERRY_REQUIRE_PATTERN(dst.data(), dst.size(), regions->seed_of(p), 4096);
    }
    FERRY_REQUIRE_OK(env.transport_barrier());
    if (!failures.snapshot().empty()) FERRY_FAIL("unexpected failure reports: " + failures.describe());
    t.on_peer_failure({});
    env.barrier();
  }));
}

TEST_CASE("lazy: simultaneous first contact from both sides keeps each stream whole and in order", "[lazy]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(lazy_group(2, 90), [](RankEnv& env) {
    constexpr std::uint64_t kMessages = 2000;
    auto& t = env.transport();
    const Rank peer = 1 - env.rank();
    std::atomic<std::uint64_t> next{0};
    Counter got;
    FERRY_REQUIRE_OK(t.set_handler(kData, [&](Rank src, ft::ByteView p) {
      const std::uint64_t seq = next.fetch_add(1);
      verify_message(p, 16 + seq % 300, seq, 0x5100 + src, src);
      got.add();
    }));
    env.barrier();
    // Both ranks leave the barrier together and send at once: the first frames cross.
    std::vector<ferry::Future<void>> sends;
    for (std::uint64_t i = 0; i < kMessages; ++i)
      sends.push_back(t.send_owned(peer, kData, make_message(16 + i % 300, i, 0x5100 + env.rank())));
    for (auto& f : sends) require_ok(std::move(f), "send");
    if (!got.wait_for_at_least(kMessages, kOpWait))
      FERRY_FAIL("received " + std::to_string(got.value()) + " of " + std::to_string(kMessages) + " messages");
    FERRY_REQUIRE_OK(env.transport_barrier());
    env.barrier();
  }));
}

TEST_CASE("lazy: first contact to a peer that died before anyone talked to it fails with peer_failed",
          "[lazy][failure][kill]") {
  constexpr Rank kVictim = 2;
  auto o = lazy_group(3, 90);
  o.expect_killed = {kVictim};
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, [&](RankEnv& env) {
    auto& t = env.transport();
    StatusLog failures;
    t.on_peer_failure([&](Rank peer, const Status& why) { failures.add(peer, why); });
    auto regions = make_regions(env, 64 * KiB, 0x1A3);
    env.barrier();
    if (env.rank() == kVictim) env.die();  // nobody ever connected to it
    const auto deadline = steady::now() + 30s;
    while (!env.death_time(kVictim)) {
      if (steady::now() > deadline) FERRY_FAIL("the victim never died");
      std::this_thread::sleep_for(1ms);
    }
    // First contact to the dead rank: the send completes (ok when it only reached the
    // socket or shared-memory queue, else peer_failed) and never hangs; the get needs the
    // peer and fails with peer_failed; the failure is reported, within the peer timeout plus
    // slack, and later operations fail with peer_failed.
    const auto bound = env.options().peer_timeout + std::chrono::seconds(10);
    const auto t0 = steady::now();
    auto first = FERRY_WAIT(t.send_owned(kVictim, kData, ft::Bytes(64)), bound);
    if (!first.is_ok() && first.status().code() != Errc::peer_failed)
      FERRY_FAIL("first send to a dead peer: expected ok or peer_failed, got " + first.status().to_string());
    std::vector<std::byte> dst(4096);
    check_code(t.get(regions->key(kVictim), regions->base(kVictim), dst.data(), dst.size()), Errc::peer_failed,
               "first get from a dead peer", bound);
    if (!failures.wait_for(Errc::peer_failed, bound)) FERRY_FAIL("the dead peer was never reported");
    if (failures.snapshot().front().peer != kVictim) FERRY_FAIL("wrong peer reported: " + failures.describe());
    if (ms_since(t0) > static_cast<double>(bound.count()))
      FERRY_FAIL_CHECK("first contact to the dead peer took " + std::to_string(ms_since(t0)) + " ms");
    check_code(t.send_owned(kVictim, kData, ft::Bytes(8)), Errc::peer_failed, "send after the failure", 5s);
    // The survivors still talk to each other.
    FERRY_REQUIRE_OK(env.transport_barrier({0, 1}));
    t.on_peer_failure({});
  }));
}
