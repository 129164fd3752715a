// test_util.h — helpers shared by the objstore tests (env guard, Status matchers).
// Thread-safety: EnvGuard mutates the process environment; use it only in
// single-threaded test sections.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

#include "ferry/status.h"

namespace ferry::objstore::test {

// Sets (or unsets, for nullopt) an environment variable for one scope.
class EnvGuard {
 public:
  EnvGuard(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) ::setenv(name, value->c_str(), 1);
    else ::unsetenv(name);
  }
  ~EnvGuard() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace ferry::objstore::test
