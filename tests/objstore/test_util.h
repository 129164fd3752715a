// test_util.h — helpers shared by the objstore tests (env guard, Status matchers).
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

#include "ferry/status.h"
#include "ferry_test/env_guard.h"

namespace ferry::objstore::test {

using ferry::test::EnvGuard;  // ferry_test/env_guard.h

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace ferry::objstore::test
