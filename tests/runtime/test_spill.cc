// test_spill.cc — store pressure across ranks over the configured transport
// (registered once per transport setting: runtime.spill.<setting>).
//
// * A working set 4x FERRY_STORE_BYTES (16 MiB stores, 64 MiB of objects per
//   rank) is created, then read back and checksummed by its owner (restores
//   into the arena) and by a remote reader (the owner restores, the reader
//   gets one-sided), twice; every spill file is gone after the refs drop and
//   the per-rank spill directory is gone after shutdown.
// * A reader whose store is full of cached copies can still put (the copies
//   are evicted through their owners), and reads them again afterwards.
// * A put larger than the whole store is store_full naming the sizes.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/stats.h"
#include "objects_common.h"

using namespace objs;

namespace {

constexpr std::size_t kObject = MiB;
constexpr std::size_t kStore = 16 * MiB;
constexpr std::size_t kObjects = 64;  // 4x the store

// The spill base shared by the ranks of one group: FERRY_SPILL_DIR=/tmp/ferry-spill-test.<parent pid>.
std::string use_spill_base() {
  const std::string base = "/tmp/ferry-spill-test." + std::to_string(::getppid());
  (void)::mkdir(base.c_str(), 0700);
  ::setenv("FERRY_SPILL_DIR", base.c_str(), 1);
  return base;
}

// Entries of `dir` whose name contains `fragment`.
std::vector<std::string> entries(const std::string& dir, const std::string& fragment) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::string(e->d_name).find(fragment) != std::string::npos) out.push_back(e->d_name);
    ::closedir(d);
  }
  return out;
}

void read_all(const std::vector<ObjectRef<Blob>>& refs, Rank owner, const std::string& who) {
  for (std::size_t i = 0; i < refs.size(); ++i) {
    Blob v = refs[i].get();
    verify_blob(v.data(), v.size(), kObject, seed(owner, i), who + " object " + std::to_string(i));
  }
}

void working_set_body(RankEnv& env) {
  const std::string base = use_spill_base();
  const std::string my_dir_suffix = "." + std::to_string(::getpid());
  auto rt = start_runtime(env, runtime_options(kStore));
  const Rank me = env.rank(), peer = (me + 1) % env.size();
  std::vector<ObjectRef<Blob>> mine;
  for (std::size_t i = 0; i < kObjects; ++i) mine.push_back(ferry::put(make_blob(kObject, seed(me, i))));
  auto s = ferry::stats();
  FERRY_CHECK(s.spills >= kObjects - kStore / kObject);
  FERRY_CHECK(s.spilled_bytes >= (kObjects - kStore / kObject) * kObject);
  FERRY_CHECK(entries(base, my_dir_suffix).size() == 1u);
  auto all = exchange_refs(env, mine);
  env.barrier();
  for (int round = 0; round < 2; ++round) {
    read_all(mine, me, "own (local reader)");
    read_all(all[peer], peer, "rank " + std::to_string(peer) + "'s (remote reader)");
  }
  s = ferry::stats();
  FERRY_CHECK(s.restores > 0u);
  FERRY_CHECK(s.restored_bytes_total >= s.restores * kObject);
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  s = ferry::stats();
  FERRY_CHECK(s.spilled_bytes == 0u);  // every spilled copy was read back or deleted
  env.barrier();
  FERRY_REQUIRE_OK(rt->shutdown());
  FERRY_CHECK(entries(base, my_dir_suffix).empty());  // the rank's spill directory went at shutdown
  env.barrier();
  if (me == 0) FERRY_CHECK(::rmdir(base.c_str()) == 0);  // nothing else was left in the base either
}

void too_large_body(RankEnv& env) {
  use_spill_base();
  auto rt = start_runtime(env, runtime_options(kStore));
  if (env.rank() == 0) {
    auto keep = ferry::put(make_blob(kObject, 1));
    require_error(ferry::try_put(make_blob(kStore + kObject, 2)), Errc::store_full,
                  {"larger than the whole store", "16.0 MiB", "FERRY_STORE_BYTES"}, "put larger than the store");
    FERRY_CHECK(ferry::stats().spills == 0u);  // nothing was spilled for a hopeless request
  }
  env.barrier();
  FERRY_REQUIRE_OK(rt->shutdown());
  env.barrier();
  if (env.rank() == 0) (void)::rmdir(("/tmp/ferry-spill-test." + std::to_string(::getppid())).c_str());
}

void eviction_body(RankEnv& env) {
  use_spill_base();
  // Rank 0 owns 24 MiB of objects (64 MiB store); rank 1 (16 MiB store) reads them all and keeps its refs.
  constexpr std::size_t kRead = 24;
  auto rt = start_runtime(env, runtime_options(env.rank() == 0 ? 64 * MiB : kStore));
  std::vector<ObjectRef<Blob>> mine;
  if (env.rank() == 0)
    for (std::size_t i = 0; i < kRead; ++i) mine.push_back(ferry::put(make_blob(kObject, seed(0, i))));
  auto all = exchange_refs(env, mine);
  if (env.rank() == 1) {
    read_all(all[0], 0, "rank 0's");
    const auto before = rt->stats();
    FERRY_CHECK(before.copies >= kStore / kObject - 4);  // the store filled with cached copies
    std::vector<ObjectRef<Blob>> own;
    for (std::size_t i = 0; i < kStore / kObject - 2; ++i) {
      auto r = ferry::try_put(make_blob(kObject, seed(1, i)));
      if (!r) FERRY_FAIL("put " + std::to_string(i) + " after caching copies: " + r.status().to_string());
      own.push_back(std::move(r).value());
    }
    FERRY_CHECK(rt->stats().copies < before.copies);
    FERRY_CHECK(ferry::stats().spills == 0u);  // room came from the copies, not from the own objects
    read_all(own, 1, "own");
    read_all(all[0], 0, "rank 0's (again, after eviction)");
  }
  env.barrier();
  mine.clear();
  all.clear();
  env.barrier();
  wait_clean(*rt);
  env.barrier();
  FERRY_REQUIRE_OK(rt->shutdown());
  env.barrier();
  if (env.rank() == 0) (void)::rmdir(("/tmp/ferry-spill-test." + std::to_string(::getppid())).c_str());
}

}  // namespace

TEST_CASE("spill: a working set 4x the store, read back by owner and remote reader, verified", "[spill]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 240), working_set_body));
}

TEST_CASE("spill: a put larger than the whole store is store_full naming the sizes", "[spill]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), too_large_body));
}

TEST_CASE("eviction: a reader whose store is full of cached copies can still put", "[eviction]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 120), eviction_body));
}
