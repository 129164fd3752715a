// ferry/task.h — coroutine tasks: remote functions that wait without holding a thread.
//
//   ferry::task<long> fib(int n) {
//     if (n < 2) co_return n;
//     auto a = fib_fn.remote(n - 1), b = fib_fn.remote(n - 2);
//     co_return (co_await a) + (co_await b);          // suspends; the executor thread runs other work
//   }
//   FERRY_REMOTE(fib);                                 // fib_fn.remote(25) -> ObjectRef<long>
//
// A remote function returning ferry::task<T> is a coroutine task: its output is
// an ObjectRef<T> like any task's. It starts on an executor thread; `co_await
// ref` (ObjectRef<U>) and `co_await fut` (ferry::future<U>, e.g. when_all) give
// the value, or throw what get() would throw; while the awaited object is not
// here the coroutine is suspended and its thread is free. It resumes on an
// executor thread of the same rank. `co_await other_task(...)` runs a local
// sub-coroutine. An exception leaving the coroutine fails the task (task_error
// at the caller's get, as for plain functions). Parameters are kept alive for
// the coroutine's whole life (const& parameters included).
// Actor methods cannot be coroutines (compile-time error).
//
// Thread-safety: a task is resumed by one thread at a time.
#pragma once

#include <coroutine>
#include <exception>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

#include "ferry/async.h"
#include "ferry/object_ref.h"
#include "ferry/task_error.h"

namespace ferry {

template <class T>
class task;

namespace detail {

// The status a task fails with for the exception in flight (as for plain remote functions).
inline Status status_of_current_exception() {
  try {
    throw;
  } catch (const std::exception& e) {
    return Status(Errc::task_failed, e.what());
  } catch (...) {
    return Status(Errc::task_failed, "an exception that is not a std::exception");
  }
}

template <class T>
struct task_promise_base {
  std::exception_ptr error;
  std::coroutine_handle<> continuation;                // an awaiting coroutine, or
  std::function<void(std::coroutine_handle<>)> on_done;  // the invoker's completion (top level)

  std::suspend_always initial_suspend() noexcept { return {}; }
  struct final_awaiter {
    bool await_ready() noexcept { return false; }
    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      auto& p = h.promise();
      if (p.continuation) return p.continuation;
      if (p.on_done) {
        auto done = std::move(p.on_done);
        done(h);  // reads the result and destroys the frame
      }
      return std::noop_coroutine();
    }
    void await_resume() noexcept {}
  };
  final_awaiter final_suspend() noexcept { return {}; }
  void unhandled_exception() noexcept { error = std::current_exception(); }
};

template <class T>
struct task_promise : task_promise_base<T> {
  std::optional<T> value;
  task<T> get_return_object() noexcept;
  template <class U>
  void return_value(U&& v) {
    value.emplace(std::forward<U>(v));
  }
  T take() {
    if (this->error) std::rethrow_exception(this->error);
    return std::move(*value);
  }
};

template <>
struct task_promise<void> : task_promise_base<void> {
  task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void take() {
    if (error) std::rethrow_exception(error);
  }
};

// Suspends until `st` completes, resuming on an executor thread.
template <class T>
struct state_awaiter {
  std::shared_ptr<async_state<T>> st;
  bool await_ready() { return st->ready(); }
  void await_suspend(std::coroutine_handle<> h) {
    st->on_ready([h] { resume_on_executor(h); });
  }
  T await_resume() {
    Result<T> r = st->copy_result();
    if (!r) throw_status(r.status());
    return std::move(r).value();
  }
};

}  // namespace detail

template <class T = void>
class [[nodiscard]] task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  task() = default;
  explicit task(std::coroutine_handle<promise_type> h) noexcept : h_(h) {}
  task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
  task& operator=(task&& o) noexcept {
    if (this != &o) {
      if (h_) h_.destroy();
      h_ = std::exchange(o.h_, {});
    }
    return *this;
  }
  task(const task&) = delete;
  task& operator=(const task&) = delete;
  ~task() {
    if (h_) h_.destroy();
  }

  // co_await of a local sub-coroutine: runs it, resumes the awaiter when it finishes.
  auto operator co_await() && noexcept {
    struct awaiter {
      std::coroutine_handle<promise_type> h;
      bool await_ready() noexcept { return !h || h.done(); }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        h.promise().continuation = awaiting;
        return h;
      }
      T await_resume() { return h.promise().take(); }
    };
    return awaiter{h_};
  }

  // Top level (the invoker): starts the coroutine; `done(result)` runs once
  // when it finishes (on the thread that finished it), after which the frame is gone.
  template <class F>
  void start(F done) && {
    auto h = std::exchange(h_, {});
    h.promise().on_done = [done = std::move(done)](std::coroutine_handle<> any) mutable {
      auto h2 = std::coroutine_handle<promise_type>::from_address(any.address());
      if constexpr (std::is_void_v<T>) {
        Result<none> r = none{};
        try {
          h2.promise().take();
        } catch (...) {
          r = Result<none>(detail::status_of_current_exception());
        }
        h2.destroy();
        done(std::move(r));
      } else {
        std::optional<Result<T>> r;
        try {
          r.emplace(h2.promise().take());
        } catch (...) {
          r.emplace(detail::status_of_current_exception());
        }
        h2.destroy();
        done(std::move(*r));
      }
    };
    h.resume();
  }

 private:
  std::coroutine_handle<promise_type> h_;
};

namespace detail {

template <class T>
task<T> task_promise<T>::get_return_object() noexcept {
  return task<T>(std::coroutine_handle<task_promise<T>>::from_promise(*this));
}
inline task<void> task_promise<void>::get_return_object() noexcept {
  return task<void>(std::coroutine_handle<task_promise<void>>::from_promise(*this));
}

}  // namespace detail

// co_await ref / co_await future (see the file comment).
template <class T>
detail::state_awaiter<T> operator co_await(const ObjectRef<T>& ref) {
  return {ref.get_async().state()};
}
template <class T>
detail::state_awaiter<T> operator co_await(const future<T>& f) {
  return {f.state()};
}

}  // namespace ferry
