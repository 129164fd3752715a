// check.cc — failure reporting for forked test ranks (see ferry_test/check.h).
//
// Each message is written with one write(2) so lines of concurrent ranks and
// threads do not interleave. Fatal failures end the process with _exit(1):
// no destructors run, so a half-broken transport cannot hang the exit.
#include "ferry_test/check.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ferry::test {
namespace {

std::atomic<int> g_rank{-1};
std::atomic<bool> g_check_failed{false};

const char* base_name(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash ? slash + 1 : path;
}

void write_line(const std::string& line) {
  std::fflush(stdout);
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::string prefix() {
  int r = g_rank.load();
  return r < 0 ? std::string("parent: ") : "rank " + std::to_string(r) + ": ";
}

}  // namespace

void set_current_rank(int rank) noexcept { g_rank.store(rank); }
int current_rank() noexcept { return g_rank.load(); }
bool any_check_failed() noexcept { return g_check_failed.load(); }

void report_failure(const char* file, int line, const char* expr, const std::string& detail, bool fatal) {
  std::string msg = prefix() + base_name(file) + ":" + std::to_string(line) + ": " +
                    (fatal ? "FAILED: " : "CHECK FAILED: ") + expr;
  if (!detail.empty()) msg += " (" + detail + ")";
  msg += "\n";
  write_line(msg);
  if (fatal) ::_exit(1);
  g_check_failed.store(true);
}

void note(const std::string& message) { write_line(prefix() + message + "\n"); }

}  // namespace ferry::test
