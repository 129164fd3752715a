// test_serialization.cc — in-process tests of ferry/serialization.h: which
// format each type gets, byte-exact round trips through the encoder and the
// decoder (raw values, raw ranges, cereal), type-mismatch and size errors,
// type names, and ObjectRef inside cereal-serialized values (no runtime needed).
#include <catch2/catch.hpp>

#include <array>
#include <map>
#include <string>
#include <vector>

#include "ferry/object_ref.h"
#include "ferry/serialization.h"

using ferry::Errc;
using ferry::Format;
using ferry::detail::ObjectData;

namespace {

struct Pod {
  int a;
  double b;
  char c[5];
};

struct Rich {
  std::string name;
  std::vector<int> values;
  std::map<std::string, double> props;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, values, props);
  }
  bool operator==(const Rich&) const = default;
};

struct WithRef {
  int x = 0;
  ferry::ObjectRef<std::vector<float>> ref;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(x, ref);
  }
};

// Encodes `value` as put() would and returns the object's data (owning the bytes).
template <class V>
ObjectData as_object(const V& value) {
  auto e = ferry::detail::encode<ferry::stored_t<V>>(value);
  auto buf = std::make_shared<std::vector<std::byte>>(e.bytes.begin(), e.bytes.end());
  return ObjectData{e.meta, std::span<const std::byte>(*buf), buf};
}

template <class T, class V>
T round_trip(const V& value) {
  auto d = as_object(value);
  auto r = ferry::detail::decode<T>(d, ferry::ObjectId(0, 1));
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

}  // namespace

TEST_CASE("serialization: formats and stored types", "[serialization]") {
  STATIC_REQUIRE(ferry::format_of<int>() == Format::raw_value);
  STATIC_REQUIRE(ferry::format_of<Pod>() == Format::raw_value);
  STATIC_REQUIRE(ferry::format_of<std::array<int, 3>>() == Format::raw_value);
  STATIC_REQUIRE(ferry::format_of<std::vector<double>>() == Format::raw_range);
  STATIC_REQUIRE(ferry::format_of<std::string>() == Format::raw_range);
  STATIC_REQUIRE(ferry::format_of<std::vector<bool>>() == Format::cereal_binary);
  STATIC_REQUIRE(ferry::format_of<std::vector<std::string>>() == Format::cereal_binary);
  STATIC_REQUIRE(ferry::format_of<Rich>() == Format::cereal_binary);
  STATIC_REQUIRE(std::is_same_v<ferry::stored_t<std::span<const int>>, std::vector<int>>);
  STATIC_REQUIRE(std::is_same_v<ferry::stored_t<const char*>, std::string>);
  STATIC_REQUIRE(std::is_same_v<ferry::stored_t<decltype("abc")>, std::string>);
  STATIC_REQUIRE(std::is_same_v<ferry::stored_t<std::string_view>, std::string>);
  STATIC_REQUIRE(std::is_same_v<ferry::stored_t<const std::vector<int>&>, std::vector<int>>);
  CHECK(ferry::type_name<int>() == "int");
  CHECK(ferry::type_name<std::vector<int>>() == "std::vector<int>");
  CHECK(ferry::type_tag<int>() != ferry::type_tag<unsigned>());
}

TEST_CASE("serialization: raw values and ranges are stored byte for byte", "[serialization]") {
  CHECK(round_trip<int>(42) == 42);
  Pod p{7, 2.5, "abcd"};
  Pod q = round_trip<Pod>(p);
  CHECK(q.a == 7);
  CHECK(q.b == 2.5);
  CHECK(std::string(q.c) == "abcd");

  std::vector<std::uint64_t> v(1000);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = i * 0x9E3779B97F4A7C15ull;
  auto d = as_object(v);
  CHECK(d.meta.size == v.size() * 8);
  CHECK(d.meta.aux == v.size());
  CHECK(std::memcmp(d.bytes.data(), v.data(), d.meta.size) == 0);  // no framing: the elements themselves
  CHECK(round_trip<std::vector<std::uint64_t>>(v) == v);

  std::vector<int> backing{1, 2, 3, 4};
  CHECK(round_trip<std::vector<int>>(std::span<const int>(backing).subspan(1, 2)) == std::vector<int>{2, 3});
  CHECK(round_trip<std::string>("hello") == "hello");
  CHECK(round_trip<std::string>(std::string_view("view")) == "view");
  CHECK(round_trip<std::string>(std::string()) == "");
  CHECK(round_trip<std::vector<char>>(std::vector<char>()).empty());
}

TEST_CASE("serialization: cereal types round trip", "[serialization]") {
  Rich r{"x", {1, 2, 3}, {{"a", 1.5}, {"b", -2}}};
  CHECK(round_trip<Rich>(r) == r);
  std::vector<std::string> words{"one", "", "three"};
  CHECK(round_trip<std::vector<std::string>>(words) == words);
  std::vector<bool> bits{true, false, true};
  CHECK(round_trip<std::vector<bool>>(bits) == bits);
  std::map<int, std::vector<double>> m{{1, {0.5}}, {2, {}}};
  CHECK(round_trip<std::map<int, std::vector<double>>>(m) == m);
}

TEST_CASE("serialization: refs travel inside serialized values", "[serialization]") {
  // Without a runtime the ref's reference counting is inert, but the id travels.
  WithRef w;
  w.x = 5;
  w.ref = ferry::ObjectRef<std::vector<float>>::from_id(ferry::ObjectId(3, 0x2a, 1));
  WithRef back = round_trip<WithRef>(w);
  CHECK(back.x == 5);
  CHECK(back.ref.id() == ferry::ObjectId(3, 0x2a, 1));
  CHECK(back.ref.owner() == 3u);
  std::array<std::byte, 16> wire;
  back.ref.encode(wire);
  CHECK(ferry::ObjectRef<std::vector<float>>::decode(wire).id() == back.ref.id());
  // get() without a runtime is a clear error, not a crash.
  auto r = back.ref.try_get();
  REQUIRE(!r.is_ok());
  CHECK(r.status().code() == Errc::shut_down);
}

TEST_CASE("serialization: type mismatch names both types, bad sizes are malformed", "[serialization]") {
  auto d = as_object(std::vector<int>{1, 2});
  auto wrong = ferry::detail::decode<std::vector<double>>(d, ferry::ObjectId(2, 9));
  REQUIRE(!wrong.is_ok());
  CHECK(wrong.status().code() == Errc::type_mismatch);
  CHECK_THAT(wrong.status().message(), Catch::Contains("std::vector<double>") && Catch::Contains("std::vector<int>") &&
                                           Catch::Contains("obj:2:9"));

  auto i = as_object(1);
  i.meta.size = 3;
  i.bytes = i.bytes.first(3);
  CHECK(ferry::detail::decode<int>(i, ferry::ObjectId(0, 1)).status().code() == Errc::malformed_message);

  auto s = as_object(Rich{"abc", {1}, {}});
  s.bytes = s.bytes.first(s.bytes.size() - 3);
  s.meta.size = s.bytes.size();
  auto bad = ferry::detail::decode<Rich>(s, ferry::ObjectId(0, 1));
  CHECK(bad.status().code() == Errc::malformed_message);
}
