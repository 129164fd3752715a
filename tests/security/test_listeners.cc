// test_listeners.cc — which TCP ports a job leaves open once its ranks are connected.
//
// A 2-rank job runs as two threads of this process (pair_job.h), so "the ranks'
// listening sockets" are this process's: socket inodes from /proc/self/fd matched
// against LISTEN rows of /proc/self/net/tcp{,6}. Cases: UCX with the transport choice
// left to ferry on one node (no TCP port at all), UCX_TLS=tcp as the control (the check
// does see UCX's listeners), and the TCP backend (its listener lives only during start-up).
// The hidden case "[.ucx-crash]" is the reproducer of UCX 1.13's tcp abort (ucx_tcp_packet.sh).
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "pair_job.h"

namespace tp = ferry::transport;

namespace {

struct Listener {
  std::string ip;  // dotted IPv4, or the raw hex of an IPv6 row
  int port = 0;
};

std::set<std::string> socket_inodes() {
  std::set<std::string> out;
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    char target[256];
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::strncmp(target, "socket:[", 8) == 0) out.insert(std::string(target + 8, std::strlen(target) - 9));
  }
  ::closedir(d);
  return out;
}

// This process's LISTEN sockets ("0A" rows whose inode is one of our fds).
std::vector<Listener> my_listeners() {
  const auto mine = socket_inodes();
  std::vector<Listener> out;
  for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state != "0A" || !mine.count(inode)) continue;
      const auto colon = local.find(':');
      Listener l;
      l.port = std::stoi(local.substr(colon + 1), nullptr, 16);
      if (colon == 8) {
        const unsigned long a = std::stoul(local.substr(0, 8), nullptr, 16);
        l.ip = std::to_string(a & 255) + "." + std::to_string(a >> 8 & 255) + "." + std::to_string(a >> 16 & 255) +
               "." + std::to_string(a >> 24 & 255);
      } else {
        l.ip = local.substr(0, colon);
      }
      out.push_back(l);
    }
  }
  return out;
}

std::string describe(const std::vector<Listener>& ls) {
  std::string s;
  for (const auto& l : ls) s += " " + l.ip + ":" + std::to_string(l.port);
  return s.empty() ? " (none)" : s;
}

// Sets or unsets environment variables for one scope (UCX reads them at ucp_config_read).
class EnvScope {
 public:
  EnvScope(std::initializer_list<std::pair<const char*, const char*>> vars) {
    for (auto [name, value] : vars) {
      const char* old = std::getenv(name);
      saved_.push_back({name, old ? std::optional<std::string>(old) : std::nullopt});
      if (value) ::setenv(name, value, 1);
      else ::unsetenv(name);
    }
  }
  ~EnvScope() {
    for (auto& [name, old] : saved_) {
      if (old) ::setenv(name.c_str(), old->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

tp::Options ucx_options() {
  tp::Options o;
  o.backend = tp::Backend::ucx;
  o.progress = tp::ProgressMode::blocking;
  return o;
}

void require_up(const ferry::test::PairOutcome& j) {
  INFO("rank 0: " << j.status[0].to_string() << "; rank 1: " << j.status[1].to_string());
  REQUIRE(j.status[0].is_ok());
  REQUIRE(j.status[1].is_ok());
  CHECK(j.am_delivered);
}

}  // namespace

TEST_CASE("listeners: a one-node UCX job with UCX_TLS left to ferry opens no TCP port", "[security][ucx]") {
  EnvScope env({{"UCX_TLS", nullptr}, {"UCX_MM_ERROR_HANDLING", nullptr}, {"UCX_POSIX_ERROR_HANDLING", nullptr},
                {"UCX_SYSV_ERROR_HANDLING", nullptr}});
  std::vector<Listener> seen;
  auto j = ferry::test::run_pair(ucx_options(), ucx_options(), nullptr, [&] { seen = my_listeners(); });
  require_up(j);
  INFO("listening:" << describe(seen));
  CHECK(seen.empty());
}

TEST_CASE("listeners: control — with UCX_TLS=tcp the same check sees UCX's listeners", "[security][ucx]") {
  EnvScope env({{"UCX_TLS", "tcp"}});
  std::vector<Listener> seen;
  auto j = ferry::test::run_pair(ucx_options(), ucx_options(), nullptr, [&] { seen = my_listeners(); });
  require_up(j);
  INFO("listening:" << describe(seen));
  CHECK_FALSE(seen.empty());
}

TEST_CASE("listeners: the TCP backend listens only during start-up", "[security][tcp]") {
  tp::Options o;
  o.backend = tp::Backend::tcp;
  o.progress = tp::ProgressMode::blocking;
  o.tcp_listen_address = "127.0.0.1";
  std::vector<Listener> during, after;
  auto j = ferry::test::run_pair(
      o, o, [&](const std::string&) { during = my_listeners(); }, [&] { after = my_listeners(); });
  require_up(j);
  INFO("during start-up:" << describe(during) << "; after:" << describe(after));
  CHECK_FALSE(during.empty());
  CHECK(after.empty());
}

// Reproducer (hidden; run by tests/security/ucx_tcp_packet.sh): with UCX_TLS=tcp, send each of
// UCX's listeners 13 bytes — UCX's tcp magic number, then an AM header {u8 id, u32 length 0}
// with the connection-management AM id (64, UCT_AM_ID_MAX; FERRY_UCX_PKT_AM_ID overrides) and
// no connection packet after it. UCX 1.13 aborts the process (an assertion in
// its tcp transport); reaching the end of this case means this UCX build survived it.
TEST_CASE("listeners: UCX 1.13 tcp transport and a crafted 13-byte packet", "[.ucx-crash]") {
  EnvScope env({{"UCX_TLS", "tcp"}});
  std::vector<Listener> seen;
  auto j = ferry::test::run_pair(ucx_options(), ucx_options(), nullptr, [&] {
    seen = my_listeners();
    for (const auto& l : seen) {
      if (l.ip.find('.') == std::string::npos) continue;  // IPv4 rows only
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<std::uint16_t>(l.port));
      ::inet_pton(AF_INET, l.ip.c_str(), &sa.sin_addr);
      const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0) {
        unsigned char pkt[13] = {};
        const std::uint64_t magic = 0xCAFEBABE12345678ull;
        std::memcpy(pkt, &magic, 8);
        const char* id = std::getenv("FERRY_UCX_PKT_AM_ID");
        pkt[8] = static_cast<unsigned char>(id ? std::atoi(id) : 64);  // then length 0
        (void)::send(fd, pkt, sizeof pkt, MSG_NOSIGNAL);
        std::fprintf(stderr, "sent 13 bytes to %s:%d\n", l.ip.c_str(), l.port);
      }
      std::this_thread::sleep_for(std::chrono::seconds(2));
      ::close(fd);
    }
  });
  INFO("listening:" << describe(seen));
  CHECK_FALSE(seen.empty());
  WARN("UCX survived the crafted packet on" << describe(seen));
}
