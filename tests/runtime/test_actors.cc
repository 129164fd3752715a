// test_actors.cc — actors over the configured transport (part of
// runtime.tasks.<setting>): create/call/kill, per-caller ordering from two
// callers (with calls held back by pending arguments), an actor handle passed
// to a task, constructor and method failures, an actor on a killed rank.
#include <algorithm>
#include <sstream>

#include "tasks_common.h"

using namespace tsk;

namespace {

// Rank 0's actor handle, given to every rank (cereal through the bootstrap).
ferry::actor<Counter> share_actor(RankEnv& env, const ferry::actor<Counter>& mine) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(mine);
  }
  std::string s = std::move(os).str();
  auto all = FERRY_VALUE(env.bootstrap().allgather(std::as_bytes(std::span<const char>(s.data(), s.size()))));
  std::string in(reinterpret_cast<const char*>(all[0].data()), all[0].size());
  std::istringstream is(in, std::ios::binary);
  cereal::BinaryInputArchive ar(is);
  ferry::actor<Counter> out;
  ar(out);
  return out;
}

void basics_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  if (env.rank() == 0) {
    auto c = counter_class.on(ferry::rank{1}).create(10);
    FERRY_REQUIRE(c.host().value == 1u);
    FERRY_REQUIRE(c.call(counter_add, 5).get(30s) == 15);
    auto r1 = c.call(counter_add, 1);
    auto r2 = c.call(counter_add, 1);
    FERRY_REQUIRE(r2.get(30s) == 17);
    FERRY_REQUIRE(r1.get(30s) == 16);
    // An ObjectRef argument (pending task output) to a method.
    auto x = add_fn.on(ferry::rank{0}).remote(2, 3);
    FERRY_REQUIRE(c.call(counter_add, x).get(30s) == 22);
    // Passed to a task on another rank, which calls it.
    FERRY_REQUIRE(bump_actor_fn.on(ferry::rank{0}).remote(c, 100).get(30s) == 122);
    FERRY_REQUIRE(c.call(counter_get).get(30s) == 122);
    // A throwing method fails its call only.
    auto bad = c.call(counter_fail, 9);
    require_error(bad.try_get(30s), Errc::task_failed, {"tests::Counter::fail", "rank 1", "method failed with 9"},
                  "throwing method");
    FERRY_REQUIRE(c.call(counter_get).get(30s) == 122);
    // Default placement, local host.
    auto d = counter_class.create(1);
    FERRY_REQUIRE(d.call(counter_add, 1).get(30s) == 2);
    auto local = counter_class.on(ferry::rank{0}).create(3);
    FERRY_REQUIRE(local.call(counter_get).get(30s) == 3);
    // Constructor failure: every call fails naming the class.
    auto broken = counter_class.on(ferry::rank{1}).create(-1);
    bool caught = false;
    try {
      (void)broken.call(counter_get).get(30s);
    } catch (const ferry::task_error& e) {
      caught = true;
      FERRY_CHECK(e.function() == std::string("tests::Counter"));
      FERRY_CHECK(e.rank() == 1u);
      FERRY_CHECK(std::string(e.what()).find("negative start -1") != std::string::npos);
    }
    FERRY_REQUIRE(caught);
    // kill: later calls fail.
    c.kill();
    require_error(c.call(counter_get).try_get(30s), Errc::not_found, {"killed"}, "call after kill");
    d.kill();
    local.kill();
  }
  env.barrier();
  wait_tasks_clean(*rt);
  env.barrier();
}

void ordering_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  const Rank me = env.rank();
  ferry::actor<Counter> mine;
  if (me == 0) mine = counter_class.on(ferry::rank{2}).create(0);
  auto c = share_actor(env, mine);
  constexpr int kCalls = 200;
  std::vector<ferry::ObjectRef<std::size_t>> results;
  if (me < 2) {
    for (int i = 0; i < kCalls; ++i) {
      if (i % 25 == 7) {
        // Held back until a slow task's output is there: later calls must wait for it.
        auto arg = slow_identity_fn.on(ferry::rank{1 - me}).remote(30, i);
        results.push_back(c.call(counter_log, me, arg));
      } else {
        results.push_back(c.call(counter_log, me, i));
      }
    }
    auto w = ferry::wait(results, results.size(), 60s);
    FERRY_REQUIRE(w.ready.size() == results.size());
  }
  env.barrier();
  if (me == 0) {
    auto h = c.call(counter_history).get(30s);
    FERRY_REQUIRE(h.size() == 2u * kCalls);
    int next[2] = {0, 0};
    for (const auto& e : h) {
      auto colon = e.find(':');
      int caller = std::stoi(e.substr(0, colon)), i = std::stoi(e.substr(colon + 1));
      FERRY_REQUIRE((caller == 0 || caller == 1));
      if (i != next[caller]) FERRY_FAIL("caller " + std::to_string(caller) + ": call " + std::to_string(i) +
                                        " ran when " + std::to_string(next[caller]) + " was due");
      ++next[caller];
    }
    c.kill();
  }
  results.clear();
  mine = {};
  c = {};
  env.barrier();
  wait_tasks_clean(*rt);
  env.barrier();
}

void host_killed_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  ferry::actor<Counter> c;
  if (env.rank() == 0) {
    c = counter_class.on(ferry::rank{1}).create(1);
    FERRY_REQUIRE(c.call(counter_add, 1).get(30s) == 2);
  }
  env.barrier();
  if (env.rank() == 1) env.die();
  // Call once rank 1 is surely dead (it might otherwise still answer); the
  // failure is detected by the transport (EOF, or the 3 s peer timeout).
  while (!env.death_time(1)) std::this_thread::sleep_for(5ms);
  require_error(c.call(counter_add, 1).try_get(30s), Errc::actor_died, {"rank 1", "actor:0:", "max_restarts 0"},
                "call to an actor on a dead rank");
  c = {};
  wait_tasks_clean(*rt);
}

}  // namespace

TEST_CASE("actors: create, call, refs as arguments, passed to a task, failures, kill", "[actors]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 60), basics_body));
}

TEST_CASE("actors: calls of each caller run in submission order (2 callers)", "[actors][order]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(3, 90), ordering_body));
}

TEST_CASE("actors: host rank killed -> calls fail with actor_died", "[actors][failure]") {
  RunOptions o = task_group(2, 60);
  o.expect_killed = {1};
  o.configure = [](ferry::transport::Options& t) { t.peer_timeout = std::chrono::seconds(3); };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, host_killed_body));
}
