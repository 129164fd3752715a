// ferry_test/pattern.h — deterministic buffer contents for transfer tests.
//
// The byte at logical offset i of the pattern with seed s is a pure function of
// (s, i), so a buffer (or any slice of it, at any offset) can be re-created and
// checked anywhere without shipping the expected data. Different seeds give
// unrelated streams; neighbouring bytes differ, so shifted or truncated copies
// are caught. Verification is byte for byte and reports the first mismatch.
//
// Thread-safety: pure functions; call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "ferry_test/check.h"

namespace ferry::test {

// Byte at logical offset `offset` of the stream `seed`.
std::byte pattern_byte(std::uint64_t seed, std::uint64_t offset) noexcept;

// Writes bytes [offset, offset + len) of stream `seed` to dst[0, len).
void fill_pattern(void* dst, std::size_t len, std::uint64_t seed, std::uint64_t offset = 0) noexcept;

struct Mismatch {
  std::size_t index;  // index into the checked buffer (logical offset = offset + index)
  std::byte expected;
  std::byte actual;
  std::string describe(std::size_t len) const;
};

// First index where data[0, len) differs from bytes [offset, offset + len) of `seed`.
std::optional<Mismatch> find_mismatch(const void* data, std::size_t len, std::uint64_t seed,
                                      std::uint64_t offset = 0) noexcept;

// A seed that names who wrote a buffer and why (rank, message number, ...).
constexpr std::uint64_t make_seed(std::uint64_t a, std::uint64_t b = 0, std::uint64_t c = 0) noexcept {
  return (a + 1) * 0x9E3779B97F4A7C15ull ^ (b + 1) * 0xC2B2AE3D27D4EB4Full ^ (c + 1) * 0x165667B19E3779F9ull;
}

}  // namespace ferry::test

// Fatal (in a forked rank) unless data[0, len) holds the pattern; names the first bad offset.
#define FERRY_REQUIRE_PATTERN(data, len, seed, offset)                                             \
  do {                                                                                             \
    auto ferry_mm_ = ::ferry::test::find_mismatch((data), (len), (seed), (offset));                \
    if (ferry_mm_)                                                                                 \
      ::ferry::test::report_failure(__FILE__, __LINE__, "pattern of " #data, ferry_mm_->describe(len), true); \
  } while (0)
