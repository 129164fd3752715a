// startup_profile.cc — see ferry/transport/startup_profile.h.
#include "ferry/transport/startup_profile.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace ferry::transport {

bool startup_profile_enabled() noexcept {
  static const bool on = [] {
    const char* v = std::getenv("FERRY_STARTUP_PROFILE");
    return v != nullptr && *v != '\0' && !(v[0] == '0' && v[1] == '\0');
  }();
  return on;
}

void startup_mark(std::uint32_t rank, const char* phase) noexcept {
  if (!startup_profile_enabled()) return;
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  const long long us = static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  char line[160];
  const int n = std::snprintf(line, sizeof line, "ferry-startup rank=%u phase=%s t_us=%lld\n", rank, phase, us);
  if (n > 0) (void)!::write(2, line, static_cast<std::size_t>(n < static_cast<int>(sizeof line) ? n : sizeof line - 1));
}

}  // namespace ferry::transport
