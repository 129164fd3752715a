// example_check.h — tiny helpers shared by the examples (not part of the ferry API).
//
//   EXAMPLE_CHECK(cond, "what was expected")  prints "rank R: FAILED: ..." and exits 1 if !cond
//   int_arg(argc, argv, "--tasks", 200)        "--tasks N" from the command line, else the default
//   guarded(name, session, body)               runs body; an escaping exception becomes a clear
//                                               message and exit code 1 (no collective shutdown)
// Thread-safety: EXAMPLE_CHECK may be used from any thread (tasks included): it exits the process.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include "ferry/init.h"
#include "ferry/runtime.h"

namespace example {

inline unsigned current_rank() {
  ferry::Runtime* rt = ferry::Runtime::current();
  return rt ? rt->rank() : 0;
}

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "rank %u: FAILED: %s\n", current_rank(), what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

inline long int_arg(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) {
      char* end = nullptr;
      long v = std::strtol(argv[i + 1], &end, 10);
      if (!end || *end || v <= 0) fail(std::string(name) + " needs a positive integer, got '" + argv[i + 1] + "'");
      return v;
    }
  return fallback;
}

// Runs body() while `session` is up and returns 0. An exception escaping the body is printed at
// once and ends this process with exit code 1 WITHOUT the collective shutdown (which would wait
// for peers that may themselves wait for this rank): the launcher then stops the other ranks.
template <class F>
int guarded(const char* name, ferry::Session& session, F&& body) {
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: rank %u: error: %s\n", name, session.rank(), e.what());
    std::fflush(stderr);
    std::_Exit(1);
  }
  return 0;
}

}  // namespace example

#define EXAMPLE_CHECK(cond, what)                                                           \
  do {                                                                                      \
    if (!(cond)) ::example::fail(std::string(what) + " (" #cond ", " __FILE__ ":" + std::to_string(__LINE__) + ")"); \
  } while (0)
