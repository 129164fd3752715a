// ferry/objstore/le.h — little-endian load/store helpers for ferry's wire formats (object
// headers, ids, runtime messages). Internal to ferry; not part of the user API.
// Thread-safety: pure functions.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace ferry::objstore::detail {

// On little-endian hosts (x86-64, aarch64 as configured by every HPC distro)
// a plain memcpy; elsewhere byte by byte.
template <class T>
void store_le(std::byte* p, T v) noexcept {
  static_assert(std::is_unsigned_v<T>);
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(p, &v, sizeof(T));
  } else {
    for (std::size_t i = 0; i < sizeof(T); ++i) p[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
  }
}

template <class T>
T load_le(const std::byte* p) noexcept {
  static_assert(std::is_unsigned_v<T>);
  T v = 0;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(&v, p, sizeof(T));
  } else {
    for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
  }
  return v;
}

}  // namespace ferry::objstore::detail
