// driver.cc — ferry::run: driver mode (see ferry/driver.h).
//
// The driver rank turns an exception or a non-zero result into Session::abort (every worker's
// serve() fails with the message); the workers print what ended them. Thread-safety: call from
// main, once.
#include "ferry/driver.h"

#include <cstdio>
#include <exception>
#include <string>

#include "ferry/init.h"

namespace ferry::detail {

namespace {

int finish_driver(Session& s, int rc, const std::string& error) {
  if (!error.empty() || rc != 0) {
    const std::string why = error.empty() ? "the driver returned " + std::to_string(rc) : error;
    std::fprintf(stderr, "ferry: the driver (rank %u) failed: %s\n", kDriverRank, why.c_str());
    s.abort("the driver failed: " + why);
    return rc != 0 ? rc : 1;
  }
  try {
    s.shutdown();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry: the driver's shutdown failed: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace

int run_driver(int& argc, char**& argv, std::function<int(Session&)> driver) {
  Session s;
  try {
    s = init(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry: %s\n", e.what());
    return 1;
  }
  if (s.rank() != kDriverRank) {
    try {
      s.serve(kDriverRank);  // another worker's death does not end this one
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ferry: worker rank %u stops: %s\n", s.rank(), e.what());
      return 1;
    }
    return 0;
  }
  int rc = 0;
  std::string error;
  try {
    rc = driver(s);
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "an exception without a message";
  } catch (...) {
    error = "an exception of a type not derived from std::exception";
  }
  return finish_driver(s, rc, error);
}

}  // namespace ferry::detail
