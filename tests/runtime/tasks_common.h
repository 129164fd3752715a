// tasks_common.h — remote functions and actors shared by the multi-process
// task tests (ferry_runtime_tasks; every function runs inside forked ranks,
// which all register the same handles because they run the same binary).
//
// Conventions: like objects_common.h (start_runtime per rank, collective
// shutdown at the end of the body, bounded waits); task helpers below record
// on which rank they ran, through the harness's shared slots where a test
// needs the distribution.
// Thread-safety: the remote functions may run on any executor thread.
#pragma once

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "objects_common.h"

namespace tsk {

using namespace objs;

inline int add(int a, int b) { return a + b; }
inline const auto add_fn = ferry::function<&add>("tests::add");

inline std::uint32_t whoami() { return ferry::Runtime::current()->rank(); }
inline const auto whoami_fn = ferry::function<&whoami>("tests::whoami");

inline std::string concat(const std::string& a, std::string b) { return a + "|" + b; }
inline const auto concat_fn = ferry::function<&concat>("tests::concat");

inline int thrower(int code) { throw std::runtime_error("boom " + std::to_string(code)); }
inline const auto thrower_fn = ferry::function<&thrower>("tests::thrower");

// Receives the ref itself (not its value) and reads it inside the task.
inline int deref_plus(ferry::ObjectRef<int> r, int d) { return r.get(std::chrono::seconds(30)) + d; }
inline const auto deref_fn = ferry::function<&deref_plus>("tests::deref_plus");

inline void nothing() {}
inline const auto nothing_fn = ferry::function<&nothing>("tests::nothing");

// Sum of a blob's bytes (large argument) and a generated blob (large result).
inline std::uint64_t blob_sum(const Blob& b) {
  std::uint64_t s = 0;
  for (auto x : b) s += x;
  return s;
}
inline const auto blob_sum_fn = ferry::function<&blob_sum>("tests::blob_sum");

inline Blob make_big(std::uint64_t size, std::uint64_t seed) { return objs::make_blob(size, seed); }
inline const auto make_big_fn = ferry::function<&make_big>("tests::make_big");

// Nested: submits add_fn from inside a task (owned by the executing rank) and waits for it.
inline int nested_add(int a, int b) {
  auto inner = add_fn.remote(a, b);
  return inner.get(std::chrono::seconds(30)) * 10;
}
inline const auto nested_fn = ferry::function<&nested_add>("tests::nested_add");

// Recursion: each level submits the next one and waits (blocked executor
// threads get stand-ins, so this cannot deadlock a small pool).
inline int chain_depth(int n);
inline const auto depth_fn = ferry::function<&chain_depth>("tests::chain_depth");
inline int chain_depth(int n) { return n == 0 ? 0 : 1 + depth_fn.remote(n - 1).get(std::chrono::seconds(30)); }

// Sleeps `ms` (scaled per rank by the caller) and reports where it ran.
inline std::uint32_t sleeper(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ferry::Runtime::current()->rank();
}
inline const auto sleeper_fn = ferry::function<&sleeper>("tests::sleeper");

// Returns v after `ms` (a slow dependency).
inline int slow_identity(int ms, int v) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return v;
}
inline const auto slow_identity_fn = ferry::function<&slow_identity>("tests::slow_identity");

// Slow on rank 1 (40 ms), fast elsewhere (4 ms): a slow node for the balance test.
inline std::uint32_t skewed() {
  const std::uint32_t r = ferry::Runtime::current()->rank();
  std::this_thread::sleep_for(std::chrono::milliseconds(r == 1 ? 40 : 4));
  return r;
}
inline const auto skewed_fn = ferry::function<&skewed>("tests::skewed");

// A task that is unregistered on one rank by the tests (testing::unregister).
inline int lonely(int x) { return x; }
inline const auto lonely_fn = ferry::function<&lonely>("tests::lonely");

// ---- actors
struct Counter {
  explicit Counter(int start) : value(start) {
    if (start < 0) throw std::invalid_argument("negative start " + std::to_string(start));
  }
  int add(int d) {
    value += d;
    return value;
  }
  // Appends (caller, i) and returns the log length: order checks.
  std::size_t log(std::uint32_t caller, int i) {
    log_.push_back(std::to_string(caller) + ":" + std::to_string(i));
    return log_.size();
  }
  std::vector<std::string> history() const { return log_; }
  int get() const { return value; }
  int fail(int x) { throw std::runtime_error("method failed with " + std::to_string(x)); }
  int value;
  std::vector<std::string> log_;
};
inline const auto counter_class = ferry::actor_class<Counter, int>("tests::Counter");
inline const auto counter_add = ferry::method<&Counter::add>("tests::Counter::add");
inline const auto counter_log = ferry::method<&Counter::log>("tests::Counter::log");
inline const auto counter_history = ferry::method<&Counter::history>("tests::Counter::history");
inline const auto counter_get = ferry::method<&Counter::get>("tests::Counter::get");
inline const auto counter_fail = ferry::method<&Counter::fail>("tests::Counter::fail");

// A task that receives an actor handle and calls it.
inline int bump_actor(ferry::actor<Counter> c, int d) { return c.call(counter_add, d).get(std::chrono::seconds(30)); }
inline const auto bump_actor_fn = ferry::function<&bump_actor>("tests::bump_actor");

inline RunOptions task_group(int n, int timeout_s) { return objs::group(n, timeout_s); }

inline ferry::RuntimeOptions task_options(unsigned threads = 2, std::size_t store = 256 * MiB) {
  auto o = objs::runtime_options(store);
  o.executor_threads = threads;
  return o;
}

// Every rank: all refs dropped everywhere -> nothing owned/borrowed/stored, no task pending.
inline void wait_tasks_clean(ferry::Runtime& rt) {
  wait_stats(
      rt,
      [](const ferry::RuntimeStats& s) {
        return s.owned == 0 && s.leases == 0 && s.borrowed == 0 && s.copies == 0 && s.fetches == 0 &&
               s.store_objects == 0 && s.store_used == 0 && s.tasks_pending == 0 && s.executor_load == 0;
      },
      "runtime not clean after every ref was dropped (leak?)");
}

}  // namespace tsk
