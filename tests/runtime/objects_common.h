// objects_common.h — helpers for the multi-process object tests
// (ferry_runtime_objects; every function runs inside a forked rank).
//
// Conventions: each rank starts a ferry::Runtime on the harness's transport
// (start_runtime) and destroys it (collective shutdown) before the body ends;
// refs travel between ranks through the bootstrap (exchange_refs, cereal
// save/load of ObjectRef); owners keep their refs until every reader passed a
// barrier (borrower accounting is not implemented yet); every wait is bounded.
// Thread-safety: helpers are called from the rank's main thread unless noted.
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/types/vector.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/ferry.h"
#include "ferry_test/catch_support.h"
#include "ferry_test/check.h"
#include "ferry_test/harness.h"
#include "ferry_test/pattern.h"

namespace objs {

using namespace std::chrono_literals;
using ferry::Errc;
using ferry::ObjectRef;
using ferry::test::RankEnv;
using ferry::test::RunOptions;
using ferry::transport::Rank;
using Blob = std::vector<std::uint8_t>;
using steady = std::chrono::steady_clock;

inline constexpr std::size_t KiB = 1024, MiB = 1024 * 1024;

inline RunOptions group(int n, int timeout_s) {
  RunOptions o;
  o.ranks = n;
  o.timeout = std::chrono::seconds(timeout_s);
  // Long transfers on a loaded 2-core machine must not trip failure detection.
  o.configure = [](ferry::transport::Options& t) { t.peer_timeout = std::chrono::seconds(10); };
  return o;
}

inline ferry::RuntimeOptions runtime_options(std::size_t store_bytes = 512 * MiB) {
  ferry::RuntimeOptions o;
  o.store_bytes = store_bytes;
  o.get_timeout = std::chrono::seconds(60);  // a hang fails the test instead of stalling it
  o.shutdown_timeout = std::chrono::seconds(30);
  return o;
}

inline std::unique_ptr<ferry::Runtime> start_runtime(RankEnv& env, const ferry::RuntimeOptions& o = runtime_options()) {
  auto rt = FERRY_VALUE(ferry::Runtime::create(env.transport(), env.bootstrap(), o));
  FERRY_REQUIRE(ferry::Runtime::current() == rt.get());
  return rt;
}

inline std::uint64_t seed(std::uint64_t rank, std::uint64_t i) { return ferry::test::make_seed(rank, i, 0x0B1EC7); }

inline Blob make_blob(std::size_t size, std::uint64_t s) {
  Blob b(size);
  ferry::test::fill_pattern(b.data(), size, s);
  return b;
}

inline void verify_blob(const std::uint8_t* p, std::size_t got, std::size_t want, std::uint64_t s,
                        const std::string& what) {
  if (got != want) FERRY_FAIL(what + ": " + std::to_string(got) + " bytes, expected " + std::to_string(want));
  if (auto mm = ferry::test::find_mismatch(p, got, s)) FERRY_FAIL(what + ": " + mm->describe(got));
}

// Every rank's refs serialized (cereal save of ObjectRef), indexed by rank (collective).
template <class T>
std::vector<std::string> exchange_ref_bytes(RankEnv& env, const std::vector<ObjectRef<T>>& mine) {
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(mine);
  }
  std::string s = std::move(os).str();
  auto all = FERRY_VALUE(env.bootstrap().allgather(std::as_bytes(std::span<const char>(s.data(), s.size()))));
  std::vector<std::string> out;
  for (const auto& b : all) out.emplace_back(reinterpret_cast<const char*>(b.data()), b.size());
  return out;
}

// Refs back from exchange_ref_bytes' bytes (cereal load: a rank that is not the owner borrows them).
template <class T>
std::vector<ObjectRef<T>> decode_refs(const std::string& bytes) {
  std::vector<ObjectRef<T>> refs;
  std::istringstream is(bytes, std::ios::binary);
  cereal::BinaryInputArchive ar(is);
  ar(refs);
  return refs;
}

// Every rank's refs, indexed by rank (collective).
template <class T>
std::vector<std::vector<ObjectRef<T>>> exchange_refs(RankEnv& env, const std::vector<ObjectRef<T>>& mine) {
  std::vector<std::vector<ObjectRef<T>>> out;
  for (const auto& bytes : exchange_ref_bytes(env, mine)) out.push_back(decode_refs<T>(bytes));
  return out;
}

// Polls stats() until `done(stats)` or the deadline; fatal with the last stats otherwise.
template <class Pred>
ferry::RuntimeStats wait_stats(ferry::Runtime& rt, Pred done, const std::string& what,
                               std::chrono::milliseconds timeout = 15s) {
  auto deadline = steady::now() + timeout;
  for (;;) {
    auto s = rt.stats();
    if (done(s)) return s;
    if (steady::now() > deadline) FERRY_FAIL(what + " within " + std::to_string(timeout.count()) + " ms; " + s.describe());
    std::this_thread::sleep_for(10ms);
  }
}

// After every rank dropped every ref: nothing owned, borrowed or cached remains here.
inline void wait_clean(ferry::Runtime& rt) {
  wait_stats(
      rt,
      [](const ferry::RuntimeStats& s) {
        return s.owned == 0 && s.leases == 0 && s.borrowed == 0 && s.copies == 0 && s.fetches == 0 &&
               s.store_objects == 0 && s.store_used == 0;
      },
      "object store not empty after every ref was dropped (leak?)");
}

// Expects `r` to hold an error with `code` whose message contains every fragment.
template <class R>
void require_error(const R& r, Errc code, std::initializer_list<std::string> fragments, const std::string& what) {
  if (r.is_ok()) FERRY_FAIL(what + ": expected " + ferry::to_string(code) + ", but it succeeded");
  if (r.status().code() != code)
    FERRY_FAIL(what + ": expected " + ferry::to_string(code) + ", got " + r.status().to_string());
  for (const auto& f : fragments)
    if (r.status().message().find(f) == std::string::npos)
      FERRY_FAIL(what + ": message lacks '" + f + "': " + r.status().to_string());
}

inline double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

}  // namespace objs
