// object_id.cc — printing, parsing, hashing and wire form of ObjectId.
// Thread-safety: pure functions.
#include "ferry/objstore/object_id.h"

#include <charconv>
#include <cstdio>

#include "le.h"

namespace ferry::objstore {

std::size_t ObjectId::hash() const noexcept {
  // splitmix64 finalizer over the three fields.
  auto mix = [](std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
  };
  std::uint64_t hi = (std::uint64_t{owner_} << 32) | index_;
  return static_cast<std::size_t>(mix(counter_ ^ mix(hi)));
}

std::string ObjectId::to_string() const {
  char buf[64];
  int n = index_ == 0
              ? std::snprintf(buf, sizeof(buf), "obj:%u:%llx", owner_, static_cast<unsigned long long>(counter_))
              : std::snprintf(buf, sizeof(buf), "obj:%u:%llx#%u", owner_, static_cast<unsigned long long>(counter_),
                              index_);
  return std::string(buf, static_cast<std::size_t>(n));
}

namespace {

// Parses the whole of `s` as an unsigned number in `base` (no sign, no prefix).
template <class T>
bool parse_whole(std::string_view s, int base, T& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

std::optional<ObjectId> ObjectId::parse(std::string_view text) {
  if (text.substr(0, 4) != "obj:") return std::nullopt;
  text.remove_prefix(4);
  auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::uint32_t owner = 0, index = 0;
  std::uint64_t counter = 0;
  if (!parse_whole(text.substr(0, colon), 10, owner)) return std::nullopt;
  text.remove_prefix(colon + 1);
  auto hash = text.find('#');
  if (!parse_whole(text.substr(0, hash), 16, counter)) return std::nullopt;
  if (hash != std::string_view::npos) {
    if (!parse_whole(text.substr(hash + 1), 10, index) || index == 0) return std::nullopt;
  }
  return ObjectId(owner, counter, index);
}

void ObjectId::encode(std::span<std::byte, kWireBytes> out) const noexcept {
  detail::store_le<std::uint32_t>(out.data(), owner_);
  detail::store_le<std::uint32_t>(out.data() + 4, index_);
  detail::store_le<std::uint64_t>(out.data() + 8, counter_);
}

ObjectId ObjectId::decode(std::span<const std::byte, kWireBytes> in) noexcept {
  return ObjectId(detail::load_le<std::uint32_t>(in.data()), detail::load_le<std::uint64_t>(in.data() + 8),
                  detail::load_le<std::uint32_t>(in.data() + 4));
}

}  // namespace ferry::objstore
