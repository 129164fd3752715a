// catch_impl.cc — Catch2's (v2) implementation, compiled once for every test binary
// (ferry_catch_impl); the mains are in catch_runner.cc and catch_main.cc.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include "ferry_test/catch_session.h"

int ferry::test::run_catch_session(int argc, char** argv) { return Catch::Session().run(argc, argv); }
