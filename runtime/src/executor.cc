// executor.cc — the executor thread pool (see executor.h).
#include "executor.h"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

#include "ferry/transport/affinity.h"

namespace ferry::rt {

namespace {
thread_local Executor* tl_executor = nullptr;
thread_local bool tl_flush_wanted = false;
thread_local unsigned tl_help_depth = 0;
constexpr auto kPollBackoffMin = std::chrono::microseconds(20);
constexpr auto kPollBackoffMax = std::chrono::microseconds(1000);
constexpr unsigned kPoliteAfter = 512;  // empty polls before each further one yields first (as the UCX progress thread)
}

unsigned default_executor_threads() {
  if (const char* v = std::getenv("FERRY_EXECUTOR_THREADS"); v && *v) {
    char* end = nullptr;
    unsigned long n = std::strtoul(v, &end, 10);
    if (end && *end == '\0' && n > 0) return static_cast<unsigned>(std::min<unsigned long>(n, Executor::kMaxThreads));
  }
  // This rank's share of the CPUs it may run on: the launcher's local rank
  // count splits them (several ranks per node must not each start one thread
  // per CPU). With 4 or more CPUs per rank one is left for the progress
  // thread, so that FERRY_BIND=auto can give every thread its own core.
  unsigned cpus = std::thread::hardware_concurrency();
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  unsigned local = 1;  // a mask narrower than the machine: the launcher already gave this rank its share
  if (auto layout = transport::affinity::local_layout_from_env([](const char* n) { return std::getenv(n); });
      layout && layout->size > 0 && cpus >= std::thread::hardware_concurrency())
    local = layout->size;
  const unsigned per_rank = std::max(1u, cpus / local);
  return std::min<unsigned>(per_rank >= 4 ? per_rank - 1 : per_rank, Executor::kMaxThreads);
}

Executor::Executor(unsigned target, std::uint32_t rank, std::function<void()> idle_hook,
                   std::function<void()> busy_hook, Progressor* progressor)
    : target_(target ? target : 1),
      rank_(rank),
      idle_hook_(std::move(idle_hook)),
      busy_hook_(std::move(busy_hook)),
      progressor_(progressor) {
  std::lock_guard<std::mutex> lock(mu_);
  for (unsigned i = 0; i < target_; ++i) spawn_locked();
}

Executor::~Executor() { stop(); }

Executor* Executor::current() noexcept { return tl_executor; }

void Executor::want_flush() noexcept {
  if (tl_executor) tl_flush_wanted = true;
}

void Executor::spawn_locked() {
  ++live_;
  threads_.emplace_back([this] { worker(); });
}

void Executor::post(Runnable* r) { enqueue(r, false); }

void Executor::post_urgent(Runnable* r) { enqueue(r, true); }

void Executor::enqueue(Runnable* r, bool front) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      r->discard();
      return;
    }
    if (front) {
      queue_.push_front(r);
      ++urgent_;
      // Every unblocked thread is inside a job and none is extra: one more takes this now.
      const unsigned unblocked = live_ - blocked_;
      if (!paused_ && running_ >= unblocked && unblocked <= target_ && live_ < kMaxThreads) spawn_locked();
    } else {
      queue_.push_back(r);
    }
    queued_.store(queue_.size(), std::memory_order_release);
  }
  cv_.notify_one();
}

void Executor::post_many(std::vector<Runnable*>& rs) {
  if (rs.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      for (Runnable* r : rs) r->discard();
      rs.clear();
      return;
    }
    queue_.insert(queue_.end(), rs.begin(), rs.end());
    queued_.store(queue_.size(), std::memory_order_release);
  }
  if (rs.size() == 1) cv_.notify_one();
  else cv_.notify_all();
  rs.clear();
}

std::uint32_t Executor::load() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<std::uint32_t>(queue_.size() + running_);
}

void Executor::worker() {
  tl_executor = this;
  // thread start hook: per-thread set-up (CPU binding, see the "hpc" work) goes here.
  transport::affinity::bind_this_thread(transport::affinity::ThreadRole::executor);  // FERRY_BIND
  std::unique_lock<std::mutex> lock(mu_);
  bool idle_notified = true;
  bool spin_spent = false;  // adaptive: polled its limit since it last ran work; sleep until posted
  auto backoff = kPollBackoffMin;
  for (;;) {
    if (stopping_) break;  // queued work is discarded by stop()
    if (!queue_.empty() && !paused_) {
      if (urgent_ == 0 && live_ - blocked_ > target_) break;  // an extra thread takes urgent work only
      Runnable* r = queue_.front();
      queue_.pop_front();
      if (urgent_ > 0) --urgent_;
      queued_.store(queue_.size(), std::memory_order_relaxed);
      ++running_;
      lock.unlock();
      r->run();
      lock.lock();
      --running_;
      idle_notified = false;
      spin_spent = false;
      if (tl_flush_wanted && !queue_.empty()) {  // idle: the idle hook flushes below
        tl_flush_wanted = false;
        lock.unlock();
        if (busy_hook_) busy_hook_();
        lock.lock();
      }
      continue;
    }
    if (!idle_notified && idle_hook_ && !paused_) {
      idle_notified = true;
      tl_flush_wanted = false;
      lock.unlock();
      idle_hook_();
      lock.lock();
      continue;
    }
    if (live_ - blocked_ > target_) break;  // an extra thread no longer needed
    if (!paused_ && !poller_claimed_ && !spin_spent && progressor_ && progressor_->waiters_poll()) {
      poller_claimed_ = true;
      lock.unlock();
      const PollEnd end = poll_while_idle();
      lock.lock();
      poller_claimed_ = false;
      if (end == PollEnd::work) {
        backoff = kPollBackoffMin;
        continue;
      }
      if (end == PollEnd::spent) {
        spin_spent = true;
        continue;
      }
      if (queue_.empty() && !stopping_) cv_.wait_for(lock, backoff);
      backoff = std::min(backoff * 2, kPollBackoffMax);
      continue;
    }
    cv_.wait(lock);
  }
  --live_;
  tl_executor = nullptr;
}

Executor::PollEnd Executor::poll_while_idle() {
  // Handlers that run here must see no executor (as on the progress thread):
  // what they post or append is not this thread's job to flush.
  tl_executor = nullptr;
  using steady = std::chrono::steady_clock;
  const std::chrono::nanoseconds limit = progressor_->spin_limit();
  const bool bounded = limit != std::chrono::nanoseconds::max();
  const steady::time_point start = bounded ? steady::now() : steady::time_point{};
  steady::time_point last = start;  // the last poll that did something
  PollEnd end = PollEnd::work;
  unsigned idle = 0;  // consecutive polls that found nothing
  while (queued_.load(std::memory_order_acquire) == 0 && !stop_flag_.load(std::memory_order_relaxed)) {
    const int r = progressor_->poll_idle();
    if (r < 0) {
      end = PollEnd::yield;
      break;
    }
    if (r > 0) {
      idle = 0;
      if (bounded) last = steady::now();
      continue;
    }
    if (++idle >= kPoliteAfter || (bounded && idle >= kPoliteAfter / 8))
      std::this_thread::yield();  // silence: runnable threads go first
    if (bounded && idle % 64 == 0 && steady::now() - last >= limit) {
      end = PollEnd::spent;
      break;
    }
  }
  if (bounded) {
    if (end == PollEnd::spent) {
      progressor_->spin_outcome(false, std::chrono::nanoseconds::max());
      progressor_->before_sleep();
    } else if (end == PollEnd::work) {
      progressor_->spin_outcome(true, steady::now() - last);
    }
  }
  tl_executor = this;
  return end;
}

void Executor::resume() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    paused_ = false;
  }
  cv_.notify_all();
}

void Executor::block_begin() {
  std::lock_guard<std::mutex> lock(mu_);
  ++blocked_;
  if (stopping_ || live_ - blocked_ >= target_) return;
  if (live_ < kMaxThreads) return spawn_locked();
  if (!bound_reported_) {
    bound_reported_ = true;
    spdlog::error("ferry[{}]: all {} executor threads are blocked in get()/wait() inside tasks (waits nested more "
                  "than {} deep on each); queued tasks wait until one returns. Use coroutine tasks "
                  "(co_await) for deep recursion",
                  rank_, kMaxThreads, kMaxHelpDepth);
  }
}

bool Executor::can_help() const noexcept { return tl_executor == this && tl_help_depth < kMaxHelpDepth; }

void Executor::wake() {
  { std::lock_guard<std::mutex> lock(mu_); }  // a helper between its check and its wait sees the change
  cv_.notify_all();
}

void Executor::run_one_locked(std::unique_lock<std::mutex>& lock) {
  // Newest first: most likely a child of the waiting task (what it waits for), and it keeps the
  // helping depth near the depth of the task tree (work-first, as in work-stealing runtimes).
  Runnable* r = queue_.back();
  queue_.pop_back();
  if (urgent_ > queue_.size()) urgent_ = queue_.size();  // it was urgent (they all were)
  queued_.store(queue_.size(), std::memory_order_relaxed);
  ++running_;
  lock.unlock();
  ++tl_help_depth;
  r->run();
  --tl_help_depth;
  if (tl_flush_wanted) {  // what the helped job batched leaves now: its submitter may be waiting
    tl_flush_wanted = false;
    if (idle_hook_) idle_hook_();
  }
  lock.lock();
  --running_;
}

bool Executor::help_until(const std::function<bool()>& ready,
                          std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!can_help()) return ready();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (ready()) return true;
    if (stopping_) return false;
    if (!queue_.empty() && !paused_) {
      run_one_locked(lock);
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    if (deadline && now >= *deadline) return false;
    // Woken by wake() or post(); the bound only covers a completion racing with shutdown.
    auto until = now + std::chrono::milliseconds(100);
    if (deadline && *deadline < until) until = *deadline;
    cv_.wait_until(lock, until);
  }
}

void Executor::block_end() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    --blocked_;
  }
  cv_.notify_all();  // an extra thread may now exit
}

void Executor::stop() {
  std::vector<std::thread> threads;
  std::deque<Runnable*> left;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    stop_flag_.store(true);
  }
  cv_.notify_all();
  // Threads may spawn more while we join (block_begin is refused once stopping).
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(threads_);
      if (threads.empty()) {
        left.swap(queue_);
        urgent_ = 0;
        queued_.store(0);
        break;
      }
    }
    for (auto& t : threads) {
      if (t.get_id() == std::this_thread::get_id()) t.detach();
      else t.join();
    }
    threads.clear();
  }
  for (Runnable* r : left) r->discard();
}

}  // namespace ferry::rt
