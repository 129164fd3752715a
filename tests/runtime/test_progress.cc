// test_progress.cc — progress modes as the runtime sees them (runtime.tasks.<setting>):
// in adaptive mode (the default) a rank that stops getting work stops using the CPU:
// its progress thread, its executor threads and a waiting thread each poll only
// briefly after traffic, then sleep (measured once the store prefaulter caught up). Semantics, not speed: the bound is generous.
// Also the wire cost of a task whose argument is a ref to a small object the
// submitter owns: the value travels in the submit record, so the executor sends
// no locate (the same AMs as a task with a value argument), and the ref is held
// until the task completed (the object and the tables end clean).
#include <sys/resource.h>

#include "ferry/stats.h"
#include "tasks_common.h"

using namespace tsk;

namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

void idle_body(RankEnv& env) {
  FERRY_REQUIRE(env.options().progress == ferry::transport::ProgressMode::adaptive);
  auto rt = start_runtime(env, task_options(2));
  // Traffic first, so that every kind of poller had a reason to spin: synchronous
  // round trips (a waiting thread polls), tasks arriving at idle executors.
  if (env.rank() == 0) {
    for (int i = 0; i < 300; ++i) FERRY_REQUIRE(add_fn.on(ferry::rank{1}).remote(i, 1).get(30s) == i + 1);
  }
  // The store prefaulter's bounded start-up work is not polling: let it finish (on a VM whose
  // host reclaims freed memory, 256 MiB of first touches can take a second of CPU).
  const auto prefault_start = steady::now();
  while (ferry::stats().store_prefault_pending_bytes > 0 && steady::now() < prefault_start + 60s)
    std::this_thread::sleep_for(10ms);
  FERRY_REQUIRE(ferry::stats().store_prefault_pending_bytes == 0);
  ferry::test::note("rank " + std::to_string(env.rank()) + " waited " +
                    std::to_string(std::chrono::duration<double>(steady::now() - prefault_start).count()) +
                    " s for the store prefaulter");
  env.barrier();
  // Then 2 s of idleness: the process (all its threads) must mostly sleep.
  const double cpu0 = cpu_seconds();
  const auto t0 = steady::now();
  std::this_thread::sleep_for(2s);
  const double cpu = cpu_seconds() - cpu0;
  const double wall = std::chrono::duration<double>(steady::now() - t0).count();
  ferry::test::note("rank " + std::to_string(env.rank()) + " idle for " + std::to_string(wall) + " s used " +
                    std::to_string(cpu * 1000) + " ms of CPU");
  FERRY_CHECK(cpu < 0.2 * wall);
  env.barrier();
  wait_tasks_clean(*rt);
  env.barrier();
}

void inline_arg_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options(1));
  ferry::transport::Transport& t = env.transport();
  ferry::ObjectRef<int> x;
  if (env.rank() == 0) {
    x = ferry::put(41);
    FERRY_REQUIRE(add_fn.on(ferry::rank{1}).remote(1, 1).get(30s) == 2);  // warm: first-use paths
  }
  env.barrier();
  const auto before = t.counters();
  env.barrier();
  if (env.rank() == 0) {
    const auto c0 = t.counters();
    FERRY_REQUIRE(add_fn.on(ferry::rank{1}).remote(41, 1).get(30s) == 42);
    const auto c1 = t.counters();
    FERRY_REQUIRE(add_fn.on(ferry::rank{1}).remote(x, 1).get(30s) == 42);
    const auto c2 = t.counters();
    const std::uint64_t by_value = c1.ams_sent - c0.ams_sent, by_ref = c2.ams_sent - c1.ams_sent;
    ferry::test::note("submitter AMs: value argument " + std::to_string(by_value) + ", ref argument " +
                      std::to_string(by_ref));
    FERRY_CHECK(by_value == 1);  // the submit record
    FERRY_CHECK(by_ref == by_value);  // no locate reply: nobody asked
    FERRY_CHECK(c2.gets == c0.gets);
    FERRY_REQUIRE(x.get(30s) == 41);  // the object lives on after the task
  }
  env.barrier();
  if (env.rank() == 1) {  // two done records, no locate
    const auto after = t.counters();
    FERRY_CHECK(after.ams_sent - before.ams_sent == 2);
    FERRY_CHECK(after.gets == before.gets);
  }
  env.barrier();
  x = ferry::ObjectRef<int>();
  wait_tasks_clean(*rt);
  env.barrier();
}

// A chain whose links all run on rank 1 (owner rank 0): each link's value is handed to the next
// link on rank 1 itself: rank 1 reads nothing from the owner (no locate; without the hand-off the
// two later links each read their argument from rank 0) and sends only done records.
void local_chain_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options(1));
  ferry::transport::Transport& t = env.transport();
  if (env.rank() == 0) FERRY_REQUIRE(add_fn.on(ferry::rank{1}).remote(1, 1).get(30s) == 2);  // warm
  env.barrier();
  const auto before = t.counters();
  const std::uint64_t reads_before = ferry::stats().remote_reads;
  env.barrier();
  if (env.rank() == 0) {
    auto a = slow_identity_fn.on(ferry::rank{1}).remote(300, 1);  // still running when b and c arrive
    auto b = add_fn.on(ferry::rank{1}).remote(a, 1);
    auto c = add_fn.on(ferry::rank{1}).remote(b, 1);
    FERRY_REQUIRE(c.get(30s) == 3);
    FERRY_REQUIRE(a.get(30s) == 1);
    FERRY_REQUIRE(b.get(30s) == 2);
  }
  env.barrier();
  if (env.rank() == 1) {
    const auto after = t.counters();
    ferry::test::note("rank 1 sent " + std::to_string(after.ams_sent - before.ams_sent) + " AMs for a 3-link local chain");
    FERRY_CHECK(ferry::stats().remote_reads == reads_before);
    FERRY_CHECK(after.ams_sent - before.ams_sent <= 3);  // the done records (batched or not)
  }
  env.barrier();
  wait_tasks_clean(*rt);
  env.barrier();
}

}  // namespace

TEST_CASE("tasks: a chain on one worker hands each value over locally (no locate)", "[tasks][cost]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 90), local_chain_body));
}

TEST_CASE("tasks: a small ready ref argument goes inline in the submit record (no locate)", "[tasks][cost]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 90), inline_arg_body));
}

TEST_CASE("progress: an idle rank in adaptive mode sleeps (CPU time over 2 s idle < 20 %)", "[progress]") {
  auto o = task_group(2, 120);
  auto base = o.configure;
  o.configure = [base](ferry::transport::Options& t) {
    if (base) base(t);
    t.progress = ferry::transport::ProgressMode::adaptive;
  };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, idle_body));
}
