// test_task_errors.cc — task failures over the configured transport
// (part of runtime.tasks.<setting>): exceptions -> ferry::task_error with
// function, rank and message (also through a dependency), unregistered
// functions, a registry mismatch at start-up, and an executor rank killed
// while tasks run on it (refs fail with peer_failed, nothing hangs).
#include "ferry/detail/task_api.h"
#include "tasks_common.h"

using namespace tsk;

namespace {

void exception_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  if (env.rank() == 0) {
    auto bad = thrower_fn.on(ferry::rank{1}).remote(7);
    bool caught = false;
    try {
      (void)bad.get(30s);
    } catch (const ferry::task_error& e) {
      caught = true;
      FERRY_CHECK(e.code() == Errc::task_failed);
      FERRY_CHECK(e.function() == std::string("tests::thrower"));
      FERRY_CHECK(e.rank() == 1u);
      FERRY_CHECK(std::string(e.what()).find("boom 7") != std::string::npos);
    }
    FERRY_REQUIRE(caught);
    require_error(bad.try_get(30s), Errc::task_failed, {"tests::thrower", "rank 1", "boom 7"}, "thrower");
    // A task depending on the failed output fails too, naming the cause.
    auto dep = add_fn.on(ferry::rank{0}).remote(bad, 1);
    require_error(dep.try_get(30s), Errc::task_failed, {"tests::add", "boom 7"}, "dependent of a failed task");
    // Local failure (the submitter executes).
    require_error(thrower_fn.on(ferry::rank{0}).remote(3).try_get(30s), Errc::task_failed, {"rank 0", "boom 3"},
                  "local thrower");
    // ferry::wait counts a failed output as ready.
    auto w = ferry::wait(std::vector<ferry::ObjectRef<int>>{bad}, 1, 30s);
    FERRY_REQUIRE(w.ready.size() == 1u);
  }
  env.barrier();
  wait_tasks_clean(*rt);
  env.barrier();
}

void unregistered_body(RankEnv& env) {
  if (env.rank() == 1) FERRY_REQUIRE(ferry::detail::testing::unregister("tests::lonely"));
  auto o = task_options();
  o.check_registry = false;  // let it start, to see the run-time error
  auto rt = start_runtime(env, o);
  if (env.rank() == 0) {
    auto r = lonely_fn.on(ferry::rank{1}).remote(5);
    require_error(r.try_get(30s), Errc::not_found, {"tests::lonely", "not registered on rank 1"},
                  "function unregistered on the executor");
    FERRY_REQUIRE(lonely_fn.on(ferry::rank{0}).remote(5).get(30s) == 5);
  }
  env.barrier();
  wait_tasks_clean(*rt);
  env.barrier();
}

void mismatch_body(RankEnv& env) {
  if (env.rank() == 1) FERRY_REQUIRE(ferry::detail::testing::unregister("tests::lonely"));
  auto created = ferry::Runtime::create(env.transport(), env.bootstrap(), task_options());
  require_error(created, Errc::invalid_argument, {"'tests::lonely'", "rank 0", "rank 1", "not on"},
                "runtime start with different registries");
  env.barrier();
}

void executor_killed_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  if (env.rank() == 1) {
    env.barrier();  // rank 0 submitted its long tasks
    std::this_thread::sleep_for(300ms);
    env.die();
  }
  auto t0 = steady::now();
  std::vector<ferry::ObjectRef<std::uint32_t>> doomed;
  for (int i = 0; i < 4; ++i) doomed.push_back(sleeper_fn.on(ferry::rank{1}).remote(20000));
  auto survivor = sleeper_fn.on(ferry::rank{0}).remote(10);
  env.barrier();
  for (auto& r : doomed)
    require_error(r.try_get(30s), Errc::peer_failed, {"rank 1", "tests::sleeper", "not retry"},
                  "task on a killed executor");
  FERRY_REQUIRE(survivor.get(30s) == 0u);
  // Later submissions to the dead rank fail at once; default placement avoids it.
  require_error(add_fn.on(ferry::rank{1}).remote(1, 2).try_get(5s), Errc::peer_failed, {"rank 1"},
                "submission to a dead rank");
  for (int i = 0; i < 8; ++i) FERRY_REQUIRE(whoami_fn.remote().get(30s) == 0u);
  ferry::test::note("executor death detected after " + std::to_string(ms_since(t0)) + " ms");
  doomed.clear();
  survivor.reset();
  wait_tasks_clean(*rt);
}

}  // namespace

TEST_CASE("task errors: exceptions become task_error with function, rank and message", "[tasks][errors]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 60), exception_body));
}

TEST_CASE("task errors: a function unregistered on the executor fails its ref", "[tasks][errors]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 60), unregistered_body));
}

TEST_CASE("task errors: registries differ -> Runtime start fails naming the function", "[tasks][errors]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 60), mismatch_body));
}

TEST_CASE("task errors: executor rank killed -> its tasks fail with peer_failed, no hang", "[tasks][failure]") {
  RunOptions o = task_group(2, 60);
  o.expect_killed = {1};
  o.configure = [](ferry::transport::Options& t) { t.peer_timeout = std::chrono::seconds(3); };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, executor_killed_body));
}
