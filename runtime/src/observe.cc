// observe.cc — the metrics exporter thread and the trace start/stop (see observe.h).
//
// Invariants: at most one exporter (one runtime per process at a time); the
// SIGUSR1 handler only writes a byte to g_wake[1] (async-signal-safe) and is
// installed only if SIGUSR1 had its default disposition, and restored at stop.
#include "observe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "core.h"
#include "trace.h"

namespace ferry::rt::observe {

namespace {

using Clock = std::chrono::steady_clock;

int g_wake[2] = {-1, -1};  // [1]: SIGUSR1 / stop -> exporter
std::atomic<bool> g_stop{false};
std::thread g_thread;
struct sigaction g_old_usr1 {};
bool g_usr1_installed = false;
std::atomic<std::int64_t> g_start_ns{0};

struct Config {
  std::string metrics_dir, stats_file, addr = "127.0.0.1";
  int port = -1;
  std::uint32_t rank = 0;
} g_cfg;

extern "C" void on_usr1(int) {
  const int saved = errno;
  const char b = 'u';
  (void)!::write(g_wake[1], &b, 1);
  errno = saved;
}

Status write_file(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << text;
    if (!f.flush()) return Status(Errc::internal, "cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return Status(Errc::internal, "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  return Status::ok();
}

std::string prom_path() { return g_cfg.metrics_dir + "/ferry-metrics.rank" + std::to_string(g_cfg.rank) + ".prom"; }

void write_prom() {
  if (g_cfg.metrics_dir.empty()) return;
  if (Status s = write_file(prom_path(), stats().prometheus()); !s)
    spdlog::warn("ferry[{}]: FERRY_METRICS: {}", g_cfg.rank, s.to_string());
}

void write_stats_file(bool final) {
  if (g_cfg.stats_file.empty()) return;
  (void)write_file(g_cfg.stats_file, stats_line(stats(), final));  // ferry-run copes with a missed update
}

int open_listener() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  const int one = 1;
  (void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(g_cfg.port + static_cast<int>(g_cfg.rank)));
  if (::inet_pton(AF_INET, g_cfg.addr.c_str(), &a.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    spdlog::warn("ferry[{}]: FERRY_METRICS_PORT: cannot listen on {}:{}: {}", g_cfg.rank, g_cfg.addr,
                 g_cfg.port + static_cast<int>(g_cfg.rank), std::strerror(errno));
    ::close(fd);
    return -1;
  }
  return fd;
}

// One request per connection: the request is read (up to 100 ms, ignored) and the text returned.
void serve(int listener) {
  const int c = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (c < 0) return;
  char buf[2048];
  pollfd p{c, POLLIN, 0};
  if (::poll(&p, 1, 100) > 0) (void)!::read(c, buf, sizeof buf);
  const std::string body = stats().prometheus();
  const std::string head = "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: " +
                           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n";
  const std::string all = head + body;
  std::size_t off = 0;
  while (off < all.size()) {
    const ssize_t n = ::send(c, all.data() + off, all.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(c);
}

void exporter() {
  const int listener = g_cfg.port >= 0 ? open_listener() : -1;
  auto next_stats = Clock::now();
  while (!g_stop.load()) {
    pollfd fds[2] = {{g_wake[0], POLLIN, 0}, {listener, POLLIN, 0}};
    const int n = ::poll(fds, listener >= 0 ? 2 : 1, 250);
    if (n > 0 && (fds[0].revents & POLLIN)) {
      char b[64];
      if (::read(g_wake[0], b, sizeof b) > 0 && !g_stop.load()) write_prom();
    }
    if (n > 0 && listener >= 0 && (fds[1].revents & POLLIN)) serve(listener);
    if (Clock::now() >= next_stats) {
      write_stats_file(false);
      next_stats = Clock::now() + std::chrono::milliseconds(250);
    }
  }
  if (listener >= 0) ::close(listener);
}

Status read_config(std::uint32_t rank) {
  g_cfg = Config{};
  g_cfg.rank = rank;
  if (const char* v = std::getenv("FERRY_METRICS"); v && *v) g_cfg.metrics_dir = v;
  if (const char* v = std::getenv("FERRY_STATS_FILE"); v && *v) g_cfg.stats_file = v;
  if (const char* v = std::getenv("FERRY_METRICS_ADDR"); v && *v) g_cfg.addr = v;
  if (const char* v = std::getenv("FERRY_METRICS_PORT"); v && *v) {
    char* end = nullptr;
    errno = 0;
    const long p = std::strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
      return Status(Errc::invalid_argument, std::string("FERRY_METRICS_PORT='") + v +
                                                "' is not a TCP port (1..65535; rank R listens on port+R)");
    g_cfg.port = static_cast<int>(p);
  }
  if (!g_cfg.metrics_dir.empty()) {
    if (::mkdir(g_cfg.metrics_dir.c_str(), 0777) != 0 && errno != EEXIST)
      return Status(Errc::invalid_argument, "FERRY_METRICS='" + g_cfg.metrics_dir +
                                                "': cannot create the directory: " + std::strerror(errno));
  }
  return Status::ok();
}

}  // namespace

double uptime_seconds() noexcept {
  const std::int64_t t0 = g_start_ns.load();
  if (t0 == 0) return 0;
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
  return static_cast<double>(now - t0) / 1e9;
}

std::string stats_line(const Stats& s, bool final) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "ferry-stats 1 rank=%u final=%d uptime_s=%.3f submitted=%" PRIu64 " finished=%" PRIu64
                " failed=%" PRIu64 " in_flight=%" PRIu64 " running=%" PRIu64 " executed=%" PRIu64 " gets=%" PRIu64
                " remote_bytes=%" PRIu64 " store_used=%" PRIu64 " store_hw=%" PRIu64 " store_cap=%" PRIu64
                " spilled=%" PRIu64 " peers_failed=%" PRIu64 "\n",
                s.rank, final ? 1 : 0, s.uptime_seconds, s.tasks_submitted, s.tasks_finished, s.tasks_failed,
                s.tasks_in_flight, s.tasks_running, s.tasks_executed, s.gets, s.remote_read_bytes, s.store_used_bytes,
                s.store_high_water_bytes, s.store_capacity_bytes, s.spilled_bytes, s.peers_failed);
  return buf;
}

namespace {

// The exporter and the trace belong to the process; several runtimes may share it (the
// in-process tests run N ranks as threads): the first start() sets them up, the last stop()
// ends them, and nothing in between touches their globals.
std::mutex g_users_mu;
std::vector<const Core*> g_users;  // guarded by g_users_mu: runtimes between start() and stop()

Status start_first(Core& core) {
  g_start_ns.store(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count());
  if (Status s = trace::begin(core.rank(), core.size()); !s) return s;
  if (Status s = read_config(core.rank()); !s) return s;
  if (g_cfg.metrics_dir.empty() && g_cfg.stats_file.empty() && g_cfg.port < 0) return Status::ok();
  if (g_wake[0] < 0 && ::pipe2(g_wake, O_CLOEXEC | O_NONBLOCK) != 0)
    return Status(Errc::internal, std::string("metrics exporter: pipe: ") + std::strerror(errno));
  if (!g_cfg.metrics_dir.empty()) {
    struct sigaction old {};
    if (::sigaction(SIGUSR1, nullptr, &old) == 0 && old.sa_handler == SIG_DFL && !(old.sa_flags & SA_SIGINFO)) {
      struct sigaction sa {};
      sa.sa_handler = on_usr1;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;
      g_usr1_installed = ::sigaction(SIGUSR1, &sa, &g_old_usr1) == 0;
    } else {
      spdlog::warn("ferry[{}]: FERRY_METRICS: SIGUSR1 already has a handler; metrics are written at shutdown only",
                   core.rank());
    }
  }
  g_stop.store(false);
  g_thread = std::thread([] {
    (void)::pthread_setname_np(::pthread_self(), "ferry-metrics");
    exporter();
  });
  return Status::ok();
}

void stop_last(Core& core) {
  if (g_thread.joinable()) {
    g_stop.store(true);
    const char b = 's';
    (void)!::write(g_wake[1], &b, 1);
    g_thread.join();
    if (g_usr1_installed) (void)::sigaction(SIGUSR1, &g_old_usr1, nullptr);
    g_usr1_installed = false;
    write_prom();
    write_stats_file(true);
  }
  if (Status s = trace::write_and_stop(); !s) spdlog::warn("ferry[{}]: {}", core.rank(), s.to_string());
}

}  // namespace

Status start(Core& core) {
  std::lock_guard<std::mutex> lock(g_users_mu);
  if (g_users.empty())
    if (Status s = start_first(core); !s) return s;
  g_users.push_back(&core);
  return Status::ok();
}

void started_sync() noexcept { trace::start_sync(); }

void stop(Core& core) {
  std::lock_guard<std::mutex> lock(g_users_mu);
  if (auto it = std::find(g_users.begin(), g_users.end(), &core); it != g_users.end()) g_users.erase(it);
  if (!g_users.empty()) return;  // other runtimes of this process still use them
  stop_last(core);
}

}  // namespace ferry::rt::observe
