// events.h — pieces every backend shares (internal): the handler table, the
// error/peer-failure sink, liveness bookkeeping and the shutdown barrier.
//
// Thread-safety: every class here is internally synchronized; all methods may
// be called from any thread. Handlers/callbacks are invoked without any of
// these classes' locks held.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/log_limit.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::common {

// The Transport progress hook (transport.h): one function, run by the next
// poller after request(). Cheap when idle: one relaxed load per pass.
class ProgressHook {
 public:
  void set(std::function<void()> hook);
  void request() noexcept { pending_.store(true, std::memory_order_release); }
  bool requested() const noexcept { return pending_.load(std::memory_order_relaxed); }
  // Runs the hook if one was requested; returns whether it ran.
  bool run_if_requested();

 private:
  std::atomic<bool> pending_{false};
  std::mutex mu_;               // held while the hook runs, so set({}) waits for it
  std::function<void()> hook_;  // guarded by mu_
};

// id -> handler, read on every delivered AM without a lock: two acquire loads
// (a page of 256 slots, allocated on first use, then the slot). A handler that
// is replaced or removed is retired, not freed, until the table is destroyed,
// so a pointer returned by find() stays valid while the handler runs even if
// another thread replaces it (handlers are installed a few times per job).
class HandlerTable {
 public:
  HandlerTable() = default;
  ~HandlerTable();
  HandlerTable(const HandlerTable&) = delete;
  HandlerTable& operator=(const HandlerTable&) = delete;

  // Rejects reserved ids unless `internal` is set.
  Status set(HandlerId id, AmHandler handler, bool internal = false);
  // Returns null when no handler is installed for `id`; valid until ~HandlerTable.
  const AmHandler* find(HandlerId id) const noexcept {
    const Page* page = pages_[id / kPageSlots].load(std::memory_order_acquire);
    return page ? page->slots[id % kPageSlots].load(std::memory_order_acquire) : nullptr;
  }

 private:
  static constexpr std::size_t kPageSlots = 256;
  struct Page {
    std::atomic<const AmHandler*> slots[kPageSlots] = {};
  };
  std::atomic<Page*> pages_[(std::size_t{1} << (8 * sizeof(HandlerId))) / kPageSlots] = {};
  std::mutex mu_;                                   // serializes set()
  std::vector<std::unique_ptr<const AmHandler>> kept_;  // guarded by mu_: every handler ever set
};

// Every peer-failure declaration is logged once as
//   "ferry-peer-failed: rank S declared rank P failed (timeout|error): <why>"
// "timeout" when `why` contains kPeerTimeoutMark (nothing heard for peer_timeout), "error"
// when the backend saw the peer go (EOF, endpoint error, malformed frame).
inline constexpr const char* kPeerFailedLogPrefix = "ferry-peer-failed:";
inline constexpr const char* kPeerTimeoutMark = "(peer_timeout)";

// Where asynchronous errors and peer failures go. Logs each once (spdlog) and
// forwards to the user's callbacks.
class EventSink {
 public:
  explicit EventSink(Rank self, Rank size);

  void set_error_handler(ErrorHandler h);
  void set_peer_failure_handler(PeerFailureHandler h);

  void report_error(const Status& error);
  // Returns true only the first time `peer` is marked failed. Invokes the
  // peer-failure callback unless failures are suppressed (after shutdown began).
  bool mark_peer_failed(Rank peer, const Status& why);
  bool is_failed(Rank peer) const noexcept;
  std::vector<Rank> failed() const;
  void suppress_peer_failure_reports() noexcept { suppressed_.store(true); }
  bool reports_suppressed() const noexcept { return suppressed_.load(); }

 private:
  Rank self_;
  std::unique_ptr<std::atomic<bool>[]> failed_;
  Rank size_;
  std::atomic<bool> suppressed_{false};
  LogLimiter malformed_log_;  // malformed-input warnings are rate limited (the handler sees all)
  mutable std::mutex mu_;
  ErrorHandler on_error_;               // guarded by mu_
  PeerFailureHandler on_peer_failure_;  // guarded by mu_
};

// Heartbeat bookkeeping. The progress thread calls tick() periodically.
class Liveness {
 public:
  using clock = std::chrono::steady_clock;
  Liveness(Rank self, Rank size, std::chrono::milliseconds interval, std::chrono::milliseconds timeout);

  bool enabled() const noexcept { return interval_.count() > 0 && timeout_.count() > 0; }
  void heard_from(Rank peer) noexcept;
  void sent_to(Rank peer) noexcept;
  // Fills the peers owed a heartbeat (nothing sent to them for an interval)
  // and the peers silent for longer than the timeout. Skips `self`.
  void tick(clock::time_point now, std::vector<Rank>& need_heartbeat, std::vector<Rank>& timed_out);
  // Earliest time tick() has something to do (for blocking waits).
  std::chrono::milliseconds interval() const noexcept { return interval_; }
  std::chrono::milliseconds timeout() const noexcept { return timeout_; }
  // Stall grace, called by the progress thread before tick(): `due` is when
  // its tick was due. A tick more than `late` after that means the thread was
  // not scheduled (an oversubscribed node) or a handler blocked it: frames may
  // wait unread, and peers starved by the same load could not send. Every
  // peer then gets a fresh timeout from `now`, at most once per timeout, so a
  // dead peer is still found (within about two timeouts plus the stall) where
  // the thread keeps stalling. True when it granted one.
  bool spare_after_stall(clock::time_point due, clock::time_point now, clock::duration late);
  // For a timeout declaration made at tick `now`: when `peer` was last heard
  // from, when the previous tick ran and the last stall grace was given (the
  // facts to judge a false positive by). Progress thread only.
  std::string silence_facts(Rank peer, clock::time_point now) const;

 private:
  static std::int64_t to_ticks(clock::time_point t) noexcept { return t.time_since_epoch().count(); }
  Rank self_, size_;
  std::chrono::milliseconds interval_, timeout_;
  std::unique_ptr<std::atomic<std::int64_t>[]> last_heard_;
  std::unique_ptr<std::atomic<std::int64_t>[]> last_sent_;
  clock::time_point last_grace_{};  // the progress thread's
  clock::time_point prev_tick_{}, last_tick_{};  // the progress thread's: tick() calls
};

// Per-peer "heard from" / "sent to" bits, noted lock-free on the hot paths (no
// clock read per message) and folded into a Liveness once per tick by the
// progress thread. Noting tests before setting: under traffic the bit is
// already set and a note is a plain load, not a locked read-modify-write per
// message. A note racing with the fold may be lost for that tick; the next
// message sets it again.
class ActivityFlags {
 public:
  explicit ActivityFlags(Rank size) : size_(size), bits_(new std::atomic<std::uint8_t>[size]) {
    for (Rank r = 0; r < size; ++r) bits_[r].store(0, std::memory_order_relaxed);
  }
  void heard(Rank peer) noexcept { note(peer, kHeard); }
  void sent(Rank peer) noexcept { note(peer, kSent); }
  // Heard from `peer` since the last fold.
  bool heard_since_fold(Rank peer) const noexcept {
    return peer < size_ && (bits_[peer].load(std::memory_order_relaxed) & kHeard) != 0;
  }
  // Moves the bits into `l` (heard_from / sent_to) and clears them.
  void fold_into(Liveness& l) noexcept {
    for (Rank r = 0; r < size_; ++r) {
      if (bits_[r].load(std::memory_order_relaxed) == 0) continue;
      const std::uint8_t a = bits_[r].exchange(0, std::memory_order_relaxed);
      if (a & kHeard) l.heard_from(r);
      if (a & kSent) l.sent_to(r);
    }
  }

 private:
  static constexpr std::uint8_t kHeard = 1, kSent = 2;
  void note(Rank peer, std::uint8_t bit) noexcept {
    if (peer < size_ && !(bits_[peer].load(std::memory_order_relaxed) & bit))
      bits_[peer].fetch_or(bit, std::memory_order_relaxed);
  }
  Rank size_;
  std::unique_ptr<std::atomic<std::uint8_t>[]> bits_;
};

// Collective shutdown: every rank sends wire::kShutdown to every live peer and
// waits until each live peer's arrived (or failed, or the deadline passed).
class ShutdownBarrier {
 public:
  explicit ShutdownBarrier(Rank size);
  void arrived(Rank peer);
  // `peer`'s shutdown message came in: it left the job cleanly, so losing it
  // afterwards is not a failure.
  bool has_arrived(Rank peer);
  // Wakes waiters so they can re-check failures.
  void poke();
  // Returns ok when every peer not in `failed` arrived; timeout otherwise.
  // `poll` (may be empty) is called between checks when the caller must drive progress.
  Status wait(Rank self, const EventSink& events, std::chrono::steady_clock::time_point deadline,
              const std::function<bool()>& poll);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> arrived_;  // guarded by mu_
};

// Formats "rank 3" style prefixes consistently.
std::string rank_str(Rank r);

}  // namespace ferry::transport::common
