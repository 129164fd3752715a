// ferry/serialization.h — how values become object bytes and back.
//
// put(value) stores a value of type stored_t<V>:
//   * std::span<U> -> std::vector<U>; std::string_view, const char*, char arrays -> std::string;
//     anything else -> std::decay_t<V>.
// Formats (recorded in the object header with a type tag):
//   raw_range     std::string and std::vector<U> with U trivially copyable (not bool, not a
//                 pointer): the elements are copied straight into the arena (one copy) and
//                 read back with one copy out (or none: ObjectRef::view()).
//   raw_value     any other trivially copyable type (not a pointer): its bytes.
//   cereal_binary everything else that cereal can serialize (a `serialize` member/free
//                 function, or a standard container of such types; cereal's binary archive).
// Type tag: FNV-1a hash of the type's name as the compiler spells it (every rank runs the
// same binary, so the tags agree). get<T> of an object stored as another type fails with
// Errc::type_mismatch naming both types. Raw pointers are rejected at compile time.
//
// Thread-safety: pure functions; the type-name registry is internally synchronized.
#pragma once

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/memory.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <istream>
#include <new>
#include <span>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "ferry/detail/landing.h"
#include "ferry/detail/object_api.h"
#include "ferry/objstore/object_header.h"
#include "ferry/status.h"

namespace ferry {

enum class Format : std::uint16_t { raw_value = 0, raw_range = 1, cereal_binary = 2 };

inline const char* to_string(Format f) noexcept {
  switch (f) {
    case Format::raw_value: return "raw value";
    case Format::raw_range: return "raw range";
    case Format::cereal_binary: return "cereal binary";
  }
  return "unknown format";
}

// The type's name as the compiler spells it, e.g. "std::vector<int>".
template <class T>
constexpr std::string_view type_name() noexcept {
  std::string_view p = __PRETTY_FUNCTION__;
#if defined(__clang__)
  auto start = p.find("T = ") + 4;
  auto end = p.rfind(']');
#else
  auto start = p.find("T = ") + 4;
  auto end = p.find(';', start);
  if (end == std::string_view::npos) end = p.rfind(']');
#endif
  return p.substr(start, end - start);
}

template <class T>
constexpr std::uint64_t type_tag() noexcept {
  return objstore::hash_string(type_name<T>());
}

namespace detail {

template <class T>
struct stored {
  using type = T;
};
template <class U, std::size_t E>
struct stored<std::span<U, E>> {
  using type = std::vector<std::remove_cv_t<U>>;
};
template <>
struct stored<std::string_view> {
  using type = std::string;
};
template <>
struct stored<const char*> {
  using type = std::string;
};
template <>
struct stored<char*> {
  using type = std::string;
};

template <class T>
struct vector_element {
  using type = void;
};
template <class U>
struct vector_element<std::vector<U, std::allocator<U>>> {
  using type = U;
};

template <class U>
inline constexpr bool raw_element_v = std::is_trivially_copyable_v<U> && !std::is_pointer_v<U> &&
                                      !std::is_member_pointer_v<U> && !std::is_same_v<U, bool>;

}  // namespace detail

// The type put(V) stores (and ObjectRef's parameter).
template <class V>
using stored_t = typename detail::stored<std::decay_t<V>>::type;

template <class S>
constexpr bool is_raw_range_v = std::is_same_v<S, std::string> ||
                                (!std::is_void_v<typename detail::vector_element<S>::type> &&
                                 detail::raw_element_v<typename detail::vector_element<S>::type>);

template <class S>
constexpr bool is_raw_value_v = !is_raw_range_v<S> && std::is_trivially_copyable_v<S> && !std::is_pointer_v<S> &&
                                !std::is_member_pointer_v<S>;

template <class S>
constexpr bool is_cereal_v = cereal::traits::is_output_serializable<S, cereal::BinaryOutputArchive>::value &&
                             cereal::traits::is_input_serializable<S, cereal::BinaryInputArchive>::value;

template <class S>
constexpr Format format_of() noexcept {
  if constexpr (is_raw_range_v<S>) return Format::raw_range;
  else if constexpr (is_raw_value_v<S>) return Format::raw_value;
  else return Format::cereal_binary;
}

// Compile-time check with a remedy (used by put/get/ObjectRef).
template <class S>
constexpr void check_storable() noexcept {
  static_assert(!std::is_pointer_v<S> && !std::is_member_pointer_v<S>,
                "ferry: raw pointers cannot be stored in objects (the address means nothing on another rank); "
                "store the pointed-to value, a std::vector, or pass a std::span");
  static_assert(!std::is_reference_v<S> && !std::is_const_v<S>, "ferry: store values, not references or const types");
  static_assert(is_raw_range_v<S> || is_raw_value_v<S> || is_cereal_v<S>,
                "ferry: this type cannot be stored: it is not trivially copyable and cereal cannot serialize it; "
                "add `template <class Archive> void serialize(Archive& ar) { ar(field1, field2); }` to it (and make "
                "it default-constructible), or make it trivially copyable");
}

namespace detail {

// Registers S's name for error messages once per process (static initialisation).
template <class S>
struct TypeRegistration {
  static inline const bool done = register_type_name(type_tag<S>(), type_name<S>());
};

// Object bytes ready to be copied into the arena.
struct Encoded {
  ObjectMeta meta;
  std::span<const std::byte> bytes;
  std::string buffer;                 // owns `bytes` for cereal_binary
  std::vector<ObjectId> contained;    // refs serialized inside (ObjectRef::save)
};

// While encode() runs cereal, ObjectRef::save records every ref it writes
// here (the value's "contained" refs, kept alive with the object).
inline thread_local std::vector<ObjectId>* tl_ref_capture = nullptr;
class RefCapture {
 public:
  explicit RefCapture(std::vector<ObjectId>* into) noexcept : saved_(tl_ref_capture) { tl_ref_capture = into; }
  ~RefCapture() { tl_ref_capture = saved_; }
  RefCapture(const RefCapture&) = delete;
  RefCapture& operator=(const RefCapture&) = delete;

 private:
  std::vector<ObjectId>* saved_;
};

// A cereal-serialized type whose save() always writes kFerryFixedBytes bytes (ObjectRef):
// encode/decode write and read those same bytes directly (ferry_save_fixed / ferry_load_fixed),
// without cereal's streams; the stored bytes and format are the ones cereal would give.
template <class S>
concept fixed_cereal = requires(const S& s, std::byte* out, const std::byte* in, std::vector<ObjectId>& refs) {
  { S::kFerryFixedBytes } -> std::convertible_to<std::size_t>;
  s.ferry_save_fixed(out, refs);
  { S::ferry_load_fixed(in) } -> std::same_as<S>;
};

template <class S, class V>
Encoded encode(const V& value) {
  check_storable<S>();
  (void)TypeRegistration<S>::done;
  Encoded e;
  e.meta.type_tag = type_tag<S>();
  e.meta.format = static_cast<std::uint16_t>(format_of<S>());
  if constexpr (std::is_same_v<S, std::string>) {
    std::string_view sv(value);
    e.bytes = std::as_bytes(std::span<const char>(sv.data(), sv.size()));
    e.meta.aux = sv.size();
  } else if constexpr (is_raw_range_v<S>) {
    using U = typename vector_element<S>::type;
    std::span<const U> s(value);
    e.bytes = std::as_bytes(s);
    e.meta.aux = s.size();
  } else if constexpr (is_raw_value_v<S>) {
    static_assert(std::is_same_v<S, std::decay_t<V>>);
    e.bytes = std::as_bytes(std::span<const S, 1>(&value, 1));
  } else if constexpr (fixed_cereal<S>) {
    e.buffer.resize(S::kFerryFixedBytes);
    static_cast<const S&>(value).ferry_save_fixed(reinterpret_cast<std::byte*>(e.buffer.data()), e.contained);
    e.bytes = std::as_bytes(std::span<const char>(e.buffer.data(), e.buffer.size()));
  } else {
    std::ostringstream os(std::ios::binary);
    {
      RefCapture capture(&e.contained);
      cereal::BinaryOutputArchive ar(os);
      ar(static_cast<const S&>(value));
    }
    e.buffer = std::move(os).str();
    e.bytes = std::as_bytes(std::span<const char>(e.buffer.data(), e.buffer.size()));
  }
  e.meta.size = e.bytes.size();
  return e;
}

// Read-only streambuf over object bytes (cereal input without a copy).
class ViewBuf : public std::streambuf {
 public:
  explicit ViewBuf(std::span<const std::byte> b) {
    char* p = const_cast<char*>(reinterpret_cast<const char*>(b.data()));
    setg(p, p, p + b.size());
  }
};

inline Status type_error(const ObjectId& id, const ObjectMeta& meta, std::uint64_t want_tag,
                         std::string_view want_name, Format want_format) {
  if (meta.type_tag != want_tag)
    return Status(Errc::type_mismatch, "get of object " + id.to_string() + " (owner rank " +
                                           std::to_string(id.owner()) + ") as " + std::string(want_name) +
                                           ", but it holds a " + type_name_of(meta.type_tag) +
                                           ": read it with the ObjectRef type it was put with");
  return Status(Errc::malformed_message, "object " + id.to_string() + " of type " + std::string(want_name) +
                                             " was stored in format " + std::to_string(meta.format) + ", expected " +
                                             to_string(want_format) + " (mixed ferry builds?)");
}

inline Status size_error(const ObjectId& id, std::string_view want_name, const ObjectMeta& meta,
                         std::size_t got) {
  return Status(Errc::malformed_message, "object " + id.to_string() + " (" + std::string(want_name) + "): " +
                                             std::to_string(got) + " bytes do not fit the header (size " +
                                             std::to_string(meta.size) + ", count " + std::to_string(meta.aux) + ")");
}

// Checks the stored type and size of `d` against S (no decoding).
template <class S>
Status check_data(const ObjectData& d, const ObjectId& id) {
  (void)TypeRegistration<S>::done;
  constexpr Format f = format_of<S>();
  if (d.meta.type_tag != type_tag<S>() || d.meta.format != static_cast<std::uint16_t>(f))
    return type_error(id, d.meta, type_tag<S>(), type_name<S>(), f);
  if (d.bytes.size() != d.meta.size) return size_error(id, type_name<S>(), d.meta, d.bytes.size());
  if constexpr (f == Format::raw_value) {
    if (d.bytes.size() != sizeof(S)) return size_error(id, type_name<S>(), d.meta, d.bytes.size());
  } else if constexpr (f == Format::raw_range) {
    using U = std::conditional_t<std::is_same_v<S, std::string>, char, typename vector_element<S>::type>;
    if (d.bytes.size() % sizeof(U) != 0 || d.meta.aux != d.bytes.size() / sizeof(U))
      return size_error(id, type_name<S>(), d.meta, d.bytes.size());
  }
  return Status::ok();
}

// One copy out of the object's bytes into a fresh S.
template <class S>
Result<S> decode(const ObjectData& d, const ObjectId& id) {
  check_storable<S>();
  if (Status s = check_data<S>(d, id); !s) return s;
  const std::byte* p = d.bytes.data();
  const std::size_t n = d.bytes.size();
  if constexpr (std::is_same_v<S, std::string>) {
    if (n < kLandingMinBytes) return std::string(reinterpret_cast<const char*>(p), n);
    std::string s;
    s.reserve(n);  // untouched storage: prepared before the copy faults it in
    prepare_landing(s.data(), n);
    s.append(reinterpret_cast<const char*>(p), n);
    return s;
  } else if constexpr (is_raw_range_v<S>) {
    using U = typename vector_element<S>::type;
    const std::size_t count = n / sizeof(U);
    if (n >= kLandingMinBytes) {
      S v;
      v.reserve(count);  // untouched storage: prepared before the copy faults it in
      prepare_landing(v.data(), n);
      if (reinterpret_cast<std::uintptr_t>(p) % alignof(U) == 0) {
        const U* first = reinterpret_cast<const U*>(p);
        v.insert(v.end(), first, first + count);  // one copy, no zero-fill
      } else {
        v.resize(count);
        std::memcpy(v.data(), p, n);
      }
      return v;
    }
    if (reinterpret_cast<std::uintptr_t>(p) % alignof(U) == 0) {
      const U* first = reinterpret_cast<const U*>(p);
      return S(first, first + count);
    }
    S v(count);
    if (n) std::memcpy(v.data(), p, n);
    return v;
  } else if constexpr (is_raw_value_v<S>) {
    alignas(S) unsigned char buf[sizeof(S)];
    std::memcpy(buf, p, sizeof(S));
    return *std::launder(reinterpret_cast<S*>(buf));
  } else if constexpr (fixed_cereal<S>) {
    if (n != S::kFerryFixedBytes)
      return Status(Errc::malformed_message, "cannot deserialize object " + id.to_string() + " as " +
                                                 std::string(type_name<S>()) + ": " + std::to_string(n) +
                                                 " bytes, expected " + std::to_string(S::kFerryFixedBytes));
    return S::ferry_load_fixed(p);
  } else {
    static_assert(std::is_default_constructible_v<S>,
                  "ferry: get() of a cereal-serialized type needs it to be default-constructible");
    try {
      ViewBuf buf(d.bytes);
      std::istream is(&buf);
      cereal::BinaryInputArchive ar(is);
      S value{};
      ar(value);
      return value;
    } catch (const std::exception& e) {
      return Status(Errc::malformed_message, "cannot deserialize object " + id.to_string() + " as " +
                                                 std::string(type_name<S>()) + ": " + e.what());
    }
  }
}

}  // namespace detail
}  // namespace ferry
