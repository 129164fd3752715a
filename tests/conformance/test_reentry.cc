// test_reentry.cc — re-entrancy stress: AM handlers that send (small and
// rendezvous-sized) replies from inside the handler while the other side does
// the same, a burst of large AMs that overflows the UCX backend's rendezvous
// window (256 MiB: some receives queue and are started later), and
// application threads sending concurrently with the progress thread (in busy
// mode those threads also drive progress and run handlers themselves).
//
// It targets the UCX engine's posting/receiving bookkeeping: a send or
// ucp_am_recv_data_nbx whose completion runs inside the call, rendezvous
// receives started from the AM callback or from the deferred drain, and
// completions of other requests interleaved with them. Every payload is
// verified byte for byte and in per-stream order; nothing may be reported to
// on_error / on_peer_failure. Runs over every backend (the contract is the same).
#include <atomic>
#include <cstdlib>
#include <deque>
#include <thread>

#include "common.h"

using namespace conf;

namespace {

constexpr ft::HandlerId kRequest = 60, kReply = 61, kFlood = 62, kBurst = 63;
constexpr std::uint64_t kRequests = 240, kFloodPerThread = 150, kBurstCount = 10;
constexpr int kFloodThreads = 2;
// Each AM of the burst: kBurstCount of them exceed the 256 MiB window (at FERRY_TEST_VOLUME 1).
// Read in the test body, so that a malformed FERRY_TEST_VOLUME fails the case, not the start-up.
std::size_t burst_size() { return ferry::test::scaled(30 * MiB); }

// Request k: mostly eager sizes, every 7th a rendezvous one, two of 12 MiB.
std::size_t request_size(std::uint64_t k) {
  if (k == 17 || k == 170) return 12 * MiB;
  if (k % 7 == 3) return 256 * KiB + (k * 7919) % (2 * MiB);
  return (k * 131) % (6 * KiB);
}

// Reply to request k, sent from inside the request handler.
std::size_t reply_size(std::uint64_t k) {
  if (k == 40 || k == 200) return 16 * MiB;
  if (k % 5 == 1) return 512 * KiB + (k * 104729) % MiB;
  return (k * 37) % (4 * KiB);
}

std::size_t flood_size(std::uint64_t k, int th) {
  if (k % 25 == static_cast<std::uint64_t>(7 + th)) return 3 * MiB + k * 4099;
  return 16 + (k * 53 + th) % 9000;
}

struct Tally {
  std::mutex mu;
  std::uint64_t next_request = 0, next_reply = 0, next_burst = 0;
  std::vector<std::uint64_t> next_flood = std::vector<std::uint64_t>(kFloodThreads, 0);
  Counter requests, replies, floods, bursts, reply_sends_done;
  std::atomic<int> reply_send_errors{0};
};

void reentry_body(RankEnv& env) {
  auto& t = env.transport();
  const Rank me = env.rank(), peer = 1 - me;
  StatusLog errors, failures;
  t.on_error([&](const Status& s) { errors.add(ft::kInvalidRank, s); });
  t.on_peer_failure([&](Rank r, const Status& s) { failures.add(r, s); });
  Tally tally;

  // Requests are answered from inside the handler (which may run on the
  // progress thread or, in busy mode, on an application thread that polls).
  FERRY_REQUIRE_OK(t.set_handler(kRequest, [&](Rank src, ft::ByteView p) {
    std::uint64_t k;
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      k = tally.next_request++;
    }
    verify_message(p, request_size(k), k, ferry::test::make_seed(src, k, 1), src);
    tally.requests.add();
    t.send_owned(src, kReply, make_message(reply_size(k), k, ferry::test::make_seed(me, k, 2)))
        .then([&](ferry::Result<void>&& r) {
          if (!r) {
            ++tally.reply_send_errors;
            FERRY_FAIL_CHECK("reply send: " + r.status().to_string());
          }
          tally.reply_sends_done.add();
        });
  }));
  // Counters are bumped last, outside tally.mu: the body may return (and
  // destroy tally) as soon as the final count is reached.
  FERRY_REQUIRE_OK(t.set_handler(kReply, [&](Rank src, ft::ByteView p) {
    std::uint64_t k;
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      k = tally.next_reply++;
    }
    verify_message(p, reply_size(k), k, ferry::test::make_seed(src, k, 2), src);
    tally.replies.add();
  }));
  FERRY_REQUIRE_OK(t.set_handler(kFlood, [&](Rank src, ft::ByteView p) {
    FERRY_REQUIRE(p.size() >= 16u);
    const std::uint64_t th = read_u64(p), k = read_u64(p, 8);
    FERRY_REQUIRE(th < static_cast<std::uint64_t>(kFloodThreads));
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      if (k != tally.next_flood[th])
        FERRY_FAIL("flood thread " + std::to_string(th) + " of rank " + std::to_string(src) + ": expected #" +
                   std::to_string(tally.next_flood[th]) + ", got #" + std::to_string(k));
      ++tally.next_flood[th];
    }
    FERRY_REQUIRE(p.size() == flood_size(k, static_cast<int>(th)));
    FERRY_REQUIRE_PATTERN(p.data() + 16, p.size() - 16, ferry::test::make_seed(src, th, k + 3), 16);
    tally.floods.add();
  }));
  FERRY_REQUIRE_OK(t.set_handler(kBurst, [&](Rank src, ft::ByteView p) {
    std::uint64_t k;
    {
      std::lock_guard<std::mutex> lock(tally.mu);
      k = tally.next_burst++;
    }
    verify_message(p, burst_size(), k, ferry::test::make_seed(src, k, 4), src);
    tally.bursts.add();
  }));
  env.barrier();
  const auto t0 = steady::now();

  // Application threads flood the peer while the main thread sends requests.
  std::vector<std::thread> flooders;
  for (int th = 0; th < kFloodThreads; ++th)
    flooders.emplace_back([&, th] {
      std::deque<ferry::Future<void>> inflight;
      for (std::uint64_t k = 0; k < kFloodPerThread; ++k) {
        ft::Bytes msg(flood_size(k, th));
        const std::uint64_t th64 = static_cast<std::uint64_t>(th);
        std::memcpy(msg.data(), &th64, 8);
        std::memcpy(msg.data() + 8, &k, 8);
        ferry::test::fill_pattern(msg.data() + 16, msg.size() - 16, ferry::test::make_seed(me, th, k + 3), 16);
        inflight.push_back(t.send_owned(peer, kFlood, std::move(msg)));
        if (inflight.size() > 24) {
          require_ok(std::move(inflight.front()), "flood send");
          inflight.pop_front();
        }
      }
      for (auto& f : inflight) require_ok(std::move(f), "flood send");
    });

  // A burst of large AMs, all outstanding at once, overflows the receiver's
  // rendezvous window while requests, replies and floods keep interleaving.
  std::vector<ferry::Future<void>> burst;
  std::deque<ferry::Future<void>> inflight;
  for (std::uint64_t k = 0; k < kRequests; ++k) {
    if (k == kRequests / 3)
      for (std::uint64_t b = 0; b < kBurstCount; ++b)
        burst.push_back(
            t.send_owned(peer, kBurst, make_message(burst_size(), b, ferry::test::make_seed(me, b, 4))));
    inflight.push_back(
        t.send_owned(peer, kRequest, make_message(request_size(k), k, ferry::test::make_seed(me, k, 1))));
    if (inflight.size() > 32) {
      require_ok(std::move(inflight.front()), "request send");
      inflight.pop_front();
    }
  }
  for (auto& f : inflight) require_ok(std::move(f), "request send");
  for (auto& f : burst) require_ok(std::move(f), "burst send");
  for (auto& th : flooders) th.join();

  const auto wait = 60s;
  if (!tally.replies.wait_for_at_least(kRequests, wait) || !tally.requests.wait_for_at_least(kRequests, wait) ||
      !tally.floods.wait_for_at_least(kFloodThreads * kFloodPerThread, wait) ||
      !tally.bursts.wait_for_at_least(kBurstCount, wait) || !tally.reply_sends_done.wait_for_at_least(kRequests, wait))
    FERRY_FAIL("incomplete after 60 s: requests " + std::to_string(tally.requests.value()) + ", replies " +
               std::to_string(tally.replies.value()) + ", floods " + std::to_string(tally.floods.value()) +
               ", bursts " + std::to_string(tally.bursts.value()) + ", reply sends done " +
               std::to_string(tally.reply_sends_done.value()) + "; errors: " + errors.describe() +
               "; failures: " + failures.describe());
  ferry::test::note("re-entry stress (" + std::string(mode_name(env.options().progress)) + "): " +
                    std::to_string(ms_since(t0)) + " ms");
  env.barrier();
  FERRY_REQUIRE(tally.reply_send_errors.load() == 0);
  if (!errors.snapshot().empty()) FERRY_FAIL("errors reported: " + errors.describe());
  if (!failures.snapshot().empty()) FERRY_FAIL("peer failures reported: " + failures.describe());
  FERRY_REQUIRE(t.failed_peers().empty());
}

}  // namespace

TEST_CASE("reentry: handlers reply from inside handlers, large bursts and threads, both ways (busy and blocking)",
          "[am][reentry][modes]") {
  for (auto mode : kModes) {
    DYNAMIC_SECTION("progress " << mode_name(mode)) {
      FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 150, mode), reentry_body));
    }
  }
}

// A 1 MiB rendezvous window (a UCX backend setting; the other backends have no
// window, so the case is theirs only once, above): nearly every large AM waits
// in the queue and is started later from a safe point.
TEST_CASE("reentry: the same with a 1 MiB rendezvous window (busy and blocking)", "[am][reentry][modes][ucx-only]") {
  for (auto mode : kModes) {
    DYNAMIC_SECTION("progress " << mode_name(mode) << ", 1 MiB rendezvous window") {
      auto o = group(2, 150, mode);
      o.factory = [](const ft::Options& opts, ft::Bootstrap& boot) {
        ::setenv("FERRY_UCX_RNDV_WINDOW_BYTES", "1048576", 1);
        return ft::make_transport(opts, boot);
      };
      FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, reentry_body));
    }
  }
}
