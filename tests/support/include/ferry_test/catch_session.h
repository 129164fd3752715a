// ferry_test/catch_session.h — runs Catch2's session (the implementation is compiled once, in
// ferry_catch_impl; the mains of ferry_catch_runner and ferry_catch_main call this).
#pragma once

namespace ferry::test {

// Catch::Session().run(argc, argv): the run's exit code.
int run_catch_session(int argc, char** argv);

}  // namespace ferry::test
