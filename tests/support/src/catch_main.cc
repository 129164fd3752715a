// catch_main.cc — Catch2's (v2) own main and implementation, compiled once for
// the test binaries that do not use the harness (ferry_catch_main).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
