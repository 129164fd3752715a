// tcp_progress.cc — the TCP backend's progress thread, waiter polling,
// heartbeats, peer failure, collective shutdown and teardown.
//
// Progress: ProgressMode::blocking runs io_.run() on the progress thread
// (sleeps in epoll). ProgressMode::busy spins with io_.poll() under
// progress_mu_; a thread waiting on one of our futures calls poll_once(), which
// runs io_.poll_one() if it wins progress_mu_ — and while waiters poll, the
// progress thread backs off (sleeps briefly) so the waiter gets the work. An
// idle executor thread polls the same way (poll_idle) unless a waiter polled
// within kWaiterBackoff.
//
// Failure: EOF / socket error / heartbeat timeout / malformed frame ->
// fail_peer(): EventSink::mark_peer_failed (once, suppressed after shutdown
// began), close the socket, fail every pending op of that peer (queued and
// in-flight sends, outstanding gets, the outbox) with Errc::peer_failed.
//
// Shutdown (collective): kShutdown to every open peer, ShutdownBarrier::wait
// bounded by peer_timeout, then a graceful half-close (SHUT_WR once each write
// queue drained, read until the peer's EOF; bounded), then teardown().
//
// Thread-safety: shutdown()/teardown()/poll_once() may be called from any
// application thread; the rest runs on the progress context.
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "tcp/tcp_engine.h"

namespace ferry::transport::tcp {
namespace {

using clock = std::chrono::steady_clock;

// The engine whose progress context the current thread is running (if any).
thread_local const Engine* tls_progressing = nullptr;

struct ProgressScope {
  explicit ProgressScope(const Engine* e) : saved(tls_progressing) { tls_progressing = e; }
  ~ProgressScope() { tls_progressing = saved; }
  const Engine* saved;
};

constexpr auto kWaiterBackoff = std::chrono::microseconds(200);

std::int64_t now_ticks() { return clock::now().time_since_epoch().count(); }

std::string rank_s(Rank r) { return std::to_string(r); }

}  // namespace

namespace {

// FERRY_TCP_MAX_QUEUED_REPLIES if a positive number, else kMaxQueuedReplies.
std::size_t max_queued_replies_from_env() {
  const char* v = std::getenv("FERRY_TCP_MAX_QUEUED_REPLIES");
  if (v == nullptr || *v == '\0') return kMaxQueuedReplies;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0' || n == 0) {
    spdlog::warn("ferry: ignoring FERRY_TCP_MAX_QUEUED_REPLIES={} (expected a positive count)", v);
    return kMaxQueuedReplies;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace

Engine::Engine(const Options& options, Rank self, Rank size)
    : opts_(options),
      self_(self),
      size_(size),
      max_queued_replies_(max_queued_replies_from_env()),
      busy_(options.progress == ProgressMode::busy),
      events_(self, size),
      liveness_(self, size, options.heartbeat_interval, options.peer_timeout),
      barrier_(size),
      acceptor_(io_),
      tick_timer_(io_) {
  work_.emplace(io_.get_executor());
  conns_.reserve(size);
  for (Rank r = 0; r < size; ++r) conns_.push_back(std::make_unique<Conn>(io_, r, r == self));
}

Engine::~Engine() { teardown(); }

bool Engine::on_progress_thread() const noexcept { return tls_progressing == this; }

void Engine::progress_loop() {
  ProgressScope scope(this);
  unsigned idle = 0;
  while (!stop_.load(std::memory_order_acquire)) {
    try {
      if (!busy_) {
        io_.run();
        continue;
      }
      const std::int64_t last = std::max(last_waiter_poll_.load(std::memory_order_relaxed),
                                         last_idle_poll_.load(std::memory_order_relaxed));
      if (clock::duration(now_ticks() - last) < kWaiterBackoff) {
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        continue;
      }
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(progress_mu_);
        n = io_.poll();
      }
      if (hook_.run_if_requested()) ++n;
      if (n > 0) idle = 0;
      else if (++idle >= 64) std::this_thread::yield();
    } catch (const std::exception& e) {
      spdlog::error("ferry[{}]: exception escaped a transport callback on the progress thread: {}", self_, e.what());
    }
  }
}

bool Engine::poll_once() {
  if (!busy_ || stopped_.load(std::memory_order_acquire) || on_progress_thread()) return false;
  last_waiter_poll_.store(now_ticks(), std::memory_order_relaxed);
  return poll_step();
}

// An idle executor polls unless a waiter did recently (then it sleeps: one poller at a time).
int Engine::poll_idle() {
  if (!busy_ || stopped_.load(std::memory_order_acquire) || on_progress_thread()) return -1;
  const std::int64_t now = now_ticks();
  if (clock::duration(now - last_waiter_poll_.load(std::memory_order_relaxed)) < kWaiterBackoff) return -1;
  last_idle_poll_.store(now, std::memory_order_relaxed);
  return poll_step() ? 1 : 0;
}

bool Engine::poll_step() {
  std::unique_lock<std::mutex> lock(progress_mu_, std::try_to_lock);
  if (!lock || stopped_.load(std::memory_order_acquire)) return false;
  ProgressScope scope(this);
  try {
    const bool did = io_.poll_one() > 0;
    lock.unlock();
    return hook_.run_if_requested() || did;
  } catch (const std::exception& e) {
    spdlog::error("ferry[{}]: exception escaped a transport callback in a waiting thread: {}", self_, e.what());
    return true;
  }
}

std::chrono::milliseconds Engine::tick_period() const noexcept {
  return std::max<std::chrono::milliseconds>(std::chrono::milliseconds(5),
                                             std::min(liveness_.interval(), liveness_.timeout()) / 2);
}

void Engine::arm_tick() {
  if (!liveness_.enabled() || size_ == 1) return;
  const auto period = tick_period();
  tick_due_ = clock::now() + period;
  tick_timer_.expires_after(period);
  tick_timer_.async_wait([this](const std::error_code& ec) {
    if (!ec && !stopped_.load()) on_tick();
  });
}

void Engine::on_tick() {
  if (phase_.load() == Phase::draining) return;  // connections are closing; no more heartbeats
  const auto now = clock::now();
  // A late tick: this thread was starved, so it cannot judge anyone (Liveness::spare_after_stall).
  liveness_.spare_after_stall(tick_due_, now, std::max<clock::duration>(4 * tick_period(), std::chrono::milliseconds(100)));
  liveness_.tick(now, heartbeat_due_, timed_out_);
  std::erase_if(timed_out_, [&](Rank r) {  // bytes wait unread: it is alive, we are behind
    std::error_code ec;
    const bool unread = conns_[r]->open && conns_[r]->socket.available(ec) > 0 && !ec;
    if (unread) liveness_.heard_from(r);
    return unread;
  });
  const std::vector<Rank> silent = timed_out_, due = heartbeat_due_;
  for (Rank r : silent) {
    if (!conns_[r]->open || events_.is_failed(r)) continue;
    fail_peer(r, Status(Errc::peer_failed, "nothing heard from rank " + rank_s(r) + " for more than " +
                                               std::to_string(liveness_.timeout().count()) +
                                               " ms (peer_timeout); rank " + rank_s(self_) +
                                               " declares it failed (hung, stopped or unreachable; " +
                                               liveness_.silence_facts(r, now) + ")"));
  }
  for (Rank r : due) {
    Conn& c = *conns_[r];
    if (!c.open || !c.wq.empty() || c.half_close_wanted) continue;
    OutFrame f;
    f.header = wire::make_header(wire::kHeartbeat, self_, 0, 0);
    push_frame(c, std::move(f));
    start_write(c);
  }
  arm_tick();
}

void Engine::on_conn_error(Conn& c, const std::error_code& ec, const char* during) {
  if (!c.open) return;
  const Phase phase = phase_.load();
  if (phase == Phase::draining || stopped_.load() || (phase == Phase::barrier && c.peer_shut_down)) {
    close_conn(c, shut_down_status());  // expected: both sides are shutting down
    return;
  }
  if (c.peer_shut_down) {
    fail_peer(c.peer, Status(Errc::peer_failed, "rank " + rank_s(c.peer) + " shut down and closed its connection to rank " +
                                                    rank_s(self_) + " (" + describe(ec) + ")"));
    return;
  }
  fail_peer(c.peer, Status(Errc::peer_failed, "rank " + rank_s(self_) + " lost its connection to rank " +
                                                  rank_s(c.peer) + " while " + during + ": " + describe(ec)));
}

void Engine::fail_peer(Rank peer, const Status& why) {
  Conn& c = *conns_[peer];
  events_.mark_peer_failed(peer, why);
  close_conn(c, Status(Errc::peer_failed, "rank " + rank_s(peer) + " failed: " + why.message()));
  barrier_.poke();
}

// Closes the socket and fails everything pending on `c` with `why`.
void Engine::close_conn(Conn& c, const Status& why) {
  if (!c.open) return;
  c.open = false;
  --open_conns_;
  std::error_code ignored;
  c.socket.close(ignored);
  std::vector<Promise<void>> failed;
  for (OutFrame& f : c.wq)
    if (f.promise) failed.push_back(std::move(*f.promise));
  c.wq.clear();
  for (auto& [id, g] : c.gets) failed.push_back(std::move(*g.promise));
  c.gets.clear();
  if (c.cur_get) failed.push_back(std::move(*c.cur_get->promise));
  c.cur_get.reset();
  c.big = Buffer{};
  c.dst = nullptr;
  std::vector<Op> ops;
  {
    std::lock_guard<std::mutex> lock(c.out_mu);
    ops.swap(c.outbox);
  }
  for (Op& op : ops) failed.push_back(std::move(*op.promise));
  for (auto& p : failed) p.set_error(why);
}

void Engine::maybe_half_close(Conn& c) {
  if (!c.open || !c.half_close_wanted || c.half_closed || c.writing > 0 || !c.wq.empty()) return;
  std::error_code ignored;
  c.socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  c.half_closed = true;
}

void Engine::begin_half_close() {
  phase_.store(Phase::draining);
  for (auto& c : conns_) {
    if (c->self || !c->open) continue;
    c->half_close_wanted = true;
    maybe_half_close(*c);
  }
}

Status Engine::shutdown() {
  if (on_progress_thread())
    return Status(Errc::invalid_argument, "shutdown() called on the progress context of rank " + rank_s(self_) +
                                              " (from an AM handler or a future continuation); call it from an "
                                              "application thread");
  std::lock_guard<std::mutex> lock(shutdown_mu_);
  if (shutdown_done_) return shutdown_status_;
  events_.suppress_peer_failure_reports();
  bool live = false;
  {
    std::shared_lock<std::shared_mutex> ops(ops_mu_);
    if (!closed_) {
      live = true;
      phase_.store(Phase::barrier);
      asio::post(io_, [this] {
        for (auto& c : conns_) {
          if (c->self || !c->open) continue;
          OutFrame f;
          f.header = wire::make_header(wire::kShutdown, self_, 0, 0);
          push_frame(*c, std::move(f));
          start_write(*c);
        }
      });
    }
  }
  Status result;
  if (live) {
    // Dead peers are skipped once detected (within peer_timeout); a live one may arrive late
    // (a rank still writing its trace), so the bound is at least 30 s, not the peer timeout.
    const auto budget = std::max<std::chrono::milliseconds>(opts_.peer_timeout, std::chrono::seconds(30));
    result = barrier_.wait(self_, events_, clock::now() + budget, {});
    if (!result.is_ok())
      result = Status(result.code(), "rank " + rank_s(self_) + ": " + result.message() + " (waited " +
                                         std::to_string(budget.count()) + " ms)");
    {
      std::shared_lock<std::shared_mutex> ops(ops_mu_);
      if (!closed_) asio::post(io_, [this] { begin_half_close(); });
    }
    // Wait for every peer's EOF so both sides close cleanly (bounded).
    const auto drain = result.is_ok() ? std::min<std::chrono::milliseconds>(budget, std::chrono::seconds(5))
                                      : std::chrono::milliseconds(100);
    const auto until = clock::now() + drain;
    while (open_peer_count() > 0 && clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  teardown();
  shutdown_done_ = true;
  shutdown_status_ = result;
  return result;
}

void Engine::teardown() {
  {
    std::lock_guard<std::mutex> lock(teardown_mu_);
    if (torn_down_) return;
    torn_down_ = true;
  }
  {
    std::unique_lock<std::shared_mutex> ops(ops_mu_);
    closed_ = true;
  }
  events_.suppress_peer_failure_reports();
  phase_.store(Phase::draining);
  stop_.store(true, std::memory_order_release);
  io_.stop();
  const bool inside = on_progress_thread();
  if (thread_.joinable()) {
    if (std::this_thread::get_id() == thread_.get_id()) thread_.detach();
    else thread_.join();
  }
  std::unique_lock<std::mutex> plock(progress_mu_, std::defer_lock);
  if (!inside) plock.lock();
  // Continuations of the promises failed below run here: make them count as
  // progress-context code (so they cannot call shutdown() or poll recursively).
  ProgressScope scope(this);
  stopped_.store(true, std::memory_order_release);
  std::error_code ignored;
  acceptor_.close(ignored);
  tick_timer_.cancel();
  const Status why = shut_down_status();
  for (auto& c : conns_) close_conn(*c, why);
  std::vector<Op> self_ops;
  {
    std::lock_guard<std::mutex> lock(conns_[self_]->out_mu);
    self_ops.swap(conns_[self_]->outbox);
  }
  for (Op& op : self_ops) op.promise->set_error(why);
  if (inside) {
    spdlog::warn("ferry[{}]: TCP transport destroyed from its own progress context; posted work is dropped", self_);
    return;
  }
  // Run what is still queued (flushes, aborted I/O) so every promise completes.
  io_.restart();
  try {
    while (io_.poll() > 0) {
    }
    work_.reset();
    while (io_.poll() > 0) {
    }
  } catch (const std::exception& e) {
    spdlog::error("ferry[{}]: exception escaped a callback during transport teardown: {}", self_, e.what());
  }
}

}  // namespace ferry::transport::tcp
