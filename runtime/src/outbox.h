// outbox.h — per-destination batching of task messages (internal).
//
// Records for one destination are appended to one buffer (a batch: u32
// header + records, task_protocol.h). A batch is sent when it is large
// (kFlushBytes / kFlushRecords), when a thread is about to block (get/wait ->
// flush_all), when an executor runs out of work (flush_all), or by the
// flusher thread, which is woken when a destination's buffer goes from empty
// to non-empty: while it is being scheduled, further records pile up in the
// same batch, so one AM carries many submits/dones under load and a lone
// record costs one wake-up.
// Sends happen under the destination's lock, so batches leave in append order.
//
// Thread-safety: append/flush from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "ferry/transport/transport.h"

namespace ferry::rt {

using transport::Bytes;
using transport::Rank;

class Outbox {
 public:
  static constexpr std::size_t kFlushBytes = 64 * 1024;
  static constexpr std::size_t kFlushRecords = 256;

  // header(): the batch header value written at send time (e.g. queue length).
  // send_failed(dst, why): a batch could not be sent.
  Outbox(transport::Transport& t, transport::HandlerId id, std::function<std::uint32_t()> header,
         std::function<void(Rank, const Status&)> send_failed, std::function<void()> wake_flusher);

  // Appends one record (write(Bytes&) appends its bytes) for `dst`.
  // wake=false: the caller makes sure a flush follows soon (executor threads,
  // see Executor::want_flush), so the flusher is not woken.
  template <class Write>
  void append(Rank dst, Write&& write, bool wake = true) {
    Box& b = boxes_[dst];
    std::unique_lock<std::mutex> lock(b.mu);
    if (b.buf.empty()) start_batch(b);
    write(b.buf);
    ++b.records;
    if (b.buf.size() >= kFlushBytes || b.records >= kFlushRecords) {
      auto sent = send_locked(dst, b);
      lock.unlock();
      watch(dst, std::move(sent));
      return;
    }
    if (wake && !b.scheduled) {
      b.scheduled = true;
      scheduled_.store(true, std::memory_order_release);
      lock.unlock();
      wake_();
    }
  }
  void flush(Rank dst);
  void flush_all();
  // Flusher thread: sends every non-empty batch.
  void flush_scheduled();
  bool has_scheduled() const noexcept { return scheduled_.load(std::memory_order_acquire); }
  // Drops every unsent batch to `dst` (peer failed); returns whether any was dropped.
  void drop(Rank dst);

 private:
  struct Box {
    std::mutex mu;
    Bytes buf;
    std::size_t records = 0;
    bool scheduled = false;
  };
  void start_batch(Box& b);
  // Sends the batch (under b.mu, so batches leave in order); the caller
  // passes the future to watch() after unlocking (its continuation may run inline).
  Future<void> send_locked(Rank dst, Box& b);
  void watch(Rank dst, Future<void> sent);

  transport::Transport& t_;
  const transport::HandlerId id_;
  std::function<std::uint32_t()> header_;
  std::function<void(Rank, const Status&)> send_failed_;
  std::function<void()> wake_;
  std::unique_ptr<Box[]> boxes_;
  Rank size_;
  std::atomic<bool> scheduled_{false};
};

// One thread that drains outboxes when woken.
class Flusher {
 public:
  explicit Flusher(std::function<void()> drain);
  ~Flusher();
  void wake();
  void stop();

 private:
  void loop();
  std::function<void()> drain_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool work_ = false;     // guarded by mu_
  bool stopping_ = false; // guarded by mu_
  std::thread thread_;
};

}  // namespace ferry::rt
