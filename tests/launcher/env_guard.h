// env_guard.h — saves, clears and restores the environment variables launcher detection reads,
// so each Catch2 test starts from "no launcher" whatever started the test binary.
// Thread-safety: setenv/unsetenv; use from the test's main thread only.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ferry::test {

class EnvGuard {
 public:
  EnvGuard() {
    for (const char* name : kNames) {
      const char* v = std::getenv(name);
      saved_.emplace_back(name, v ? std::optional<std::string>(v) : std::nullopt);
      ::unsetenv(name);
    }
  }
  ~EnvGuard() {
    for (auto& [name, value] : saved_) {
      if (value) ::setenv(name.c_str(), value->c_str(), 1);
      else ::unsetenv(name.c_str());
    }
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

  void set(const char* name, const std::string& value) { ::setenv(name, value.c_str(), 1); }
  void unset(const char* name) { ::unsetenv(name); }

 private:
  static constexpr const char* kNames[] = {
      "FERRY_BOOTSTRAP",      "FERRY_RENDEZVOUS_DIR", "FERRY_RANK",        "FERRY_SIZE",
      "FERRY_LOCAL_RANK",     "FERRY_LOCAL_SIZE",     "FERRY_BOOTSTRAP_TIMEOUT_MS",
      "FERRY_TRANSPORT",      "PMIX_NAMESPACE",       "PMIX_RANK",         "OMPI_COMM_WORLD_SIZE",
      "OMPI_COMM_WORLD_RANK", "OMPI_COMMAND",         "SLURM_NTASKS",      "SLURM_STEP_ID",
      "SLURM_STEP_NUM_TASKS", "SLURM_PROCID",         "SLURM_MPI_TYPE"};
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

}  // namespace ferry::test
