// metrics.h — per-rank counters (internal). Always on; an increment is a
// plain add to the calling thread's own cache line (no locked instruction,
// no sharing); a read sums every thread's block (ferry::stats()).
//
// Counters are monotonic per process; gauges are differences of two counters
// (e.g. tasks running = started - ended), so a thread that exits can hand its
// block to the next new thread without losing or double-counting anything.
//
// For the spill and retry code (names as exported, see stats.h):
//   metrics::add(metrics::C::tasks_retried);                  a task re-submitted
//   metrics::add(metrics::C::spills); add(C::spilled_bytes, n) an object written to disk
//   metrics::add(metrics::C::restores); add(C::restored_bytes, n) read back into the store
//   metrics::add(metrics::C::spill_freed_bytes, n)            a spilled file deleted unread
// (spilled bytes on disk now = spilled_bytes - restored_bytes - spill_freed_bytes).
//
// Thread-safety: add() from any thread; snapshot() from any thread (a sum of
// relaxed loads: each counter is exact, the set is not one atomic cut).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace ferry::rt::metrics {

enum class C : unsigned {
  tasks_submitted,   // this rank submitted (owner side)
  tasks_finished,    // completed with a value (owner side)
  tasks_failed,      // completed with an error (owner side)
  tasks_retried,     // re-submitted after a failure (retry code)
  tasks_started,     // began executing here (executor side)
  tasks_ended,       // finished executing here
  puts,
  put_bytes,
  gets,              // get()/view()/get(list) reads of one object
  get_bytes,
  remote_reads,      // objects read from another rank into this one
  remote_read_bytes,
  spills,            // objects written to disk (spill code)
  spilled_bytes,
  restores,          // objects read back from disk (spill code)
  restored_bytes,
  spill_freed_bytes, // spilled bytes deleted without a restore (spill code)
  peers_failed,
  kCount
};

constexpr std::size_t kCounters = static_cast<std::size_t>(C::kCount);

struct alignas(64) Block {
  std::array<std::atomic<std::uint64_t>, kCounters> v{};
};

extern thread_local Block* tl_block;
Block* attach_block();  // cold: registers (or reuses) a block for this thread

inline void add(C c, std::uint64_t n = 1) noexcept {
  Block* b = tl_block;
  if (__builtin_expect(b == nullptr, 0)) b = attach_block();
  auto& slot = b->v[static_cast<std::size_t>(c)];
  slot.store(slot.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // only this thread writes
}

// Sum over every thread of this process.
std::array<std::uint64_t, kCounters> snapshot() noexcept;

}  // namespace ferry::rt::metrics
