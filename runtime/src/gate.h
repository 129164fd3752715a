// gate.h — entry gates of a rank's runtime (internal): Gate (entry counter
// with a one-way close, used to fence shutdown), GateGuard (RAII entry) and
// HandlerScope (marks a thread that runs a message handler).
#pragma once

#include <atomic>
#include <cstdint>

namespace ferry::rt {

// Entry counter with a one-way close: close_and_drain() waits until no
// holder is left, and every enter() after it fails. Reentrant.
class Gate {
 public:
  bool enter() noexcept {
    active_.fetch_add(1);
    if (closed_.load()) {
      active_.fetch_sub(1);
      return false;
    }
    return true;
  }
  void exit() noexcept { active_.fetch_sub(1); }
  bool closed() const noexcept { return closed_.load(); }
  void close_and_drain() noexcept;

 private:
  std::atomic<std::int64_t> active_{0};
  std::atomic<bool> closed_{false};
};

// Marks the calling thread as running a runtime message handler (or a
// continuation completed by one): it must not block waiting for a message.
class HandlerScope {
 public:
  HandlerScope() noexcept : saved_(depth_flag()) { depth_flag() = true; }
  ~HandlerScope() { depth_flag() = saved_; }
  HandlerScope(const HandlerScope&) = delete;
  HandlerScope& operator=(const HandlerScope&) = delete;
  static bool active() noexcept { return depth_flag(); }

 private:
  static bool& depth_flag() noexcept {
    thread_local bool in_handler = false;
    return in_handler;
  }
  bool saved_;
};

class GateGuard {
 public:
  explicit GateGuard(Gate& g) noexcept : g_(g), ok_(g.enter()) {}
  ~GateGuard() {
    if (ok_) g_.exit();
  }
  GateGuard(const GateGuard&) = delete;
  GateGuard& operator=(const GateGuard&) = delete;
  explicit operator bool() const noexcept { return ok_; }

 private:
  Gate& g_;
  bool ok_;
};

}  // namespace ferry::rt
