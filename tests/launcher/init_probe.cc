// ferry_init_probe — end-to-end checks of ferry::init / ferry::Session (ferry/init.h).
// Driven by init_cases.sh; prints "init ... ok" per rank and exits 0 only if every check held.
//
//   ferry_init_probe ranks              under ferry-run -n N (or mpirun): rank/size/launcher
//                                       match the launcher's variables; Runtime::current() is
//                                       the session's; each rank puts a value, the refs travel
//                                       to every peer in an AM (after Session::barrier), every
//                                       rank gets every peer's value; a second init throws;
//                                       shutdown is idempotent; runtime()/barrier() throw after it.
//   ferry_init_probe single             no launcher: one rank, put/get, then a second session
//                                       after the first was shut down (the runtime restarts).
//   ferry_init_probe error SUBSTRING    init must throw ferry::Error whose message has SUBSTRING.
// Every wait is bounded (get timeouts, a deadline on the AM exchange).
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "ferry_test/probe_check.h"

namespace {

constexpr ferry::transport::HandlerId kRefs = 0x0101;  // payload: u32 sender + 16-byte ref id
constexpr auto kTimeout = std::chrono::seconds(20);

FERRY_TEST_PROBE("init probe")

// Runs `f`, which must throw ferry::Error with code `code` and `text` in the message.
template <class F>
void expect_error(F&& f, ferry::Errc code, const std::string& text) {
  try {
    f();
  } catch (const ferry::Error& e) {
    if (e.code() != code || std::string(e.what()).find(text) == std::string::npos)
      fail(std::string("unexpected error: ") + e.what() + " (wanted " + ferry::to_string(code) + " with '" + text +
           "')");
    return;
  }
  fail("no ferry::Error thrown (wanted '" + text + "')");
}

std::uint64_t value_of(unsigned rank) { return 1000003ull * (rank + 1); }

void run_ranks_mode(int& argc, char**& argv) {
  ferry::Session s = ferry::init(argc, argv);
  const unsigned me = s.rank(), n = s.size();
  if (const char* r = std::getenv("FERRY_RANK")) CHECK(std::to_string(me) == r);
  if (const char* z = std::getenv("FERRY_SIZE")) {
    CHECK(std::to_string(n) == z);
    CHECK(s.launcher() == "ferry-run (local rendezvous)");
  }
  CHECK(n >= 2);
  CHECK(s.runtime().rank() == me && s.runtime().size() == n);
  CHECK(ferry::Runtime::current() == &s.runtime());
  expect_error([] { ferry::Session again = ferry::init(); }, ferry::Errc::invalid_argument, "already running");

  // Each rank owns one object; its ref goes to every peer in an AM.
  auto mine = ferry::put(value_of(me));
  std::mutex mu;
  std::vector<ferry::ObjectRef<std::uint64_t>> refs(n);
  unsigned received = 0;
  auto& t = s.runtime().transport();
  CHECK(t.set_handler(kRefs, [&](ferry::transport::Rank src, ferry::transport::ByteView p) {
    if (p.size() != ferry::objstore::ObjectId::kWireBytes) fail("bad ref message size");
    auto ref = ferry::ObjectRef<std::uint64_t>::decode(p.first<ferry::objstore::ObjectId::kWireBytes>());
    std::lock_guard<std::mutex> lock(mu);
    refs[src] = std::move(ref);
    ++received;
  }).is_ok());
  s.barrier();  // every handler is installed
  std::array<std::byte, ferry::objstore::ObjectId::kWireBytes> wire{};
  mine.encode(wire);
  for (unsigned p = 0; p < n; ++p)
    if (p != me) CHECK(t.send(p, kRefs, ferry::transport::ByteView(wire.data(), wire.size())).result().is_ok());
  for (auto deadline = std::chrono::steady_clock::now() + kTimeout;;) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (received == n - 1) break;
    }
    if (std::chrono::steady_clock::now() > deadline) fail("did not receive every peer's ref in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (unsigned p = 0; p < n; ++p) {
    if (p == me) continue;
    CHECK(refs[p].owner() == p);
    CHECK(refs[p].get(kTimeout) == value_of(p));
  }
  CHECK(mine.get() == value_of(me));
  s.barrier();  // owners keep their objects until every reader is done
  CHECK(t.set_handler(kRefs, nullptr).is_ok());
  s.shutdown();
  CHECK(s.is_shut_down());
  s.shutdown();  // idempotent
  CHECK(ferry::Runtime::current() == nullptr);
  expect_error([&] { (void)s.runtime(); }, ferry::Errc::shut_down, "shut down");
  expect_error([&] { s.barrier(); }, ferry::Errc::shut_down, "shut down");
  CHECK(s.rank() == me && s.size() == n);
  expect_error([&] { (void)mine.get(); }, ferry::Errc::shut_down, "");
  std::printf("rank %u/%u: init via %s, %u peer values verified: init ok\n", me, n, s.launcher().c_str(), n - 1);
}

void single_mode(int& argc, char**& argv) {
  for (int round = 0; round < 2; ++round) {
    ferry::Session s = ferry::init(argc, argv);
    CHECK(s.rank() == 0 && s.size() == 1);
    CHECK(s.launcher().find("single rank") != std::string::npos);
    auto r = ferry::put(std::string("round ") + std::to_string(round));
    CHECK(r.get() == "round " + std::to_string(round));
    s.barrier();
    ferry::Session moved = std::move(s);  // the moved-to session owns the runtime
    CHECK(s.is_shut_down() && !moved.is_shut_down());
    expect_error([&] { (void)s.rank(); }, ferry::Errc::invalid_argument, "moved-from");
    // ~moved shuts down: the next round can start a new runtime.
  }
  CHECK(ferry::Runtime::current() == nullptr);
  std::printf("rank 0/1: two single-rank sessions in a row: init ok\n");
}

void error_mode(const std::string& text) {
  try {
    ferry::Session s = ferry::init();
  } catch (const ferry::Error& e) {
    if (std::string(e.what()).find(text) == std::string::npos)
      fail(std::string("error message lacks '") + text + "': " + e.what());
    std::printf("init error as expected (%s): init error ok\n", e.what());
    return;
  }
  fail("ferry::init did not throw");
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "ranks") run_ranks_mode(argc, argv);
  else if (mode == "single") single_mode(argc, argv);
  else if (mode == "error" && argc > 2) error_mode(argv[2]);
  else fail("usage: ferry_init_probe ranks|single|error SUBSTRING");
  return 0;
}
