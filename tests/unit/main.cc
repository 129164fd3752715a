// main.cc — Catch2 runner of ferry_unit (in-process tests plus harness self-tests).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
