// startup_profile.h — start-up phase marks for profiling ferry-run start-up at scale.
//
// With FERRY_STARTUP_PROFILE=1 in the environment, startup_mark(rank, phase) writes one line
//   ferry-startup rank=R phase=P t_us=T
// to stderr, T being CLOCK_REALTIME in microseconds (comparable across the processes of one
// node; bench/startup.sh reduces the lines to the slowest rank per phase). Without it a mark
// costs one cached environment check. Thread-safe (one write(2) per line).
#pragma once

#include <cstdint>

namespace ferry::transport {

// True when FERRY_STARTUP_PROFILE is set to a non-empty value other than "0" (read once).
[[nodiscard]] bool startup_profile_enabled() noexcept;

// Writes the mark line when profiling is enabled; otherwise does nothing.
void startup_mark(std::uint32_t rank, const char* phase) noexcept;

}  // namespace ferry::transport
