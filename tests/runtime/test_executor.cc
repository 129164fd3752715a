// test_executor.cc — the executor's queue order: FIFO, post_urgent ahead of queued work.
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

TEST_CASE("executor: post_urgent runs before queued work, post keeps FIFO order", "[executor]") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> order;
  bool release = false, holding = false;
  auto log = [&](const std::string& n) {
    std::lock_guard<std::mutex> lock(mu);
    order.push_back(n);
    cv.notify_all();
  };
  auto hold = [&](const std::string& n) {  // keeps the only thread busy until released
    std::unique_lock<std::mutex> lock(mu);
    order.push_back(n);
    holding = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
  };
  ferry::rt::Executor ex(1, 0, [] {}, [] {});
  ex.resume();
  ex.post(new Step("hold", hold));
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return holding; }));
  }
  ex.post(new Step("b", log));
  ex.post(new Step("c", log));
  ex.post_urgent(new Step("urgent1", log));
  ex.post_urgent(new Step("urgent2", log));
  {
    std::unique_lock<std::mutex> lock(mu);
    release = true;
    cv.notify_all();
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return order.size() == 5; }));
  }
  CHECK(order == std::vector<std::string>{"hold", "urgent2", "urgent1", "b", "c"});
}
