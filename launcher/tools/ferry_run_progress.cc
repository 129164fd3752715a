// ferry_run_progress.cc — see ferry_run_progress.h.
#include "ferry_run_progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "ferry_run_support.h"

namespace ferry::run {

namespace {

using Clock = std::chrono::steady_clock;

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

double get(const RankStats& s, const char* key) {
  auto it = s.find(key);
  return it == s.end() ? 0 : it->second;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

}  // namespace

std::optional<RankStats> parse_stats_line(const std::string& line) {
  std::istringstream in(line);
  std::string magic, version;
  if (!(in >> magic >> version) || magic != "ferry-stats" || version != "1") return std::nullopt;
  RankStats s;
  std::string kv;
  while (in >> kv) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return std::nullopt;
    char* end = nullptr;
    const std::string v = kv.substr(eq + 1);
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0') return std::nullopt;
    s[kv.substr(0, eq)] = d;
  }
  if (!s.count("rank") || !s.count("final")) return std::nullopt;
  return s;
}

Progress::Progress(std::string dir, unsigned ranks, bool live)
    : dir_(std::move(dir)), ranks_(ranks), tty_(live && ::isatty(STDERR_FILENO)), last_(ranks) {
  start_ = next_ = Clock::now() + std::chrono::milliseconds(500);
  start_ -= std::chrono::milliseconds(500);
}

std::string Progress::stats_file(unsigned rank) const { return dir_ + "/stats." + std::to_string(rank); }

int Progress::poll_ms() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_ - Clock::now()).count() + 1;
  return ms < 0 ? 0 : static_cast<int>(ms);
}

void Progress::read_all() {
  for (unsigned r = 0; r < ranks_; ++r) {
    std::ifstream f(stats_file(r));
    std::string line;
    if (!std::getline(f, line)) continue;  // not written yet: keep the last snapshot
    if (auto s = parse_stats_line(line)) last_[r] = std::move(s);
  }
}

std::string Progress::status_line() const {
  double done = 0, failed = 0, in_flight = 0, running = 0, used = 0, cap = 0;
  unsigned reporting = 0;
  for (const auto& s : last_) {
    if (!s) continue;
    ++reporting;
    done += get(*s, "finished");
    failed += get(*s, "failed");
    in_flight += get(*s, "in_flight");
    running += get(*s, "running");
    used += get(*s, "store_used");
    cap += get(*s, "store_cap");
  }
  const double secs = std::chrono::duration<double>(Clock::now() - start_).count();
  char buf[256];
  std::snprintf(buf, sizeof buf, "[%.1f s] tasks %s done, %s in flight (%s running), %s failed | store %s of %s | %u/%u ranks reporting",
                secs, num(done).c_str(), num(in_flight).c_str(), num(running).c_str(), num(failed).c_str(),
                human_bytes(used).c_str(), human_bytes(cap).c_str(), reporting, ranks_);
  return buf;
}

void Progress::draw() {
  const std::string line = "ferry-run: " + status_line();
  if (tty_) {
    const std::string s = "\r\033[K" + line;
    write_all(STDERR_FILENO, s.data(), s.size());
    shown_ = true;
  } else {
    const std::string s = line + "\n";
    write_all(STDERR_FILENO, s.data(), s.size());
  }
}

void Progress::tick() {
  if (Clock::now() < next_) return;
  read_all();
  draw();
  next_ = Clock::now() + std::chrono::milliseconds(tty_ ? 500 : 2000);
}

void Progress::before_output() {
  if (!shown_) return;
  write_all(STDERR_FILENO, "\r\033[K", 4);
  shown_ = false;
}

std::string Progress::summary_line(unsigned rank, const std::optional<RankStats>& s) {
  std::string line = "rank " + std::to_string(rank) + ": ";
  if (!s) return line + "no statistics (it did not start a ferry runtime, or died before its first report)";
  const RankStats& v = *s;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s tasks submitted (%s finished, %s failed), %s executed, %s gets, %s read from peers, store high "
                "water %s of %s, %.1f s%s",
                num(get(v, "submitted")).c_str(), num(get(v, "finished")).c_str(), num(get(v, "failed")).c_str(),
                num(get(v, "executed")).c_str(), num(get(v, "gets")).c_str(), human_bytes(get(v, "remote_bytes")).c_str(),
                human_bytes(get(v, "store_hw")).c_str(), human_bytes(get(v, "store_cap")).c_str(), get(v, "uptime_s"),
                get(v, "final") != 0 ? "" : " (last report before it stopped; no final statistics)");
  return line + buf;
}

void Progress::finish() {
  before_output();
  read_all();
  std::string out = "ferry-run: summary\n";
  for (unsigned r = 0; r < ranks_; ++r) out += "ferry-run:   " + summary_line(r, last_[r]) + "\n";
  write_all(STDERR_FILENO, out.data(), out.size());
}

}  // namespace ferry::run
