// ferry_test/volume.h — how much data the stress tests move (header only).
//
// FERRY_TEST_VOLUME, a fraction in (0, 1] (default 1), shrinks the byte volumes and repetition
// counts of the tests that use scaled(): the sanitizer legs set it, because instrumented code and
// fresh pages make volume slow there while every code path is still taken at a fraction of it.
// What a test checks does not change with it; a malformed value is an error, not a silent 1.
//
// Thread-safety: reads the environment once (first call); call from any thread after that.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ferry::test {

inline double volume() {
  static const double v = [] {
    const char* s = std::getenv("FERRY_TEST_VOLUME");
    if (s == nullptr || *s == '\0') return 1.0;
    char* end = nullptr;
    const double f = std::strtod(s, &end);
    if (end == s || *end != '\0' || !(f > 0.0 && f <= 1.0))
      throw std::invalid_argument("FERRY_TEST_VOLUME='" + std::string(s) + "': expected a fraction in (0, 1]");
    return f;
  }();
  return v;
}

// n scaled by volume(), at least `min` (and at most n).
inline std::uint64_t scaled(std::uint64_t n, std::uint64_t min = 1) {
  const auto s = static_cast<std::uint64_t>(static_cast<double>(n) * volume());
  return s < min ? (min < n ? min : n) : s;
}

}  // namespace ferry::test
