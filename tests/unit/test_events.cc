// test_events.cc — the pieces both backends share (transport/src/common/events.h):
// HandlerTable, EventSink, Liveness, ShutdownBarrier.
//
// Callbacks must run without the classes' locks held; the tests that check this
// run the call on a helper thread and fail (instead of hanging) on a deadlock.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "common/events.h"

using namespace std::chrono_literals;
namespace common = ferry::transport::common;
using ferry::Errc;
using ferry::Status;
using ferry::transport::ByteView;
using ferry::transport::Rank;
using steady = std::chrono::steady_clock;

namespace {

// Runs fn on a detached thread; true if it finished within `limit`. The state is
// shared so a deadlocked thread never touches a dead stack frame.
bool finishes_within(std::function<void()> fn, std::chrono::milliseconds limit) {
  auto done = std::make_shared<std::promise<void>>();
  auto fut = done->get_future();
  std::thread([fn = std::move(fn), done] {
    fn();
    done->set_value();
  }).detach();
  return fut.wait_for(limit) == std::future_status::ready;
}

}  // namespace

TEST_CASE("HandlerTable: set, find, replace, remove", "[events]") {
  common::HandlerTable table;
  CHECK(table.find(1) == nullptr);
  int calls = 0;
  REQUIRE(table.set(1, [&](Rank, ByteView) { calls += 1; }).is_ok());
  auto h = table.find(1);
  REQUIRE(h != nullptr);
  (*h)(0, {});
  CHECK(calls == 1);
  REQUIRE(table.set(1, [&](Rank, ByteView) { calls += 10; }).is_ok());
  (*h)(0, {});  // the old handler stays callable while held
  CHECK(calls == 2);
  (*table.find(1))(0, {});
  CHECK(calls == 12);
  REQUIRE(table.set(1, {}).is_ok());  // empty removes
  CHECK(table.find(1) == nullptr);
  CHECK(table.find(2) == nullptr);
}

TEST_CASE("HandlerTable: reserved ids need the internal flag", "[events]") {
  common::HandlerTable table;
  for (ferry::transport::HandlerId id : {std::uint16_t(0xFF00), std::uint16_t(0xFF01), std::uint16_t(0xFFFF)}) {
    auto s = table.set(id, [](Rank, ByteView) {});
    CHECK(s.code() == Errc::invalid_argument);
    CHECK(s.message().find("reserved") != std::string::npos);
    CHECK(table.find(id) == nullptr);
    CHECK(table.set(id, [](Rank, ByteView) {}, /*internal=*/true).is_ok());
    CHECK(table.find(id) != nullptr);
  }
  CHECK(table.set(0xFEFF, [](Rank, ByteView) {}).is_ok());
  CHECK(table.set(0, [](Rank, ByteView) {}).is_ok());
}

TEST_CASE("HandlerTable: concurrent set and find", "[events]") {
  common::HandlerTable table;
  std::atomic<bool> stop{false};
  std::atomic<long> calls{0};
  std::thread writer([&] {
    for (int i = 0; i < 20000; ++i) (void)table.set(static_cast<std::uint16_t>(i % 8), [&](Rank, ByteView) { ++calls; });
    stop = true;
  });
  std::thread reader([&] {
    while (!stop)
      for (std::uint16_t id = 0; id < 8; ++id)
        if (auto h = table.find(id)) (*h)(0, {});
  });
  writer.join();
  reader.join();
  CHECK(table.find(7) != nullptr);
}

TEST_CASE("EventSink: errors reach the error handler", "[events]") {
  common::EventSink sink(0, 4);
  sink.report_error(Status(Errc::malformed_message, "no handler yet"));  // must not crash
  std::vector<Status> seen;
  sink.set_error_handler([&](const Status& s) { seen.push_back(s); });
  sink.report_error(Status(Errc::unknown_handler, "id 7"));
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].code() == Errc::unknown_handler);
  CHECK(seen[0].message() == "id 7");
}

TEST_CASE("EventSink: a peer is marked failed once, and reported once", "[events]") {
  common::EventSink sink(1, 4);
  std::vector<std::pair<Rank, Errc>> reports;
  sink.set_peer_failure_handler([&](Rank r, const Status& why) { reports.emplace_back(r, why.code()); });
  CHECK(sink.failed().empty());
  CHECK(sink.mark_peer_failed(3, Status(Errc::peer_failed, "EOF")));
  CHECK_FALSE(sink.mark_peer_failed(3, Status(Errc::peer_failed, "again")));
  CHECK(sink.is_failed(3));
  CHECK_FALSE(sink.is_failed(2));
  CHECK_FALSE(sink.mark_peer_failed(1, Status(Errc::peer_failed, "self")));    // self is never failed
  CHECK_FALSE(sink.mark_peer_failed(4, Status(Errc::peer_failed, "range")));   // outside the job
  CHECK_FALSE(sink.mark_peer_failed(99, Status(Errc::peer_failed, "range")));
  CHECK_FALSE(sink.is_failed(99));
  CHECK(sink.mark_peer_failed(0, Status(Errc::timeout, "silent")));
  REQUIRE(reports.size() == 2);
  CHECK(reports[0] == std::make_pair(Rank{3}, Errc::peer_failed));
  CHECK(reports[1] == std::make_pair(Rank{0}, Errc::timeout));
  CHECK(sink.failed() == std::vector<Rank>{0, 3});
}

TEST_CASE("EventSink: suppressed reports still mark the peer", "[events]") {
  common::EventSink sink(0, 3);
  int reports = 0;
  sink.set_peer_failure_handler([&](Rank, const Status&) { ++reports; });
  CHECK_FALSE(sink.reports_suppressed());
  sink.suppress_peer_failure_reports();
  CHECK(sink.reports_suppressed());
  CHECK(sink.mark_peer_failed(2, Status(Errc::peer_failed, "after shutdown")));
  CHECK(sink.is_failed(2));
  CHECK(reports == 0);
  CHECK_FALSE(sink.mark_peer_failed(2, Status(Errc::peer_failed, "again")));
}

TEST_CASE("EventSink: callbacks run without the sink's lock held", "[events]") {
  auto sink = std::make_shared<common::EventSink>(0, 3);
  auto inner = std::make_shared<std::atomic<int>>(0);
  sink->set_peer_failure_handler([sink_raw = sink.get(), inner](Rank, const Status&) {
    sink_raw->set_error_handler([inner](const Status&) { ++*inner; });  // takes the sink's mutex
    sink_raw->report_error(Status(Errc::internal, "from inside a callback"));
  });
  REQUIRE(finishes_within([sink] { (void)sink->mark_peer_failed(1, Status(Errc::peer_failed, "x")); }, 5000ms));
  CHECK(*inner == 1);
  sink->set_peer_failure_handler({});
  sink->set_error_handler({});
}

TEST_CASE("Liveness: disabled when interval or timeout is zero", "[events]") {
  std::vector<Rank> hb, dead;
  for (auto [iv, to] : {std::pair{0ms, 100ms}, std::pair{10ms, 0ms}, std::pair{0ms, 0ms}}) {
    common::Liveness l(0, 3, iv, to);
    CHECK_FALSE(l.enabled());
    hb.push_back(99);
    dead.push_back(99);
    l.tick(steady::now() + 1h, hb, dead);
    CHECK(hb.empty());
    CHECK(dead.empty());
  }
  common::Liveness on(0, 3, 10ms, 100ms);
  CHECK(on.enabled());
  CHECK(on.interval() == 10ms);
  CHECK(on.timeout() == 100ms);
}

TEST_CASE("Liveness: heartbeats owed and timeouts, skipping self", "[events]") {
  common::Liveness l(1, 4, 100ms, 1000ms);
  auto t0 = steady::now();
  std::vector<Rank> hb, dead;
  l.tick(t0, hb, dead);
  CHECK(hb.empty());
  CHECK(dead.empty());
  l.tick(t0 + 150ms, hb, dead);
  CHECK(hb == std::vector<Rank>{0, 2, 3});
  CHECK(dead.empty());
  l.tick(t0 + 1500ms, hb, dead);
  CHECK(hb == std::vector<Rank>{0, 2, 3});
  CHECK(dead == std::vector<Rank>{0, 2, 3});
}

TEST_CASE("Liveness: heard_from and sent_to reset their clocks", "[events]") {
  common::Liveness l(0, 4, 100ms, 1000ms);
  auto constructed_by = steady::now();
  std::this_thread::sleep_for(60ms);
  auto t1 = steady::now();
  l.heard_from(2);
  l.sent_to(3);
  l.heard_from(77);  // out of range: ignored
  l.sent_to(77);
  std::vector<Rank> hb, dead;
  // 1000 ms after the constructor but less than that after heard_from(2).
  REQUIRE(t1 - constructed_by >= 50ms);
  l.tick(t1 + 999ms, hb, dead);
  CHECK(dead == std::vector<Rank>{1, 3});
  CHECK(hb == std::vector<Rank>{1, 2, 3});
  // 100 ms after the constructor, less after sent_to(3).
  l.tick(t1 + 99ms, hb, dead);
  CHECK(hb == std::vector<Rank>{1, 2});
  CHECK(dead.empty());
}

TEST_CASE("Liveness: a late tick spares every peer, at most once per timeout", "[events]") {
  common::Liveness l(0, 3, 100ms, 1000ms);
  std::vector<Rank> hb, dead;
  const auto t0 = steady::now();
  // On time (or no tick due yet): nobody is spared.
  CHECK_FALSE(l.spare_after_stall(steady::time_point{}, t0, 100ms));
  CHECK_FALSE(l.spare_after_stall(t0, t0 + 100ms, 100ms));
  // A tick due 2 s ago: the clocks restart (at or after g0), so a tick just under a timeout
  // after g0 finds nobody silent.
  const auto g0 = steady::now();
  REQUIRE(l.spare_after_stall(g0 - 2000ms, g0, 100ms));
  l.tick(g0 + 999ms, hb, dead);
  CHECK(dead.empty());
  // A second stall within the timeout is not spared, so a dead peer is still found.
  CHECK_FALSE(l.spare_after_stall(g0, g0 + 500ms, 100ms));
  l.tick(steady::now() + 1001ms, hb, dead);
  CHECK(dead == std::vector<Rank>{1, 2});
}

TEST_CASE("ActivityFlags: notes fold into a Liveness once, out-of-range peers ignored", "[events]") {
  common::Liveness l(0, 3, 100ms, 1000ms);
  common::ActivityFlags a(3);
  std::this_thread::sleep_for(20ms);
  const auto t1 = steady::now();
  a.heard(1);
  a.heard(1);
  a.sent(2);
  a.heard(9);  // out of range
  CHECK(a.heard_since_fold(1));
  CHECK_FALSE(a.heard_since_fold(2));
  CHECK_FALSE(a.heard_since_fold(9));
  a.fold_into(l);  // heard_from(1), sent_to(2) now
  CHECK_FALSE(a.heard_since_fold(1));
  std::vector<Rank> hb, dead;
  l.tick(t1 + 995ms, hb, dead);  // >= 1000 ms after construction for 2, less after the fold for 1
  CHECK(dead == std::vector<Rank>{2});
  l.tick(t1 + 95ms, hb, dead);  // >= 100 ms after construction for 1, less after the fold for 2
  CHECK(hb == std::vector<Rank>{1});
}

TEST_CASE("Liveness: a job of one has no peers", "[events]") {
  common::Liveness l(0, 1, 10ms, 20ms);
  std::vector<Rank> hb, dead;
  l.tick(steady::now() + 1h, hb, dead);
  CHECK(hb.empty());
  CHECK(dead.empty());
}

TEST_CASE("ShutdownBarrier: completes when every peer arrived", "[events]") {
  common::EventSink sink(0, 3);
  common::ShutdownBarrier b(3);
  b.arrived(1);
  b.arrived(2);
  b.arrived(42);  // out of range: ignored
  auto t0 = steady::now();
  CHECK(b.wait(0, sink, t0 + 5s, {}).is_ok());
  CHECK(steady::now() - t0 < 1s);
}

TEST_CASE("ShutdownBarrier: times out naming the missing ranks", "[events]") {
  common::EventSink sink(1, 4);
  common::ShutdownBarrier b(4);
  b.arrived(0);
  auto t0 = steady::now();
  auto s = b.wait(1, sink, t0 + 100ms, {});
  auto took = steady::now() - t0;
  CHECK(s.code() == Errc::timeout);
  CHECK(s.message().find("[2,3]") != std::string::npos);
  CHECK(took >= 100ms);
  CHECK(took < 3s);
}

TEST_CASE("ShutdownBarrier: failed peers count as arrived", "[events]") {
  common::EventSink sink(0, 3);
  common::ShutdownBarrier b(3);
  b.arrived(1);
  (void)sink.mark_peer_failed(2, Status(Errc::peer_failed, "killed"));
  CHECK(b.wait(0, sink, steady::now() + 5s, {}).is_ok());
}

TEST_CASE("ShutdownBarrier: arrivals and failures from other threads end the wait", "[events]") {
  common::EventSink sink(0, 3);
  common::ShutdownBarrier b(3);
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    b.arrived(1);
    std::this_thread::sleep_for(30ms);
    (void)sink.mark_peer_failed(2, Status(Errc::peer_failed, "gone"));
    b.poke();
  });
  auto t0 = steady::now();
  auto s = b.wait(0, sink, t0 + 10s, {});
  t.join();
  CHECK(s.is_ok());
  CHECK(steady::now() - t0 < 5s);
}

TEST_CASE("ShutdownBarrier: the poll function drives progress while waiting", "[events]") {
  common::EventSink sink(0, 2);
  common::ShutdownBarrier b(2);
  int polls = 0;
  auto s = b.wait(0, sink, steady::now() + 10s, [&] {
    if (++polls == 100) b.arrived(1);  // "progress" delivers the peer's shutdown message
    return true;
  });
  CHECK(s.is_ok());
  CHECK(polls == 100);
  common::ShutdownBarrier single(1);
  CHECK(single.wait(0, sink, steady::now(), {}).is_ok());
}

TEST_CASE("rank_str", "[events]") {
  CHECK(common::rank_str(3) == "rank 3");
}
