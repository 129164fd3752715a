// ucx_ready.h — the UCX engine's ready queue and its dispatcher: what
// progress produced under the engine lock (AM deliveries, self-sends,
// send/get completions), run later by a single dispatching thread without
// it, in arrival order.
//
// Cost per entry matters (one per AM on the latency path): an entry is a
// small record; the payload of a small delivery is appended to one byte log
// that keeps its capacity across batches (no allocation per message once
// warm); a payload that already has a Buffer (a rendezvous receive, a
// reordered frame) or is over kLogMaxBytes keeps or gets its own Buffer;
// promises and statuses live in side vectors.
//
// Thread-safety: ReadyQueue has none. Dispatcher: the *_locked methods run
// with the engine lock held (the producing queue is guarded by it); pending()
// and drop_deliveries() are lock-free; run_batch() runs only on the thread
// whose take_locked() returned true, without the engine lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "ferry/future.h"
#include "ferry/transport/transport.h"
#include "ucx/ucx_buffer.h"

namespace ferry::transport::ucx {

class ReadyQueue {
 public:
  // Payloads up to this size are copied into the log; larger ones use a Buffer.
  static constexpr std::size_t kLogMaxBytes = std::size_t{64} << 10;
  // A log that grew beyond this (a burst) is released when the batch is done.
  static constexpr std::size_t kKeepLogBytes = std::size_t{4} << 20;

  enum class Kind : std::uint8_t { deliver, deliver_self, complete };
  struct Entry {
    Kind kind = Kind::deliver;
    bool in_log = false;       // deliver: the payload is log_[at, at + len); else buffers_[at]
    HandlerId handler = 0;
    Rank src = kInvalidRank;
    std::uint32_t promise = 0;  // deliver_self, complete: index into promises_
    std::size_t at = 0;         // deliver: see in_log; complete: index into statuses_
    std::size_t len = 0;
    const std::byte* self_data = nullptr;  // deliver_self: the sender's bytes (len of them)
  };

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

  // A delivery whose payload is copied now: into the log, or a Buffer of its
  // own above kLogMaxBytes. Throws std::bad_alloc.
  void deliver_copy(Rank src, HandlerId handler, const void* data, std::size_t n) {
    if (n > kLogMaxBytes) {
      Buffer copy = Buffer::allocate(n);
      std::memcpy(copy.data(), data, n);
      return deliver(src, handler, std::move(copy));
    }
    Entry e;
    e.handler = handler;
    e.src = src;
    e.in_log = true;
    e.at = log_.size();
    e.len = n;
    log_.resize(e.at + n);
    if (n > 0) std::memcpy(log_.data() + e.at, data, n);
    entries_.push_back(e);
  }
  // A delivery whose payload already has a Buffer (a rendezvous receive, a
  // frame that waited in the reorder buffer): kept as is, not copied again.
  void deliver(Rank src, HandlerId handler, Buffer payload) {
    Entry e;
    e.handler = handler;
    e.src = src;
    e.at = buffers_.size();
    e.len = payload.size();
    buffers_.push_back(std::move(payload));
    entries_.push_back(e);
  }
  // A self-send: the handler reads the sender's buffer, then `done` completes.
  void deliver_self(Rank self, HandlerId handler, ByteView view, Promise<void> done) {
    Entry e;
    e.kind = Kind::deliver_self;
    e.handler = handler;
    e.src = self;
    e.promise = static_cast<std::uint32_t>(promises_.size());
    e.self_data = view.data();
    e.len = view.size();
    promises_.push_back(std::move(done));
    entries_.push_back(e);
  }
  void complete(Promise<void> promise, Status status) {
    Entry e;
    e.kind = Kind::complete;
    e.promise = static_cast<std::uint32_t>(promises_.size());
    e.at = statuses_.size();
    promises_.push_back(std::move(promise));
    statuses_.push_back(std::move(status));
    entries_.push_back(e);
  }

  // For the dispatcher.
  const std::vector<Entry>& entries() const noexcept { return entries_; }
  ByteView payload(const Entry& e) const noexcept {
    if (e.kind == Kind::deliver_self) return ByteView(e.self_data, e.len);
    return e.in_log ? ByteView(log_.data() + e.at, e.len) : buffers_[e.at].view();
  }
  Promise<void>& promise(const Entry& e) noexcept { return promises_[e.promise]; }
  Status& status(const Entry& e) noexcept { return statuses_[e.at]; }

  void swap(ReadyQueue& other) noexcept {
    entries_.swap(other.entries_);
    log_.swap(other.log_);
    buffers_.swap(other.buffers_);
    promises_.swap(other.promises_);
    statuses_.swap(other.statuses_);
  }
  // Empties the queue, keeping the capacity (the log's above all). Promises
  // still unset are completed as broken by their destructors.
  void clear() noexcept {
    entries_.clear();
    if (log_.capacity() > kKeepLogBytes) std::vector<std::byte>().swap(log_);
    else log_.clear();
    buffers_.clear();
    promises_.clear();
    statuses_.clear();
  }

 private:
  std::vector<Entry> entries_;
  std::vector<std::byte> log_;
  std::vector<Buffer> buffers_;
  std::vector<Promise<void>> promises_;
  std::vector<Status> statuses_;
};

// The engine's ready queue, the dispatcher's batch, and the claim that makes
// one thread at a time run them (so entries run in queue order, which is each
// peer's send order). A producer pushes under the engine lock; whichever
// thread progressed the worker claims the queue before releasing the lock
// (take_locked: swaps it with the batch) and runs the batch after.
class Dispatcher {
 public:
  // ---- producers (engine lock held)
  void deliver_copy_locked(Rank src, HandlerId handler, const void* data, std::size_t n) {
    ready_.deliver_copy(src, handler, data, n);
    publish_locked();
  }
  void deliver_locked(Rank src, HandlerId handler, Buffer payload) {
    ready_.deliver(src, handler, std::move(payload));
    publish_locked();
  }
  void deliver_self_locked(Rank self, HandlerId handler, ByteView view, Promise<void> done) {
    ready_.deliver_self(self, handler, view, std::move(done));
    publish_locked();
  }
  void complete_locked(Promise<void> promise, Status status) {
    ready_.complete(std::move(promise), std::move(status));
    publish_locked();
  }
  // Claims the dispatch and takes the queue into the batch; false when the
  // queue is empty or another thread is dispatching (it will see these entries).
  bool take_locked() noexcept {
    if (count_.load(std::memory_order_relaxed) == 0) return false;
    if (dispatching_.exchange(true, std::memory_order_acq_rel)) return false;
    batch_.swap(ready_);
    count_.store(0, std::memory_order_release);
    return true;
  }

  // ---- any thread, no lock
  // Entries waiting in the queue (a hint: exact only under the engine lock).
  std::size_t pending() const noexcept { return count_.load(std::memory_order_acquire); }
  // From now on deliveries are dropped instead of handed to handlers (teardown);
  // completions still run, and a self-send fails with `closed`.
  void drop_deliveries() noexcept { drop_.store(true, std::memory_order_release); }

  // ---- the claiming thread, engine lock not held
  // Runs the batch: deliveries through `deliver(src, handler, payload)`,
  // completions by setting their promises; then releases the claim.
  template <class Deliver, class Closed>
  void run_batch(Deliver&& deliver, Closed&& closed) {
    const bool drop = drop_.load(std::memory_order_acquire);
    for (const ReadyQueue::Entry& e : batch_.entries()) {
      switch (e.kind) {
        case ReadyQueue::Kind::complete:
          batch_.promise(e).set_result(Result<void>(std::move(batch_.status(e))));
          break;
        case ReadyQueue::Kind::deliver:
          if (!drop) deliver(e.src, e.handler, batch_.payload(e));
          break;
        case ReadyQueue::Kind::deliver_self:
          if (drop) {
            batch_.promise(e).set_error(closed());
          } else {
            deliver(e.src, e.handler, batch_.payload(e));
            batch_.promise(e).set_value();
          }
          break;
      }
    }
    batch_.clear();
    dispatching_.store(false, std::memory_order_release);
  }

 private:
  void publish_locked() noexcept { count_.store(ready_.size(), std::memory_order_release); }  // sole writer

  ReadyQueue ready_;                            // engine lock
  ReadyQueue batch_;                            // the claiming thread (keeps capacity across batches)
  std::atomic<std::size_t> count_{0};           // ready_.size(), written under the engine lock
  std::atomic<bool> dispatching_{false};
  std::atomic<bool> drop_{false};
};

}  // namespace ferry::transport::ucx
