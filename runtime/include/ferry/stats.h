// ferry/stats.h — this rank's counters and gauges, as a struct and in the
// Prometheus text format.
//
//   ferry::Stats s = ferry::stats();
//   std::printf("%llu tasks done\n", (unsigned long long)s.tasks_finished);
//   std::string text = s.prometheus();   // "ferry_tasks_finished_total{rank=\"0\"} 1000\n..."
//
// Counters count since the process started (they survive a runtime restart);
// gauges are read now. Exported names: ferry_<field>, with `_total` for
// counters, `_bytes` for byte counts, `_seconds` for times (see prometheus()).
// The runtime also exports them by itself: FERRY_METRICS=DIR writes
// DIR/ferry-metrics.rank<R>.prom at shutdown and on SIGUSR1;
// FERRY_METRICS_PORT=P serves them over HTTP on port P+rank.
//
// Thread-safety: any thread; each value is exact, the set is not one atomic cut.
#pragma once

#include <cstdint>
#include <string>

namespace ferry {

struct Stats {
  bool running = false;          // a runtime is running (else gauges are 0)
  std::uint32_t rank = 0, size = 0;
  double uptime_seconds = 0;     // since the runtime started

  // Tasks this rank submitted (owner side) — counters.
  std::uint64_t tasks_submitted = 0, tasks_finished = 0, tasks_failed = 0, tasks_retried = 0;
  // Gauges: submitted and not completed; executing on this rank now.
  std::uint64_t tasks_in_flight = 0, tasks_running = 0;
  // Tasks executed on this rank (executor side) — counter.
  std::uint64_t tasks_executed = 0;

  // Object API — counters.
  std::uint64_t puts = 0, put_bytes = 0, gets = 0, get_bytes = 0;
  // Reads of objects from other ranks into this one (remote gets and task arguments).
  std::uint64_t remote_reads = 0, remote_read_bytes = 0;

  // Objects — gauges.
  std::uint64_t objects_owned = 0, objects_borrowed = 0, objects_cached = 0;
  // Payload bytes in this rank's store: its own objects; other ranks' (cached copies, task outputs kept here).
  std::uint64_t owned_bytes = 0, cached_bytes = 0;
  std::uint64_t store_objects = 0, store_used_bytes = 0, store_capacity_bytes = 0, store_high_water_bytes = 0;
  // Store bytes the background prefaulter (FERRY_STORE_PREFAULT) has yet to fault in: 0 once it caught up.
  std::uint64_t store_prefault_pending_bytes = 0;

  // Spilling to disk: counters, and the bytes on disk now (gauge).
  std::uint64_t spills = 0, spilled_bytes_total = 0, restores = 0, restored_bytes_total = 0;
  std::uint64_t spilled_bytes = 0;

  std::uint64_t peers_failed = 0;

  // Prometheus text exposition format (# HELP / # TYPE lines, label rank="R").
  std::string prometheus() const;
  // One line for logs and summaries.
  std::string describe() const;
};

// A snapshot of this rank; with no runtime running, the counters and running == false.
Stats stats();

}  // namespace ferry
