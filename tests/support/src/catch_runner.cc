// catch_runner.cc — the Catch2 (v2) runner of the suites that use the harness
// (compiled once, linked by every such test binary as ferry_catch_runner).
// Exits 77 (CTest: skipped) when the run passed but a group or case was
// skipped (FERRY_SKIP_CASE, or a backend not built); with
// FERRY_TEST_REQUIRE_BACKEND=1 a missing backend fails instead. The implementation is
// ferry_catch_impl.
#include "ferry_test/catch_session.h"
#include "ferry_test/catch_support.h"

int main(int argc, char** argv) {
  int rc = ferry::test::run_catch_session(argc, argv);
  return ferry::test::finish_session(rc);
}
