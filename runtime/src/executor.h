// executor.h — one rank's pool of executor threads (internal).
//
// Runs Runnables (tasks whose dependencies are here, actor drains) FIFO (post_urgent: first) on
// `target` threads (FERRY_EXECUTOR_THREADS; default: the CPUs of this
// process's affinity mask, >= 1). A task that blocks (get/wait inside a task)
// waits by helping: help_until() runs queued work (newest first) on the waiting thread until
// what it waits for is ready (api.cc does it for get/wait inside a task), so
// a wait never takes a thread away from the pool, at any nesting depth. Helping
// nests up to kMaxHelpDepth frames per thread; a wait deeper than that blocks
// with block_begin()/block_end(): while fewer than `target` threads are
// unblocked, an extra thread is started (up to kMaxThreads; reaching that
// bound is logged once per executor), and extra threads exit when they find
// themselves idle above the target again.
// Urgent work (post_urgent) does not wait for a busy pool: when no unblocked thread is free and
// none is already extra, one extra thread is started for it (so a re-run that others wait for
// starts at once, not after the running jobs). A thread above the target takes only urgent work:
// it exits instead of starting a plain job, so the pool is back at its target when the urgent
// work is done.
// When a thread runs out of work it calls the idle hook once (the task layer
// flushes its batched messages there). A job that left records unflushed
// calls want_flush(): after it, the thread flushes itself when idle, or calls
// the busy hook (wakes the flusher) when more work is queued.
//
// Idle polling (busy progress mode, a Progressor given): one idle thread at a
// time drives the transport itself (Progressor::poll_idle) instead of
// sleeping, so a task that arrives is received on the thread that runs it —
// no condition-variable wake-up per task. AM handlers run on it outside the
// executor's identity (current() is null there, as on the progress thread). When poll_idle says a waiter is polling, the thread
// sleeps (20 us doubling to 1 ms, or until work is posted) and tries again.
// Adaptive progress mode: the same, but a thread that polled for the
// Progressor's spin_limit() without anything arriving stops (telling the
// Progressor, which tunes the limit and makes sure its progress thread runs)
// and sleeps until work is posted; it polls again only after running work.
//
// Invariants (under mu_): live_ >= blocked_; urgent_ <= queue_.size(); queue entries are owned by
//   the queue until popped (run() or discard() consumes them).
// Thread-safety: everything is thread-safe; stop() from one thread, once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "ferry/future.h"

namespace ferry::rt {

// A unit of work. run() consumes it (deletes or re-posts itself); discard()
// consumes it without running (shutdown).
class Runnable {
 public:
  virtual ~Runnable() = default;
  virtual void run() = 0;
  virtual void discard() { delete this; }
};

// Threads the executor starts by default: sched_getaffinity's CPU count, or
// hardware_concurrency, at least 1; FERRY_EXECUTOR_THREADS overrides (0 = default).
unsigned default_executor_threads();

class Executor {
 public:
  static constexpr unsigned kMaxThreads = 256;
  static constexpr unsigned kMaxHelpDepth = 64;

  // Starts paused: queued work waits for resume() (the runtime resumes it once
  // it is the process's current runtime, so tasks see ferry::Runtime::current()).
  Executor(unsigned target, std::uint32_t rank, std::function<void()> idle_hook, std::function<void()> busy_hook,
           Progressor* progressor = nullptr);
  void resume();
  ~Executor();  // stop()
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void post(Runnable* r);
  // Ahead of everything queued (LIFO among urgent posts): work that others already wait for,
  // such as a task run again after a rank failure. Starts an extra thread when the pool is busy
  // (see above).
  void post_urgent(Runnable* r);
  void post_many(std::vector<Runnable*>& rs);  // one lock; clears rs
  // Queued + running.
  std::uint32_t load() const;
  unsigned target() const noexcept { return target_; }
  std::uint32_t rank() const noexcept { return rank_; }
  // Joins every thread; queued work is discarded.
  void stop();

  // The executor whose thread this is, or null.
  static Executor* current() noexcept;
  // On an executor thread: the current job left batched records to flush.
  static void want_flush() noexcept;
  void block_begin();
  void block_end();
  // On one of this executor's threads: runs queued work here until ready() is
  // true (checked under the executor's lock; the completer calls wake()) or the
  // deadline passes or the executor stops. Returns ready(). false at once when
  // this thread already helps kMaxHelpDepth levels deep (the caller blocks).
  bool help_until(const std::function<bool()>& ready,
                  std::optional<std::chrono::steady_clock::time_point> deadline);
  bool can_help() const noexcept;
  // Wakes the threads waiting in help_until (after their condition changed).
  void wake();

 private:
  void spawn_locked();
  void worker();
  void enqueue(Runnable* r, bool front);  // post (back) or post_urgent (front)
  // Why poll_while_idle() returned.
  enum class PollEnd { work, yield, spent };
  // Polls until work is queued or the executor stops (work), the transport
  // asks the thread to sleep (yield), or the spin limit passed with nothing
  // arriving (spent). Called without mu_.
  PollEnd poll_while_idle();
  // Runs one popped runnable on this thread (lock held on entry and exit).
  void run_one_locked(std::unique_lock<std::mutex>& lock);

  const unsigned target_;
  const std::uint32_t rank_;
  std::function<void()> idle_hook_;
  std::function<void()> busy_hook_;
  Progressor* const progressor_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Runnable*> queue_;  // guarded by mu_
  unsigned live_ = 0;            // guarded by mu_: threads started and not exited
  unsigned blocked_ = 0;         // guarded by mu_
  unsigned running_ = 0;         // guarded by mu_: threads inside run()
  std::size_t urgent_ = 0;       // guarded by mu_: urgent entries, the first urgent_ of queue_
  bool stopping_ = false;        // guarded by mu_
  bool paused_ = true;           // guarded by mu_
  bool poller_claimed_ = false;  // guarded by mu_: a thread is in poll_while_idle
  std::atomic<std::size_t> queued_{0};  // queue_.size(), readable without mu_
  std::atomic<bool> stop_flag_{false};  // stopping_, readable without mu_
  std::vector<std::thread> threads_;  // guarded by mu_
  bool bound_reported_ = false;       // guarded by mu_
};

}  // namespace ferry::rt
