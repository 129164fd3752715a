// ferry_test/probe_check.h — failure reporting for the multi-process probe programs (header only).
//
//   namespace { FERRY_TEST_PROBE("driver probe") }   // defines fail(what) and CHECK(cond)
//
// A failed CHECK or a call of fail() prints "<probe>: FAILED: <what>" (CHECK: file:line: condition)
// to stderr and ends the process at once with status 1 (std::_Exit: no destructors, so a failing
// rank never waits in the runtime's shutdown for peers that may be gone). The test scripts look
// for the exit status and print the output.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace ferry_test {

[[noreturn]] inline void probe_fail(const char* probe, const std::string& what) {
  std::fprintf(stderr, "%s: FAILED: %s\n", probe, what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

}  // namespace ferry_test

#define FERRY_TEST_PROBE(name) \
  [[noreturn]] [[maybe_unused]] void fail(const std::string& what) { ::ferry_test::probe_fail(name, what); }

#define CHECK(cond)                                                                       \
  do {                                                                                    \
    if (!(cond)) fail(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " #cond); \
  } while (0)
