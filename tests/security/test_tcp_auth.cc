// test_tcp_auth.cc — the TCP backend admits only connections that prove the job key.
//
// Handshake functions (tcp_auth.h) are checked directly; the start-up cases run a
// real 2-rank TCP job in two threads on 127.0.0.1 (ThreadBootstrap) and let a
// "stranger" (plain sockets in the test) reach rank 1's listener after every rank
// listens and before rank 0 connects: a hello without the key, a hello for another
// nonce, junk, and 300 idle connections. Each time the stranger must be refused
// (connection closed) and the real job must still come up and deliver an AM.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "ferry/transport/job_key.h"
#include "tcp/tcp_auth.h"
#include "pair_job.h"

namespace tp = ferry::transport;
namespace tcp = ferry::transport::tcp;
using ferry::Errc;

namespace {

const std::string kKey(32, 'k');

// A 2-rank TCP-backend job on 127.0.0.1 with the given keys (see pair_job.h). A job
// expected to fail start-up passes a short `connect_timeout` (the default waits >= 30 s).
ferry::test::PairOutcome run_job(const std::string& key0, const std::string& key1,
                                 const std::function<void(const std::string&)>& stranger,
                                 std::chrono::milliseconds connect_timeout = std::chrono::milliseconds(0)) {
  tp::Options o;
  o.backend = tp::Backend::tcp;
  o.progress = tp::ProgressMode::blocking;
  o.tcp_listen_address = "127.0.0.1";
  o.tcp_connect_timeout = connect_timeout;
  tp::Options o0 = o, o1 = o;
  o0.job_key = key0;
  o1.job_key = key1;
  return ferry::test::run_pair(o0, o1, stranger, nullptr);
}
const std::string kOtherKey(32, 'x');

tcp::Nonce nonce_of(char c) {
  tcp::Nonce n;
  n.fill(static_cast<std::byte>(c));
  return n;
}

// A client socket to "ip:port" with a 20 s receive timeout; -1 on failure.
int dial(const std::string& addr) {
  const auto colon = addr.rfind(':');
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(addr.substr(colon + 1))));
  if (inet_pton(AF_INET, addr.substr(0, colon).c_str(), &sa.sin_addr) != 1) return -1;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{20, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool read_exact(int fd, void* buf, std::size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t got = ::recv(fd, p, n, 0);
    if (got <= 0) return false;
    p += got;
    n -= static_cast<std::size_t>(got);
  }
  return true;
}

// True when the peer closed (EOF or reset) within the receive timeout, after any data.
bool closed_by_peer(int fd) {
  char buf[256];
  for (;;) {
    const ssize_t got = ::recv(fd, buf, sizeof buf, 0);
    if (got == 0) return true;
    if (got < 0) return errno == ECONNRESET;
  }
}

// A check inside a stranger (it runs inside the transport's start-up: it must not throw).
bool soft_check(bool ok, const char* what) {
  CHECK(ok);
  if (!ok) UNSCOPED_INFO("failed: " << what);
  return ok;
}

void require_job_ok(const ferry::test::PairOutcome& j) {
  INFO("rank 0: " << j.status[0].to_string() << "; rank 1: " << j.status[1].to_string());
  REQUIRE(j.status[0].is_ok());
  REQUIRE(j.status[1].is_ok());
  CHECK(j.am_delivered);
}

}  // namespace

TEST_CASE("job key: hex parsing and generation", "[security][key]") {
  auto made = tp::make_job_key_hex();
  REQUIRE(made.is_ok());
  CHECK(made->size() == 2 * tp::kJobKeyBytes);
  auto raw = tp::parse_job_key_hex(*made);
  REQUIRE(raw.is_ok());
  CHECK(raw->size() == tp::kJobKeyBytes);
  auto second = tp::make_job_key_hex();
  REQUIRE(second.is_ok());
  CHECK(*second != *made);
  CHECK(tp::parse_job_key_hex("abcd").status().code() == Errc::invalid_argument);  // < 128 bits
  const std::string bad = std::string(31, 'a') + "zz" + std::string(31, 'a');
  auto r = tp::parse_job_key_hex(bad);
  CHECK(r.status().code() == Errc::invalid_argument);
  CHECK(r.status().message().find(bad) == std::string::npos);  // never echoes the key
}

TEST_CASE("hello: accepted only with the key and the nonce it answers", "[security][hello]") {
  const auto n = nonce_of('a');
  const auto hello = tcp::make_hello(kKey, n, 0, 4, 2);
  auto ok = tcp::check_hello(kKey, n, hello.data(), hello.size(), 2, 4);
  REQUIRE(ok.is_ok());
  CHECK(*ok == 0u);
  auto wrong_key = tcp::check_hello(kOtherKey, n, hello.data(), hello.size(), 2, 4);
  CHECK(wrong_key.status().code() == Errc::malformed_message);
  CHECK(wrong_key.status().message().find("key") != std::string::npos);
  CHECK_FALSE(tcp::check_hello(kKey, nonce_of('b'), hello.data(), hello.size(), 2, 4).is_ok());  // replay
  CHECK_FALSE(tcp::check_hello(kKey, n, hello.data(), hello.size(), 3, 4).is_ok());  // other target
  CHECK_FALSE(tcp::check_hello(kKey, n, hello.data(), hello.size(), 2, 5).is_ok());  // other job size
  CHECK_FALSE(tcp::check_hello("", n, hello.data(), hello.size(), 2, 4).is_ok());   // no key never matches
  auto tampered = hello;
  tampered[sizeof(tp::wire::FrameHeader) + 10] ^= std::byte{1};
  CHECK_FALSE(tcp::check_hello(kKey, n, tampered.data(), tampered.size(), 2, 4).is_ok());
  CHECK_FALSE(tcp::check_hello(kKey, n, hello.data(), hello.size() - 1, 2, 4).is_ok());
  const auto ack = tcp::make_ack(kKey, n, hello);
  CHECK(tcp::check_ack(kKey, n, hello, ack));
  CHECK_FALSE(tcp::check_ack(kOtherKey, n, hello, ack));
  CHECK_FALSE(tcp::check_ack(kKey, nonce_of('c'), hello, ack));
}

TEST_CASE("tcp start-up: a stranger without the key is refused and the real rank joins", "[security][tcp]") {
  bool refused = false, replay_refused = false;
  auto j = run_job(kKey, kKey, [&](const std::string& addr) {
    const int fd = dial(addr);
    if (!soft_check(fd >= 0, "fd >= 0")) return;
    tcp::Nonce n;
    if (!soft_check(read_exact(fd, n.data(), n.size()), "read the nonce")) return;
    const auto forged = tcp::make_hello(kOtherKey, n, 0, 2, 1);  // claims rank 0
    if (!soft_check(::send(fd, forged.data(), forged.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(forged.size()),
                    "send the forged hello")) return;
    refused = closed_by_peer(fd);
    ::close(fd);
    // The right key but a hello made for another nonce (a replay) is refused too.
    const int fd2 = dial(addr);
    if (!soft_check(fd2 >= 0, "fd2 >= 0")) return;
    if (!soft_check(read_exact(fd2, n.data(), n.size()), "read the nonce")) return;
    const auto replay = tcp::make_hello(kKey, nonce_of('z'), 0, 2, 1);
    if (!soft_check(::send(fd2, replay.data(), replay.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(replay.size()),
                    "send the replay hello")) return;
    replay_refused = closed_by_peer(fd2);
    ::close(fd2);
  });
  CHECK(refused);
  CHECK(replay_refused);
  require_job_ok(j);
}

TEST_CASE("tcp start-up: junk is refused, a silent connection times out, the job starts", "[security][tcp]") {
  std::vector<bool> closed;
  auto j = run_job(kKey, kKey, [&](const std::string& addr) {
    std::mt19937 rng(7);
    std::vector<std::size_t> sizes = {tcp::kHelloFrameBytes, 4096, 13};  // 13: short, waits for the deadline
    for (std::size_t n : sizes) {
      const int fd = dial(addr);
      if (!soft_check(fd >= 0, "fd >= 0")) return;
      std::vector<unsigned char> junk(n);
      for (auto& b : junk) b = static_cast<unsigned char>(rng());
      (void)::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
      closed.push_back(closed_by_peer(fd));
      ::close(fd);
    }
  });
  REQUIRE(closed.size() == 3);
  CHECK(closed[0]);
  CHECK(closed[1]);
  CHECK(closed[2]);
  require_job_ok(j);
}

TEST_CASE("tcp start-up: 300 idle connections do not keep the real ranks out", "[security][tcp]") {
  std::vector<int> idle;
  auto j = run_job(kKey, kKey, [&](const std::string& addr) {
    for (int i = 0; i < 300; ++i) {
      const int fd = dial(addr);
      if (fd >= 0) idle.push_back(fd);
    }
  });
  CHECK(idle.size() == 300);
  require_job_ok(j);
  // Set-up is over: every idle connection was closed by rank 1 (dropped as the oldest, or at the end).
  std::size_t closed = 0;
  for (int fd : idle) {
    closed += closed_by_peer(fd) ? 1 : 0;
    ::close(fd);
  }
  CHECK(closed == idle.size());
}

TEST_CASE("tcp start-up: ranks with different job keys do not connect", "[security][tcp]") {
  auto j = run_job(kKey, kOtherKey, nullptr, std::chrono::seconds(3));
  CHECK(j.status[0].code() == Errc::bootstrap_failed);
  CHECK(j.status[1].code() == Errc::bootstrap_failed);
  CHECK(j.status[0].message().find("FERRY_JOB_KEY") != std::string::npos);
}

TEST_CASE("tcp start-up: without a given key rank 0 makes one and the bootstrap carries it", "[security][tcp]") {
  bool refused = false;
  auto j = run_job("", "", [&](const std::string& addr) {
    const int fd = dial(addr);
    if (!soft_check(fd >= 0, "dial")) return;
    tcp::Nonce n;
    if (!soft_check(read_exact(fd, n.data(), n.size()), "read the nonce")) return;
    const auto forged = tcp::make_hello(kKey, n, 0, 2, 1);  // a key the job does not use
    (void)::send(fd, forged.data(), forged.size(), MSG_NOSIGNAL);
    refused = closed_by_peer(fd);
    ::close(fd);
  });
  CHECK(refused);
  require_job_ok(j);
}

TEST_CASE("tcp start-up: a key on rank 0 only is an error, not a silent fallback", "[security][tcp]") {
  auto j = run_job(kKey, "", nullptr, std::chrono::seconds(3));
  CHECK(j.status[1].code() == Errc::bootstrap_failed);
  CHECK(j.status[1].message().find("FERRY_JOB_KEY") != std::string::npos);
}
