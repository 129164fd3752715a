// ferry_test/env_guard.h — one environment variable set (or unset) for one scope (header only).
//
//   ferry::test::EnvGuard g("FERRY_STORE_BYTES", "64M");     // set
//   ferry::test::EnvGuard u("FERRY_TRANSPORT", std::nullopt); // unset
//
// The destructor restores the previous value (or absence). Thread-safety: it mutates the process
// environment; use it only where no other thread reads the environment.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace ferry::test {

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

}  // namespace ferry::test
