// catch_main.cc — Catch2's plain main for the test binaries that do not use the harness
// (ferry_catch_main; the implementation is ferry_catch_impl).
#include "ferry_test/catch_session.h"

int main(int argc, char** argv) { return ferry::test::run_catch_session(argc, argv); }
