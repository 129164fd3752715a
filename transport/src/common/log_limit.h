// log_limit.h — rate limiting for log lines a peer (or a stranger) can trigger.
//
// A LogLimiter admits at most `burst` lines per `window`; the rest are
// counted, and the next admitted line reports how many were suppressed.
// Used for malformed-input and refused-connection warnings, so that a flood
// of bad input costs a bounded number of log lines.
// Thread-safety: admit() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace ferry::transport::common {

class LogLimiter {
 public:
  using clock = std::chrono::steady_clock;
  explicit LogLimiter(std::uint32_t burst = 10, std::chrono::milliseconds window = std::chrono::seconds(10))
      : burst_(burst), window_(window) {}

  // nullopt: do not log this one. Otherwise log it, mentioning the returned
  // number of lines suppressed since the previous admitted one (if non-zero).
  [[nodiscard]] std::optional<std::uint64_t> admit() {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = clock::now();
    if (now - window_start_ >= window_) {
      window_start_ = now;
      in_window_ = 0;
    }
    if (in_window_ >= burst_) {
      ++suppressed_;
      return std::nullopt;
    }
    ++in_window_;
    const std::uint64_t s = suppressed_;
    suppressed_ = 0;
    return s;
  }

 private:
  const std::uint32_t burst_;
  const std::chrono::milliseconds window_;
  std::mutex mu_;
  clock::time_point window_start_{};  // guarded by mu_
  std::uint32_t in_window_ = 0;       // guarded by mu_
  std::uint64_t suppressed_ = 0;      // guarded by mu_
};

}  // namespace ferry::transport::common
