// scheduler.h — where a task runs when the caller did not say (internal).
//
// place_task() is a pure function (unit-tested in tests/runtime/test_scheduler.cc):
//   1. Locality: the live rank that holds the most bytes of the task's
//      arguments, if that is at least `locality_bytes`.
//   2. Otherwise the least-loaded live rank: load = max(outstanding tasks this
//      submitter has on the rank, queue length the rank last reported), per
//      executor thread of the rank. Ties are broken round robin from `rotor`.
// LoadBoard is the submitter's view the inputs come from (thread-safe).
//
// Thread-safety: place_task is pure; LoadBoard uses atomics only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ferry/transport/transport.h"

namespace ferry::rt {

using transport::Rank;

struct RankLoad {
  bool alive = true;
  std::uint32_t threads = 1;       // executor threads of the rank (>= 1)
  std::uint64_t outstanding = 0;   // this submitter's tasks on it, not done yet
  std::uint64_t reported = 0;      // queue length it reported last (0 when stale)
};

struct ArgBytes {
  Rank rank = transport::kInvalidRank;
  std::uint64_t bytes = 0;
};

inline constexpr std::uint64_t kDefaultLocalityBytes = std::uint64_t{1} << 20;

// Returns a rank < loads.size(); `self` if no rank is alive (callers check liveness).
Rank place_task(Rank self, std::span<const RankLoad> loads, std::span<const ArgBytes> args,
                std::uint64_t locality_bytes, std::uint64_t rotor);

// The submitter's per-rank counters.
class LoadBoard {
 public:
  explicit LoadBoard(Rank size);
  void set_threads(Rank r, std::uint32_t threads) { slots_[r].threads.store(threads ? threads : 1); }
  void submitted(Rank r) { slots_[r].outstanding.fetch_add(1, std::memory_order_relaxed); }
  void finished(Rank r) { slots_[r].outstanding.fetch_sub(1, std::memory_order_relaxed); }
  void reported(Rank r, std::uint32_t queue_length);
  void dead(Rank r) { slots_[r].alive.store(false); }
  bool alive(Rank r) const { return slots_[r].alive.load(); }
  std::uint64_t outstanding(Rank r) const { return slots_[r].outstanding.load(std::memory_order_relaxed); }
  // A snapshot for place_task (reports older than `stale_after` count as 0).
  void snapshot(std::vector<RankLoad>& out, std::chrono::milliseconds stale_after) const;
  std::uint64_t next_rotor() { return rotor_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Slot {
    std::atomic<bool> alive{true};
    std::atomic<std::uint32_t> threads{1};
    std::atomic<std::uint64_t> outstanding{0};
    std::atomic<std::uint32_t> reported{0};
    std::atomic<std::int64_t> reported_at{0};  // steady_clock ticks
  };
  std::unique_ptr<Slot[]> slots_;
  Rank size_;
  std::atomic<std::uint64_t> rotor_{0};
};

}  // namespace ferry::rt
