// ferry_test/catch_support.h — Catch2 (v2) glue for run_ranks() groups (parent side only).
//
//   FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(...));
// passes when every rank succeeded (and expected SIGKILLs happened), fails with
// every rank's fate otherwise, and turns a group whose backend is not built into
// a WARN plus an early return (Catch2 v2 has no SKIP) — unless
// FERRY_TEST_REQUIRE_BACKEND=1, where the children already failed instead.
// finish_session() maps "everything was skipped" to exit code 77 (CTest
// SKIP_RETURN_CODE), so a skipped matrix entry never looks like a pass.
//
// Thread-safety: Catch2 thread only.
#pragma once

#include <catch2/catch.hpp>

#include "ferry_test/harness.h"

namespace ferry::test {

// Catch2's exit code, or 77 when it passed but every group was skipped.
inline int finish_session(int catch_rc) {
  const auto& t = group_tally();
  if (catch_rc == 0 && t.ok == 0 && t.skipped > 0) return kExitSkip;
  return catch_rc;
}

}  // namespace ferry::test

#define FERRY_REQUIRE_RANKS_OK(...)                                                       \
  do {                                                                                     \
    const ::ferry::test::RunResult ferry_rr_ = (__VA_ARGS__);                              \
    if (ferry_rr_.skipped && !::ferry::test::backend_required()) {                         \
      ++::ferry::test::group_tally().skipped;                                              \
      WARN("SKIPPED: " << ferry_rr_.skip_reason);                                          \
      return;                                                                              \
    }                                                                                      \
    if (!ferry_rr_.ok()) {                                                                 \
      ++::ferry::test::group_tally().failed;                                               \
      FAIL("multi-rank group failed (" << ferry_rr_.seconds << " s):\n" << ferry_rr_.describe()); \
    }                                                                                      \
    ++::ferry::test::group_tally().ok;                                                     \
    SUCCEED("all ranks succeeded in " << ferry_rr_.seconds << " s");                      \
  } while (0)
