// test_executor.cc — the executor's queue order (FIFO, post_urgent ahead of queued work) and its
// extra thread for urgent work when the pool is busy.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "executor.h"

namespace {

// Calls fn(name) when run.
struct Step final : ferry::rt::Runnable {
  Step(std::string n, std::function<void(const std::string&)> f) : name(std::move(n)), fn(std::move(f)) {}
  void run() override {
    fn(name);
    delete this;
  }
  std::string name;
  std::function<void(const std::string&)> fn;
};

}  // namespace

TEST_CASE("executor: post keeps FIFO order, post_urgent goes ahead of queued work (LIFO among urgent)",
          "[executor]") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;
  auto log = [&](const std::string& n) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(n);
    cv.notify_all();
  };
  ferry::rt::Executor ex(1, 0, [] {}, [] {});  // starts paused: everything below is queued first
  ex.post(new Step("a", log));
  ex.post(new Step("b", log));
  ex.post_urgent(new Step("urgent1", log));
  ex.post_urgent(new Step("urgent2", log));
  ex.resume();
  std::unique_lock<std::mutex> lock(mu);
  REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() == 4; }));
  CHECK(order == std::vector<std::string>{"urgent2", "urgent1", "a", "b"});
}

TEST_CASE("executor: urgent work does not wait for a busy pool: one extra thread runs it, plain work waits",
          "[executor]") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;
  bool release = false;
  int holding = 0;
  auto log = [&](const std::string& n) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(n);
    cv.notify_all();
  };
  auto hold = [&](const std::string& n) {  // keeps its thread busy until released
    std::unique_lock<std::mutex> lock(mu);
    order.push_back(n);
    ++holding;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  ferry::rt::Executor ex(1, 0, [] {}, [] {});
  ex.resume();
  ex.post(new Step("hold", hold));
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return holding == 1; }));
  }
  ex.post(new Step("b", log));
  ex.post(new Step("urgent", log));  // plain: waits behind "hold" like "b"
  ex.post_urgent(new Step("urgent-hold", hold));
  ex.post_urgent(new Step("urgent-hold2", hold));
  {
    std::unique_lock<std::mutex> lock(mu);
    // One extra thread starts for the urgent work while the only thread is held...
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return holding == 2; }));
    // ...and only one: the second urgent job and the plain ones wait.
    CHECK_FALSE(cv.wait_for(lock, std::chrono::milliseconds(200), [&] { return holding > 2 || order.size() > 2; }));
    REQUIRE(order.size() == 2u);
    CHECK(order[1].rfind("urgent-hold", 0) == 0);
    release = true;
    cv.notify_all();
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() == 5; }));
  }
  // The other urgent job ran before the plain ones, which kept their FIFO order.
  CHECK(order[2].rfind("urgent-hold", 0) == 0);
  CHECK(order[2] != order[1]);
  const std::vector<std::string> plain(order.begin() + 3, order.end());
  CHECK(plain == std::vector<std::string>{"b", "urgent"});
}
