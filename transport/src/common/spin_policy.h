// spin_policy.h — how long threads poll before they sleep, per progress mode.
//
// busy: always poll (limit() = max()). blocking: never (allowed() = false).
// adaptive: poll for a bounded, self-tuning time after the last activity,
// then sleep on the event fd / a condition variable:
//   * allowed() only when this node's ranks fit its CPUs (local ranks <= CPUs
//     of the affinity mask, and at least 2 CPUs): more runnable ranks than
//     cores and a spinner only takes the core from the thread it waits for;
//   * the limit starts at kStart and stays within [kMin, kMax]; a wait that
//     was satisfied while polling raises it to twice that wait's length, a
//     wait that slept and was satisfied within kMax (polling longer would
//     have paid) raises it likewise; a wait that slept longer than kMax and
//     an idle poller (an executor or the progress thread with nothing to do)
//     whose whole limit passed without traffic halve it;
//   * the node's load is sampled (/proc/loadavg's runnable count, at most
//     every 50 ms, by the progress thread): while more threads are runnable
//     than CPUs + 1, nobody polls (polling_now() is false, limit() is 0) —
//     on a loaded node a spinner only loses its place in the run queue, and
//     a sleeper woken by the kernel gets the CPU sooner.
//
// Thread-safety: every method may be called from any thread; the limit is
// one relaxed atomic (racing updates may lose one another: harmless).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "ferry/transport/transport.h"

namespace ferry::transport::common {

class SpinPolicy {
 public:
  static constexpr std::chrono::nanoseconds kMin{2'000};
  static constexpr std::chrono::nanoseconds kStart{50'000};
  static constexpr std::chrono::nanoseconds kMax{200'000};

  SpinPolicy(ProgressMode mode, unsigned local_ranks, unsigned cpus) noexcept;
  // From this process: CPUs of its affinity mask, local rank count from the
  // launcher's environment (a mask narrower than the machine counts as one rank).
  static SpinPolicy for_this_process(ProgressMode mode);

  ProgressMode mode() const noexcept { return mode_; }
  // Whether threads may poll in this mode on this node (waiters, idle executors, the progress thread).
  bool allowed() const noexcept { return allowed_; }
  // allowed() and (adaptive) the node is not overloaded now.
  bool polling_now() const noexcept {
    return allowed_ && (mode_ == ProgressMode::busy || !overloaded_.load(std::memory_order_relaxed));
  }
  // Adaptive: re-reads /proc/loadavg if the last sample is older than 50 ms.
  void sample_load(std::chrono::steady_clock::time_point now) noexcept;
  // Adaptive: the node's runnable thread count (tests feed it directly).
  void set_runnable(unsigned runnable) noexcept;
  // The runnable count in a /proc/loadavg line ("0.5 0.4 0.3 3/250 1234"); 0 if unreadable.
  static unsigned runnable_from_loadavg(const char* line) noexcept;
  // How long a poller may find nothing before it sleeps; max() in busy mode, 0 when not allowed.
  std::chrono::nanoseconds limit() const noexcept;
  // A polling wait was satisfied after `waited`.
  void caught(std::chrono::nanoseconds waited) noexcept;
  // A wait stopped polling, slept, and was satisfied `waited` after it began.
  void slept(std::chrono::nanoseconds waited) noexcept;
  // An idle poller (nothing to wait for) found nothing for its whole limit.
  void idle_expired() noexcept;

 private:
  void raise_to(std::chrono::nanoseconds target) noexcept;
  void shrink() noexcept;

  ProgressMode mode_;
  bool allowed_;
  unsigned cpus_;
  std::atomic<std::int64_t> limit_ns_;
  std::atomic<bool> overloaded_{false};
  std::chrono::steady_clock::time_point sampled_{};  // the progress thread's only
};

}  // namespace ferry::transport::common
