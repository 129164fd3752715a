#include "common/events.h"

#include <spdlog/spdlog.h>

#include <thread>

#include "common/wire.h"

namespace ferry::transport::common {

std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

void ProgressHook::set(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  hook_ = std::move(hook);
}

bool ProgressHook::run_if_requested() {
  if (!pending_.load(std::memory_order_relaxed)) return false;
  std::lock_guard<std::mutex> lock(mu_);
  if (!pending_.exchange(false, std::memory_order_acq_rel)) return false;  // another poller ran it
  if (hook_) hook_();
  return true;
}

HandlerTable::~HandlerTable() {
  for (auto& p : pages_) delete p.load();
}

Status HandlerTable::set(HandlerId id, AmHandler handler, bool internal) {
  if (id >= kFirstReservedHandler && !internal)
    return Status(Errc::invalid_argument, "handler id " + std::to_string(id) +
                                              " is reserved for ferry's internal use (ids >= " +
                                              std::to_string(kFirstReservedHandler) + ")");
  std::lock_guard<std::mutex> lock(mu_);
  std::atomic<Page*>& page_slot = pages_[id / kPageSlots];
  Page* page = page_slot.load(std::memory_order_relaxed);
  if (!page) {
    if (!handler) return Status::ok();
    page = new Page;
    page_slot.store(page, std::memory_order_release);
  }
  const AmHandler* fn = nullptr;
  if (handler) {
    kept_.push_back(std::make_unique<const AmHandler>(std::move(handler)));
    fn = kept_.back().get();
  }
  page->slots[id % kPageSlots].store(fn, std::memory_order_release);
  return Status::ok();
}

EventSink::EventSink(Rank self, Rank size)
    : self_(self), failed_(new std::atomic<bool>[size]), size_(size) {
  for (Rank i = 0; i < size; ++i) failed_[i].store(false);
}

void EventSink::set_error_handler(ErrorHandler h) {
  std::lock_guard<std::mutex> lock(mu_);
  on_error_ = std::move(h);
}

void EventSink::set_peer_failure_handler(PeerFailureHandler h) {
  std::lock_guard<std::mutex> lock(mu_);
  on_peer_failure_ = std::move(h);
}

void EventSink::report_error(const Status& error) {
  if (error.code() != Errc::malformed_message) {
    spdlog::warn("ferry[{}]: {}", self_, error.to_string());
  } else if (auto suppressed = malformed_log_.admit()) {
    if (*suppressed == 0) spdlog::warn("ferry[{}]: {}", self_, error.to_string());
    else spdlog::warn("ferry[{}]: {} ({} similar lines suppressed)", self_, error.to_string(), *suppressed);
  }
  ErrorHandler h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    h = on_error_;
  }
  if (h) h(error);
}

bool EventSink::mark_peer_failed(Rank peer, const Status& why) {
  if (peer >= size_ || peer == self_) return false;
  if (failed_[peer].exchange(true)) return false;
  if (suppressed_.load()) return true;
  // One line per declaration, with a fixed prefix scripts count (scripts/peer-failures.py):
  // "timeout" declarations of a live peer are the false positives.
  const bool by_timeout = why.message().find(kPeerTimeoutMark) != std::string::npos;
  spdlog::warn("{} rank {} declared rank {} failed ({}): {}", kPeerFailedLogPrefix, self_, peer,
               by_timeout ? "timeout" : "error", why.to_string());
  PeerFailureHandler h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    h = on_peer_failure_;
  }
  if (h) h(peer, why);
  return true;
}

bool EventSink::is_failed(Rank peer) const noexcept { return peer < size_ && failed_[peer].load(); }

std::vector<Rank> EventSink::failed() const {
  std::vector<Rank> out;
  for (Rank i = 0; i < size_; ++i)
    if (failed_[i].load()) out.push_back(i);
  return out;
}

Liveness::Liveness(Rank self, Rank size, std::chrono::milliseconds interval, std::chrono::milliseconds timeout)
    : self_(self),
      size_(size),
      interval_(interval),
      timeout_(timeout),
      last_heard_(new std::atomic<std::int64_t>[size]),
      last_sent_(new std::atomic<std::int64_t>[size]) {
  auto now = to_ticks(clock::now());
  for (Rank i = 0; i < size; ++i) {
    last_heard_[i].store(now);
    last_sent_[i].store(now);
  }
}

void Liveness::heard_from(Rank peer) noexcept {
  if (peer < size_) last_heard_[peer].store(to_ticks(clock::now()), std::memory_order_relaxed);
}

void Liveness::sent_to(Rank peer) noexcept {
  if (peer < size_) last_sent_[peer].store(to_ticks(clock::now()), std::memory_order_relaxed);
}

void Liveness::tick(clock::time_point now, std::vector<Rank>& need_heartbeat, std::vector<Rank>& timed_out) {
  need_heartbeat.clear();
  timed_out.clear();
  if (!enabled()) return;
  prev_tick_ = last_tick_;
  last_tick_ = now;
  auto n = to_ticks(now);
  auto iv = std::chrono::duration_cast<clock::duration>(interval_).count();
  auto to = std::chrono::duration_cast<clock::duration>(timeout_).count();
  for (Rank i = 0; i < size_; ++i) {
    if (i == self_) continue;
    if (n - last_sent_[i].load(std::memory_order_relaxed) >= iv) need_heartbeat.push_back(i);
    if (n - last_heard_[i].load(std::memory_order_relaxed) >= to) timed_out.push_back(i);
  }
}

bool Liveness::spare_after_stall(clock::time_point due, clock::time_point now, clock::duration late) {
  if (!enabled() || due == clock::time_point{} || now - due <= late) return false;
  if (last_grace_ != clock::time_point{} && now - last_grace_ < timeout_) return false;
  spdlog::debug("ferry[{}]: progress thread stalled for {} ms; peer timeouts restart", self_,
                std::chrono::duration_cast<std::chrono::milliseconds>(now - due).count());
  for (Rank r = 0; r < size_; ++r)
    if (r != self_) heard_from(r);
  last_grace_ = now;
  return true;
}

std::string Liveness::silence_facts(Rank peer, clock::time_point now) const {
  const auto ago = [&](clock::time_point t) {
    return t == clock::time_point{} ? std::string("never")
                                    : std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count()) +
                                          " ms ago";
  };
  const auto heard = peer < size_ ? clock::time_point(clock::duration(last_heard_[peer].load(std::memory_order_relaxed)))
                                  : clock::time_point{};
  return "last heard " + ago(heard) + "; previous liveness tick " + ago(prev_tick_) + "; last stall grace " +
         ago(last_grace_);
}

ShutdownBarrier::ShutdownBarrier(Rank size) : arrived_(size, false) {}

void ShutdownBarrier::arrived(Rank peer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (peer < arrived_.size()) arrived_[peer] = true;
  }
  cv_.notify_all();
}

bool ShutdownBarrier::has_arrived(Rank peer) {
  std::lock_guard<std::mutex> lock(mu_);
  return peer < arrived_.size() && arrived_[peer];
}

void ShutdownBarrier::poke() { cv_.notify_all(); }

Status ShutdownBarrier::wait(Rank self, const EventSink& events, std::chrono::steady_clock::time_point deadline,
                             const std::function<bool()>& poll) {
  auto done = [&] {
    for (Rank i = 0; i < arrived_.size(); ++i)
      if (i != self && !arrived_[i] && !events.is_failed(i)) return false;
    return true;
  };
  std::unique_lock<std::mutex> lock(mu_);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string missing;
      for (Rank i = 0; i < arrived_.size(); ++i)
        if (i != self && !arrived_[i] && !events.is_failed(i)) missing += (missing.empty() ? "" : ",") + std::to_string(i);
      return Status(Errc::timeout, "shutdown: ranks [" + missing + "] did not reach shutdown in time");
    }
    if (poll) {
      lock.unlock();
      if (!poll()) std::this_thread::yield();
      lock.lock();
    } else {
      cv_.wait_for(lock, std::chrono::milliseconds(10));
    }
  }
  return Status::ok();
}

}  // namespace ferry::transport::common
