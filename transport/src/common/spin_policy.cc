// spin_policy.cc — see spin_policy.h.
#include "common/spin_policy.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "ferry/transport/affinity.h"

namespace ferry::transport::common {

SpinPolicy::SpinPolicy(ProgressMode mode, unsigned local_ranks, unsigned cpus) noexcept
    : mode_(mode),
      allowed_(mode == ProgressMode::busy ||
               (mode == ProgressMode::adaptive && cpus >= 2 && std::max(local_ranks, 1u) <= cpus)),
      cpus_(cpus),
      limit_ns_(kStart.count()) {}

SpinPolicy SpinPolicy::for_this_process(ProgressMode mode) {
  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const unsigned machine = cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) cpus = static_cast<unsigned>(CPU_COUNT(&set));
  unsigned local = 1;  // a mask narrower than the machine: the launcher already gave this rank its share
  if (auto layout = affinity::local_layout_from_env([](const char* n) { return std::getenv(n); });
      layout && layout->size > 0 && cpus >= machine)
    local = layout->size;
  return SpinPolicy(mode, local, cpus);
}

unsigned SpinPolicy::runnable_from_loadavg(const char* line) noexcept {
  double a = 0, b = 0, c = 0;
  unsigned running = 0, total = 0;
  if (std::sscanf(line, "%lf %lf %lf %u/%u", &a, &b, &c, &running, &total) != 5) return 0;
  return running;
}

void SpinPolicy::set_runnable(unsigned runnable) noexcept {
  overloaded_.store(runnable > cpus_ + 1, std::memory_order_relaxed);
}

void SpinPolicy::sample_load(std::chrono::steady_clock::time_point now) noexcept {
  if (mode_ != ProgressMode::adaptive || !allowed_ || now - sampled_ < std::chrono::milliseconds(50)) return;
  sampled_ = now;
  const int fd = ::open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char buf[128];
  const ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return;
  buf[n] = '\0';
  if (const unsigned r = runnable_from_loadavg(buf); r > 0) set_runnable(r);
}

std::chrono::nanoseconds SpinPolicy::limit() const noexcept {
  if (mode_ == ProgressMode::busy) return std::chrono::nanoseconds::max();
  if (!polling_now()) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(limit_ns_.load(std::memory_order_relaxed));
}

void SpinPolicy::raise_to(std::chrono::nanoseconds target) noexcept {
  const std::int64_t t = std::clamp(target, kMin, kMax).count();
  if (limit_ns_.load(std::memory_order_relaxed) < t) limit_ns_.store(t, std::memory_order_relaxed);
}

void SpinPolicy::shrink() noexcept {
  const std::int64_t now = limit_ns_.load(std::memory_order_relaxed);
  limit_ns_.store(std::max(kMin.count(), now / 2), std::memory_order_relaxed);
}

void SpinPolicy::caught(std::chrono::nanoseconds waited) noexcept {
  if (mode_ == ProgressMode::adaptive) raise_to(2 * waited);
}

void SpinPolicy::slept(std::chrono::nanoseconds waited) noexcept {
  if (mode_ != ProgressMode::adaptive) return;
  if (waited <= kMax) raise_to(2 * waited);
  else shrink();
}

void SpinPolicy::idle_expired() noexcept {
  if (mode_ == ProgressMode::adaptive) shrink();
}

}  // namespace ferry::transport::common
