// main.cc — Catch2 runner of ferry_objstore_test (in-process object-store tests).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
