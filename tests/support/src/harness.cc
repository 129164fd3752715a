// harness.cc — run_ranks() and RankEnv (see ferry_test/harness.h).
//
// Parent: checks it is single-threaded, creates the rendezvous directory and a
// MAP_SHARED control block, forks, then polls waitpid(WNOHANG) until every child
// is reaped, the timeout expires (SIGKILL all, report the hung ranks) or the
// grace period after an unexpected failure runs out (SIGKILL the rest).
// Child: never returns; see child_main().
#include "ferry_test/harness.h"

#include <dirent.h>
#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <map>
#include <mutex>
#include <new>
#include <thread>

#include "ferry/launcher/bootstrap.h"

namespace ferry::test {

namespace {
constexpr Rank kMaxRanks = 64;
using clock = std::chrono::steady_clock;
}  // namespace

struct SharedBlock {
  std::atomic<std::uint64_t> slots[kSharedSlots];
  std::atomic<std::int64_t> death_ns[kMaxRanks];  // 0 = alive (or died without die())
  char skip_reason[512];
};

// ---------------------------------------------------------------- RankEnv

struct RankEnv::BarrierState {
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::uint64_t, std::uint32_t> arrivals;  // epoch -> peers arrived; guarded by mu
  std::uint64_t epoch = 0;                          // guarded by mu
};

RankEnv::RankEnv(std::unique_ptr<transport::Bootstrap> boot, SharedBlock* shared)
    : boot_(std::move(boot)),
      shared_(shared),
      rank_(boot_->rank()),
      size_(boot_->size()),
      barrier_(std::make_unique<BarrierState>()) {}

RankEnv::~RankEnv() { destroy_transport(); }

Status RankEnv::connect(const transport::Options& options, const RunOptions& run) {
  auto t = run.factory ? run.factory(options, *boot_) : transport::make_transport(options, *boot_);
  if (!t) return t.status();
  transport_ = std::move(t).value();
  return Status::ok();
}

void RankEnv::destroy_transport() { transport_.reset(); }

std::shared_ptr<Progressor> RankEnv::progressor() const {
  return std::shared_ptr<Progressor>(std::shared_ptr<void>(), transport_.get());
}

void RankEnv::install_barrier_handler() {
  BarrierState* st = barrier_.get();
  FERRY_REQUIRE_OK(transport_->set_handler(kHarnessBarrierHandler, [st](Rank src, transport::ByteView p) {
    std::uint64_t epoch = 0;
    FERRY_REQUIRE(p.size() == sizeof epoch);
    std::memcpy(&epoch, p.data(), sizeof epoch);
    std::lock_guard<std::mutex> lock(st->mu);
    ++st->arrivals[epoch];
    st->cv.notify_all();
  }));
}

void RankEnv::barrier() { FERRY_REQUIRE_OK(boot_->barrier()); }

Status RankEnv::transport_barrier(std::chrono::milliseconds timeout) {
  std::vector<Rank> all(size_);
  for (Rank r = 0; r < size_; ++r) all[r] = r;
  return transport_barrier(all, timeout);
}

Status RankEnv::transport_barrier(const std::vector<Rank>& members, std::chrono::milliseconds timeout) {
  auto deadline = clock::now() + timeout;
  std::uint64_t epoch;
  {
    std::lock_guard<std::mutex> lock(barrier_->mu);
    epoch = ++barrier_->epoch;
  }
  std::vector<Future<void>> sends;
  std::uint32_t expected = 0;
  for (Rank m : members) {
    if (m == rank_) continue;
    ++expected;
    transport::Bytes payload(sizeof epoch);
    std::memcpy(payload.data(), &epoch, sizeof epoch);
    sends.push_back(transport_->send_owned(m, kHarnessBarrierHandler, std::move(payload)));
  }
  {
    std::unique_lock<std::mutex> lock(barrier_->mu);
    bool done = barrier_->cv.wait_until(lock, deadline, [&] { return barrier_->arrivals[epoch] >= expected; });
    if (!done)
      return Status(Errc::timeout, "transport barrier " + std::to_string(epoch) + " on rank " +
                                       std::to_string(rank_) + ": " + std::to_string(barrier_->arrivals[epoch]) +
                                       " of " + std::to_string(expected) + " peers arrived in time");
    barrier_->arrivals.erase(epoch);
  }
  for (auto& f : sends) {
    if (!f.wait_for(deadline - clock::now()))
      return Status(Errc::timeout, "transport barrier: a barrier send did not complete in time");
    if (auto r = f.result(); !r) return r.status();
  }
  return Status::ok();
}

std::atomic<std::uint64_t>& RankEnv::shared(std::size_t slot) const {
  if (slot >= kSharedSlots) FERRY_FAIL("shared slot " + std::to_string(slot) + " out of range");
  return shared_->slots[slot];
}

void RankEnv::die() {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now().time_since_epoch()).count();
  shared_->death_ns[rank_].store(ns);
  ::kill(::getpid(), SIGKILL);
  for (;;) ::pause();
}

std::optional<clock::time_point> RankEnv::death_time(Rank rank) const {
  if (rank >= kMaxRanks) return std::nullopt;
  auto ns = shared_->death_ns[rank].load();
  if (ns == 0) return std::nullopt;
  return clock::time_point(std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(ns)));
}

// ---------------------------------------------------------------- child side

namespace {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v && (std::strcmp(v, "1") == 0 || std::strcmp(v, "true") == 0 || std::strcmp(v, "yes") == 0);
}

void on_fatal_signal(int sig) {
  char buf[96];
  int n = std::snprintf(buf, sizeof buf, "rank %d: fatal signal %d (%s)\n", current_rank(), sig, strsignal(sig));
  if (n > 0) (void)!::write(STDERR_FILENO, buf, static_cast<std::size_t>(n));
  void* frames[48];
  int depth = ::backtrace(frames, 48);  // warmed up in install_child_signal_handlers (no malloc here)
  ::backtrace_symbols_fd(frames, depth, STDERR_FILENO);
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void on_terminate() {
  std::string what = "std::terminate called";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      what += " with an uncaught exception: " + std::string(ex.what());
    } catch (...) {
      what += " with an uncaught non-std exception";
    }
  }
  note(what + " (a throw escaped a thread, a handler or a noexcept function?)");
  ::_exit(kExitFailed);
}

// Replaces Catch2's handlers inherited from the parent: a crash in a rank must
// show up as that rank's death, not as a report from the child's Catch2 copy.
void install_child_signal_handlers() {
  void* warm[1];
  (void)::backtrace(warm, 1);  // loads libgcc now, not inside a signal handler
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
    struct sigaction sa {};
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &sa, nullptr);
  }
  for (int sig : {SIGTERM, SIGINT, SIGPIPE}) ::signal(sig, SIG_DFL);
  std::set_terminate(on_terminate);
}

transport::Options child_options(const RunOptions& ro) {
  auto opts = FERRY_VALUE(transport::Options::from_env());
  opts.heartbeat_interval = kTestHeartbeat;
  opts.peer_timeout = kTestPeerTimeout;
  if (ro.configure) ro.configure(opts);
  return opts;
}

[[noreturn]] void skip_or_fail(const Status& why, const transport::Options& opts, SharedBlock* shared) {
  std::string reason = std::string("transport backend '") + transport::to_string(opts.backend) +
                       "' is not available in this build: " + why.to_string();
  if (backend_required())
    FERRY_FAIL(reason + " — FERRY_TEST_REQUIRE_BACKEND=1 makes this a failure");
  if (current_rank() == 0) std::snprintf(shared->skip_reason, sizeof shared->skip_reason, "%s", reason.c_str());
  ::_exit(kExitSkip);
}

[[noreturn]] void child_main(const std::string& dir, Rank rank, const RunOptions& ro, SharedBlock* shared,
                             pid_t parent, const std::function<void(RankEnv&)>& body) {
  set_current_rank(static_cast<int>(rank));
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(kExitFailed);
  install_child_signal_handlers();
  try {
    auto boot = FERRY_VALUE(launcher::make_local_bootstrap(dir, rank, static_cast<Rank>(ro.ranks), ro.bootstrap_timeout));
    auto opts = child_options(ro);
    auto env = std::make_unique<RankEnv>(std::move(boot), shared);
    if (ro.connect_transport) {
      if (auto s = env->connect(opts, ro); !s) {
        if (s.code() == Errc::unsupported) skip_or_fail(s, opts, shared);
        FERRY_FAIL("make_transport(" + std::string(transport::to_string(opts.backend)) + "): " + s.to_string());
      }
      env->install_barrier_handler();
    }
    env->barrier();
    body(*env);
    if (env->auto_shutdown()) {
      auto s = env->transport().shutdown();
      FERRY_CHECK(s);
    }
    env.reset();  // transport first, then bootstrap
  } catch (const std::exception& e) {
    report_failure(__FILE__, __LINE__, "uncaught exception", e.what(), true);
  } catch (...) {
    report_failure(__FILE__, __LINE__, "uncaught exception", "not a std::exception", true);
  }
  std::fflush(stdout);
  ::_exit(any_check_failed() ? kExitFailed : kExitOk);
}

// ---------------------------------------------------------------- parent side

int count_threads() {
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

std::string make_rendezvous_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/ferry-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) return {};
  return buf.data();
}

bool expected_kill(const RunOptions& ro, Rank r) {
  for (Rank k : ro.expect_killed)
    if (k == r) return true;
  return false;
}

void record_status(RankFate& f, int status, clock::time_point start) {
  f.seconds = std::chrono::duration<double>(clock::now() - start).count();
  if (WIFEXITED(status)) {
    f.exited = true;
    f.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    f.signal = WTERMSIG(status);
  }
}

// Polls until every child is reaped; SIGKILLs stragglers on timeout or after the grace period.
void wait_children(const RunOptions& ro, RunResult& res, clock::time_point start) {
  const auto deadline = start + ro.timeout;
  std::optional<clock::time_point> grace_end;
  std::size_t running = res.ranks.size();
  std::vector<bool> done(res.ranks.size(), false);
  while (running > 0) {
    for (std::size_t i = 0; i < res.ranks.size(); ++i) {
      if (done[i]) continue;
      int status = 0;
      if (::waitpid(res.ranks[i].pid, &status, WNOHANG) != res.ranks[i].pid) continue;
      done[i] = true;
      --running;
      record_status(res.ranks[i], status, start);
      if (!res.ranks[i].ok() && !grace_end) grace_end = clock::now() + ro.failure_grace;
    }
    if (running == 0) break;
    auto now = clock::now();
    bool timeout = now >= deadline;
    if (timeout || (grace_end && now >= *grace_end)) {
      res.timed_out = timeout;
      for (std::size_t i = 0; i < res.ranks.size(); ++i) {
        if (done[i]) continue;
        ::kill(res.ranks[i].pid, SIGKILL);
        int status = 0;
        ::waitpid(res.ranks[i].pid, &status, 0);
        record_status(res.ranks[i], status, start);
        res.ranks[i].killed_by_harness = true;
        if (timeout) res.hung.push_back(res.ranks[i].rank);
        done[i] = true;
      }
      running = 0;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

bool backend_required() { return env_flag("FERRY_TEST_REQUIRE_BACKEND"); }

GroupTally& group_tally() {
  static GroupTally tally;
  return tally;
}

bool RankFate::ok() const {
  if (killed_by_harness) return false;
  if (expected_kill) return !exited && signal == SIGKILL;
  return exited && exit_code == kExitOk;
}

std::string RankFate::describe() const {
  std::string s = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + "): ";
  char secs[32];
  std::snprintf(secs, sizeof secs, "%.2f s", seconds);
  if (killed_by_harness) s += "did not finish; SIGKILLed by the harness";
  else if (exited && exit_code == kExitSkip) s += "skipped (exit 77)";
  else if (exited) s += "exited " + std::to_string(exit_code);
  else s += "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  if (expected_kill) s += ok() ? " [expected SIGKILL]" : " [expected to die by SIGKILL]";
  return s + " after " + secs + (ok() ? "" : "  <-- FAILED");
}

bool RunResult::ok() const {
  if (!harness_error.empty() || timed_out || skipped) return false;
  for (const auto& r : ranks)
    if (!r.ok()) return false;
  return !ranks.empty();
}

std::string RunResult::describe() const {
  std::string s;
  if (!harness_error.empty()) s += "harness error: " + harness_error + "\n";
  if (timed_out) {
    s += "TIMEOUT: ranks [";
    for (std::size_t i = 0; i < hung.size(); ++i) s += (i ? "," : "") + std::to_string(hung[i]);
    s += "] were still running (hung) and were SIGKILLed\n";
  }
  for (const auto& r : ranks) s += r.describe() + "\n";
  return s;
}

RunResult run_ranks(int n, std::function<void(RankEnv&)> body, std::chrono::seconds timeout) {
  RunOptions ro;
  ro.ranks = n;
  ro.timeout = timeout;
  return run_ranks(ro, std::move(body));
}

RunResult run_ranks(const RunOptions& ro, std::function<void(RankEnv&)> body) {
  RunResult res;
  const auto start = clock::now();
  if (ro.ranks < 1 || static_cast<Rank>(ro.ranks) > kMaxRanks) {
    res.harness_error = "run_ranks: " + std::to_string(ro.ranks) + " ranks requested (1.." +
                        std::to_string(kMaxRanks) + " supported)";
    return res;
  }
  int th = count_threads();
  for (int i = 0; i < 100 && th > 1; ++i) {  // a just-joined/detached thread may still be exiting
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    th = count_threads();
  }
  if (th != 1) {
    res.harness_error = "run_ranks must fork from a single-threaded process, but this one has " +
                        std::to_string(th) + " threads (did the test start a transport or a thread in the parent?)";
    return res;
  }
  const std::string dir = make_rendezvous_dir();
  if (dir.empty()) {
    res.harness_error = std::string("cannot create a rendezvous directory: ") + std::strerror(errno);
    return res;
  }
  void* mem = ::mmap(nullptr, sizeof(SharedBlock), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    res.harness_error = std::string("mmap of the shared block failed: ") + std::strerror(errno);
    std::filesystem::remove_all(dir);
    return res;
  }
  auto* shared = new (mem) SharedBlock{};
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  for (int r = 0; r < ro.ranks; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) child_main(dir, static_cast<Rank>(r), ro, shared, parent, body);
    RankFate f;
    f.rank = static_cast<Rank>(r);
    f.pid = pid;
    f.expected_kill = expected_kill(ro, f.rank);
    if (pid < 0) {
      res.harness_error = std::string("fork failed: ") + std::strerror(errno);
      break;
    }
    res.ranks.push_back(f);
  }
  RunOptions eff = ro;
  if (!res.harness_error.empty()) eff.timeout = std::chrono::seconds(0);  // kill the ones started
  wait_children(eff, res, start);
  bool all_skip = !res.ranks.empty();
  for (const auto& r : res.ranks) all_skip = all_skip && r.exited && r.exit_code == kExitSkip;
  if (all_skip) {
    res.skipped = true;
    res.skip_reason = shared->skip_reason[0] ? shared->skip_reason : "every rank exited with the skip code 77";
  }
  shared->~SharedBlock();
  ::munmap(mem, sizeof(SharedBlock));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  res.seconds = std::chrono::duration<double>(clock::now() - start).count();
  return res;
}

}  // namespace ferry::test
