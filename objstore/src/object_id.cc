// object_id.cc — printing and parsing of ObjectId (hash and wire form are inline).
// Thread-safety: pure functions.
#include "ferry/objstore/object_id.h"

#include <charconv>
#include <cstdio>


namespace ferry::objstore {

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

}  // namespace ferry::objstore
