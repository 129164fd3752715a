// object_header.cc — encoding and validation of the 64-byte object header
// (layout and error classes in object_header.h). Thread-safety: pure functions.
#include "ferry/objstore/object_header.h"

#include <cstdio>
#include <string>

#include "ferry/objstore/le.h"

namespace ferry::objstore {

namespace {

constexpr std::size_t kChecksumOffset = 56;

std::uint64_t checksum_of(const std::byte* p) noexcept {
  return hash_bytes(reinterpret_cast<const unsigned char*>(p), kChecksumOffset);
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Status corrupted(const std::string& why, const HeaderExpectation& expect) {
  std::string what = expect.id ? " of " + expect.id->to_string() : std::string();
  return Status(Errc::malformed_message, "corrupted header" + what + ": " + why +
                                             " (the bytes read are not a valid ferry object; memory corruption "
                                             "or a wrong offset/key)");
}

Status stale(const std::string& why, const HeaderExpectation& expect) {
  std::string what = expect.id ? expect.id->to_string() : std::string("object");
  return Status(Errc::not_found, "stale header: " + what + " is no longer at this location (" + why +
                                     "); it was freed meanwhile, ask its owner again");
}

}  // namespace

void encode_header(const ObjectHeader& h, std::span<std::byte, kHeaderBytes> out) noexcept {
  std::byte* p = out.data();
  detail::store_le<std::uint32_t>(p + 0, kHeaderMagic);
  detail::store_le<std::uint16_t>(p + 4, kHeaderVersion);
  detail::store_le<std::uint16_t>(p + 6, h.format);
  detail::store_le<std::uint32_t>(p + 8, 0);
  detail::store_le<std::uint32_t>(p + 12, 0);
  h.id.encode(std::span<std::byte, ObjectId::kWireBytes>(p + 16, ObjectId::kWireBytes));
  detail::store_le<std::uint64_t>(p + 32, h.size);
  detail::store_le<std::uint64_t>(p + 40, h.type_tag);
  detail::store_le<std::uint64_t>(p + 48, h.aux);
  detail::store_le<std::uint64_t>(p + kChecksumOffset, checksum_of(p));
}

HeaderBytes encode_header(const ObjectHeader& h) noexcept {
  HeaderBytes out{};
  encode_header(h, std::span<std::byte, kHeaderBytes>(out));
  return out;
}

void mark_header_freed(std::span<std::byte, kHeaderBytes> bytes) noexcept {
  detail::store_le<std::uint32_t>(bytes.data(), kFreedMagic);
}

Result<ObjectHeader> validate_header(std::span<const std::byte> bytes, const HeaderExpectation& expect) {
  if (bytes.size() < kHeaderBytes) {
    return corrupted("only " + std::to_string(bytes.size()) + " of " + std::to_string(kHeaderBytes) +
                         " header bytes available",
                     expect);
  }
  const std::byte* p = bytes.data();
  const auto magic = detail::load_le<std::uint32_t>(p);
  if (magic == kFreedMagic) return stale("the block was freed", expect);
  if (magic == 0) return stale("the block is being rewritten", expect);
  if (magic != kHeaderMagic) return corrupted("bad magic " + hex(magic), expect);
  const auto version = detail::load_le<std::uint16_t>(p + 4);
  if (version != kHeaderVersion) {
    return corrupted("version " + std::to_string(version) + ", expected " + std::to_string(kHeaderVersion), expect);
  }
  const auto stored_sum = detail::load_le<std::uint64_t>(p + kChecksumOffset);
  if (stored_sum != checksum_of(p)) {
    return corrupted("checksum " + hex(stored_sum) + " does not match contents " + hex(checksum_of(p)), expect);
  }
  if (detail::load_le<std::uint32_t>(p + 8) != 0 || detail::load_le<std::uint32_t>(p + 12) != 0) {
    return corrupted("reserved fields are not zero", expect);
  }
  ObjectHeader h;
  h.format = detail::load_le<std::uint16_t>(p + 6);
  h.id = ObjectId::decode(std::span<const std::byte, ObjectId::kWireBytes>(p + 16, ObjectId::kWireBytes));
  h.size = detail::load_le<std::uint64_t>(p + 32);
  h.type_tag = detail::load_le<std::uint64_t>(p + 40);
  h.aux = detail::load_le<std::uint64_t>(p + 48);
  if (expect.id && h.id != *expect.id) return stale("found " + h.id.to_string() + " there", expect);
  if (expect.max_size && h.size > *expect.max_size) {
    return corrupted("payload size " + std::to_string(h.size) + " exceeds the " + std::to_string(*expect.max_size) +
                         " bytes that can follow it",
                     expect);
  }
  if (expect.type_tag && h.type_tag != *expect.type_tag) {
    return Status(Errc::type_mismatch, "type mismatch for " + h.id.to_string() + ": stored type tag " +
                                           hex(h.type_tag) + ", requested " + hex(*expect.type_tag) +
                                           " (get<T>() must name the type the object was put with)");
  }
  return h;
}

}  // namespace ferry::objstore
