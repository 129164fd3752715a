// test_loopback.cc — the loopback transport's own contract (ferry_test/loopback.h):
// FIFO links under delay, drops, kill -> one failure report per peer, gets, shutdown.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "ferry_test/loopback.h"

namespace {

using namespace std::chrono_literals;
namespace tp = ferry::transport;
using ferry::Errc;
using ferry::test::LoopbackFabric;

tp::Bytes u32(std::uint32_t v) {
  tp::Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

template <class Pred>
bool eventually(Pred p, std::chrono::milliseconds bound = 10s) {
  const auto end = std::chrono::steady_clock::now() + bound;
  while (!p()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("loopback: AMs arrive in send order per link, also when the link is delayed midway", "[loopback]") {
  LoopbackFabric fab(2);
  auto t0 = fab.make_transport(0).value();
  auto t1 = fab.make_transport(1).value();
  std::mutex mu;
  std::vector<std::uint32_t> got;
  std::atomic<int> wrong_src{0};
  REQUIRE(t1->set_handler(7, [&](tp::Rank src, tp::ByteView p) {  // delivery thread: no Catch2 here
    if (src != 0) ++wrong_src;
    std::uint32_t v;
    std::memcpy(&v, p.data(), sizeof v);
    std::lock_guard<std::mutex> lock(mu);
    got.push_back(v);
  }));
  fab.delay(0, 1, 100ms);
  for (std::uint32_t i = 0; i < 50; ++i) REQUIRE(t0->send_owned(1, 7, u32(i)).result());
  fab.delay(0, 1, 0ms);  // later sends must still queue behind the delayed ones
  for (std::uint32_t i = 50; i < 100; ++i) REQUIRE(t0->send_owned(1, 7, u32(i)).result());
  REQUIRE(eventually([&] {
    std::lock_guard<std::mutex> lock(mu);
    return got.size() == 100;
  }));
  for (std::uint32_t i = 0; i < 100; ++i) CHECK(got[i] == i);
  CHECK(wrong_src.load() == 0);
  CHECK(t0->counters().ams_sent == 100u);
}

TEST_CASE("loopback: dropped AMs are lost, an unknown handler id reaches the error handler", "[loopback]") {
  LoopbackFabric fab(2);
  auto t0 = fab.make_transport(0).value();
  auto t1 = fab.make_transport(1).value();
  std::atomic<int> handled{0}, errors{0};
  REQUIRE(t1->set_handler(7, [&](tp::Rank, tp::ByteView) { ++handled; }));
  t1->on_error([&](const ferry::Status& s) {
    if (s.code() == Errc::unknown_handler) ++errors;
  });
  fab.drop(0, 1, 2);
  for (int i = 0; i < 5; ++i) REQUIRE(t0->send_owned(1, 7, u32(1)).result());
  REQUIRE(t0->send_owned(1, 8, u32(1)).result());
  REQUIRE(eventually([&] { return handled.load() == 3 && errors.load() == 1; }));
  CHECK(fab.dropped() == 2u);
}

TEST_CASE("loopback: get copies registered memory; out of range and a killed owner are errors", "[loopback]") {
  LoopbackFabric fab(3);
  auto t0 = fab.make_transport(0).value();
  auto t1 = fab.make_transport(1).value();
  auto t2 = fab.make_transport(2).value();
  std::vector<std::byte> mem(4096);
  for (std::size_t i = 0; i < mem.size(); ++i) mem[i] = static_cast<std::byte>(i);
  auto region = t0->register_memory(mem.data(), mem.size()).value();
  auto key = t1->unpack_key(0, region->packed_key()).value();
  CHECK_FALSE(t1->unpack_key(2, region->packed_key()));  // not rank 2's region

  std::vector<std::byte> local(100);
  REQUIRE(t1->get(*key, key->remote_base() + 1000, local.data(), local.size()).result());
  CHECK(std::memcmp(local.data(), mem.data() + 1000, local.size()) == 0);
  CHECK(t1->counters().gets == 1u);
  CHECK(t1->counters().bytes_got == 100u);
  auto out = t1->get(*key, key->remote_base() + 4000, local.data(), local.size()).result();
  CHECK(out.status().code() == Errc::invalid_argument);

  std::atomic<int> reports{0}, wrong_reports{0};
  t2->on_peer_failure([&](tp::Rank peer, const ferry::Status& why) {  // delivery thread: no Catch2 here
    if (peer != 0 || why.code() != Errc::peer_failed) ++wrong_reports;
    ++reports;
  });
  fab.delay(1, 0, 300ms);
  auto in_flight = t1->get(*key, key->remote_base(), local.data(), local.size());
  fab.kill(0);
  CHECK(in_flight.result().status().code() == Errc::peer_failed);
  REQUIRE(eventually([&] { return reports.load() == 1; }));
  fab.kill(0);  // twice: still one report
  std::this_thread::sleep_for(50ms);
  CHECK(reports.load() == 1);
  CHECK(wrong_reports.load() == 0);
  CHECK(t2->send_owned(0, 7, u32(1)).result().status().code() == Errc::peer_failed);
  CHECK(t2->failed_peers() == std::vector<tp::Rank>{0});
  region.reset();
  // The survivors shut down without waiting for the dead rank; the dead one sees everyone failed.
  std::thread s1([&] { CHECK(t1->shutdown()); });
  CHECK(t2->shutdown());
  s1.join();
  CHECK(t0->shutdown());
}

TEST_CASE("loopback: bootstrap allgather and barrier across threads", "[loopback]") {
  LoopbackFabric fab(3);
  std::vector<std::vector<tp::Bytes>> seen(3);
  std::vector<std::thread> threads;
  for (tp::Rank r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      auto& b = fab.bootstrap(r);
      for (int round = 0; round < 20; ++round) {
        auto all = b.allgather(u32(r * 100 + round));
        if (all && round == 19) seen[r] = *all;
        (void)b.barrier();
      }
    });
  for (auto& t : threads) t.join();
  for (tp::Rank r = 0; r < 3; ++r) {
    REQUIRE(seen[r].size() == 3u);
    for (tp::Rank k = 0; k < 3; ++k) CHECK(seen[r][k] == u32(k * 100 + 19));
  }
}
