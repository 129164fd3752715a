// ferry_survival_probe — end-to-end checks that a job outlives a worker's death and that the
// death is detected. Driven by survival_cases.sh under ferry-run --keep-going, mpirun or srun;
// prints "survival ..." lines the script checks.
//
//   kill VICTIM     ferry::run: the driver runs a task on every rank, makes rank VICTIM SIGKILL
//                   itself, waits until its runtime reports the peer failed (bounded by 60 s), prints
//                   "survival: detected rank VICTIM dead after N ms", checks that a task sent to
//                   VICTIM fails with peer_failed and that every other rank still runs tasks (for
//                   2 s: a launcher that ends the job on a death has time to do so).
//   stop VICTIM     the same with SIGSTOP (detected by heartbeat timeout; the launcher reaps it).
//   driver-dies     ferry::run: after one round of tasks the driver SIGKILLs itself; the workers'
//                   run() must fail promptly (the launcher then ends the job).
//   wait VICTIM     ferry::run: the driver prints "survival: rank VICTIM pid P" and "survival: waiting",
//                   then waits (bounded by 60 s) for something outside (a kill, a stop, a link cut)
//                   to make its runtime report a failed peer, prints "survival: detected rank VICTIM
//                   dead at T ms" (T: CLOCK_REALTIME in ms, for the caller to subtract its own time of
//                   the event), checks that VICTIM is the failed rank and that the others still work.
//   spmd VICTIM     ferry::init on every rank: rank VICTIM SIGKILLs itself after a barrier (once
//                   every other rank answered a task, so all have its arrival); every
//                   other rank waits for the failure, then calls the collective shutdown(), which
//                   must skip the dead rank and succeed.
// Every wait is bounded; the script bounds every launch too.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/stats.h"
#include "ferry_test/probe_check.h"

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTimeout = std::chrono::seconds(60);

FERRY_TEST_PROBE("survival probe")

unsigned where_am_i(int x) { return ferry::this_rank() * 1000u + static_cast<unsigned>(x); }
FERRY_REMOTE(where_am_i);

// Stops this process with `sig` (SIGKILL or SIGSTOP) after the reply-less task began.
int die_with(int sig) {
  std::fflush(stdout);
  ::kill(::getpid(), sig);
  std::this_thread::sleep_for(std::chrono::seconds(3600));  // SIGSTOP: never reached while stopped
  return 0;
}
FERRY_REMOTE(die_with);

void round_trip(unsigned tag, unsigned skip) {
  std::vector<std::pair<unsigned, ferry::ObjectRef<unsigned>>> refs;
  for (unsigned r = 0; r < ferry::world_size(); ++r)
    if (r != skip) refs.emplace_back(r, where_am_i_fn.on(r).remote(int(tag)));
  for (auto& [r, ref] : refs) CHECK(ref.get(kTimeout) == r * 1000u + tag);
}

// Waits until this rank's runtime counts a failed peer; returns the milliseconds since `t0`.
long wait_for_failure(Clock::time_point t0) {
  while (ferry::stats().peers_failed == 0) {
    if (Clock::now() - t0 > kTimeout) fail("no peer failure reported within 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

int victim_mode(int argc, char** argv, unsigned victim, int sig, const char* what) {
  return ferry::run(argc, argv, [&] {
    CHECK(victim > 0 && victim < ferry::world_size());
    round_trip(1, ferry::world_size());
    const auto t0 = Clock::now();
    auto doomed = die_with_fn.on(victim).remote(sig);
    const long ms = wait_for_failure(t0);
    std::printf("survival: detected rank %u dead after %ld ms (%s)\n", victim, ms, what);
    std::fflush(stdout);
    try {
      (void)doomed.get(kTimeout);
      fail("the task on the dead rank returned");
    } catch (const ferry::Error& e) {
      CHECK(e.code() == ferry::Errc::peer_failed);
    }
    try {
      (void)where_am_i_fn.on(victim).remote(2).get(kTimeout);
      fail("a task sent to the dead rank returned");
    } catch (const ferry::Error& e) {
      CHECK(e.code() == ferry::Errc::peer_failed);
    }
    // Keep working for a while: a launcher that stops the job on the death does so meanwhile.
    for (const auto t1 = Clock::now(); Clock::now() - t1 < std::chrono::seconds(2);) {
      round_trip(3, victim);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    std::printf("survival: driver ok (%u of %u ranks alive)\n", ferry::world_size() - 1, ferry::world_size());
  });
}

int my_pid(int) { return static_cast<int>(::getpid()); }
FERRY_REMOTE(my_pid);

int wait_mode(int argc, char** argv, unsigned victim) {
  return ferry::run(argc, argv, [&] {
    CHECK(victim > 0 && victim < ferry::world_size());
    round_trip(1, ferry::world_size());
    std::printf("survival: rank %u pid %d\n", victim, my_pid_fn.on(victim).remote(0).get(kTimeout));
    std::printf("survival: waiting\n");
    std::fflush(stdout);
    (void)wait_for_failure(Clock::now());
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    std::printf("survival: detected rank %u dead at %lld ms\n", victim,
                static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(now).count()));
    std::fflush(stdout);
    try {
      (void)where_am_i_fn.on(victim).remote(2).get(kTimeout);
      fail("a task sent to the dead rank returned");
    } catch (const ferry::Error& e) {
      CHECK(e.code() == ferry::Errc::peer_failed);
    }
    round_trip(3, victim);
    std::printf("survival: driver ok (%u of %u ranks alive)\n", ferry::world_size() - 1, ferry::world_size());
  });
}

int driver_dies_mode(int argc, char** argv) {
  int rc = ferry::run(argc, argv, [] {
    round_trip(4, ferry::world_size());
    std::printf("survival: driver dies now\n");
    std::fflush(stdout);
    ::kill(::getpid(), SIGKILL);
  });
  std::printf("survival: worker run returned %d\n", rc);
  return rc == 0 ? 3 : rc;  // a worker must not succeed when its driver died
}

int spmd_mode(int argc, char** argv, unsigned victim) {
  ferry::Session s = ferry::init(argc, argv);
  CHECK(victim > 0 && victim < s.size());
  s.barrier();
  const auto t0 = Clock::now();
  if (s.rank() == victim) {
    // Die only once every other rank has this rank's barrier arrival: a task answered by each rank
    // follows the arrival on the same ordered link. (Killed at once, the arrival could still be
    // unsent, or discarded with the socket, and the others' barrier would fail.)
    for (unsigned r = 0; r < s.size(); ++r)
      if (r != victim) CHECK(where_am_i_fn.on(r).remote(7).get(kTimeout) == r * 1000u + 7u);
    std::fflush(stdout);
    ::kill(::getpid(), SIGKILL);
  }
  const long ms = wait_for_failure(t0);
  s.shutdown();  // collective: skips the dead rank
  std::printf("survival: spmd rank %u ok (failure seen after %ld ms)\n", s.rank(), ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const unsigned victim = argc > 2 ? static_cast<unsigned>(std::atoi(argv[2])) : 0;
  if (mode == "kill" && argc == 3) return victim_mode(argc, argv, victim, SIGKILL, "SIGKILL");
  if (mode == "stop" && argc == 3) return victim_mode(argc, argv, victim, SIGSTOP, "SIGSTOP");
  if (mode == "driver-dies") return driver_dies_mode(argc, argv);
  if (mode == "wait" && argc == 3) return wait_mode(argc, argv, victim);
  if (mode == "spmd" && argc == 3) return spmd_mode(argc, argv, victim);
  std::fprintf(stderr, "usage: ferry_survival_probe kill|stop|wait|spmd VICTIM | driver-dies\n");
  return 2;
}
