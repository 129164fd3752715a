// test_borrowing.cc — borrowed and nested refs across processes (part of
// runtime.borrow.<setting>): a ref passed 0 -> 1 -> 2 -> 3 through actors with
// the creator dropping first, a task returning a ref it made with put, refs
// inside a vector (as an argument, inside a put value, as a result), an actor
// keeping a ref for later, a ref argument the task does not keep (no registration,
// its copy retired), forged and stale refs (not_found naming the id, no
// stale cached value), and (hidden tag, own CTest) a long run of tasks passing
// refs on, with the store and RSS back to their baseline at the end.
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "tasks_common.h"

using namespace tsk;

namespace {

std::uint64_t blob_checksum(const Blob& b) {
  std::uint64_t s = 0;
  for (auto x : b) s = s * 131 + x;
  return s;
}

// Keeps one ref in its state; hands it on to another keeper.
struct Keeper {
  explicit Keeper(int) {}
  int keep(ferry::ObjectRef<Blob> r) {
    held = std::move(r);
    return 1;
  }
  // Gives the held ref to `next` (waits until it has it), then drops its own.
  int pass_to(ferry::actor<Keeper> next);
  std::uint64_t read() { return blob_checksum(held.get(std::chrono::seconds(30))); }
  int drop() {
    held.reset();
    return 0;
  }
  ferry::ObjectRef<Blob> held;
};
inline const auto keeper_class = ferry::actor_class<Keeper, int>("tests::Keeper");
inline const auto keeper_keep = ferry::method<&Keeper::keep>("tests::Keeper::keep");
inline const auto keeper_pass = ferry::method<&Keeper::pass_to>("tests::Keeper::pass_to");
inline const auto keeper_read = ferry::method<&Keeper::read>("tests::Keeper::read");
inline const auto keeper_drop = ferry::method<&Keeper::drop>("tests::Keeper::drop");
int Keeper::pass_to(ferry::actor<Keeper> next) {
  const int r = next.call(keeper_keep, held).get(std::chrono::seconds(30));
  held.reset();
  return r;
}

// A task returning a ref to an object it created (owned by the executor).
ferry::ObjectRef<Blob> make_ref(std::uint64_t size, std::uint64_t s) { return ferry::put(objs::make_blob(size, s)); }
inline const auto make_ref_fn = ferry::function<&make_ref>("tests::make_ref");

// Refs inside a vector: as an argument, and a vector of new refs as a result.
std::uint64_t sum_refs(std::vector<ferry::ObjectRef<Blob>> refs) {
  std::uint64_t s = 0;
  for (auto& r : refs) s += blob_checksum(r.get(std::chrono::seconds(30)));
  return s;
}
inline const auto sum_refs_fn = ferry::function<&sum_refs>("tests::sum_refs");

std::vector<ferry::ObjectRef<Blob>> make_refs(int n, std::uint64_t size) {
  std::vector<ferry::ObjectRef<Blob>> out;
  for (int i = 0; i < n; ++i) out.push_back(ferry::put(objs::make_blob(size, 500 + i)));
  return out;
}
inline const auto make_refs_fn = ferry::function<&make_refs>("tests::make_refs");

// Reads a put value that holds refs (the outer ref is passed, its value decoded here).
std::uint64_t sum_outer(ferry::ObjectRef<std::vector<ferry::ObjectRef<Blob>>> outer) {
  return sum_refs(outer.get(std::chrono::seconds(30)));
}
inline const auto sum_outer_fn = ferry::function<&sum_outer>("tests::sum_outer");

// Passes its ref argument on to another task and returns that task's result.
int pass_on(ferry::ObjectRef<int> r, int hops);
inline const auto pass_on_fn = ferry::function<&pass_on>("tests::pass_on");
int pass_on(ferry::ObjectRef<int> r, int hops) {
  if (hops == 0) return r.get(std::chrono::seconds(30));
  return pass_on_fn.remote(r, hops - 1).get(std::chrono::seconds(30));
}

// Long run: a task receiving a ref (a borrower) that hands it on to a second
// task and returns that task's output ref without waiting (a ref in a result).
int take_ref(ferry::ObjectRef<int> r) { return r.is_nil() ? 0 : 1; }
inline const auto take_ref_fn = ferry::function<&take_ref>("tests::take_ref");
ferry::ObjectRef<int> relay(ferry::ObjectRef<int> r) { return take_ref_fn.remote(r); }
inline const auto relay_fn = ferry::function<&relay>("tests::relay");

std::uint64_t expected(std::uint64_t size, std::uint64_t s) { return blob_checksum(objs::make_blob(size, s)); }

// Tasks that use their ref argument and do not keep it.
std::uint64_t ref_counter(ferry::ObjectRef<Blob> r) { return r.id().counter(); }
inline const auto ref_counter_fn = ferry::function<&ref_counter>("tests::ref_counter");
std::uint64_t ref_checksum(ferry::ObjectRef<Blob> r) { return blob_checksum(r.get(std::chrono::seconds(30))); }
inline const auto ref_checksum_fn = ferry::function<&ref_checksum>("tests::ref_checksum");

void chain_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  if (env.rank() == 0) {
    auto k1 = keeper_class.on(ferry::rank{1}).create(0);
    auto k2 = keeper_class.on(ferry::rank{2}).create(0);
    auto k3 = keeper_class.on(ferry::rank{3}).create(0);
    for (std::uint64_t size : {std::uint64_t{16}, std::uint64_t{200 * KiB}}) {  // inline value and one-sided read
      auto x = ferry::put(objs::make_blob(size, 7));
      FERRY_REQUIRE(k1.call(keeper_keep, x).get(30s) == 1);
      x.reset();  // the creator drops first
      FERRY_REQUIRE(k1.call(keeper_pass, k2).get(30s) == 1);
      FERRY_REQUIRE(k2.call(keeper_pass, k3).get(30s) == 1);
      FERRY_REQUIRE(k3.call(keeper_read).get(30s) == expected(size, 7));
      FERRY_REQUIRE(rt->stats().owned == 1u);  // still alive on its owner: rank 3 borrows it
      FERRY_REQUIRE(k3.call(keeper_drop).get(30s) == 0);
      wait_stats(*rt, [](const ferry::RuntimeStats& s) { return s.owned == 0; }, "object not freed after the last borrower dropped it");
    }
  }
  env.barrier();
  wait_tasks_clean(*rt);
}

void nested_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  if (env.rank() == 0) {
    for (std::uint64_t size : {std::uint64_t{16}, std::uint64_t{300 * KiB}}) {
      // A task returns a ref it made with put (owned by rank 1).
      auto r = make_ref_fn.on(ferry::rank{1}).remote(size, 11);
      ferry::ObjectRef<Blob> inner = r.get(30s);
      r.reset();
      FERRY_REQUIRE(inner.owner() == 1u);
      FERRY_REQUIRE(blob_checksum(inner.get(30s)) == expected(size, 11));
      // Refs inside a vector argument; the caller drops its own refs at once.
      std::vector<ferry::ObjectRef<Blob>> v;
      for (int i = 0; i < 3; ++i) v.push_back(ferry::put(objs::make_blob(size, 20 + i)));
      std::uint64_t want = 0;
      for (int i = 0; i < 3; ++i) want += expected(size, 20 + i);
      auto s1 = sum_refs_fn.on(ferry::rank{1}).remote(v);
      // Inside a put value: the outer object keeps them; rank 2 reads through it.
      auto outer = ferry::put(v);
      v.clear();
      auto s2 = sum_outer_fn.on(ferry::rank{2}).remote(outer);
      outer.reset();
      FERRY_REQUIRE(s1.get(30s) == want);
      FERRY_REQUIRE(s2.get(30s) == want);
      // A vector of new refs as a result (owned by rank 2), read here and on rank 1.
      auto many = make_refs_fn.on(ferry::rank{2}).remote(4, size).get(30s);
      std::uint64_t want4 = 0;
      for (int i = 0; i < 4; ++i) want4 += expected(size, 500 + i);
      FERRY_REQUIRE(sum_refs(many) == want4);
      FERRY_REQUIRE(sum_refs_fn.on(ferry::rank{1}).remote(many).get(30s) == want4);
      many.clear();
      inner.reset();
    }
  }
  env.barrier();
  wait_tasks_clean(*rt);
}

// A ref argument the task does not keep needs no registration (the submitter holds it until
// the done record): the executor sends one message per task, its done record. A copy the
// task read is retired once the task ended, while the owner still holds the object.
void unkept_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options(1));
  ferry::transport::Transport& t = env.transport();
  ferry::ObjectRef<Blob> small, large;
  if (env.rank() == 0) {
    small = ferry::put(objs::make_blob(16, 5));
    large = ferry::put(objs::make_blob(300 * KiB, 6));
    FERRY_REQUIRE(ref_counter_fn.on(ferry::rank{1}).remote(small).get(30s) == small.id().counter());  // warm
  }
  env.barrier();
  const auto before = t.counters();
  env.barrier();
  if (env.rank() == 0)
    for (int i = 0; i < 10; ++i)
      FERRY_REQUIRE(ref_counter_fn.on(ferry::rank{1}).remote(small).get(30s) == small.id().counter());
  env.barrier();
  if (env.rank() == 1) {
    const auto after = t.counters();
    ferry::test::note("rank 1 sent " + std::to_string(after.ams_sent - before.ams_sent) +
                      " AMs for 10 tasks with a ref argument");
    FERRY_CHECK(after.ams_sent - before.ams_sent == 10);  // the done records only
  }
  env.barrier();
  if (env.rank() == 0)
    FERRY_REQUIRE(ref_checksum_fn.on(ferry::rank{1}).remote(large).get(30s) == expected(300 * KiB, 6));
  env.barrier();
  if (env.rank() == 1)
    wait_stats(*rt, [](const ferry::RuntimeStats& s) { return s.borrowed == 0 && s.copies == 0 && s.store_used == 0; },
               "rank 1 kept a copy of an object it no longer references");
  env.barrier();
  if (env.rank() == 0) {
    FERRY_REQUIRE(blob_checksum(large.get(30s)) == expected(300 * KiB, 6));  // still there for its owner
    small.reset();
    large.reset();
  }
  env.barrier();
  wait_tasks_clean(*rt);
}

void forged_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  const ferry::ObjectId forged(1, 0x7777777, 0);
  ferry::ObjectId stale;
  if (env.rank() == 1) {
    auto x = ferry::put(objs::make_blob(16, 3));
    stale = x.id();
    auto all = exchange_refs<Blob>(env, {x});
    x.reset();
    env.barrier();  // rank 0 read it and dropped it
  } else {
    auto all = exchange_refs<Blob>(env, {});
    auto x = all[1][0];
    FERRY_REQUIRE(blob_checksum(x.get(30s)) == expected(16, 3));  // a 16-byte value cached here
    stale = x.id();
    all.clear();
    x.reset();
    env.barrier();
  }
  env.barrier();  // every ref dropped everywhere: freed
  wait_tasks_clean(*rt);
  if (env.rank() == 0) {
    // Forged id: not_found naming it. Stale id: not served from a cache.
    require_error(ferry::ObjectRef<Blob>::from_id(forged).try_get(30s), Errc::not_found, {forged.to_string()},
                  "forged ref");
    require_error(ferry::ObjectRef<Blob>::from_id(stale).try_get(30s), Errc::not_found, {stale.to_string()},
                  "stale ref");
  }
  env.barrier();
  wait_tasks_clean(*rt);
}

void pass_on_body(RankEnv& env) {
  auto rt = start_runtime(env, task_options());
  if (env.rank() == 0) {
    std::vector<ferry::ObjectRef<int>> outs;
    for (int i = 0; i < 200; ++i) {
      auto x = ferry::put(i);
      outs.push_back(pass_on_fn.remote(x, 3));  // four hops over the ranks
    }
    for (int i = 0; i < 200; ++i) FERRY_REQUIRE(outs[i].get(60s) == i);
  }
  env.barrier();
  wait_tasks_clean(*rt);
}

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string k;
  long v = 0;
  while (f >> k) {
    if (k == "VmRSS:") {
      f >> v;
      return v;
    }
  }
  return 0;
}

// A long run of `tasks` tasks: each outer task (relay) receives a ref and
// passes it on to a second task whose output ref it returns; a new ref every
// 50 outer tasks.
void long_body(RankEnv& env, std::uint64_t tasks) {
  auto rt = start_runtime(env, task_options());
  long baseline = 0;
  constexpr std::uint64_t kWindow = 10000;  // outer tasks per rank and window
  // Every rank submits its share; each outer task passes its ref on to one
  // more task (two tasks per iteration). Ranks meet after every window.
  const std::uint64_t per_window = 2 * kWindow * env.size();
  for (std::uint64_t done = 0; done < tasks; done += per_window) {
    std::vector<ferry::ObjectRef<ferry::ObjectRef<int>>> outs;
    outs.reserve(kWindow);
    ferry::ObjectRef<int> x;
    for (std::uint64_t i = 0; i < kWindow; ++i) {
      if (i % 50 == 0) x = ferry::put(static_cast<int>(i));
      outs.push_back(relay_fn.remote(x));
    }
    x.reset();
    for (auto& o : outs) FERRY_REQUIRE(o.get(120s).get(120s) == 1);
    outs.clear();
    env.barrier();
    wait_stats(*rt, [](const ferry::RuntimeStats& s) { return s.owned == 0 && s.store_used == 0; },
               "store not back to empty after a window", 60s);
    env.barrier();
    if (done == 0) baseline = rss_kib();  // after the first window (warm-up)
  }
  const long end = rss_kib();
  std::fprintf(stderr, "rank %u: long run of %llu tasks, RSS %ld KiB after warm-up, %ld KiB at the end\n", env.rank(),
               static_cast<unsigned long long>(tasks), baseline, end);
  // Ownership tables and the store are checked empty after every window; RSS
  // is a coarse bound on everything else (1,000,000 tasks: +57..65 MiB measured
  // on the shared 2-core VM, source not identified; a leaked entry per task
  // would be well above this bound).
  if (end > baseline + 128 * 1024) FERRY_FAIL("RSS grew by " + std::to_string(end - baseline) + " KiB");
  env.barrier();
  wait_tasks_clean(*rt);
}

}  // namespace

TEST_CASE("borrowing: a ref passed 0 -> 1 -> 2 -> 3 through actors, the creator dropping first", "[borrow]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(4, 120), chain_body));
}

TEST_CASE("borrowing: a task returns a put ref; refs inside vectors, put values and results", "[borrow]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(3, 120), nested_body));
}

TEST_CASE("borrowing: a ref argument the task does not keep costs no message; its copy is retired", "[borrow]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 60), unkept_body));
}

TEST_CASE("borrowing: forged and stale refs -> not_found naming the id, no stale cached value", "[borrow]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 60), forged_body));
}

TEST_CASE("borrowing: tasks pass their ref argument on to further tasks (4 hops)", "[borrow]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(3, 120), pass_on_body));
}

TEST_CASE("borrowing: 1,000,000 tasks passing refs on, store and RSS back to baseline", "[.long][borrow]") {
  const char* n = std::getenv("FERRY_TEST_LONG_TASKS");
  const std::uint64_t tasks = n ? std::strtoull(n, nullptr, 10) : 1000000;
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(task_group(2, 3000), [&](RankEnv& env) { long_body(env, tasks); }));
}
