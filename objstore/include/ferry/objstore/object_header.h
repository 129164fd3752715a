// ferry/objstore/object_header.h — the fixed header in front of every object.
//
// Arena layout of one object:  [ 64-byte header ][ payload (size bytes) ]
// The header keeps the payload 64-byte aligned and lets a reader that fetched
// the bytes one-sided (no owner involvement) check that they are what it
// asked for: a torn, overwritten or stale block is detected, never trusted.
//
// Wire form (little-endian, 64 bytes):
//   off  0 u32 magic      kHeaderMagic ("FOBJ") for a live object,
//                         kFreedMagic once the block was freed, 0 while creating
//   off  4 u16 version    kHeaderVersion
//   off  6 u16 format     serialization format, defined by the runtime (0 = raw)
//   off  8 u32 flags      reserved, 0
//   off 12 u32 reserved   0
//   off 16 16B id         ObjectId::encode
//   off 32 u64 size       payload bytes that follow the header
//   off 40 u64 type_tag   hash of the stored C++ type (runtime-defined)
//   off 48 u64 aux        runtime-defined (e.g. element count)
//   off 56 u64 checksum   hash_bytes(bytes [0, 56))
//
// validate_header() errors (what ObjectRef::get() surfaces):
//   * short buffer, bad magic/version, checksum mismatch, size beyond the
//     fetched/region bounds -> Errc::malformed_message "corrupted header ...";
//   * kFreedMagic, or a valid header of another id (block reused) ->
//     Errc::not_found "stale header ..." (the object was freed meanwhile);
//   * type tag differs from the expected one -> Errc::type_mismatch.
// The payload is not checksummed (too costly for GiB objects); the header
// check plus the owner's pin protocol guard its consistency.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "ferry/objstore/object_id.h"
#include "ferry/status.h"

namespace ferry::objstore {

inline constexpr std::size_t kHeaderBytes = 64;
inline constexpr std::uint32_t kHeaderMagic = 0x4A424F46;  // "FOBJ" little-endian
inline constexpr std::uint32_t kFreedMagic = 0x45455246;   // "FREE" little-endian
inline constexpr std::uint16_t kHeaderVersion = 1;

struct ObjectHeader {
  ObjectId id;
  std::uint64_t size = 0;      // payload bytes
  std::uint64_t type_tag = 0;  // hash of the stored type
  std::uint16_t format = 0;    // serialization format (runtime-defined)
  std::uint64_t aux = 0;       // runtime-defined
  friend bool operator==(const ObjectHeader&, const ObjectHeader&) = default;
};

using HeaderBytes = std::array<std::byte, kHeaderBytes>;

// 64-bit FNV-1a; also usable by the runtime to derive type tags from names.
constexpr std::uint64_t hash_bytes(const unsigned char* data, std::size_t n) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (std::size_t i = 0; i < n; ++i) {
    h ^= data[i];
    h *= 0x100000001b3ull;
  }
  return h;
}
constexpr std::uint64_t hash_string(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

// Writes the 64-byte wire form of `h` (magic, version, checksum filled in).
void encode_header(const ObjectHeader& h, std::span<std::byte, kHeaderBytes> out) noexcept;
HeaderBytes encode_header(const ObjectHeader& h) noexcept;

// What the reader expects; unset fields are not checked.
struct HeaderExpectation {
  std::optional<ObjectId> id;
  std::optional<std::uint64_t> type_tag;
  // Largest payload size that can be valid (e.g. region length - offset - 64).
  std::optional<std::uint64_t> max_size;
};

// Decodes and checks the first kHeaderBytes of `bytes` (see the error list above).
Result<ObjectHeader> validate_header(std::span<const std::byte> bytes, const HeaderExpectation& expect = {});

// Overwrites the magic with kFreedMagic (done when a block is released), so a
// reader racing with the free sees "stale header", not old contents.
void mark_header_freed(std::span<std::byte, kHeaderBytes> bytes) noexcept;

}  // namespace ferry::objstore
