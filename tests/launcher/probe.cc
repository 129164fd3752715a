// ferry_launcher_probe — checks the bootstrap make_bootstrap() picks for this launcher.
//
//   ferry_launcher_probe [--rounds K] [--stall-rank R] [--stall-seconds S]
//
// Detects the launcher, builds the bootstrap, runs probe_checks.h's exercise (K rounds of
// allgather, contents checked) and prints "rank R/N via <description> ok". With
// --stall-rank R, rank R sleeps S seconds (default 30) instead of taking part and exits 1,
// so the others must fail with bootstrap_failed within FERRY_BOOTSTRAP_TIMEOUT_MS.
// Cross-checks the rank against FERRY_RANK (ferry-run) and OMPI_COMM_WORLD_RANK (mpirun).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "probe_checks.h"

namespace {

int fail(const std::string& who, const std::string& what) {
  std::fprintf(stderr, "probe %s: FAILED: %s\n", who.c_str(), what.c_str());
  return 1;
}

// The rank a launcher variable claims, or -1 when the variable is unset.
long env_rank(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::strtol(v, nullptr, 10) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  int rounds = 8;
  long stall_rank = -1, stall_seconds = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rounds")) rounds = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--stall-rank")) stall_rank = std::atol(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--stall-seconds")) stall_seconds = std::atol(argv[i + 1]);
    else return fail("?", std::string("unknown option ") + argv[i]);
  }
  auto detected = ferry::launcher::detect_launcher();
  if (!detected) return fail("?", detected.status().to_string());
  auto bs = ferry::launcher::make_bootstrap();
  if (!bs) return fail("?", bs.status().to_string());
  const auto me = (*bs)->rank(), n = (*bs)->size();
  const std::string who = std::to_string(me) + "/" + std::to_string(n);
  if (detected->kind == ferry::launcher::LauncherKind::ferry_run && env_rank("FERRY_RANK") != long(me))
    return fail(who, "rank differs from FERRY_RANK");
  if (detected->kind == ferry::launcher::LauncherKind::pmix && env_rank("OMPI_COMM_WORLD_RANK") >= 0 &&
      env_rank("OMPI_COMM_WORLD_RANK") != long(me))
    return fail(who, "rank differs from OMPI_COMM_WORLD_RANK");
  if (long(me) == stall_rank) {
    std::printf("rank %s stalling for %ld s\n", who.c_str(), stall_seconds);
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::seconds(stall_seconds));
    return 1;
  }
  if (std::string err = ferry::probe::exercise(**bs, rounds); !err.empty()) return fail(who, err);
  std::printf("rank %s via %s ok\n", who.c_str(), detected->description.c_str());
  std::fflush(stdout);
  return 0;
}
