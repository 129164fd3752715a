// ferry_test/catch_support.h — Catch2 (v2) glue for run_ranks() groups (parent side only).
//
//   FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(...));
// passes when every rank succeeded (and expected SIGKILLs happened), fails with
// every rank's fate otherwise, and turns a group whose backend is not built into
// a skip — unless FERRY_TEST_REQUIRE_BACKEND=1, where the children already failed.
//
//   FERRY_SKIP_CASE("needs FERRY_TRANSPORT=ucx");
// ends a TEST_CASE that cannot run here (Catch2 v2 has no SKIP): prints
// "SKIPPED: <reason>", counts the skip and returns.
// finish_session() maps a passing run with any skip to exit code 77 (CTest
// SKIP_RETURN_CODE): a case that did not run is never reported as passed.
//
// Thread-safety: Catch2 thread only.
#pragma once

#include <catch2/catch.hpp>

#include "ferry_test/harness.h"

namespace ferry::test {

// Catch2's exit code, or 77 when it passed but a group or case was skipped.
inline int finish_session(int catch_rc) {
  const auto& t = group_tally();
  if (catch_rc != 0 || t.skipped == 0) return catch_rc;
  Catch::cout() << "SKIPPED: " << t.skipped << " group(s)/case(s) did not run; exit code " << kExitSkip << "\n";
  return kExitSkip;
}

// The backend FERRY_TRANSPORT selects for this process (parent side).
inline bool configured_backend_is(::ferry::transport::Backend b) {
  auto o = ::ferry::transport::Options::from_env();
  return o.is_ok() && o->backend == b;
}

}  // namespace ferry::test

#define FERRY_REQUIRE_RANKS_OK(...)                                                       \
  do {                                                                                     \
    const ::ferry::test::RunResult ferry_rr_ = (__VA_ARGS__);                              \
    if (ferry_rr_.skipped && !::ferry::test::backend_required()) {                         \
      FERRY_SKIP_CASE(ferry_rr_.skip_reason);                                              \
    }                                                                                      \
    if (!ferry_rr_.ok()) {                                                                 \
      ++::ferry::test::group_tally().failed;                                               \
      FAIL("multi-rank group failed (" << ferry_rr_.seconds << " s):\n" << ferry_rr_.describe()); \
    }                                                                                      \
    ++::ferry::test::group_tally().ok;                                                     \
    SUCCEED("all ranks succeeded in " << ferry_rr_.seconds << " s");                      \
  } while (0)

#define FERRY_SKIP_CASE(reason)                                                            \
  do {                                                                                     \
    ++::ferry::test::group_tally().skipped;                                                \
    WARN("SKIPPED: " << reason);                                                           \
    return;                                                                                \
  } while (0)
