// async.cc — runtime support of ferry/async.h and ferry/task.h: running future
// continuations and resuming coroutine tasks on executor threads, and waiting
// for a future (helping, on an executor thread).
//
// Thread-safety: any thread. A Runnable posted here holds the core's gate
// while it runs; one discarded at shutdown is dropped (its coroutine frame is
// leaked rather than resumed into a stopped runtime).
#include <condition_variable>
#include <mutex>

#include "core.h"
#include "current.h"
#include "executor.h"
#include "ferry/async.h"
#include "tasks.h"

namespace ferry::detail {

namespace {

struct Call final : rt::Runnable {
  explicit Call(std::function<void()> f) : fn(std::move(f)) {}
  void run() override {
    fn();
    delete this;
  }
  std::function<void()> fn;
};

// Posts `fn` to the running core's executors; false when none accepts it.
bool post(std::function<void()>& fn) {
  rt::Core* c = rt::current_core();
  if (!c) return false;
  rt::GateGuard g(c->gate());
  if (!g) return false;
  c->tasks().post(new Call(std::move(fn)));
  return true;
}

}  // namespace

void run_on_executor(std::function<void()> fn) {
  if (!post(fn)) fn();
}

void resume_on_executor(std::coroutine_handle<> h) {
  std::function<void()> fn = [h] { h.resume(); };
  if (!post(fn)) h.resume();
}

bool wait_until_ready(const std::function<bool()>& ready,
                      const std::function<void(std::function<void()>)>& subscribe,
                      std::optional<std::chrono::milliseconds> timeout) {
  if (ready()) return true;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  if (rt::Executor* ex = rt::Executor::current(); ex && ex->can_help()) {
    subscribe([ex] { ex->wake(); });
    return ex->help_until(ready, deadline);
  }
  struct Waiter {
    std::mutex mu;
    std::condition_variable cv;
  };
  auto w = std::make_shared<Waiter>();
  subscribe([w] {
    { std::lock_guard<std::mutex> lock(w->mu); }
    w->cv.notify_all();
  });
  rt::Executor* ex = rt::Executor::current();
  if (ex) ex->block_begin();
  std::unique_lock<std::mutex> lock(w->mu);
  bool ok = true;
  while (!ready()) {
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      ok = false;
      break;
    }
    w->cv.wait_for(lock, std::chrono::milliseconds(100));
  }
  lock.unlock();
  if (ex) ex->block_end();
  return ok;
}

}  // namespace ferry::detail
