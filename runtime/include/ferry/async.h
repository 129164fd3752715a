// ferry/async.h — typed futures: ref.get_async(), then(), when_all(), when_any().
//
//   ferry::future<int> f = ref.get_async();                       // starts fetching, returns at once
//   ferry::future<std::string> g = f.then([](int v) { return std::to_string(v); });
//   auto all = ferry::when_all(std::vector{ref_a.get_async(), ref_b.get_async()});  // future<vector<int>>
//   auto one = ferry::when_any(std::vector{...});                  // future<pair<index, value>>
//   std::string s = g.get();                                      // blocks (a task helps meanwhile)
//
// A future<T> completes once with a value or an error (the same errors as
// ObjectRef::get: task_error, owner_died, ...). then(f) returns a future of
// f's result (f returning future<U> gives future<U>, void gives future<none>);
// f runs on an executor thread of this rank once the value is here (so it may
// block, submit tasks or get other refs) and is skipped when the future
// failed: its error passes on. An exception thrown by f fails the returned
// future (task_failed). when_all completes when every input did, with their
// values in order, or with the first error; when_any with the index and value
// of the first input to complete (or its error). Inside a coroutine task,
// `co_await fut` waits without holding a thread (ferry/task.h).
//
// Thread-safety: a future is a shared handle (copies see the same result);
// get()/then() from any thread. Continuations never run under a lock.
#pragma once

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "ferry/object_ref.h"
#include "ferry/status.h"
#include "ferry/task_error.h"

namespace ferry {

template <class T>
class future;

namespace detail {

// Runs `fn` on an executor thread of the running runtime (inline when none
// runs or it is shutting down). Implemented in runtime/src/async.cc.
void run_on_executor(std::function<void()> fn);
// Resumes `h` on an executor thread (as run_on_executor).
void resume_on_executor(std::coroutine_handle<> h);
// Blocks until ready() is true (true) or the timeout passes (false). subscribe(wake)
// must make wake() be called whenever ready() may have become true. An
// executor thread runs queued tasks meanwhile.
bool wait_until_ready(const std::function<bool()>& ready,
                      const std::function<void(std::function<void()>)>& subscribe,
                      std::optional<std::chrono::milliseconds> timeout);

template <class T>
struct async_state {
  std::mutex mu;
  std::optional<Result<T>> result;               // guarded by mu; set once
  std::vector<std::function<void()>> callbacks;  // guarded by mu; run once when result is set

  void complete(Result<T> r) {
    std::vector<std::function<void()>> run;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (result) return;
      result.emplace(std::move(r));
      run.swap(callbacks);
    }
    for (auto& cb : run) cb();
  }
  // cb runs once the result is set (now, on this thread, if it is).
  void on_ready(std::function<void()> cb) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!result) {
        callbacks.push_back(std::move(cb));
        return;
      }
    }
    cb();
  }
  bool ready() {
    std::lock_guard<std::mutex> lock(mu);
    return result.has_value();
  }
  Result<T> copy_result() {
    std::lock_guard<std::mutex> lock(mu);
    return *result;
  }
};

template <class T>
struct is_future : std::false_type {};
template <class T>
struct is_future<future<T>> : std::true_type {};

// Calls f(value) (or f() for none) and returns its result as a Result; exceptions -> task_failed.
template <class F, class T>
auto call_catching(F& f, T&& v) {
  using R = std::invoke_result_t<F&, T>;
  using S = std::conditional_t<std::is_void_v<R>, none, R>;
  try {
    if constexpr (std::is_void_v<R>) {
      f(std::forward<T>(v));
      return Result<S>(none{});
    } else {
      return Result<S>(f(std::forward<T>(v)));
    }
  } catch (const task_error& e) {
    return Result<S>(e.status());
  } catch (const Error& e) {
    return Result<S>(e.status());
  } catch (const std::exception& e) {
    return Result<S>(Status(Errc::task_failed, std::string("a future's continuation threw: ") + e.what()));
  } catch (...) {
    return Result<S>(Status(Errc::task_failed, "a future's continuation threw a non-std::exception"));
  }
}

}  // namespace detail

template <class T>
class future {
 public:
  using value_type = T;
  future() = default;
  explicit future(std::shared_ptr<detail::async_state<T>> s) : state_(std::move(s)) {}

  // A completed future.
  static future ready_value(T v) {
    auto s = std::make_shared<detail::async_state<T>>();
    s->complete(Result<T>(std::move(v)));
    return future(std::move(s));
  }

  bool valid() const noexcept { return state_ != nullptr; }
  bool ready() const { return state_ && state_->ready(); }

  // Waits (FERRY_GET_TIMEOUT_MS unless `timeout`; 0 = forever) and returns the result.
  Result<T> try_get(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    if (!state_) return Status(Errc::invalid_argument, "get of an empty ferry::future");
    auto st = state_;
    const auto t = timeout ? timeout : std::optional(detail::default_get_timeout());
    const bool done = detail::wait_until_ready([st] { return st->ready(); },
                                               [st](std::function<void()> wake) { st->on_ready(std::move(wake)); },
                                               t && t->count() == 0 ? std::nullopt : t);
    if (!done)
      return Status(Errc::timeout, "ferry::future::get did not complete within " + std::to_string(t->count()) +
                                       " ms (pass a longer timeout or raise FERRY_GET_TIMEOUT_MS)");
    return st->copy_result();
  }
  // Same, throwing like ObjectRef::get (ferry::task_error for a failed task).
  T get(std::optional<std::chrono::milliseconds> timeout = std::nullopt) const {
    Result<T> r = try_get(timeout);
    if (!r) detail::throw_status(r.status());
    return std::move(r).value();
  }

  // See the file comment.
  template <class F>
  auto then(F f) const {
    using R = std::invoke_result_t<F&, const T&>;
    if constexpr (detail::is_future<R>::value) {
      using U = typename R::value_type;
      auto out = std::make_shared<detail::async_state<U>>();
      auto st = state_;
      st->on_ready([st, out, f = std::move(f)]() mutable {
        Result<T> r = st->copy_result();
        if (!r) return out->complete(r.status());
        detail::run_on_executor([out, f = std::move(f), v = std::move(r).value()]() mutable {
          auto inner = detail::call_catching(f, v);
          if (!inner) return out->complete(inner.status());
          auto fut = std::move(inner).value();
          auto ist = fut.state_;
          ist->on_ready([ist, out] { out->complete(ist->copy_result()); });
        });
      });
      return future<U>(out);
    } else {
      using S = std::conditional_t<std::is_void_v<R>, none, R>;
      auto out = std::make_shared<detail::async_state<S>>();
      auto st = state_;
      st->on_ready([st, out, f = std::move(f)]() mutable {
        Result<T> r = st->copy_result();
        if (!r) return out->complete(r.status());
        detail::run_on_executor([out, f = std::move(f), v = std::move(r).value()]() mutable {
          out->complete(detail::call_catching(f, v));
        });
      });
      return future<S>(out);
    }
  }

  // Internal (awaiters, when_all/when_any).
  const std::shared_ptr<detail::async_state<T>>& state() const noexcept { return state_; }

 private:
  template <class U>
  friend class future;
  std::shared_ptr<detail::async_state<T>> state_;
};

// The object's value as a future (ObjectRef::get_async()).
template <class T>
future<T> get_async(const ObjectRef<T>& ref) {
  auto st = std::make_shared<detail::async_state<T>>();
  ref.fetch_async().then([st, ref](Result<detail::ObjectData>&& d) mutable {
    if (!d) return st->complete(d.status());
    // Decoding may copy a large object: on an executor, not the progress thread.
    detail::run_on_executor([st, ref, data = std::move(d).value()]() { st->complete(detail::decode<T>(data, ref.id())); });
  });
  return future<T>(std::move(st));
}

template <class T>
future<T> ObjectRef<T>::get_async() const {
  return ferry::get_async(*this);
}

template <class T>
future<std::vector<T>> when_all(std::vector<future<T>> fs) {
  auto out = std::make_shared<detail::async_state<std::vector<T>>>();
  if (fs.empty()) {
    out->complete(std::vector<T>{});
    return future<std::vector<T>>(out);
  }
  struct Gather {
    std::mutex mu;
    std::vector<std::optional<T>> values;  // guarded by mu
    std::size_t left = 0;                   // guarded by mu
  };
  auto g = std::make_shared<Gather>();
  g->values.resize(fs.size());
  g->left = fs.size();
  for (std::size_t i = 0; i < fs.size(); ++i) {
    auto st = fs[i].state();
    st->on_ready([st, g, out, i] {
      Result<T> r = st->copy_result();
      if (!r) return out->complete(r.status());  // the first error wins; later completions are ignored
      std::vector<T> all;
      {
        std::lock_guard<std::mutex> lock(g->mu);
        g->values[i].emplace(std::move(r).value());
        if (--g->left != 0) return;
        all.reserve(g->values.size());
        for (auto& v : g->values) all.push_back(std::move(*v));
      }
      out->complete(std::move(all));
    });
  }
  return future<std::vector<T>>(out);
}

template <class T>
future<std::vector<T>> when_all(const std::vector<ObjectRef<T>>& refs) {
  std::vector<future<T>> fs;
  fs.reserve(refs.size());
  for (const auto& r : refs) fs.push_back(get_async(r));
  return when_all(std::move(fs));
}

template <class T>
future<std::pair<std::size_t, T>> when_any(std::vector<future<T>> fs) {
  auto out = std::make_shared<detail::async_state<std::pair<std::size_t, T>>>();
  if (fs.empty()) {
    out->complete(Status(Errc::invalid_argument, "ferry::when_any of no futures"));
    return future<std::pair<std::size_t, T>>(out);
  }
  for (std::size_t i = 0; i < fs.size(); ++i) {
    auto st = fs[i].state();
    st->on_ready([st, out, i] {
      Result<T> r = st->copy_result();
      if (!r) return out->complete(r.status());
      out->complete(std::pair<std::size_t, T>(i, std::move(r).value()));
    });
  }
  return future<std::pair<std::size_t, T>>(out);
}

template <class T>
future<std::pair<std::size_t, T>> when_any(const std::vector<ObjectRef<T>>& refs) {
  std::vector<future<T>> fs;
  fs.reserve(refs.size());
  for (const auto& r : refs) fs.push_back(get_async(r));
  return when_any(std::move(fs));
}

}  // namespace ferry
