// test_harness.cc — self-tests of tests/support: the multi-rank harness must
// report failures, crashes, hangs and unexpected survivals (a harness that cannot
// fail would make every conformance test meaningless), and the buffer patterns
// must catch every kind of corruption. These groups use the bootstrap only
// (connect_transport = false), so they run whatever backends are built.
// Expected failures print "rank R: ..." lines on stderr; that is intended.
#include <catch2/catch.hpp>

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ferry_test/harness.h"
#include "ferry_test/pattern.h"

using namespace std::chrono_literals;
using ferry::test::RankEnv;
using ferry::test::RunOptions;
using ferry::test::run_ranks;

namespace {

RunOptions bootstrap_only(int n, int timeout_s = 20) {
  RunOptions o;
  o.ranks = n;
  o.timeout = std::chrono::seconds(timeout_s);
  o.connect_transport = false;
  o.failure_grace = 500ms;
  return o;
}

}  // namespace

TEST_CASE("harness: every rank succeeds and sees the shared slots", "[harness]") {
  auto r = run_ranks(bootstrap_only(4), [](RankEnv& env) {
    FERRY_REQUIRE(env.size() == 4u);
    env.shared(env.rank()).store(env.rank() + 100);
    env.barrier();
    for (ferry::transport::Rank i = 0; i < env.size(); ++i) FERRY_REQUIRE(env.shared(i).load() == i + 100);
  });
  INFO(r.describe());
  CHECK(r.ok());
  CHECK_FALSE(r.timed_out);
  REQUIRE(r.ranks.size() == 4);
  for (auto& f : r.ranks) CHECK((f.exited && f.exit_code == 0));
}

TEST_CASE("harness: a failed FERRY_REQUIRE fails the group and names the rank", "[harness]") {
  auto r = run_ranks(bootstrap_only(2), [](RankEnv& env) {
    if (env.rank() == 1) FERRY_REQUIRE(env.rank() == 0u);
  });
  INFO(r.describe());
  CHECK_FALSE(r.ok());
  REQUIRE(r.ranks.size() == 2);
  CHECK(r.ranks[0].ok());
  CHECK(r.ranks[1].exited);
  CHECK(r.ranks[1].exit_code == 1);
  CHECK(r.describe().find("rank 1") != std::string::npos);
}

TEST_CASE("harness: a failed FERRY_CHECK lets the rank continue, then fails it", "[harness]") {
  auto r = run_ranks(bootstrap_only(1), [](RankEnv& env) {
    FERRY_CHECK(1 + 1 == 3);
    env.shared(0).store(7);  // still reached
  });
  CHECK_FALSE(r.ok());
  REQUIRE(r.ranks.size() == 1);
  CHECK(r.ranks[0].exit_code == 1);
}

TEST_CASE("harness: uncaught exceptions and crashes fail the group", "[harness]") {
  auto thrown = run_ranks(bootstrap_only(2), [](RankEnv& env) {
    if (env.rank() == 0) throw std::runtime_error("boom");
  });
  CHECK_FALSE(thrown.ok());
  CHECK(thrown.ranks[0].exit_code == 1);

  auto in_thread = run_ranks(bootstrap_only(1), [](RankEnv&) {
    std::thread([] { throw std::runtime_error("escaped a thread"); }).join();
  });
  CHECK_FALSE(in_thread.ok());

  auto crashed = run_ranks(bootstrap_only(2), [](RankEnv& env) {
    if (env.rank() == 1) ::raise(SIGSEGV);
  });
  INFO(crashed.describe());
  CHECK_FALSE(crashed.ok());
  CHECK_FALSE(crashed.ranks[1].exited);
  CHECK(crashed.ranks[1].signal == SIGSEGV);
}

TEST_CASE("harness: a hung rank is killed at the timeout and reported", "[harness]") {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_ranks(bootstrap_only(2, 1), [](RankEnv& env) {
    if (env.rank() == 1) std::this_thread::sleep_for(60s);
  });
  auto took = std::chrono::steady_clock::now() - t0;
  INFO(r.describe());
  CHECK_FALSE(r.ok());
  CHECK(r.timed_out);
  CHECK(r.hung == std::vector<ferry::transport::Rank>{1});
  CHECK(r.ranks[1].killed_by_harness);
  CHECK(r.ranks[0].ok());
  CHECK(took < 10s);
  CHECK(r.describe().find("TIMEOUT") != std::string::npos);
}

TEST_CASE("harness: after a failure the others are killed after the grace period", "[harness]") {
  auto t0 = std::chrono::steady_clock::now();
  auto r = run_ranks(bootstrap_only(3, 60), [](RankEnv& env) {
    if (env.rank() == 0) FERRY_FAIL("deliberate");
    std::this_thread::sleep_for(60s);
  });
  CHECK(std::chrono::steady_clock::now() - t0 < 20s);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.timed_out);
  CHECK(r.ranks[1].killed_by_harness);
  CHECK(r.ranks[2].killed_by_harness);
}

TEST_CASE("harness: expected SIGKILL passes, and its time of death is shared", "[harness]") {
  RunOptions o = bootstrap_only(2);
  o.expect_killed = {1};
  auto r = run_ranks(o, [](RankEnv& env) {
    if (env.rank() == 1) env.die();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!env.death_time(1) && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(1ms);
    FERRY_REQUIRE(env.death_time(1).has_value());
    FERRY_REQUIRE(!env.death_time(0).has_value());
  });
  INFO(r.describe());
  CHECK(r.ok());
  CHECK(r.ranks[1].signal == SIGKILL);
}

TEST_CASE("harness: a rank expected to die that survives fails the group", "[harness]") {
  RunOptions o = bootstrap_only(2);
  o.expect_killed = {1};
  auto r = run_ranks(o, [](RankEnv&) {});
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.ranks[1].ok());
  CHECK(r.ranks[0].ok());
}

TEST_CASE("harness: an unexpected SIGKILL fails the group", "[harness]") {
  auto r = run_ranks(bootstrap_only(2), [](RankEnv& env) {
    if (env.rank() == 0) env.die();
  });
  CHECK_FALSE(r.ok());
  CHECK(r.ranks[0].signal == SIGKILL);
}

TEST_CASE("harness: the parent must be single-threaded", "[harness]") {
  std::atomic<bool> stop{false};
  std::thread t([&] {
    while (!stop) std::this_thread::sleep_for(1ms);
  });
  auto r = run_ranks(bootstrap_only(1), [](RankEnv&) {});
  stop = true;
  t.join();
  CHECK_FALSE(r.ok());
  CHECK(r.harness_error.find("single-threaded") != std::string::npos);
  CHECK(r.ranks.empty());
}

namespace {

// Sets or clears FERRY_TEST_REQUIRE_BACKEND for one scope.
struct RequireBackendEnv {
  explicit RequireBackendEnv(bool on) {
    const char* v = std::getenv("FERRY_TEST_REQUIRE_BACKEND");
    if (v) saved_ = v;
    if (on) ::setenv("FERRY_TEST_REQUIRE_BACKEND", "1", 1);
    else ::unsetenv("FERRY_TEST_REQUIRE_BACKEND");
  }
  ~RequireBackendEnv() {
    if (saved_) ::setenv("FERRY_TEST_REQUIRE_BACKEND", saved_->c_str(), 1);
    else ::unsetenv("FERRY_TEST_REQUIRE_BACKEND");
  }
  std::optional<std::string> saved_;
};

RunOptions unsupported_backend(int n) {
  RunOptions o;
  o.ranks = n;
  o.timeout = 20s;
  o.factory = [](const ferry::transport::Options&, ferry::transport::Bootstrap&)
      -> ferry::Result<std::unique_ptr<ferry::transport::Transport>> {
    return ferry::Status(ferry::Errc::unsupported, "backend not built (simulated)");
  };
  return o;
}

}  // namespace

TEST_CASE("harness: an unsupported backend is a skip with a reason, never a pass", "[harness]") {
  RequireBackendEnv env(false);
  bool body_ran = false;
  auto r = run_ranks(unsupported_backend(3), [&](RankEnv&) { body_ran = true; });
  INFO(r.describe());
  CHECK(r.skipped);
  CHECK_FALSE(r.ok());  // a skip is not a success
  CHECK(r.skip_reason.find("backend not built (simulated)") != std::string::npos);
  for (auto& f : r.ranks) CHECK(f.exit_code == ferry::test::kExitSkip);
  CHECK_FALSE(body_ran);
}

TEST_CASE("harness: FERRY_TEST_REQUIRE_BACKEND=1 turns an unsupported backend into a failure", "[harness]") {
  RequireBackendEnv env(true);
  CHECK(ferry::test::backend_required());
  auto r = run_ranks(unsupported_backend(2), [](RankEnv&) {});
  INFO(r.describe());
  CHECK_FALSE(r.skipped);
  CHECK_FALSE(r.ok());
  for (auto& f : r.ranks) CHECK(f.exit_code == ferry::test::kExitFailed);
}

TEST_CASE("pattern: fill and verify at any offset and length", "[pattern]") {
  const std::uint64_t seed = ferry::test::make_seed(3, 14, 15);
  std::vector<std::byte> full(4096 + 17);
  ferry::test::fill_pattern(full.data(), full.size(), seed);
  CHECK_FALSE(ferry::test::find_mismatch(full.data(), full.size(), seed));
  for (std::size_t off : {0u, 1u, 3u, 7u, 8u, 9u, 1000u}) {
    for (std::size_t len : {0u, 1u, 5u, 8u, 13u, 64u, 999u}) {
      CHECK_FALSE(ferry::test::find_mismatch(full.data() + off, len, seed, off));  // a slice is the pattern at off
      std::vector<std::byte> part(len + 1);
      ferry::test::fill_pattern(part.data() + 1, len, seed, off);  // unaligned destination
      CHECK(std::memcmp(part.data() + 1, full.data() + off, len) == 0);
    }
  }
  CHECK(ferry::test::pattern_byte(seed, 5) == full[5]);
}

TEST_CASE("pattern: the first mismatch is reported exactly", "[pattern]") {
  const std::uint64_t seed = ferry::test::make_seed(1);
  std::vector<std::byte> buf(1 << 16);
  ferry::test::fill_pattern(buf.data(), buf.size(), seed);
  for (std::size_t bad : {0u, 1u, 7u, 8u, 4095u, 65535u}) {
    auto copy = buf;
    copy[bad] ^= std::byte{0x01};
    if (bad + 100 < copy.size()) copy[bad + 100] ^= std::byte{0xFF};
    auto m = ferry::test::find_mismatch(copy.data(), copy.size(), seed);
    REQUIRE(m);
    CHECK(m->index == bad);
    CHECK(m->expected == buf[bad]);
    CHECK(m->actual == copy[bad]);
    CHECK(m->describe(copy.size()).find("byte " + std::to_string(bad)) != std::string::npos);
  }
  // Wrong seed, shifted data and zeroed data are all caught.
  CHECK(ferry::test::find_mismatch(buf.data(), buf.size(), seed + 1));
  CHECK(ferry::test::find_mismatch(buf.data() + 1, 100, seed, 0));
  std::vector<std::byte> zeros(64);
  CHECK(ferry::test::find_mismatch(zeros.data(), zeros.size(), seed));
}

TEST_CASE("pattern: different seeds give different streams", "[pattern]") {
  using ferry::test::make_seed;
  CHECK(make_seed(0, 1) != make_seed(1, 0));
  CHECK(make_seed(0, 0, 1) != make_seed(0, 1, 0));
  std::vector<std::byte> a(256), b(256);
  ferry::test::fill_pattern(a.data(), a.size(), make_seed(0, 1));
  ferry::test::fill_pattern(b.data(), b.size(), make_seed(0, 2));
  CHECK(std::memcmp(a.data(), b.data(), a.size()) != 0);
}
