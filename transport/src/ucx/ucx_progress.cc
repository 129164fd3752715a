// ucx_progress.cc — the progress thread, poll_once(), the ready-queue
// dispatcher, op bookkeeping, liveness (heartbeats) and peer-failure handling.
//
// ProgressMode::busy: the thread spins on ucp_worker_progress. While another
// thread polls (external_polls_ moved since the last look: an application
// thread waiting on a future, or an idle executor thread in poll_idle) it
// sleeps instead (20 us doubling up to 1 ms), so on 2 cores a waiter and the
// progress threads of two processes do not starve each other; the poller
// drives the worker itself (try_lock). The 1 ms cap bounds how late the
// thread resumes once the poller stops. An idle poller gives way to waiters
// (poll_idle returns -1 once waiter_polls_ moved), so one thread polls.
// ProgressMode::blocking: progress until idle, ucp_worker_arm, then epoll_wait
// on the worker's event fd with a bounded timeout (the liveness tick period).
// Application threads that post work call ucp_worker_signal when the thread
// sleeps (sleeping_ / stop_ are seq_cst flags checked on both sides, so a
// wake-up is never lost).
// ProgressMode::adaptive (where SpinPolicy allows polling; else as blocking):
// as busy while there is traffic, but once spin_.limit() passed with nothing
// found the thread sleeps as in blocking mode; woken by a timeout with nothing
// to do it sleeps again at once (it spins only after traffic). Waiters and idle
// executors poll within the same limit and, when they stop, call
// before_sleep(), which signals the worker if this thread sleeps: their polls
// may have consumed the events its armed fd was waiting for.
//
// Failure: an ep error callback or a heartbeat timeout -> fail_peer(): the
// EventSink reports it once, then under mu_ every pending op to that peer is
// orphaned (its promise taken), the reorder buffer dropped and the endpoint
// force-closed (which cancels UCX's requests so user buffers are released),
// then the promises complete with peer_failed outside mu_.
//
// Thread-safety: see ucx_engine.h. Callbacks named *_cb run with mu_ held.
#include <spdlog/spdlog.h>
#include <sys/epoll.h>

#include <algorithm>

#include "ucx/ucx_engine.h"

namespace ferry::transport::ucx {

namespace {

using clock = std::chrono::steady_clock;
constexpr auto kBackoffMin = std::chrono::microseconds(20);
constexpr auto kBackoffMax = std::chrono::microseconds(1000);
// Empty busy passes (tens of ns each) before the spinning thread starts to
// yield on every pass: a few tens of microseconds of silence.
constexpr unsigned kPoliteAfter = 512;

}  // namespace

// ---------------------------------------------------------------- progress

namespace {
thread_local const Engine* tls_progress_engine = nullptr;  // set on each engine's progress thread
}  // namespace

bool Engine::on_progress_thread() const noexcept { return tls_progress_engine == this; }

void Engine::progress_thread_main() {
  tls_progress_engine = this;
  if (opts_.progress == ProgressMode::busy) run_busy();
  else if (opts_.progress == ProgressMode::adaptive && spin_.allowed()) run_adaptive();
  else run_blocking();
  sleeping_.store(false);
}

void Engine::run_busy() {
  std::uint64_t seen_polls = external_polls_.load(std::memory_order_relaxed);
  std::chrono::microseconds backoff = kBackoffMin;
  unsigned idle = 0;  // consecutive passes that found nothing
  for (unsigned iter = 0; !stop_.load(std::memory_order_relaxed); ++iter) {
    if (iter % 64 == 0) housekeeping(clock::now());
    const std::uint64_t polls = external_polls_.load(std::memory_order_relaxed);
    if (polls != seen_polls) {
      // A waiter drives the worker: stay out of its way, sleeping longer the
      // longer it keeps polling (fewer wake-ups stealing its core).
      seen_polls = polls;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::microseconds(kBackoffMax));
      housekeeping(clock::now());
      continue;
    }
    backoff = kBackoffMin;
    if (progress_step(false)) {
      idle = 0;
    } else if (++idle >= kPoliteAfter) {
      // Nothing for a while: keep spinning, but let any runnable thread have
      // the core first (sched_yield returns at once when none is waiting).
      std::this_thread::yield();
    }
  }
}

void Engine::run_blocking() {
  const int timeout_ms = static_cast<int>(tick_period().count());
  while (!stop_.load()) {
    while (progress_step(false) && !stop_.load()) housekeeping(clock::now());
    housekeeping(clock::now());
    if (!sleep_on_fd(timeout_ms)) break;
  }
}

bool Engine::sleep_on_fd(int timeout_ms) {
  sleeping_.store(true);
  std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with request_hook()
  bool busy = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!worker_) {
      sleeping_.store(false);
      return false;
    }
    while (ucp_worker_progress(worker_) != 0) busy = true;
    if (rndv_drain_needed_) {
      drain_rndv_locked();
      busy = true;
    }
    const ucs_status_t st = ucp_worker_arm(worker_);
    if (st == UCS_ERR_BUSY) busy = true;
    else if (st != UCS_OK) spdlog::warn("ferry[{}]: ucp_worker_arm: {}", self_, ucs_status_string(st));
  }
  if (after_progress()) busy = true;
  if (ready_.pending() > 0 || deferred_pending_.load() || stop_.load() || hook_.requested()) busy = true;
  if (!busy) {
    epoll_event ev{};
    (void)::epoll_wait(epoll_fd_, &ev, 1, timeout_ms);
  }
  sleeping_.store(false);
  return true;
}

void Engine::run_adaptive() {
  const int timeout_ms = static_cast<int>(tick_period().count());
  std::uint64_t seen_polls = external_polls_.load(std::memory_order_relaxed);
  std::chrono::microseconds backoff = kBackoffMin;
  clock::time_point last = clock::now();  // the last pass that found something
  unsigned idle = 0;                      // consecutive passes that found nothing
  bool slept = false;                     // the last pass ended a sleep
  for (unsigned iter = 0; !stop_.load(std::memory_order_relaxed); ++iter) {
    if (iter % 64 == 0) housekeeping(clock::now());
    const std::uint64_t polls = external_polls_.load(std::memory_order_relaxed);
    if (polls != seen_polls) {  // another thread polls: stay out of its way (as in busy mode)
      seen_polls = polls;
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::microseconds(kBackoffMax));
      housekeeping(clock::now());
      last = clock::now();
      slept = false;
      continue;
    }
    backoff = kBackoffMin;
    if (progress_step(false)) {
      idle = 0;
      slept = false;
      last = clock::now();
      continue;
    }
    ++idle;
    if (!slept && (idle % 64 != 0 || clock::now() - last < spin_.limit())) {
      if (idle >= kPoliteAfter / 8) std::this_thread::yield();  // quiet: runnable threads go first
      continue;
    }
    // Nothing for the whole limit (or nothing since the last sleep): sleep.
    housekeeping(clock::now());
    if (!sleep_on_fd(timeout_ms)) break;
    slept = true;
    idle = 0;
  }
}

// One progress pass. The progress thread waits for mu_; pollers only try it.
bool Engine::progress_step(bool try_only, bool* contended) {
  unsigned n = 0;
  if (try_only) {
    if (!mu_.try_lock()) {
      if (contended) *contended = true;
      return after_progress();
    }
  } else {
    mu_.lock();
  }
  if (worker_ && state_ != State::closed) {
    n = ucp_worker_progress(worker_);
    if (rndv_drain_needed_) drain_rndv_locked();
  }
  const bool took = ready_.take_locked();  // no second lock round trip to fetch what arrived
  mu_.unlock();
  if (took) run_batch();
  // The common idle pass stops here after two loads (a short spin loop is a
  // prompt one: arrival is noticed only inside ucp_worker_progress).
  bool did = took;
  if (deferred_pending_.load(std::memory_order_acquire) || ready_.pending() > 0)
    did = after_progress() || did;
  if (hook_.requested()) did = hook_.run_if_requested() || did;
  return n > 0 || did;
}

bool Engine::waiters_poll() const noexcept {
  return spin_.polling_now() && !torn_down_.load(std::memory_order_relaxed);
}

void Engine::spin_outcome(bool caught, std::chrono::nanoseconds waited) noexcept {
  if (caught) spin_.caught(waited);
  else if (waited == std::chrono::nanoseconds::max()) spin_.idle_expired();
  else spin_.slept(waited);
}

bool Engine::request_hook() noexcept {
  if (!waiters_poll()) return false;
  hook_.request();
  if (opts_.progress == ProgressMode::busy) return true;
  // Adaptive: no one may be polling. A sleeping progress thread is woken to
  // run the hook; one about to sleep sees the request (seq_cst on both sides).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleeping_.load()) wake();
  return true;
}

namespace {
// A plain store (no locked RMW): readers only need to see the counter change.
void bump(std::atomic<std::uint64_t>& counter) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
}  // namespace

bool Engine::poll_once() {
  if (pollers_mode() && !on_progress_thread()) {
    bump(external_polls_);
    bump(waiter_polls_);
  }
  return progress_step(true);
}

// An idle executor drives progress unless a waiter polled since its last
// look; the progress thread backs off for it as for a waiter. It also steps
// aside when another thread has held the engine lock for a while (a get from
// a mapped segment copies inside ucp_get_nbx, under the lock: 64 MiB take
// milliseconds, and a spinner beside the copy on 2 cores slowed it by ~20 %).
int Engine::poll_idle() {
  if (!waiters_poll() || on_progress_thread()) return -1;
  const std::uint64_t w = waiter_polls_.load(std::memory_order_relaxed);
  if (idle_seen_.exchange(w, std::memory_order_relaxed) != w) return -1;
  bump(external_polls_);
  bool contended = false;
  if (progress_step(true, &contended)) {
    idle_contended_.store(0, std::memory_order_relaxed);
    return 1;
  }
  if (!contended) {
    idle_contended_.store(0, std::memory_order_relaxed);
    return 0;
  }
  // ~64 failed try_locks in a row (a few microseconds): not a short send or poll by another thread.
  constexpr unsigned kContendedPasses = 64;
  if (idle_contended_.fetch_add(1, std::memory_order_relaxed) + 1 < kContendedPasses) return 0;
  idle_contended_.store(0, std::memory_order_relaxed);
  return -1;
}

// Runs what the callbacks deferred: errors, failures, then the ready queue.
bool Engine::after_progress() {
  bool did = false;
  if (deferred_pending_.load(std::memory_order_acquire)) {
    std::vector<Status> errors;
    std::vector<std::pair<Rank, Status>> failures;
    {
      std::lock_guard<std::mutex> lock(mu_);
      errors.swap(deferred_errors_);
      failures.swap(deferred_failures_);
      deferred_pending_.store(false);
    }
    for (const Status& e : errors) events_.report_error(e);
    for (const auto& [peer, why] : failures) fail_peer(peer, why);
    did = !errors.empty() || !failures.empty();
  }
  return drain_ready() || did;
}

// Only one thread dispatches at a time, so items run in queue order.
bool Engine::drain_ready() {
  bool any = false;
  while (ready_.pending() > 0) {
    bool took;
    {
      std::lock_guard<std::mutex> lock(mu_);
      took = ready_.take_locked();
    }
    if (!took) break;
    run_batch();
    any = true;
  }
  return any;
}

void Engine::run_batch() {
  ready_.run_batch([this](Rank src, HandlerId handler, ByteView payload) { dispatch_am(src, handler, payload); },
                   [this] { return shut_down_status(); });
}

void Engine::push_completion_locked(std::optional<Promise<void>>& promise, Status status) {
  if (!promise) return;
  ready_.complete_locked(std::move(*promise), std::move(status));
  promise.reset();
}

void Engine::defer_error_locked(Status error) {
  deferred_errors_.push_back(std::move(error));
  deferred_pending_.store(true, std::memory_order_release);
}

void Engine::defer_failure_locked(Rank peer, Status why) {
  deferred_failures_.emplace_back(peer, std::move(why));
  deferred_pending_.store(true, std::memory_order_release);
}

void Engine::wake_locked() noexcept {
  if (opts_.progress != ProgressMode::busy && sleeping_.load() && worker_) ucp_worker_signal(worker_);
}

void Engine::wake() noexcept {
  if (opts_.progress == ProgressMode::busy || !sleeping_.load()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (worker_) ucp_worker_signal(worker_);
}

std::chrono::milliseconds Engine::tick_period() const noexcept {
  if (!liveness_ || !liveness_->enabled()) return std::chrono::milliseconds(100);
  auto p = std::min(opts_.heartbeat_interval, opts_.peer_timeout) / 4;
  return std::clamp(p, std::chrono::milliseconds(1), std::chrono::milliseconds(100));
}

// ---------------------------------------------------------------- ops

ucp_request_param_t Engine::op_param(Op* op) {
  ucp_request_param_t prm{};
  prm.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  prm.cb.send = &Engine::op_done_cb;
  prm.user_data = op;
  return prm;
}

// UCX may run an op's completion callback inside the very nbx call that posts
// it (e.g. a transfer failing at once) and still return the request pointer.
// While posting, the callback only records the status (per op, so nested UCX
// calls cannot mix them up); end_post_locked() then settles the op exactly once.
void Engine::begin_post_locked(Op* op) {
  op->posting = true;
  op->completed_early = false;
}

bool Engine::end_post_locked(Op* op, ucs_status_ptr_t req, const char* call, Status* early) {
  op->posting = false;
  ucs_status_t status;
  if (op->completed_early) {
    status = op->early_status;
    if (UCS_PTR_IS_PTR(req)) ucp_request_free(req);
  } else if (req == nullptr) {
    status = UCS_OK;
  } else if (UCS_PTR_IS_ERR(req)) {
    status = UCS_PTR_STATUS(req);
  } else {
    peers_[op->peer].ops.link(op);  // in flight: op_done_cb finishes it
    return true;
  }
  // Completed within the call: no continuation can be attached to the future
  // yet, so the promise is completed right here.
  if (status == UCS_OK && !op->promise) {  // the common case (an eager AM): no Status to build
    if (op->kind != Op::Kind::get) activity_.sent(op->peer);
    ops_.give(op);
    return false;
  }
  Status result = op_status_locked(*op, status);
  if (!result.is_ok() && !op->completed_early)
    result = Status(result.code(), std::string(call) + ": " + result.message());
  if (status == UCS_OK && op->kind != Op::Kind::get) activity_.sent(op->peer);
  if (op->promise) op->promise->set_result(Result<void>(result));
  else if (early) *early = std::move(result);
  else if (!result.is_ok()) spdlog::debug("ferry[{}]: {}", self_, result.to_string());
  ops_.give(op);
  return false;
}

void Engine::op_done_cb(void* request, ucs_status_t status, void* user_data) {
  auto* op = static_cast<Op*>(user_data);
  Engine* e = op->engine;
  if (op->posting) {  // completed inside its own nbx call; end_post_locked settles it
    op->completed_early = true;
    op->early_status = status;
    return;
  }
  e->finish_op_locked(op, status);
  ucp_request_free(request);
}

void Engine::finish_op_locked(Op* op, ucs_status_t status) {
  peers_[op->peer].ops.unlink(op);
  if (status == UCS_OK) {
    // A deferred completion means the peer took the data (rendezvous ack, get
    // reply, or it drained a full queue): proof of life, and the link is busy.
    activity_.heard(op->peer);
    if (op->kind != Op::Kind::get) activity_.sent(op->peer);
  }
  if (op->promise) {
    push_completion_locked(op->promise, op_status_locked(*op, status));
  } else if (status != UCS_OK && status != UCS_ERR_CANCELED && op->kind == Op::Kind::internal) {
    spdlog::debug("ferry[{}]: internal AM to rank {} failed: {}", self_, op->peer, ucs_status_string(status));
  }
  ops_.give(op);
}

// Errors that mean the peer is gone or unreachable (vs. a local problem).
bool is_peer_loss(ucs_status_t status) {
  return status == UCS_ERR_IO_ERROR || status == UCS_ERR_CONNECTION_RESET || status == UCS_ERR_ENDPOINT_TIMEOUT ||
         status == UCS_ERR_UNREACHABLE || status == UCS_ERR_NOT_CONNECTED;
}

// The Status an op completes with. On endpoints without UCX error handling
// (shm) a peer-loss error also schedules fail_peer: it is often the first sign
// of a dead peer there.
Status Engine::op_status_locked(const Op& op, ucs_status_t status) {
  if (status == UCS_OK) return Status::ok();
  const std::string what = (op.kind == Op::Kind::get ? "get from rank " : "AM send to rank ") + std::to_string(op.peer);
  if (peers_[op.peer].failed) return Status(Errc::peer_failed, what + " abandoned: the peer failed");
  if (state_ != State::running) return shut_down_status();
  if (is_peer_loss(status)) {
    // With UCP_ERR_HANDLING_MODE_PEER, UCX reports the failure itself (ep_error_cb)
    // once it has cleaned up the endpoint; closing it earlier races with that.
    Status why = ucx_failure(Errc::peer_failed, what + " failed; the peer is unreachable", self_, status);
    if (!peers_[op.peer].peer_mode) defer_failure_locked(op.peer, why);
    return why;
  }
  return ucx_failure(Errc::transport_error, what + " failed", self_, status);
}

// ---------------------------------------------------------------- failures

void Engine::ep_error_cb(void* arg, ucp_ep_h /*ep*/, ucs_status_t status) {
  auto* a = static_cast<EpErrorArg*>(arg);
  Engine* e = a->engine;
  if (e->state_ != State::running) return;
  e->defer_failure_locked(a->rank, ucx_failure(Errc::peer_failed,
                                             "the UCX endpoint to rank " + std::to_string(a->rank) +
                                                 " reported an error (process died or network unreachable)",
                                             e->self_, status));
}

void Engine::fail_peer(Rank peer, const Status& why) {
  if (peer >= size_ || peer == self_) return;
  // Reports once (unless shutdown began). A peer whose shutdown message came in
  // while this rank shuts down too left cleanly: its endpoint closes, its
  // pending ops end, but it is not listed as failed (as the TCP backend).
  if (!(events_.reports_suppressed() && barrier_.has_arrived(peer))) events_.mark_peer_failed(peer, why);
  barrier_.poke();
  std::vector<Promise<void>> victims;
  {
    std::lock_guard<std::mutex> lock(mu_);
    Peer& p = peers_[peer];
    if (p.failed) return;
    p.failed = true;
    for (Op* op = p.ops.head(); op; op = op->next)
      if (op->promise) {
        victims.push_back(std::move(*op->promise));
        op->promise.reset();
      }
    p.reorder.clear();  // rendezvous receives in flight find no slot and drop their data
    drop_queued_rndv_locked(peer);
    // Its receives in flight may never complete (UCX 1.13 does not cancel a
    // rendezvous on a force-closed endpoint): stop counting them against the
    // window, or other peers' large AMs could queue forever. Their buffers stay
    // owned by the RecvCtx until UCX lets go (callback or teardown).
    for (RecvCtx* ctx : recvs_)
      if (ctx->src == peer && ctx->in_window) {
        rndv_inflight_ -= ctx->buffer.size();
        ctx->in_window = false;
      }
    close_peer_eps_locked(p, true);  // cancels UCX's requests: user buffers are free again
    drain_rndv_locked();
  }
  const Status st(Errc::peer_failed, "operation to rank " + std::to_string(peer) + " abandoned on rank " +
                                         std::to_string(self_) + ": " + why.message());
  for (auto& v : victims) v.set_error(st);
  spdlog::debug("ferry[{}]: rank {} failed; {} pending operations failed", self_, peer, victims.size());
}

// Last look before declaring peers dead: drain what already arrived (bounded),
// since a heartbeat may sit unread behind a backlog, and spare every peer heard
// from meanwhile (its activity bit is folded into Liveness at the next tick).
void Engine::recheck_timeouts() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!worker_ || state_ == State::closed) return;
    for (int i = 0; i < 256 && ucp_worker_progress(worker_) != 0; ++i) {
    }
    if (rndv_drain_needed_) drain_rndv_locked();
  }
  std::erase_if(timed_out_, [&](Rank r) { return activity_.heard_since_fold(r); });
}

void Engine::housekeeping(clock::time_point now) {
  spin_.sample_load(now);
  if (!liveness_ || !liveness_->enabled() || now < next_tick_) return;
  activity_.fold_into(*liveness_);
  liveness_->spare_after_stall(next_tick_, now, std::max<clock::duration>(4 * tick_period(), std::chrono::milliseconds(100)));
  next_tick_ = now + tick_period();
  liveness_->tick(now, need_heartbeat_, timed_out_);
  if (!timed_out_.empty()) recheck_timeouts();
  if (!need_heartbeat_.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (usable_locked())
      for (Rank r : need_heartbeat_) post_heartbeat_locked(r);
  }
  for (Rank r : timed_out_) {
    if (events_.is_failed(r)) continue;
    fail_peer(r, Status(Errc::peer_failed, "nothing heard from rank " + std::to_string(r) + " for " +
                                               std::to_string(opts_.peer_timeout.count()) +
                                               " ms (peer_timeout); presumed dead (killed, hung or cut off; " +
                                               liveness_->silence_facts(r, now) + ")"));
  }
}

}  // namespace ferry::transport::ucx
