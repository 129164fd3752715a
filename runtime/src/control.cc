// control.cc — job control of one rank (Core members): the runtime barrier,
// aborts, and the collective part of shutdown.
//
// Messages (handler ids in protocol.h's runtime range):
//   kBarrier  any -> any   u64 kBarrierMagic, u64 generation (the sender entered its n-th barrier)
//   kAbort    any -> any   u64 kAbortMagic, u8 errc, then the message text
//
// Shutdown sequence (Core::shutdown, core.cc), for the collective and serve modes:
//   1. drain: this rank's submitted tasks complete and its reads end, while
//      it still accepts everything (peers' tasks run here and read its objects);
//   2. arrive: send kShutdown to every peer, then keep serving until every
//      live peer arrived (collective: bounded by shutdown_timeout unless it is
//      0; serve: unbounded) or a peer aborted;
//   3. stop accepting, drain again what the last peers' tasks left here
//      (nested submissions), stop the executors, release the store.
// Every rank arrives only once its own submitted work is complete, and keeps
// executing peers' tasks until the last rank arrived, so no rank stops while
// another still needs it for work it is waiting on.
//
// Barriers count generations: a peer's kBarrier(n) may arrive before this rank
// enters its n-th barrier; barrier n completes when every peer reached n. A
// failed or aborted peer fails the barrier (no timeout otherwise: a barrier
// separates phases of a job of any length).
//
// Thread-safety: handlers on the progress thread; barrier/abort/shutdown from
// the thread that owns the Runtime. sd_mu_ guards the arrival state.
#include <spdlog/spdlog.h>

#include "core.h"
#include "protocol.h"
#include "tasks.h"
#include "wire_io.h"

namespace ferry::rt {

namespace {

inline constexpr transport::HandlerId kBarrier = 0xF020;
inline constexpr transport::HandlerId kAbort = 0xF021;
inline constexpr std::uint64_t kBarrierMagic = 0x5252414252525446ull;  // "FTRRBARR"
inline constexpr std::uint64_t kAbortMagic = 0x54524F4241525446ull;    // "FTRABORT"
inline constexpr std::size_t kMaxAbortText = 4096;

std::string ranks_str(const std::vector<Rank>& rs) {
  std::string s;
  for (Rank r : rs) s += (s.empty() ? "" : " ") + std::to_string(r);
  return s;
}

}  // namespace

void Core::install_control_handlers() {
  auto wrap = [this](void (Core::*fn)(Rank, ByteView)) {
    return [this, fn](Rank src, ByteView p) {
      GateGuard g(gate_);
      if (g) (this->*fn)(src, p);
    };
  };
  if (Status s = t_.set_handler(kBarrier, wrap(&Core::on_barrier_msg)); !s) report(s);
  if (Status s = t_.set_handler(kAbort, wrap(&Core::on_abort_msg)); !s) report(s);
  MutexLock lock(sd_mu_);
  barrier_seen_.assign(size_, 0);
}

void Core::on_barrier_msg(Rank src, ByteView p) {
  proto::Reader r(p, src, "runtime-barrier");
  std::uint64_t magic = 0, gen = 0;
  if (!r.u64(magic) || !r.u64(gen) || !r.at_end() || magic != kBarrierMagic)
    return report(r.error("bad magic or length"));
  MutexLock lock(sd_mu_);
  if (src < barrier_seen_.size() && gen > barrier_seen_[src]) barrier_seen_[src] = gen;
  sd_cv_.notify_all();
}

void Core::on_abort_msg(Rank src, ByteView p) {
  proto::Reader r(p, src, "runtime-abort");
  std::uint64_t magic = 0;
  std::uint8_t code = 0;
  ByteView text;
  if (!r.u64(magic) || !r.u8(code) || magic != kAbortMagic || code == 0 || code > static_cast<std::uint8_t>(kLastErrc) ||
      !r.bytes(p.size() - r.pos(), text) || text.size() > kMaxAbortText)
    return report(r.error("bad magic, code or length"));
  Status why(static_cast<Errc>(code), "rank " + std::to_string(src) + " aborted the job: " +
                                          std::string(reinterpret_cast<const char*>(text.data()), text.size()));
  MutexLock lock(sd_mu_);
  if (!aborted_) aborted_ = std::move(why);
  sd_cv_.notify_all();
}

Status Core::barrier() {
  GateGuard g(gate_);
  if (!g || !accepting_.load())
    return Status(Errc::shut_down, "barrier on rank " + std::to_string(self_) + ": the ferry runtime is shut down");
  std::uint64_t gen = 0;
  {
    MutexLock lock(sd_mu_);
    gen = ++barrier_gen_;
  }
  for (Rank p = 0; p < size_; ++p) {
    if (p == self_ || own_.is_dead(p)) continue;
    proto::Writer w(16);
    w.u64(kBarrierMagic);
    w.u64(gen);
    send(p, kBarrier, w.take());
  }
  tasks_->flush_all();  // work batched before the barrier leaves now
  MutexUniqueLock lock(sd_mu_);
  for (;;) {
    if (aborted_) return *aborted_;
    std::vector<Rank> dead;
    bool all = true;
    for (Rank p = 0; p < size_; ++p) {
      if (p == self_ || barrier_seen_[p] >= gen) continue;
      if (own_.is_dead(p)) dead.push_back(p);
      all = false;
    }
    if (!dead.empty())
      return Status(Errc::peer_failed, "barrier on rank " + std::to_string(self_) + ": ranks " + ranks_str(dead) +
                                           " failed before reaching it");
    if (all) return Status::ok();
    sd_cv_.wait_for(lock.native(), std::chrono::milliseconds(100));
  }
}

Status Core::abort(const Status& why) {
  {
    GateGuard g(gate_);
    if (!g) return Status::ok();
    std::string text = why.message().substr(0, kMaxAbortText);
    const Errc code = why.is_ok() ? Errc::internal : why.code();
    for (Rank p = 0; p < size_; ++p) {
      if (p == self_ || own_.is_dead(p)) continue;
      proto::Writer w(16 + text.size());
      w.u64(kAbortMagic);
      w.u8(static_cast<std::uint8_t>(code));
      w.bytes(ByteView(reinterpret_cast<const std::byte*>(text.data()), text.size()));
      send(p, kAbort, w.take());
    }
    MutexLock lock(sd_mu_);
    if (!aborted_) aborted_ = Status(code, "rank " + std::to_string(self_) + " aborted the job: " + why.message());
    sd_cv_.notify_all();
  }
  return shutdown(ShutdownMode::abort);
}

Status Core::drain_own_work(std::chrono::steady_clock::time_point deadline) {
  if (tasks_ && !tasks_->drain(deadline))
    return Status(Errc::timeout, "runtime shutdown on rank " + std::to_string(self_) + ": " +
                                     std::to_string(tasks_->pending()) + " submitted tasks still running after " +
                                     std::to_string(opts_.shutdown_timeout.count()) + " ms (FERRY_SHUTDOWN_TIMEOUT_MS)");
  if (!wait_fetches_drained(deadline))
    return Status(Errc::timeout, "runtime shutdown on rank " + std::to_string(self_) +
                                     ": reads of remote objects still in flight after " +
                                     std::to_string(opts_.shutdown_timeout.count()) + " ms (FERRY_SHUTDOWN_TIMEOUT_MS)");
  return Status::ok();
}

Status Core::wait_for_peers(std::optional<std::chrono::steady_clock::time_point> deadline, bool peers_must_live,
                            std::optional<Rank> driver) {
  for (Rank p = 0; p < size_; ++p)
    if (p != self_ && !own_.is_dead(p)) send(p, proto::kShutdown, proto::encode_shutdown());
  if (tasks_) tasks_->flush_all();
  MutexUniqueLock lock(sd_mu_);
  auto missing = [&]() FERRY_REQUIRES(sd_mu_) {
    std::vector<Rank> m;
    for (Rank p = 0; p < size_; ++p)
      if (p != self_ && !sd_arrived_[p] && !own_.is_dead(p)) m.push_back(p);
    return m;
  };
  for (;;) {
    if (aborted_) return *aborted_;
    const std::vector<Rank> left = missing();
    if (left.empty()) break;
    if (deadline && std::chrono::steady_clock::now() >= *deadline)
      return Status(Errc::timeout, "runtime shutdown on rank " + std::to_string(self_) + ": ranks " +
                                       ranks_str(left) + " did not reach shutdown within " +
                                       std::to_string(opts_.shutdown_timeout.count()) +
                                       " ms (every rank must call shutdown; a rank that finishes early "
                                       "can serve() instead, or set FERRY_SHUTDOWN_TIMEOUT_MS=0 to wait forever)");
    sd_cv_.wait_for(lock.native(), std::chrono::milliseconds(50));
  }
  if (!peers_must_live) return Status::ok();  // failed peers are skipped
  std::vector<Rank> dead, skipped;
  for (Rank p = 0; p < size_; ++p)
    if (p != self_ && !sd_arrived_[p]) (driver && p != *driver ? skipped : dead).push_back(p);
  if (!skipped.empty())
    spdlog::info("ferry[{}]: serving rank {} ended; ranks {} failed before reaching shutdown (skipped)", self_,
                 *driver, ranks_str(skipped));
  if (!dead.empty())
    return Status(Errc::peer_failed, "runtime shutdown on rank " + std::to_string(self_) + ": ranks " +
                                         ranks_str(dead) + " failed before reaching shutdown");
  return Status::ok();
}

}  // namespace ferry::rt
