// ucx_key.cc — the UCX backend's packed-key format (ucx_key.h).
#include "ucx/ucx_key.h"

#include <cstring>
#include <string>

namespace ferry::transport::ucx {

namespace {

constexpr std::size_t kPrefix = 16;   // base + length
constexpr std::size_t kTrailer = 8;   // rkey length + checksum

std::uint32_t fnv1a(const std::byte* p, std::size_t n) {
  std::uint32_t h = 2166136261u;
  for (std::size_t i = 0; i < n; ++i) h = (h ^ static_cast<std::uint8_t>(p[i])) * 16777619u;
  return h;
}

template <class T>
void append(Bytes& out, T v) {
  const auto* p = reinterpret_cast<const std::byte*>(&v);
  out.insert(out.end(), p, p + sizeof v);
}

// Reads a T at `at` (0 when out of range; callers check sizes first).
template <class T>
T take(ByteView in, std::size_t at) {
  T v{};
  if (at <= in.size() && in.size() - at >= sizeof v) std::memcpy(&v, in.data() + at, sizeof v);
  return v;
}

}  // namespace

Bytes make_blob(const void* base, std::size_t length, const void* rkey, std::size_t rkey_len) {
  Bytes out;
  out.reserve(kPrefix + rkey_len + kTrailer);
  append<std::uint64_t>(out, reinterpret_cast<std::uintptr_t>(base));
  append<std::uint64_t>(out, length);
  const auto* r = static_cast<const std::byte*>(rkey);
  out.insert(out.end(), r, r + rkey_len);
  append<std::uint32_t>(out, static_cast<std::uint32_t>(rkey_len));
  append<std::uint32_t>(out, fnv1a(out.data(), out.size()));
  return out;
}

Result<ParsedKey> parse_blob(ByteView blob, Rank peer) {
  auto bad = [&](const std::string& why) {
    return Status(Errc::invalid_argument, "unpack_key: the packed key of rank " + std::to_string(peer) + " (" +
                                              std::to_string(blob.size()) + " bytes) is " + why +
                                              "; pass MemoryRegion::packed_key() bytes unchanged");
  };
  if (blob.size() < kPrefix + 1 + kTrailer) return bad("too short");
  const std::size_t rkey_len = blob.size() - kPrefix - kTrailer;
  if (take<std::uint32_t>(blob, kPrefix + rkey_len) != rkey_len) return bad("truncated or garbled");
  if (take<std::uint32_t>(blob, kPrefix + rkey_len + 4) != fnv1a(blob.data(), kPrefix + rkey_len + 4))
    return bad("garbled (checksum mismatch)");
  ParsedKey k{take<std::uint64_t>(blob, 0), take<std::uint64_t>(blob, 8), blob.data() + kPrefix};
  if (k.length == 0 || k.base + k.length < k.base) return bad("describing an impossible range");
  return k;
}

}  // namespace ferry::transport::ucx
