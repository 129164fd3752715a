// outbox.cc — batching of task messages per destination (see outbox.h).
#include "outbox.h"

#include "task_protocol.h"

namespace ferry::rt {

Outbox::Outbox(transport::Transport& t, transport::HandlerId id, std::function<std::uint32_t()> header,
               std::function<void(Rank, const Status&)> send_failed, std::function<void()> wake_flusher)
    : t_(t),
      id_(id),
      header_(std::move(header)),
      send_failed_(std::move(send_failed)),
      wake_(std::move(wake_flusher)),
      boxes_(new Box[t.size()]),
      size_(t.size()) {}

void Outbox::start_batch(Box& b) {
  proto::begin_batch(b.buf);
  b.records = 0;
}

Future<void> Outbox::send_locked(Rank dst, Box& b) {
  if (b.records == 0) return Future<void>();
  proto::set_batch_header(b.buf, header_ ? header_() : 0);
  Bytes msg;
  msg.swap(b.buf);
  b.records = 0;
  b.scheduled = false;
  b.buf.reserve(4096);
  return t_.send_owned(dst, id_, std::move(msg));
}

void Outbox::watch(Rank dst, Future<void> sent) {
  if (!sent.valid()) return;
  std::move(sent).then([this, dst](Result<void>&& r) {
    if (!r && send_failed_) send_failed_(dst, r.status());
  });
}

void Outbox::flush(Rank dst) {
  Box& b = boxes_[dst];
  Future<void> sent;
  {
    std::lock_guard<std::mutex> lock(b.mu);
    sent = send_locked(dst, b);
  }
  watch(dst, std::move(sent));
}

void Outbox::flush_all() {
  for (Rank r = 0; r < size_; ++r) flush(r);
}

void Outbox::flush_scheduled() {
  scheduled_.store(false, std::memory_order_release);
  for (Rank r = 0; r < size_; ++r) {
    Box& b = boxes_[r];
    Future<void> sent;
    {
      std::lock_guard<std::mutex> lock(b.mu);
      if (b.records) sent = send_locked(r, b);
    }
    watch(r, std::move(sent));
  }
}

void Outbox::drop(Rank dst) {
  Box& b = boxes_[dst];
  std::lock_guard<std::mutex> lock(b.mu);
  b.buf.clear();
  b.records = 0;
  b.scheduled = false;
}

Flusher::Flusher(std::function<void()> drain) : drain_(std::move(drain)), thread_([this] { loop(); }) {}

Flusher::~Flusher() { stop(); }

void Flusher::wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (work_) return;
    work_ = true;
  }
  cv_.notify_one();
}

void Flusher::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Flusher::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return work_ || stopping_; });
    if (stopping_) return;
    work_ = false;
    lock.unlock();
    drain_();
    lock.lock();
  }
}

}  // namespace ferry::rt
