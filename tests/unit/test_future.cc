// test_future.cc — Future<T>/Promise<T> semantics (ferry/future.h): readiness,
// then() continuations (which thread runs them), wait_for bounds, broken promises,
// completion from other threads, and waiting through a polling Progressor.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "ferry/future.h"

using namespace std::chrono_literals;
using ferry::Errc;
using ferry::Future;
using ferry::Promise;
using ferry::Result;
using ferry::Status;
using steady = std::chrono::steady_clock;

namespace {

// Completes `target` after `polls_needed` calls to poll_once(); records who polled.
class CountingProgressor : public ferry::Progressor {
 public:
  CountingProgressor(bool poll, int polls_needed) : poll_(poll), needed_(polls_needed) {}
  bool waiters_poll() const noexcept override { return poll_; }
  bool poll_once() override {
    poller_ = std::this_thread::get_id();
    int n = ++polls_;
    if (n == needed_ && target_) target_->set_value(n);
    return true;
  }
  void arm(Promise<int>* p) { target_ = p; }
  int polls() const { return polls_.load(); }
  std::thread::id poller() const { return poller_; }

 private:
  bool poll_;
  int needed_;
  std::atomic<int> polls_{0};
  Promise<int>* target_ = nullptr;
  std::thread::id poller_;
};

// A progressor that never completes anything (wait_for must still return).
class IdleProgressor : public ferry::Progressor {
 public:
  bool waiters_poll() const noexcept override { return true; }
  bool poll_once() override {
    ++polls;
    return false;
  }
  std::atomic<long> polls{0};
};

}  // namespace

TEST_CASE("Future: make_ready_future and get()", "[future]") {
  auto f = ferry::make_ready_future<int>(Result<int>(3));
  CHECK(f.valid());
  CHECK(f.ready());
  CHECK(f.get() == 3);
  CHECK_FALSE(f.valid());

  auto v = ferry::make_ready_future();
  CHECK(v.ready());
  CHECK_NOTHROW(v.get());
}

TEST_CASE("Future: default-constructed is invalid", "[future]") {
  Future<int> f;
  CHECK_FALSE(f.valid());
  CHECK_FALSE(f.ready());
}

TEST_CASE("Promise: value, error and first-result-wins", "[future]") {
  Promise<int> p;
  auto f = p.get_future();
  CHECK_FALSE(f.ready());
  p.set_value(10);
  CHECK(f.ready());
  p.set_value(11);                                // dropped
  p.set_error(Status(Errc::timeout, "late"));     // dropped
  auto r = f.result();
  REQUIRE(r.is_ok());
  CHECK(r.value() == 10);
  CHECK_FALSE(f.valid());

  Promise<std::string> e;
  auto fe = e.get_future();
  e.set_error(Status(Errc::peer_failed, "rank 1 died"));
  try {
    (void)fe.get();
    FAIL("get() on an error must throw");
  } catch (const ferry::Error& err) {
    CHECK(err.code() == Errc::peer_failed);
    CHECK(err.status().message() == "rank 1 died");
  }
}

TEST_CASE("Promise<void>", "[future]") {
  Promise<void> p;
  auto f = p.get_future();
  p.set_value();
  CHECK(f.ready());
  CHECK(f.result().is_ok());
  Promise<void> q;
  auto g = q.get_future();
  q.set_error(Status(Errc::shut_down, "stopped"));
  CHECK_THROWS_AS(g.get(), ferry::Error);
}

TEST_CASE("Promise: broken promise completes the future with an internal error", "[future]") {
  Future<int> f;
  {
    Promise<int> p;
    f = p.get_future();
  }
  REQUIRE(f.ready());
  auto r = f.result();
  CHECK(r.status().code() == Errc::internal);
  CHECK(r.status().message().find("broken promise") != std::string::npos);
}

TEST_CASE("Promise: move assignment abandons the overwritten state", "[future]") {
  Promise<int> a, b;
  auto fa = a.get_future();
  auto fb = b.get_future();
  a = std::move(b);  // a's old state is abandoned
  REQUIRE(fa.ready());
  CHECK(fa.result().status().code() == Errc::internal);
  CHECK_FALSE(fb.ready());
  a.set_value(5);
  CHECK(fb.get() == 5);
  Promise<int> c(std::move(a));  // moved-from a must not break fb on destruction
}

TEST_CASE("then(): runs at once, on this thread, if already complete", "[future]") {
  Promise<int> p;
  auto f = p.get_future();
  p.set_value(4);
  std::thread::id ran_on;
  int got = 0;
  std::move(f).then([&](Result<int>&& r) {
    ran_on = std::this_thread::get_id();
    got = r.value();
  });
  CHECK(got == 4);
  CHECK(ran_on == std::this_thread::get_id());
  CHECK_FALSE(f.valid());
}

TEST_CASE("then(): runs on the completing thread, exactly once, with errors too", "[future]") {
  Promise<int> p;
  auto f = p.get_future();
  std::atomic<int> calls{0};
  std::thread::id ran_on;
  Errc code = Errc::ok;
  std::move(f).then([&](Result<int>&& r) {
    ++calls;
    ran_on = std::this_thread::get_id();
    code = r.status().code();
  });
  CHECK(calls == 0);
  std::thread::id completer;
  std::thread t([&] {
    completer = std::this_thread::get_id();
    p.set_error(Status(Errc::transport_error, "boom"));
    p.set_value(1);  // dropped; must not run the continuation again
  });
  t.join();
  CHECK(calls == 1);
  CHECK(ran_on == completer);
  CHECK(code == Errc::transport_error);
}

TEST_CASE("then(): move-only continuations can chain promises", "[future]") {
  Promise<int> first;
  Promise<std::unique_ptr<int>> second;
  auto out = second.get_future();
  auto owned = std::make_unique<int>(100);
  first.get_future().then([owned = std::move(owned), second = std::move(second)](Result<int>&& r) mutable {
    *owned += r.value();
    second.set_value(std::move(owned));
  });
  CHECK_FALSE(out.ready());
  first.set_value(23);
  REQUIRE(out.ready());
  CHECK(*out.get() == 123);
}

TEST_CASE("then(): a continuation dropped with its promise completes as broken", "[future]") {
  Future<int> out;
  {
    Promise<int> first;
    Promise<int> second;
    out = second.get_future();
    first.get_future().then([second = std::move(second)](Result<int>&& r) mutable { second.set_result(std::move(r)); });
  }  // first is broken -> continuation forwards the internal error
  REQUIRE(out.ready());
  CHECK(out.result().status().code() == Errc::internal);
}

TEST_CASE("wait_for: times out within bounds, and succeeds when completed later", "[future]") {
  Promise<int> p;
  auto f = p.get_future();
  auto t0 = steady::now();
  CHECK_FALSE(f.wait_for(50ms));
  auto waited = steady::now() - t0;
  CHECK(waited >= 50ms);
  CHECK(waited < 2s);

  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    p.set_value(9);
  });
  CHECK(f.wait_for(10s));
  t.join();
  CHECK(f.get() == 9);
}

TEST_CASE("wait(): a sleeping waiter is woken by another thread", "[future]") {
  Promise<int> p;
  auto f = p.get_future();
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    p.set_value(1);
  });
  f.wait();
  t.join();
  CHECK(f.get() == 1);
}

TEST_CASE("threaded completion: many futures, several completing threads", "[future]") {
  constexpr int kThreads = 4, kPerThread = 500;
  std::vector<Promise<int>> promises(kThreads * kPerThread);
  std::vector<Future<int>> futures;
  std::vector<std::thread::id> cont_thread(promises.size());
  std::atomic<int> continuations{0};
  for (auto& p : promises) futures.push_back(p.get_future());
  // Half the futures get continuations, the other half are waited on.
  std::vector<Future<int>> waited;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    if (i % 2 == 0) {
      std::move(futures[i]).then([&, i](Result<int>&& r) {
        if (r.is_ok() && r.value() == static_cast<int>(i)) ++continuations;
        cont_thread[i] = std::this_thread::get_id();
      });
    } else {
      waited.push_back(std::move(futures[i]));
    }
  }
  std::vector<std::thread> threads;
  std::vector<std::thread::id> ids(kThreads);
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      ids[t] = std::this_thread::get_id();
      for (int k = 0; k < kPerThread; ++k) {
        std::size_t i = static_cast<std::size_t>(k * kThreads + t);
        promises[i].set_value(static_cast<int>(i));
      }
    });
  int sum_ok = 0;
  for (std::size_t j = 0; j < waited.size(); ++j) {
    REQUIRE(waited[j].wait_for(20s));
    if (waited[j].get() == static_cast<int>(2 * j + 1)) ++sum_ok;
  }
  for (auto& t : threads) t.join();
  CHECK(sum_ok == static_cast<int>(waited.size()));
  CHECK(continuations == static_cast<int>(promises.size() / 2));
  for (std::size_t i = 0; i < promises.size(); i += 2) {
    auto expect = ids[i % kThreads];
    if (cont_thread[i] != expect) FAIL("continuation " << i << " ran on the wrong thread");
  }
}

TEST_CASE("Progressor: a polling waiter drives progress itself", "[future]") {
  auto prog = std::make_shared<CountingProgressor>(true, 50);
  Promise<int> p(prog);
  prog->arm(&p);
  auto f = p.get_future();
  f.wait();
  CHECK(prog->polls() == 50);
  CHECK(prog->poller() == std::this_thread::get_id());
  CHECK(f.get() == 50);
}

TEST_CASE("Progressor: polling wait_for still honours its deadline", "[future]") {
  auto prog = std::make_shared<IdleProgressor>();
  Promise<int> p(prog);
  auto f = p.get_future();
  auto t0 = steady::now();
  CHECK_FALSE(f.wait_for(30ms));
  auto waited = steady::now() - t0;
  CHECK(waited >= 30ms);
  CHECK(waited < 2s);
  CHECK(prog->polls > 0);
}

TEST_CASE("Progressor: a non-polling progressor lets the waiter sleep", "[future]") {
  auto prog = std::make_shared<CountingProgressor>(false, 1);
  Promise<int> p(prog);
  auto f = p.get_future();
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    p.set_value(2);
  });
  CHECK(f.wait_for(10s));
  t.join();
  CHECK(prog->polls() == 0);
  CHECK(f.get() == 2);
}
