// engine_transport.h — the public Transport object of a backend (internal).
//
// Each backend keeps its state in an Engine held by shared_ptr (futures and
// keys may outlive the Transport); EngineTransport<Engine> is the thin facade
// that forwards every Transport method to it and tears the engine down when
// destroyed. Engine must provide the methods forwarded below plus teardown().
// Thread-safety: as the Engine's (every backend's Engine is fully thread-safe).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "ferry/transport/transport.h"

namespace ferry::transport::common {

template <class Engine>
class EngineTransport final : public Transport {
 public:
  EngineTransport(std::shared_ptr<Engine> engine, std::string_view name) : e_(std::move(engine)), name_(name) {}
  ~EngineTransport() override { e_->teardown(); }

  Rank rank() const noexcept override { return e_->rank(); }
  Rank size() const noexcept override { return e_->size(); }
  std::string_view backend_name() const noexcept override { return name_; }
  const Options& options() const noexcept override { return e_->options(); }

  Status set_handler(HandlerId id, AmHandler handler) override { return e_->handlers().set(id, std::move(handler)); }
  void on_peer_failure(PeerFailureHandler h) override { e_->events().set_peer_failure_handler(std::move(h)); }
  void on_error(ErrorHandler h) override { e_->events().set_error_handler(std::move(h)); }

  Future<void> send(Rank dst, HandlerId id, ByteView payload) override {
    ams_sent_.fetch_add(1, std::memory_order_relaxed);
    return e_->send(dst, id, payload);
  }
  Result<std::unique_ptr<MemoryRegion>> register_memory(void* base, std::size_t length) override {
    return e_->register_memory(base, length);
  }
  Result<std::unique_ptr<MemoryRegion>> allocate_memory(std::size_t length) override {
    if constexpr (requires { e_->allocate_memory(length); }) {
      auto r = e_->allocate_memory(length);
      if (r || r.status().code() != Errc::unsupported) return r;
    }
    return Transport::allocate_memory(length);
  }
  Result<std::shared_ptr<RemoteKey>> unpack_key(Rank peer, ByteView packed) override {
    return e_->unpack_key(peer, packed);
  }
  Future<void> get(const RemoteKey& key, std::uint64_t remote_addr, void* local, std::size_t length) override {
    gets_.fetch_add(1, std::memory_order_relaxed);
    bytes_got_.fetch_add(length, std::memory_order_relaxed);
    return e_->get(key, remote_addr, local, length);
  }
  std::vector<Rank> failed_peers() const override { return e_->events().failed(); }
  TransportCounters counters() const noexcept override {
    return {ams_sent_.load(std::memory_order_relaxed), gets_.load(std::memory_order_relaxed),
            bytes_got_.load(std::memory_order_relaxed)};
  }
  Status shutdown() override { return e_->shutdown(); }
  Future<void> debug_send_raw(Rank dst, ByteView header, ByteView payload) override {
    return e_->debug_send_raw(dst, header, payload);
  }

  bool waiters_poll() const noexcept override { return e_->waiters_poll(); }
  bool poll_once() override { return e_->poll_once(); }
  int poll_idle() override { return e_->poll_idle(); }
  std::chrono::nanoseconds spin_limit() const noexcept override { return e_->spin_limit(); }
  void spin_outcome(bool caught, std::chrono::nanoseconds waited) noexcept override {
    e_->spin_outcome(caught, waited);
  }
  void before_sleep() noexcept override { e_->before_sleep(); }
  bool on_progress_thread() const noexcept override { return e_->on_progress_thread(); }
  void set_progress_hook(std::function<void()> hook) override { e_->progress_hook().set(std::move(hook)); }
  bool request_progress_hook() noexcept override { return e_->request_hook(); }

 private:
  std::shared_ptr<Engine> e_;
  std::string_view name_;
  std::atomic<std::uint64_t> ams_sent_{0}, gets_{0}, bytes_got_{0};
};

}  // namespace ferry::transport::common
