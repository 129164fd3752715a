// ferry_test/harness.h — fork-based multi-rank test groups for Catch2 tests.
//
// run_ranks(n, body, timeout) forks n child processes from the (single-threaded)
// Catch2 process, gives them a fresh local-rendezvous directory, and in each child
// builds ferry::launcher::make_local_bootstrap + ferry::transport::make_transport
// with Options::from_env() (so the CTest environment picks FERRY_TRANSPORT,
// UCX_TLS, FERRY_PROGRESS) plus test-friendly liveness settings (heartbeat
// 100 ms, peer timeout 3 s; RunOptions::configure adjusts them per test). Then:
//   child: install the harness barrier handler, bootstrap barrier, body(env),
//          transport->shutdown() (required ok unless auto_shutdown was turned off),
//          destroy the transport, _exit(0) — or _exit(1) on any FERRY_CHECK /
//          FERRY_REQUIRE failure or uncaught exception, _exit(77) = "skip" when
//          the backend is not built (Errc::unsupported from make_transport).
//   parent: waits with the timeout, SIGKILLs every child on timeout (reporting
//          which ranks hung) or a grace period after the first unexpected failure,
//          removes the directory, returns every rank's fate.
// FERRY_TEST_REQUIRE_BACKEND=1 (set by CTest) turns "backend unsupported" into a
// failure so a missing backend can never pass silently in CI.
//
// Invariants: children never return into Catch2 (they always _exit); the parent
// must have no threads when forking (checked via /proc/self/task) and never
// touches UCX. Handler ids 0xFEF0..0xFEFF are reserved for the harness.
// Thread-safety: run_ranks is called from the Catch2 thread only; RankEnv's
// methods may be called from any thread of the child.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/transport/transport.h"
#include "ferry_test/check.h"

namespace ferry::test {

using transport::Rank;

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitSkip = 77;

inline constexpr transport::HandlerId kHarnessBarrierHandler = 0xFEF0;  // 0xFEF0..0xFEFF: harness only
inline constexpr std::size_t kSharedSlots = 1024;

struct SharedBlock;  // MAP_SHARED control block, created by the parent before forking

// Test-friendly liveness defaults applied on top of Options::from_env().
inline constexpr std::chrono::milliseconds kTestHeartbeat{100};
inline constexpr std::chrono::milliseconds kTestPeerTimeout{3000};

struct RunOptions {
  int ranks = 2;
  std::chrono::seconds timeout{60};
  // Applied after the test defaults (heartbeat/peer timeout); may change anything.
  std::function<void(transport::Options&)> configure;
  // Ranks that must end by SIGKILL (they call RankEnv::die()).
  std::vector<Rank> expect_killed;
  // After the first unexpected failure, the others get this long before being killed.
  std::chrono::milliseconds failure_grace{5000};
  std::chrono::milliseconds bootstrap_timeout{30000};
  // false: children get only the bootstrap (harness self-tests); transport() must not be used.
  bool connect_transport = true;
  // Replaces transport::make_transport (harness self-tests of the skip path).
  std::function<Result<std::unique_ptr<transport::Transport>>(const transport::Options&, transport::Bootstrap&)>
      factory;
};

// What one child sees.
class RankEnv {
 public:
  RankEnv(std::unique_ptr<transport::Bootstrap> boot, SharedBlock* shared);
  ~RankEnv();
  RankEnv(const RankEnv&) = delete;
  RankEnv& operator=(const RankEnv&) = delete;

  Rank rank() const noexcept { return rank_; }
  Rank size() const noexcept { return size_; }
  transport::Transport& transport() const noexcept { return *transport_; }
  transport::Bootstrap& bootstrap() const noexcept { return *boot_; }
  const transport::Options& options() const noexcept { return transport_->options(); }
  // Non-owning Progressor handle for Promises made by the test (never outlives the transport).
  std::shared_ptr<Progressor> progressor() const;

  // Collective over the bootstrap (all ranks); fatal on failure.
  void barrier();
  // Collective over the transport among `members` (each must call it equally often);
  // usable after a peer died. Returns timeout/peer errors instead of failing.
  Status transport_barrier(const std::vector<Rank>& members,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30));
  Status transport_barrier(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // 1024 atomic u64 slots shared by every rank of the group (and zeroed per group).
  std::atomic<std::uint64_t>& shared(std::size_t slot) const;

  // Records the time of death (see death_time) and SIGKILLs this process.
  [[noreturn]] void die();
  // When `rank` called die(), if it did (steady_clock is system-wide on Linux).
  std::optional<std::chrono::steady_clock::time_point> death_time(Rank rank) const;

  // By default the harness calls transport().shutdown() after the body and requires ok.
  void set_auto_shutdown(bool on) noexcept { auto_shutdown_ = on; }
  bool auto_shutdown() const noexcept { return auto_shutdown_ && transport_ != nullptr; }

  // Harness internals (called by the child's main).
  Status connect(const transport::Options& options, const RunOptions& run);
  void install_barrier_handler();
  void destroy_transport();

 private:
  struct BarrierState;
  std::unique_ptr<transport::Bootstrap> boot_;
  SharedBlock* shared_;
  Rank rank_, size_;
  bool auto_shutdown_ = true;
  std::unique_ptr<BarrierState> barrier_;
  std::unique_ptr<transport::Transport> transport_;  // declared last: destroyed first
};

struct RankFate {
  Rank rank = 0;
  pid_t pid = -1;
  bool exited = false;   // normal exit (exit_code valid)
  int exit_code = -1;
  int signal = 0;        // terminating signal, when !exited
  bool killed_by_harness = false;
  bool expected_kill = false;
  double seconds = 0;    // from fork to reaping
  bool ok() const;
  std::string describe() const;
};

struct RunResult {
  std::vector<RankFate> ranks;
  bool timed_out = false;
  std::vector<Rank> hung;       // ranks still running at the timeout
  bool skipped = false;         // every rank reported "backend unsupported"
  std::string skip_reason;
  std::string harness_error;    // the group could not even be started
  double seconds = 0;
  bool ok() const;
  std::string describe() const;
};

RunResult run_ranks(const RunOptions& options, std::function<void(RankEnv&)> body);
RunResult run_ranks(int n, std::function<void(RankEnv&)> body, std::chrono::seconds timeout);

// True when FERRY_TEST_REQUIRE_BACKEND=1: "unsupported backend" is a failure.
bool backend_required();

// Parent-side tallies used by the Catch2 glue (catch_support.h).
struct GroupTally {
  int ok = 0;
  int skipped = 0;
  int failed = 0;
};
GroupTally& group_tally();

}  // namespace ferry::test
