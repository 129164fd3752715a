// ferry-run — start N ranks of a ferry program on this machine, like a small mpirun.
//
//   ferry-run -n N [--transport ucx|tcp] [--timeout SECONDS] [--tag-output|--no-tag-output] [--progress]
//             [--keep-going] [--] prog args...
//
// Creates a fresh rendezvous directory (mkdtemp under $TMPDIR or /tmp), forks N ranks with
// FERRY_RENDEZVOUS_DIR/RANK/SIZE/LOCAL_RANK/LOCAL_SIZE (+ FERRY_TRANSPORT) set and launcher
// variables (PMIX_*, PMI_*, OMPI_*) removed, and forwards each rank's stdout/stderr line by
// line with a "[r] " prefix. Rank 0 inherits stdin unless it is a terminal; the others read
// /dev/null.
//
// Supervision (a single-threaded poll loop; signals arrive through a self-pipe):
//   * the first rank that exits non-zero or by a signal makes ferry-run print one line and
//     stop the others: SIGTERM (then SIGCONT, so that a stopped rank receives it) to each
//     rank's process group, SIGKILL after kKillGrace;
//   * exit code: 0 if every rank exited 0, else the first failing rank's status (128+signal
//     for a signal); 124 after --timeout; 127 if the program cannot be executed;
//   * --keep-going: rank 0 (the driver under ferry::run) decides. A failing rank other than 0
//     is reported and the others keep running; a failing rank 0 stops the job as above. Once
//     rank 0 exited 0, ranks still running after kAfterDriverGrace are stopped (a stopped or
//     hung worker must not hold the job; when every one left is stopped, at once). Exit code: rank 0's status (its failure, else 0), a
//     summary line names the ranks that failed;
//   * SIGINT/SIGTERM/SIGHUP to ferry-run are forwarded to the ranks (SIGKILL follows after
//     kKillGrace; a second one, 0.5 s or more later, kills at once); SIGUSR1/SIGUSR2 are just
//     forwarded;
//   * once every rank is reaped, output is drained for at most kDrainGrace (a rank's
//     leftover background child may still hold the pipes), then the directory is removed.
// Each rank leads its own process group, so killing a rank also kills its children.
// Only groups whose leader is still unreaped are signalled (their id cannot be reused).
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "ferry_run_progress.h"
#include "ferry_run_support.h"

extern char** environ;

namespace ferry::run {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kKillGrace = std::chrono::milliseconds(2000);
constexpr auto kDrainGrace = std::chrono::milliseconds(1000);
// --keep-going: how long ranks may run on after rank 0 exited 0 before they are stopped.
constexpr auto kAfterDriverGrace = std::chrono::milliseconds(10000);
// --keep-going: the rank whose failure still ends the job (ferry::run's driver).
constexpr unsigned kDriverRank = 0;
// A second SIGINT/SIGTERM kills at once, unless it came this soon after the first (wrappers
// such as timeout(1) deliver one signal twice: to the child and to their process group).
constexpr auto kRepeatSignal = std::chrono::milliseconds(500);
constexpr int kForwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2};

int g_signal_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  (void)!::write(g_signal_pipe[1], &b, 1);
  errno = saved;
}

void say(const std::string& line) {
  std::string s = "ferry-run: " + line + "\n";
  write_all(STDERR_FILENO, s.data(), s.size());
}

struct Config {
  unsigned n = 0;
  std::string transport;
  double timeout_s = 0;
  bool tag_output = true;
  bool progress = false;
  bool keep_going = false;
  std::vector<std::string> command;
};

struct Stream {
  int fd = -1;
  LineForwarder forwarder;
};

struct RankProc {
  pid_t pid = -1;
  bool alive = false;
  Stream out{-1, LineForwarder(STDOUT_FILENO, "")};
  Stream err{-1, LineForwarder(STDERR_FILENO, "")};
};

struct Failure {
  unsigned rank;
  pid_t pid;
  int code;  // exit status, or 128+signal
};

class Supervisor {
 public:
  Supervisor(const Config& cfg, std::string path, std::string dir)
      : cfg_(cfg), path_(std::move(path)), dir_(std::move(dir)), ranks_(cfg.n) {}

  int run();

 private:
  bool spawn(unsigned r);
  void exec_child(unsigned r, int out_w, int err_w, char* const* argv, char* const* envp);
  void loop();
  // One round of the supervision loop: waits up to timeout_ms (-1: the next deadline) for
  // signals, rank output and exits, and handles them.
  void step(int timeout_ms);
  int poll_timeout_ms() const;
  void on_signals();
  void reap();
  void rank_exited(unsigned r, int status);
  void read_stream(Stream& s);
  void signal_live(int sig);
  void begin_kill();
  // Every live rank is stopped (state T / t in /proc): none can exit before it is continued.
  bool all_live_stopped() const;
  void check_deadlines();
  // --keep-going: reports a failed non-driver rank; returns false if the job must stop.
  bool tolerate(unsigned r, int status);
  void summarize_survival() const;
  int exit_code() const;
  unsigned open_streams() const;

  const Config& cfg_;
  std::string path_, dir_;
  std::vector<RankProc> ranks_;
  unsigned live_ = 0;
  bool killing_ = false;
  const char* stop_signal_ = "SIGTERM";  // what the SIGKILL escalation message refers to
  bool timed_out_ = false;
  int got_signal_ = 0;
  Clock::time_point first_signal_at_;
  std::optional<Failure> first_failure_;
  std::vector<Failure> tolerated_;  // --keep-going: non-driver ranks that failed
  bool driver_done_ = false;        // --keep-going: rank 0 exited 0
  std::optional<Clock::time_point> timeout_at_, kill_at_, drain_until_, after_driver_;
  std::optional<Progress> progress_;  // --progress
};

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + ::strsignal(sig) + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int Supervisor::run() {
  if (cfg_.timeout_s > 0)
    timeout_at_ = Clock::now() + std::chrono::milliseconds(static_cast<long long>(cfg_.timeout_s * 1000));
  if (cfg_.progress) progress_.emplace(dir_, cfg_.n, true);
  for (unsigned r = 0; r < cfg_.n; ++r) {
    if (killing_) break;  // a signal, a failed rank or the timeout while starting: start no more
    if (!spawn(r)) {
      first_failure_ = Failure{r, -1, 1};
      begin_kill();
      break;
    }
    step(0);  // signals, exits and output of the ranks started so far, without waiting
  }
  loop();
  for (auto& rp : ranks_) {
    for (Stream* s : {&rp.out, &rp.err}) {
      s->forwarder.finish();
      if (s->fd >= 0) ::close(s->fd);
      s->fd = -1;
    }
  }
  if (progress_) progress_->finish();
  summarize_survival();
  return exit_code();
}

bool Supervisor::spawn(unsigned r) {
  int out_p[2], err_p[2];
  if (::pipe2(out_p, O_CLOEXEC) != 0) {
    say("cannot create a pipe for rank " + std::to_string(r) + ": " + std::strerror(errno));
    return false;
  }
  if (::pipe2(err_p, O_CLOEXEC) != 0) {
    say("cannot create a pipe for rank " + std::to_string(r) + ": " + std::strerror(errno));
    ::close(out_p[0]);
    ::close(out_p[1]);
    return false;
  }
  // Everything the child needs is built before fork (only async-signal-safe calls after it).
  std::vector<std::string> env = rank_environment(environ, dir_, r, cfg_.n, cfg_.transport);
  if (progress_) env.push_back("FERRY_STATS_FILE=" + progress_->stats_file(r));
  std::vector<char*> envp, argv;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = cfg_.command;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  sigset_t all, old;
  sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0)  // signals stay blocked until exec_child has reset our handlers
    exec_child(r, out_p[1], err_p[1], argv.data(), envp.data());
  int fork_errno = errno;
  if (pid > 0) (void)::setpgid(pid, pid);  // also done by the child; whichever runs first wins
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  ::close(out_p[1]);
  ::close(err_p[1]);
  if (pid < 0) {
    say("fork for rank " + std::to_string(r) + " failed: " + std::strerror(fork_errno));
    ::close(out_p[0]);
    ::close(err_p[0]);
    return false;
  }
  const std::string prefix = cfg_.tag_output ? "[" + std::to_string(r) + "] " : "";
  RankProc& rp = ranks_[r];
  rp.pid = pid;
  rp.alive = true;
  rp.out = Stream{out_p[0], LineForwarder(STDOUT_FILENO, prefix)};
  rp.err = Stream{err_p[0], LineForwarder(STDERR_FILENO, prefix)};
  ++live_;
  return true;
}

// In the forked child: async-signal-safe calls only.
void Supervisor::exec_child(unsigned r, int out_w, int err_w, char* const* argv, char* const* envp) {
  for (int sig : kForwarded) ::signal(sig, SIG_DFL);
  ::signal(SIGCHLD, SIG_DFL);
  ::signal(SIGPIPE, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  (void)::setpgid(0, 0);
  ::dup2(out_w, STDOUT_FILENO);
  ::dup2(err_w, STDERR_FILENO);
  if (r != 0 || ::isatty(STDIN_FILENO)) {
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, STDIN_FILENO);
  }
  ::execve(path_.c_str(), argv, envp);
  const char* why = ::strerror(errno);  // not strictly async-signal-safe, but we exit right after
  const char* parts[] = {"ferry-run: cannot execute ", path_.c_str(), ": ", why, "\n"};
  for (const char* p : parts) (void)!::write(STDERR_FILENO, p, std::strlen(p));
  ::_exit(127);
}

unsigned Supervisor::open_streams() const {
  unsigned n = 0;
  for (const auto& rp : ranks_) n += (rp.out.fd >= 0) + (rp.err.fd >= 0);
  return n;
}

int Supervisor::poll_timeout_ms() const {
  std::optional<Clock::time_point> next;
  for (const auto& t : {live_ > 0 ? timeout_at_ : std::nullopt, kill_at_, drain_until_,
                        live_ > 0 && !killing_ ? after_driver_ : std::nullopt})
    if (t && (!next || *t < *next)) next = t;
  const int progress_ms = progress_ && live_ > 0 ? progress_->poll_ms() : -1;
  if (!next) return progress_ms;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - Clock::now()).count() + 1;
  const int deadline_ms = ms < 0 ? 0 : static_cast<int>(ms);
  return progress_ms >= 0 && progress_ms < deadline_ms ? progress_ms : deadline_ms;
}

void Supervisor::loop() {
  while (live_ > 0 || open_streams() > 0) {
    if (live_ == 0 && !drain_until_) drain_until_ = Clock::now() + kDrainGrace;
    if (drain_until_ && Clock::now() >= *drain_until_) break;  // a leftover child holds the pipes
    step(-1);
    if (progress_ && live_ > 0) progress_->tick();
  }
}

void Supervisor::step(int timeout_ms) {
  std::vector<pollfd> fds{{g_signal_pipe[0], POLLIN, 0}};
  std::vector<Stream*> streams{nullptr};
  for (auto& rp : ranks_)
    for (Stream* s : {&rp.out, &rp.err})
      if (s->fd >= 0) {
        fds.push_back({s->fd, POLLIN, 0});
        streams.push_back(s);
      }
  int n = ::poll(fds.data(), fds.size(), timeout_ms < 0 ? poll_timeout_ms() : timeout_ms);
  if (n < 0 && errno != EINTR) {
    say(std::string("poll failed: ") + std::strerror(errno) + "; killing the ranks");
    begin_kill();
  }
  if (n > 0) {
    if (fds[0].revents) on_signals();
    for (std::size_t i = 1; i < fds.size(); ++i)
      if (fds[i].revents) read_stream(*streams[i]);
  }
  check_deadlines();
}

void Supervisor::read_stream(Stream& s) {
  char buf[65536];
  ssize_t n = ::read(s.fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    s.forwarder.finish();
    ::close(s.fd);
    s.fd = -1;
    return;
  }
  if (progress_) progress_->before_output();
  s.forwarder.feed(buf, static_cast<std::size_t>(n));
}

void Supervisor::on_signals() {
  unsigned char sigs[64];
  ssize_t n = ::read(g_signal_pipe[0], sigs, sizeof sigs);
  for (ssize_t i = 0; i < n; ++i) {
    int sig = sigs[i];
    if (sig == SIGCHLD) {
      reap();
    } else if (sig == SIGUSR1 || sig == SIGUSR2) {
      signal_live(sig);
    } else if (got_signal_ == 0) {
      got_signal_ = sig;
      first_signal_at_ = Clock::now();
      say(std::string("received SIG") + ::sigabbrev_np(sig) + "; forwarding it to " + std::to_string(live_) +
          " rank(s)");
      signal_live(sig);
      stop_signal_ = sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM";
      killing_ = true;
      kill_at_ = Clock::now() + kKillGrace;
    } else if (Clock::now() - first_signal_at_ >= kRepeatSignal) {  // not a wrapper's duplicate
      say(std::string("received SIG") + ::sigabbrev_np(sig) + " again; killing " + std::to_string(live_) +
          " rank(s) now");
      signal_live(SIGKILL);
    }
  }
  reap();  // cheap, and covers a SIGCHLD that raced with the pipe
}

void Supervisor::reap() {
  for (;;) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (unsigned r = 0; r < ranks_.size(); ++r)
      if (ranks_[r].pid == pid && ranks_[r].alive) rank_exited(r, status);
  }
}

void Supervisor::rank_exited(unsigned r, int status) {
  ranks_[r].alive = false;
  --live_;
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (cfg_.keep_going && r == kDriverRank && ok && !killing_) {
    driver_done_ = true;
    if (live_ > 0) after_driver_ = Clock::now() + kAfterDriverGrace;
  }
  // Ranks that are stopped (SIGSTOP, a debugger's stop) cannot finish on their own: once only
  // such ranks are left after the driver, they get no grace.
  if (after_driver_ && live_ > 0 && !killing_ && all_live_stopped()) after_driver_ = Clock::now();
  if (!ok && cfg_.keep_going && tolerate(r, status)) return;
  if (ok || first_failure_) return;
  const int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  first_failure_ = Failure{r, ranks_[r].pid, code};
  if (killing_) return;  // we are already stopping everything (timeout, signal)
  std::string line = "rank " + std::to_string(r) + " (pid " + std::to_string(ranks_[r].pid) + ") " +
                     describe_exit(status);
  if (live_ > 0) line += "; killing the remaining " + std::to_string(live_) + " rank(s)";
  say(line);
  begin_kill();
}

bool Supervisor::tolerate(unsigned r, int status) {
  // While stopping the job for another reason, a rank's failure is that reason's consequence,
  // unless the driver already succeeded (then the stragglers are being stopped).
  if (r == kDriverRank || (killing_ && !driver_done_)) return false;
  const int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  tolerated_.push_back(Failure{r, ranks_[r].pid, code});
  if (!driver_done_)
    say("rank " + std::to_string(r) + " (pid " + std::to_string(ranks_[r].pid) + ") " + describe_exit(status) +
        "; --keep-going: " + std::to_string(live_) + " rank(s) keep running");
  return true;
}

void Supervisor::summarize_survival() const {
  if (!cfg_.keep_going || tolerated_.empty()) return;
  std::string ranks;
  for (const Failure& f : tolerated_) ranks += (ranks.empty() ? "" : ", ") + std::to_string(f.rank);
  const bool driver_ok = driver_done_ && !timed_out_ && !got_signal_ && !first_failure_;
  say(std::to_string(tolerated_.size()) + " rank(s) failed during the job (" + ranks + "); " +
      (driver_ok ? "rank 0 (the driver) succeeded, so the job succeeded (--keep-going)"
                 : "rank 0 (the driver) did not succeed"));
}

void Supervisor::signal_live(int sig) {
  for (const auto& rp : ranks_)
    if (rp.alive && ::kill(-rp.pid, sig) != 0) (void)::kill(rp.pid, sig);  // group, else the rank itself
}

void Supervisor::begin_kill() {
  if (killing_) return;
  killing_ = true;
  signal_live(SIGTERM);
  signal_live(SIGCONT);  // a stopped rank gets its SIGTERM only once continued
  kill_at_ = Clock::now() + kKillGrace;
}

bool Supervisor::all_live_stopped() const {
  for (const auto& rp : ranks_) {
    if (!rp.alive) continue;
    // /proc/<pid>/stat: "pid (comm) S ...": the state letter follows the last ')'.
    std::ifstream in("/proc/" + std::to_string(rp.pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos || close + 2 >= stat.size()) return false;
    const char state = stat[close + 2];
    if (state != 'T' && state != 't') return false;
  }
  return true;
}

void Supervisor::check_deadlines() {
  const auto now = Clock::now();
  if (live_ > 0 && timeout_at_ && now >= *timeout_at_ && !timed_out_) {
    timed_out_ = true;
    say("timeout of " + CLI::detail::to_string(cfg_.timeout_s) + " s expired; killing " + std::to_string(live_) +
        " rank(s)");
    killing_ = false;  // (re)start the SIGTERM -> SIGKILL sequence
    stop_signal_ = "SIGTERM";
    begin_kill();
  }
  if (live_ > 0 && after_driver_ && now >= *after_driver_ && !killing_) {
    say(std::to_string(live_) + " rank(s) still running " + std::to_string(kAfterDriverGrace.count()) +
        " ms after rank 0 (the driver) exited 0; stopping them (--keep-going)");
    after_driver_.reset();
    begin_kill();
  }
  if (live_ > 0 && kill_at_ && now >= *kill_at_) {
    say(std::to_string(live_) + " rank(s) still running " + std::to_string(kKillGrace.count()) +
        " ms after " + stop_signal_ + "; sending SIGKILL");
    signal_live(SIGKILL);
    kill_at_.reset();
  }
}

int Supervisor::exit_code() const {
  if (timed_out_) return 124;
  if (first_failure_) return first_failure_->code;
  if (got_signal_) return 128 + got_signal_;
  return 0;
}

// Makes sure fds 0-2 exist, so pipes never land on them.
void ensure_std_fds() {
  for (int fd = 0; fd <= 2; ++fd)
    if (::fcntl(fd, F_GETFD) < 0) (void)::open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
}

bool install_signal_handlers() {
  if (::pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
  for (int sig : kForwarded) ::sigaction(sig, &sa, nullptr);
  ::sigaction(SIGCHLD, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed stdout must not kill the supervisor (children reset it)
  return true;
}

std::string make_rendezvous_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/ferry-run.XXXXXX";
  if (!::mkdtemp(templ.data())) return "";
  return templ;
}

// Returns the exit code for a usage error, or -1 to go on.
int parse_args(int argc, char** argv, Config& cfg) {
  CLI::App app{"ferry-run: start N ranks of a ferry program on this machine (local rendezvous)"};
  app.add_option("-n,--np", cfg.n, "number of ranks")->required()->check(CLI::Range(1u, 1024u));
  app.add_option("--transport", cfg.transport, "sets FERRY_TRANSPORT for every rank")
      ->check(CLI::IsMember({"ucx", "tcp"}));
  app.add_option("--timeout", cfg.timeout_s, "kill every rank and exit 124 after SECONDS")
      ->check(CLI::PositiveNumber);
  app.add_flag("--progress", cfg.progress,
               "show a live status line (tasks done / in flight / failed, store use) and a per-rank summary at the end");
  app.add_flag("--keep-going", cfg.keep_going,
               "keep the job running when a rank other than 0 fails; rank 0 (the driver) decides the exit status");
  app.add_flag("--tag-output,!--no-tag-output", cfg.tag_output, "prefix each output line with \"[rank] \" (default)");
  app.footer("Usage: ferry-run -n N [options] [--] program [args...]\n"
             "Exit status: 0 if every rank exited 0, else the first failing rank's status (128+signal if it\n"
             "was killed), 124 after --timeout, 127 if the program cannot be executed, 2 for usage errors.\n"
             "With --keep-going: rank 0's status (other ranks' failures are listed in a summary line).");
  app.prefix_command();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  cfg.command = app.remaining();
  if (!cfg.command.empty() && cfg.command.front() == "--") cfg.command.erase(cfg.command.begin());
  if (cfg.command.empty()) {
    say("no program given; usage: ferry-run -n N [options] [--] program [args...]");
    return 2;
  }
  return -1;
}

}  // namespace
}  // namespace ferry::run

namespace {
// Raises the soft open-file limit to `need` (at most the hard limit): -n 1000 needs 2000 pipe ends.
void raise_fd_limit(rlim_t need) {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= need) return;
  lim.rlim_cur = lim.rlim_max == RLIM_INFINITY || lim.rlim_max > need ? need : lim.rlim_max;
  (void)::setrlimit(RLIMIT_NOFILE, &lim);
}
}  // namespace

int main(int argc, char** argv) {
  using namespace ferry::run;
  Config cfg;
  if (int rc = parse_args(argc, argv, cfg); rc >= 0) return rc;
  std::string path, error;
  if (!resolve_program(cfg.command.front(), path, error)) {
    say("cannot run " + error);
    return 127;
  }
  ensure_std_fds();
  raise_fd_limit(2 * cfg.n + 64);  // two pipes per rank
  if (!install_signal_handlers()) {
    say(std::string("cannot create the signal pipe: ") + std::strerror(errno));
    return 1;
  }
  const std::string dir = make_rendezvous_dir();
  if (dir.empty()) {
    say(std::string("cannot create the rendezvous directory under $TMPDIR or /tmp: ") + std::strerror(errno));
    return 1;
  }
  // One job key per job for the TCP backend's handshake (a user-set FERRY_JOB_KEY wins);
  // the ranks inherit it through the environment.
  if (const char* k = std::getenv("FERRY_JOB_KEY"); !k || !*k) {
    unsigned char raw[32];
    if (::getrandom(raw, sizeof raw, 0) != static_cast<ssize_t>(sizeof raw)) {
      say(std::string("cannot generate the job key: ") + std::strerror(errno));
      return 1;
    }
    std::string hex;
    for (unsigned char b : raw) hex += "0123456789abcdef"[b >> 4], hex += "0123456789abcdef"[b & 15];
    ::setenv("FERRY_JOB_KEY", hex.c_str(), 1);
  }
  int rc = Supervisor(cfg, path, dir).run();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) say("could not remove the rendezvous directory " + dir + ": " + ec.message());
  return rc;
}
