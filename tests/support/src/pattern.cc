// pattern.cc — deterministic pattern fill/verify (see ferry_test/pattern.h).
//
// Word k of stream s is splitmix64(s ^ k * C); byte i is byte (i % 8) of word i / 8.
// Fill and verify work a word at a time in the aligned middle and a byte at a
// time at the ragged ends, so odd offsets and lengths cost nothing extra.
#include "ferry_test/pattern.h"

#include <bit>
#include <cstdio>
#include <cstring>

namespace ferry::test {
namespace {

static_assert(std::endian::native == std::endian::little, "fill_pattern stores words little-endian");

inline std::uint64_t word(std::uint64_t seed, std::uint64_t k) noexcept {
  std::uint64_t z = seed ^ (k * 0xD6E8FEB86659FD93ull);
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline std::byte byte_of(std::uint64_t w, std::uint64_t offset) noexcept {
  return static_cast<std::byte>((w >> (8 * (offset % 8))) & 0xff);
}

}  // namespace

std::byte pattern_byte(std::uint64_t seed, std::uint64_t offset) noexcept {
  return byte_of(word(seed, offset / 8), offset);
}

void fill_pattern(void* dst, std::size_t len, std::uint64_t seed, std::uint64_t offset) noexcept {
  auto* out = static_cast<unsigned char*>(dst);
  std::size_t i = 0;
  for (; i < len && (offset + i) % 8 != 0; ++i) out[i] = static_cast<unsigned char>(pattern_byte(seed, offset + i));
  for (; i + 8 <= len; i += 8) {
    std::uint64_t w = word(seed, (offset + i) / 8);  // little-endian byte order == byte_of()
    std::memcpy(out + i, &w, 8);
  }
  for (; i < len; ++i) out[i] = static_cast<unsigned char>(pattern_byte(seed, offset + i));
}

std::optional<Mismatch> find_mismatch(const void* data, std::size_t len, std::uint64_t seed,
                                      std::uint64_t offset) noexcept {
  const auto* in = static_cast<const unsigned char*>(data);
  auto check_byte = [&](std::size_t i) -> std::optional<Mismatch> {
    auto want = pattern_byte(seed, offset + i);
    auto got = static_cast<std::byte>(in[i]);
    if (want != got) return Mismatch{i, want, got};
    return std::nullopt;
  };
  std::size_t i = 0;
  for (; i < len && (offset + i) % 8 != 0; ++i)
    if (auto m = check_byte(i)) return m;
  for (; i + 8 <= len; i += 8) {
    std::uint64_t want = word(seed, (offset + i) / 8), got;
    std::memcpy(&got, in + i, 8);
    if (want != got) {
      for (std::size_t j = i; j < i + 8; ++j)
        if (auto m = check_byte(j)) return m;
    }
  }
  for (; i < len; ++i)
    if (auto m = check_byte(i)) return m;
  return std::nullopt;
}

std::string Mismatch::describe(std::size_t len) const {
  char buf[160];
  std::snprintf(buf, sizeof buf, "first mismatch at byte %zu of %zu: expected 0x%02x, got 0x%02x", index, len,
                static_cast<unsigned>(expected), static_cast<unsigned>(actual));
  return buf;
}

}  // namespace ferry::test
