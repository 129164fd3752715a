// ferry_run_progress.h — `ferry-run --progress`: a live status line while the job runs and a
// per-rank summary at its end.
//
// How ranks report: ferry-run gives each rank FERRY_STATS_FILE=<rendezvous dir>/stats.<rank>;
// the rank's runtime rewrites that file (write + rename, so it is never read half-written)
// every 250 ms and once more at shutdown with final=1 (runtime/src/observe.h). One line:
//   ferry-stats 1 rank=R final=0|1 uptime_s=S submitted=N finished=N failed=N in_flight=N ...
// A rank that never started a ferry runtime, or died, simply has no (final) file.
//
// Display: on a terminal, one line on stderr redrawn every 0.5 s ("\r" + erase), cleared
// before any rank output is forwarded; otherwise a plain line every 2 s.
// Thread-safety: none needed; ferry-run is single-threaded.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ferry::run {

// One parsed stats line (key -> value); `final` and `rank` are among the keys.
using RankStats = std::map<std::string, double>;
std::optional<RankStats> parse_stats_line(const std::string& line);

class Progress {
 public:
  Progress(std::string dir, unsigned ranks, bool live);
  std::string stats_file(unsigned rank) const;
  // Milliseconds until the next tick() is due (for poll()).
  int poll_ms() const;
  // Re-reads the rank files and redraws when due.
  void tick();
  // Before ferry-run forwards rank output: erases the live line (redrawn on the next tick).
  void before_output();
  // End of the job: erases the live line, prints one summary line per rank.
  void finish();

  // The status line for the current snapshot (exposed for tests).
  std::string status_line() const;
  // The summary line of one rank (exposed for tests).
  static std::string summary_line(unsigned rank, const std::optional<RankStats>& s);

 private:
  void read_all();
  void draw();

  std::string dir_;
  unsigned ranks_;
  bool tty_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_, next_;
  std::vector<std::optional<RankStats>> last_;
};

}  // namespace ferry::run
