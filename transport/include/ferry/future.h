// ferry/future.h — the one [[nodiscard]] future type used across ferry.
//
// A Future<T> completes exactly once with a Result<T> (a value or a Status).
// Failures travel inside it; get() is the only place that throws (ferry::Error).
//
// Waiting: if the state carries a Progressor whose waiters_poll() is true
// (busy or adaptive progress mode), a waiting thread drives progress itself by
// calling poll_once() — no thread hand-off, lowest latency — for at most
// spin_limit() without anything happening (unbounded in busy mode). Otherwise,
// or once that limit passed, the waiter sleeps on a condition variable and the
// progress thread completes the future.
//
// Thread-safety: Promise::set_* may be called from any thread, once. A Future
// is used by one thread at a time (like std::future). then() runs the
// continuation on the completing thread (or at once if already complete); it
// must not block.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "ferry/status.h"

namespace ferry {

// Something that can make progress on behalf of a waiting thread (a transport).
class Progressor {
 public:
  virtual ~Progressor() = default;
  // True when waiting threads should poll (busy mode), false when they should sleep.
  virtual bool waiters_poll() const noexcept = 0;
  // One non-blocking progress step; returns true if anything happened.
  virtual bool poll_once() = 0;
  // Busy mode: an idle thread (an executor with nothing to run) offers to
  // drive progress, so that work arriving for it is received on the thread
  // that will run it (no wake-up hand-off). Returns 1 if something happened,
  // 0 if nothing, -1 if it should stop and sleep instead: not busy mode, a
  // waiter (a thread blocked on a future) is polling — on few cores two
  // pollers only share them — or (UCX) another thread has held the engine for
  // a while, e.g. copying a large same-node get.
  virtual int poll_idle() { return -1; }
  // How long a polling thread may go on finding nothing before it sleeps
  // instead (adaptive mode; max() in busy mode). Read at the start of a wait.
  virtual std::chrono::nanoseconds spin_limit() const noexcept { return std::chrono::nanoseconds::max(); }
  // Adaptive mode: how a wait that polled ended, to tune spin_limit():
  // `caught` = what it waited for came while it polled; `waited` = from the
  // start of the wait until it was satisfied (or until it stopped polling).
  virtual void spin_outcome(bool /*caught*/, std::chrono::nanoseconds /*waited*/) noexcept {}
  // A thread that polled is about to sleep: progress must go on without it
  // (wakes the progress thread if that one sleeps).
  virtual void before_sleep() noexcept {}
};

namespace detail {

// A move-only, type-erased callable (continuations may own promises/buffers).
template <class Sig>
class UniqueFunction;

template <class R, class... Args>
class UniqueFunction<R(Args...)> {
 public:
  UniqueFunction() = default;
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, UniqueFunction>>>
  UniqueFunction(F&& f) : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}  // NOLINT
  explicit operator bool() const noexcept { return impl_ != nullptr; }
  R operator()(Args... args) { return impl_->call(std::forward<Args>(args)...); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual R call(Args... args) = 0;
  };
  template <class F>
  struct Impl final : Base {
    explicit Impl(F&& f) : fn(std::move(f)) {}
    explicit Impl(const F& f) : fn(f) {}
    R call(Args... args) override { return fn(std::forward<Args>(args)...); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

template <class T>
struct FutureState {
  explicit FutureState(std::shared_ptr<Progressor> p) : progressor(std::move(p)) {}

  // Returns false if the state was already complete (the second result is dropped).
  bool complete(Result<T>&& r) {
    UniqueFunction<void(Result<T>&&)> cont;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (result) return false;
      result.emplace(std::move(r));
      cont = std::move(continuation);
      ready.store(true, std::memory_order_release);
      if (sleepers > 0) cv.notify_all();
    }
    if (cont) cont(std::move(*result));
    return true;
  }

  bool is_ready() const noexcept { return ready.load(std::memory_order_acquire); }

  // Waits until ready or deadline; returns readiness.
  template <class Clock, class Duration>
  bool wait_until(const std::chrono::time_point<Clock, Duration>* deadline) {
    if (is_ready()) return true;
    using steady = std::chrono::steady_clock;
    steady::time_point spun{};  // set when this wait polled within a bound first
    if (progressor && progressor->waiters_poll()) {
      const std::chrono::nanoseconds limit = progressor->spin_limit();
      if (limit == std::chrono::nanoseconds::max()) {
        if (poll_until(deadline, limit, steady::time_point{})) return true;
      } else {
        spun = steady::now();
        if (poll_until(deadline, limit, spun)) return true;
      }
    }
    std::unique_lock<std::mutex> lock(mu);
    ++sleepers;
    bool ok = true;
    if (deadline) {
      ok = cv.wait_until(lock, *deadline, [&] { return result.has_value(); });
    } else {
      cv.wait(lock, [&] { return result.has_value(); });
    }
    --sleepers;
    lock.unlock();
    if (ok && spun != steady::time_point{}) progressor->spin_outcome(false, steady::now() - spun);
    return ok;
  }

  // Polls until ready (true), the deadline passed (false, ready or not) or,
  // when `limit` is not max(), `limit` passed without a poll doing anything
  // (false; the progress thread is told that this thread stops polling).
  template <class Clock, class Duration>
  bool poll_until(const std::chrono::time_point<Clock, Duration>* deadline, std::chrono::nanoseconds limit,
                  std::chrono::steady_clock::time_point start) {
    using steady = std::chrono::steady_clock;
    const bool bounded = limit != std::chrono::nanoseconds::max();
    steady::time_point last = start;  // the last poll that did something
    unsigned idle = 0;
    while (!is_ready()) {
      if (progressor->poll_once()) {
        idle = 0;
        if (bounded) last = steady::now();
        continue;
      }
      if (bounded && idle >= 256) std::this_thread::yield();  // quiet: runnable threads go first
      if (++idle % 64 != 0) continue;
      if (deadline && Clock::now() >= *deadline) return is_ready();
      if (bounded && steady::now() - last >= limit) {
        progressor->before_sleep();
        return is_ready();
      }
    }
    if (bounded) progressor->spin_outcome(true, steady::now() - start);
    return true;
  }

  std::atomic<bool> ready{false};
  std::mutex mu;
  std::condition_variable cv;
  int sleepers = 0;                                      // guarded by mu
  std::optional<Result<T>> result;                       // set once, under mu
  UniqueFunction<void(Result<T>&&)> continuation;        // guarded by mu
  std::shared_ptr<Progressor> progressor;                // may be null
};

}  // namespace detail

template <class T>
class Promise;

template <class T>
class [[nodiscard]] Future {
 public:
  Future() = default;

  bool valid() const noexcept { return state_ != nullptr; }
  bool ready() const noexcept { return state_ && state_->is_ready(); }

  void wait() const {
    using clock = std::chrono::steady_clock;
    state_->template wait_until<clock, clock::duration>(nullptr);
  }
  // True if the future became ready within the timeout.
  template <class Rep, class Period>
  bool wait_for(std::chrono::duration<Rep, Period> timeout) const {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    return state_->wait_until(&deadline);
  }

  // Waits, then moves the Result out (no throw). The future becomes invalid.
  Result<T> result() {
    wait();
    auto s = std::move(state_);
    if constexpr (std::is_void_v<T>) {
      return *s->result;  // copied: a void state may be shared (make_ready_future())
    } else {
      return std::move(*s->result);
    }
  }

  // Waits, then returns the value or throws ferry::Error. The future becomes invalid.
  T get() {
    if constexpr (std::is_void_v<T>) {
      result().value();
    } else {
      return result().value();
    }
  }

  // Runs f(Result<T>&&) once the future completes, on the completing thread
  // (or now, on this thread, if already complete). Consumes the future.
  template <class F>
  void then(F&& f) && {
    auto s = std::move(state_);
    {
      std::lock_guard<std::mutex> lock(s->mu);
      if (!s->result) {
        s->continuation = std::forward<F>(f);
        return;
      }
    }
    if constexpr (std::is_void_v<T>) {
      Result<T> r = *s->result;  // a void state may be shared (make_ready_future())
      f(std::move(r));
    } else {
      f(std::move(*s->result));
    }
  }

 private:
  friend class Promise<T>;
  explicit Future(std::shared_ptr<detail::FutureState<T>> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::FutureState<T>> state_;
};

template <class T>
class Promise {
 public:
  explicit Promise(std::shared_ptr<Progressor> progressor = nullptr)
      : state_(std::make_shared<detail::FutureState<T>>(std::move(progressor))) {}
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&& other) noexcept {
    if (this != &other) {
      abandon();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  Promise(const Promise&) = delete;
  Promise& operator=(const Promise&) = delete;
  ~Promise() { abandon(); }

  Future<T> get_future() const { return Future<T>(state_); }

  void set_result(Result<T> r) {
    if (state_) state_->complete(std::move(r));
  }
  template <class U = T, class = std::enable_if_t<!std::is_void_v<U>>>
  void set_value(U value) {
    set_result(Result<T>(std::move(value)));
  }
  template <class U = T, class = std::enable_if_t<std::is_void_v<U>>>
  void set_value() {
    set_result(Result<void>());
  }
  void set_error(Status status) { set_result(Result<T>(std::move(status))); }

 private:
  void abandon() {
    if (state_ && !state_->is_ready())
      state_->complete(Result<T>(Status(Errc::internal, "promise destroyed without a result (broken promise)")));
  }
  std::shared_ptr<detail::FutureState<T>> state_;
};

template <class T>
Future<T> make_ready_future(Result<T> r) {
  Promise<T> p;
  auto f = p.get_future();
  p.set_result(std::move(r));
  return f;
}

// A ready success: every call shares one completed state (no allocation), so
// completing a void operation inline costs a reference-count increment.
inline Future<void> make_ready_future() {
  static const Future<void> done = make_ready_future<void>(Result<void>());
  return done;
}

}  // namespace ferry
