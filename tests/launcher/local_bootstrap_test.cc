// local_bootstrap_test.cc — the file rendezvous with real processes: forked ranks run
// several allgathers of different sizes (including empty blobs) and check every byte; a
// rank that never arrives makes the others fail with bootstrap_failed within the timeout.
//
// Children never return into Catch2: they _exit() with 0 (ok) or a small error code after
// printing what went wrong. The parent waits with a deadline and kills leftovers, so a
// broken bootstrap fails the test instead of hanging it.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/launcher/bootstrap.h"
#include "probe_checks.h"
#include "temp_dir.h"

namespace fl = ferry::launcher;
using ferry::Errc;
using ferry::test::TempDir;
using namespace std::chrono_literals;

namespace {

// Forks one child per entry of `ranks`, runs body(rank) in it and returns the exit codes
// (-1 = killed after `deadline`, 128+sig = died by a signal).
std::vector<int> run_forked(const std::vector<fl::Rank>& ranks, const std::function<int(fl::Rank)>& body,
                            std::chrono::milliseconds deadline) {
  std::fflush(nullptr);
  std::vector<pid_t> pids;
  for (fl::Rank r : ranks) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int rc = 99;
      try {
        rc = body(r);
      } catch (...) {
        rc = 98;
      }
      std::fflush(nullptr);
      ::_exit(rc);
    }
    pids.push_back(pid);
  }
  std::vector<int> codes(pids.size(), -1);
  std::vector<bool> done(pids.size(), false);
  auto until = std::chrono::steady_clock::now() + deadline;
  std::size_t left = pids.size();
  while (left > 0 && std::chrono::steady_clock::now() < until) {
    for (std::size_t i = 0; i < pids.size(); ++i) {
      int st = 0;
      if (done[i] || ::waitpid(pids[i], &st, WNOHANG) != pids[i]) continue;
      done[i] = true;
      --left;
      codes[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    std::this_thread::sleep_for(5ms);
  }
  for (std::size_t i = 0; i < pids.size(); ++i)
    if (!done[i]) {
      ::kill(pids[i], SIGKILL);
      ::waitpid(pids[i], nullptr, 0);
    }
  return codes;
}

int child_fail(fl::Rank r, const std::string& what) {
  std::fprintf(stderr, "rank %u: %s\n", r, what.c_str());
  return 1;
}

}  // namespace

TEST_CASE("local.three_forked_ranks_mixed_sizes", "[launcher][local]") {
  TempDir dir("ferry-local-test");
  auto codes = run_forked(
      {0, 1, 2},
      [&](fl::Rank r) {
        auto bs = fl::make_local_bootstrap(dir.path, r, 3, 20s);
        if (!bs) return child_fail(r, bs.status().to_string());
        if ((*bs)->rank() != r || (*bs)->size() != 3) return child_fail(r, "wrong rank/size");
        std::string err = ferry::probe::exercise(**bs, 12);  // 3 cycles of 4-byte/empty/mixed/100 kB
        if (!err.empty()) return child_fail(r, err);
        return 0;
      },
      30s);
  CHECK(codes == std::vector<int>{0, 0, 0});
  std::size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path)) files += e.path().extension() != ".tmp";
  CHECK(files == 4 * 13);  // 12 allgathers + 1 barrier: one file per rank + rank 0's gathered file each, no .tmp left
}

TEST_CASE("local.missing_rank_fails_within_timeout", "[launcher][local]") {
  TempDir dir("ferry-local-test");
  auto t0 = std::chrono::steady_clock::now();
  auto codes = run_forked(
      {0, 1},  // rank 2 of 3 never starts
      [&](fl::Rank r) {
        auto bs = fl::make_local_bootstrap(dir.path, r, 3, 400ms);
        if (!bs) return child_fail(r, bs.status().to_string());
        auto start = std::chrono::steady_clock::now();
        auto all = (*bs)->allgather(ferry::probe::make_blob(r, 0));
        auto took = std::chrono::steady_clock::now() - start;
        if (all) return child_fail(r, "allgather succeeded without rank 2");
        if (all.status().code() != Errc::bootstrap_failed) return child_fail(r, all.status().to_string());
        if (all.status().message().find("[2]") == std::string::npos)
          return child_fail(r, "message does not name rank 2: " + all.status().message());
        if (took < 350ms || took > 5s) return child_fail(r, "failed after an unexpected time");
        return 0;
      },
      20s);
  CHECK(codes == std::vector<int>{0, 0});
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
}

TEST_CASE("local.in_process_failures", "[launcher][local]") {
  TempDir dir("ferry-local-test");
  SECTION("rank 0 of 2 alone names rank 1") {
    auto bs = fl::make_local_bootstrap(dir.path, 0, 2, 200ms);
    REQUIRE(bs);
    auto b = (*bs)->barrier();
    CHECK(b.code() == Errc::bootstrap_failed);
    CHECK(b.message().find("ranks [1]") != std::string::npos);
  }
  SECTION("rank outside the job") {
    auto bs = fl::make_local_bootstrap(dir.path, 2, 2, 200ms);
    REQUIRE_FALSE(bs);
    CHECK(bs.status().code() == Errc::invalid_argument);
    CHECK_FALSE(fl::make_local_bootstrap(dir.path, 0, 0, 200ms));
  }
  SECTION("missing directory") {
    auto bs = fl::make_local_bootstrap(dir.path + "/nope", 0, 1, 200ms);
    REQUIRE_FALSE(bs);
    CHECK(bs.status().code() == Errc::bootstrap_failed);
  }
  SECTION("a job of one needs nobody else") {
    auto bs = fl::make_local_bootstrap(dir.path, 0, 1, 200ms);
    REQUIRE(bs);
    CHECK(ferry::probe::exercise(**bs, 4).empty());
  }
}
