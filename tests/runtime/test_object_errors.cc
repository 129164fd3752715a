// test_object_errors.cc — every object error is a clear ferry::Error at get(),
// never a hang: a freed id (not_found), a killed owner (owner_died, for a get
// pending when it died and for later gets), a full store (store_full; a reader
// with a small store still reads large objects), a type mismatch, a corrupted
// object header (malformed_message) and a get timeout.
#include <csignal>

#include "current.h"
#include "objects_common.h"

using namespace objs;

namespace {

void freed_body(RankEnv& env) {
  auto rt = start_runtime(env);
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0) {
    mine.push_back(ferry::put(make_blob(100, seed(0, 0))));
    mine.push_back(ferry::put(make_blob(MiB, seed(0, 1))));
  }
  // The refs travel as bytes, and rank 1 loads them only after the owner dropped its own: a stale
  // serialized ref. (Loaded earlier, rank 1 would borrow them and keep them alive.)
  const auto bytes = exchange_ref_bytes(env, mine);
  if (env.rank() == 0) {  // the owner drops its last refs: both are freed
    mine.clear();
    FERRY_CHECK(rt->stats().owned == 0u);
  }
  env.barrier();
  std::vector<ObjectRef<Blob>> stale;  // rank 0's refs, on rank 1
  if (env.rank() == 1) {
    stale = decode_refs<Blob>(bytes[0]);
    FERRY_REQUIRE(stale.size() == 2u);
    for (auto& ref : stale)
      require_error(ref.try_get(), Errc::not_found, {ref.id().to_string(), "owner rank 0", "freed"},
                    "get of a freed object");
    bool threw = false;
    try {
      (void)stale[0].get();
    } catch (const ferry::Error& e) {
      threw = e.code() == Errc::not_found;
    }
    FERRY_CHECK(threw);
  }
  env.barrier();
  stale.clear();
  wait_clean(*rt);
  env.barrier();
}

void owner_killed_body(RankEnv& env) {
  auto rt = start_runtime(env);
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0) {
    mine.push_back(ferry::put(make_blob(100, seed(0, 0))));
    mine.push_back(ferry::put(make_blob(2 * MiB, seed(0, 1))));
  }
  auto all = exchange_refs(env, mine);
  if (env.rank() == 0) env.die();
  // Wait until rank 0 is really gone, then read: the request is pending until
  // the failure is detected (heartbeat timeout or connection error)...
  auto until = steady::now() + 10s;
  while (!env.death_time(0) && steady::now() < until) std::this_thread::sleep_for(1ms);
  FERRY_REQUIRE(env.death_time(0).has_value());
  auto t0 = steady::now();
  auto pending = all[0][1].fetch_async();
  require_error(all[0][0].try_get(30s), Errc::owner_died, {all[0][0].id().to_string(), "rank 0"},
                "get of a small object whose owner died");
  double first_ms = ms_since(t0);
  FERRY_REQUIRE(pending.wait_for(5s));  // ...and fails at once when it is
  require_error(pending.result(), Errc::owner_died, {"rank 0"}, "pending get when the owner died");
  // ...and later gets fail immediately.
  auto t1 = steady::now();
  require_error(all[0][1].try_get(30s), Errc::owner_died, {all[0][1].id().to_string()}, "get after the failure");
  FERRY_CHECK(ms_since(t1) < 1000.0);
  ferry::test::note("owner_died after " + std::to_string(first_ms) + " ms (peer timeout 3 s)");
  FERRY_CHECK(first_ms < 10000.0);
  all.clear();
  wait_clean(*rt);  // the dead owner's objects left nothing behind here
  FERRY_REQUIRE_OK(rt->shutdown());
}

void store_full_body(RankEnv& env) {
  // Rank 0 has a 64 MiB store, rank 1 a 4 MiB one.
  auto rt = start_runtime(env, runtime_options(env.rank() == 0 ? 64 * MiB : 4 * MiB));
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 1) {
    require_error(ferry::try_put(make_blob(8 * MiB, 1)), Errc::store_full, {"FERRY_STORE_BYTES", "rank 1"},
                  "put larger than the store");
    bool threw = false;
    try {
      (void)ferry::put(make_blob(8 * MiB, 1));
    } catch (const ferry::Error& e) {
      threw = e.code() == Errc::store_full;
    }
    FERRY_CHECK(threw);
    auto small = ferry::put(make_blob(MiB, seed(1, 0)));  // still works
    FERRY_CHECK(small.get().size() == MiB);
  } else {
    mine.push_back(ferry::put(make_blob(16 * MiB, seed(0, 7))));
  }
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    // 16 MiB cannot be cached in a 4 MiB store: read into a private buffer instead.
    Blob v = all[0][0].get();
    verify_blob(v.data(), v.size(), 16 * MiB, seed(0, 7), "large object read by a rank with a small store");
    FERRY_CHECK(rt->stats().copies == 0u);
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

void type_mismatch_body(RankEnv& env) {
  auto rt = start_runtime(env);
  std::vector<ObjectRef<std::vector<int>>> mine;
  if (env.rank() == 0) {
    mine.push_back(ferry::put(std::vector<int>(10, 1)));
    mine.push_back(ferry::put(std::vector<int>(100000, 2)));  // one-sided path
    require_error(mine[0].as<double>().try_get(), Errc::type_mismatch, {"std::vector<int>", "double"},
                  "local get as another type");
  }
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    for (auto& ref : all[0])
      require_error(ref.as<std::string>().try_get(), Errc::type_mismatch,
                    {"std::vector<int>", "basic_string", ref.id().to_string()}, "remote get as another type");
    FERRY_CHECK(all[0][1].get().size() == 100000u);  // the right type still reads
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

void corrupted_body(RankEnv& env) {
  auto rt = start_runtime(env);
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0) {
    mine.push_back(ferry::put(make_blob(100, 3)));      // answered inline
    mine.push_back(ferry::put(make_blob(MiB, 4)));      // read one-sided
    for (auto& r : mine) FERRY_REQUIRE_OK(ferry::rt::testing::corrupt_header(r.id()));
  }
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    for (auto& ref : all[0])
      require_error(ref.try_get(), Errc::malformed_message, {"corrupted header", ref.id().to_string()},
                    "get of an object with a corrupted header");
    FERRY_CHECK(rt->stats().copies == 0u);  // a corrupted copy is never kept
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

void timeout_body(RankEnv& env) {
  auto rt = start_runtime(env);
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0) mine.push_back(ferry::put(make_blob(8 * MiB, 5)));
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    auto r = all[0][0].try_get(0ms);  // cannot be here yet: the owner is another process
    // Blocking mode: the read needs the progress thread, so 0 ms always times out. Busy mode: the
    // caller polls the transport itself and may complete the read before it checks the deadline;
    // then the value must be right.
    if (env.options().progress == ferry::transport::ProgressMode::blocking || !r)
      require_error(r, Errc::timeout, {"FERRY_GET_TIMEOUT_MS", all[0][0].id().to_string()}, "get with a 0 ms timeout");
    else
      verify_blob(r->data(), r->size(), 8 * MiB, 5, "a 0 ms get that completed while polling");
    Blob v = all[0][0].get();  // the read went on: now it completes
    verify_blob(v.data(), v.size(), 8 * MiB, 5, "after a timeout");
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
}

}  // namespace

TEST_CASE("errors: get of a freed id -> not_found naming the id and owner", "[errors]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), freed_body));
}

TEST_CASE("errors: owner killed -> owner_died at get, pending gets fail when detected", "[errors][failure]") {
  auto o = group(2, 90);
  o.expect_killed = {0};
  // UCX over shared memory reports no killed peer: the heartbeat timeout (3 s) finds it.
  o.configure = [](ferry::transport::Options& t) { t.peer_timeout = std::chrono::seconds(3); };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, owner_killed_body));
}

TEST_CASE("errors: store full -> store_full, a small store still reads large objects", "[errors][store]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), store_full_body));
}

TEST_CASE("errors: type mismatch names both types", "[errors][types]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), type_mismatch_body));
}

TEST_CASE("errors: corrupted object header -> malformed_message", "[errors][corrupt]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), corrupted_body));
}

TEST_CASE("errors: get timeout, then the same get succeeds", "[errors][timeout]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), timeout_body));
}
