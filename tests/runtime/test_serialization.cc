// test_serialization.cc — in-process tests of ferry/serialization.h: which
// format each type gets, byte-exact round trips through the encoder and the
// decoder (raw values, raw ranges, cereal), type-mismatch and size errors,
// type names, and ObjectRef inside cereal-serialized values (no runtime needed).
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "ferry/object_ref.h"
#include "ferry/serialization.h"
#include "ferry_test/catch_support.h"

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

TEST_CASE("serialization: an ObjectRef value is stored as the bytes cereal writes, without cereal", "[serialization]") {
  using Ref = ferry::ObjectRef<std::vector<float>>;
  const Ref ref = Ref::from_id(ferry::ObjectId(7, 0x123456789aULL, 3));
  auto e = ferry::detail::encode<Ref>(ref);
  CHECK(e.meta.format == static_cast<std::uint16_t>(ferry::Format::cereal_binary));
  REQUIRE(e.contained.size() == 1u);
  CHECK(e.contained[0] == ref.id());
  std::ostringstream os(std::ios::binary);
  {
    cereal::BinaryOutputArchive ar(os);
    ar(ref);
  }
  const std::string by_cereal = os.str();
  REQUIRE(e.bytes.size() == by_cereal.size());
  CHECK(std::memcmp(e.bytes.data(), by_cereal.data(), by_cereal.size()) == 0);
  CHECK(round_trip<Ref>(ref).id() == ref.id());
  // Inside a container the elements still go through cereal, in the same bytes.
  const std::vector<Ref> many{ref, Ref()};
  auto back = round_trip<std::vector<Ref>>(many);
  REQUIRE(back.size() == 2u);
  CHECK(back[0].id() == ref.id());
  CHECK(back[1].is_nil());
  // A wrong size is malformed, not a crash.
  auto d = as_object(ref);
  d.bytes = d.bytes.first(12);
  d.meta.size = 12;
  auto bad = ferry::detail::decode<Ref>(d, ferry::ObjectId(0, 1));
  REQUIRE(!bad.is_ok());
  CHECK(bad.status().code() == Errc::malformed_message);
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

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

// Sizes around 4 KiB pages, 2 MiB huge pages and the landing threshold.
std::vector<std::size_t> landing_sizes() {
  const std::size_t m = ferry::detail::kLandingMinBytes;
  return {4095, 4096, 4097, 2 * kMiB - 1, 2 * kMiB + 1, m - 1, m, m + 1, m + 4096, 6 * kMiB + 3, 9 * kMiB};
}

template <class U>
std::vector<U> pattern(std::size_t count) {
  std::vector<U> v(count);
  auto* b = reinterpret_cast<unsigned char*>(v.data());
  for (std::size_t i = 0; i < count * sizeof(U); ++i) b[i] = static_cast<unsigned char>(i * 131 + (i >> 12));
  return v;
}

// Byte-wise equality (the patterns hold NaNs; a failure does not print megabytes).
template <class U>
bool same_bytes(const std::vector<U>& a, const std::vector<U>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(U)) == 0;
}

// THPeligible of the mapping that holds `p` (/proc/self/smaps), -1 when unknown.
int thp_eligible(const void* p) {
  std::FILE* f = std::fopen("/proc/self/smaps", "r");
  if (!f) return -1;
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  char line[512];
  bool inside = false;
  int result = -1;
  while (std::fgets(line, sizeof line, f)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && std::strchr(line, '-') < std::strchr(line, ' ')) {
      inside = lo <= a && a < hi;
    } else if (inside && std::sscanf(line, "THPeligible: %d", &result) == 1) {
      break;
    }
  }
  std::fclose(f);
  return result;
}

std::string thp_mode() {
  std::FILE* f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f) return "";
  char buf[128] = {};
  (void)!std::fgets(buf, sizeof buf, f);
  std::fclose(f);
  std::string s(buf);
  auto l = s.find('['), r = s.find(']');
  return l == std::string::npos || r == std::string::npos ? "" : s.substr(l + 1, r - l - 1);
}

}  // namespace

TEST_CASE("serialization: large ranges decode exactly around page, huge-page and landing sizes", "[serialization]") {
  for (std::size_t bytes : landing_sizes()) {
    INFO("bytes " << bytes);
    auto chars = pattern<char>(bytes);
    const std::string s(chars.begin(), chars.end());
    CHECK((round_trip<std::string>(s) == s));
    auto d = pattern<double>(bytes / sizeof(double) + 1);
    CHECK(same_bytes(round_trip<std::vector<double>>(d), d));
    auto pods = pattern<Pod>(bytes / sizeof(Pod) + 1);
    CHECK(same_bytes(round_trip<std::vector<Pod>>(pods), pods));
  }
}

TEST_CASE("serialization: large ranges decode from unaligned bytes, nested containers use cereal", "[serialization]") {
  const std::size_t count = ferry::detail::kLandingMinBytes / sizeof(double) + 7;
  auto d = pattern<double>(count);
  auto e = ferry::detail::encode<std::vector<double>>(d);
  auto buf = std::make_shared<std::vector<std::byte>>(e.bytes.size() + 1);
  std::memcpy(buf->data() + 1, e.bytes.data(), e.bytes.size());  // misaligned for double
  ObjectData od{e.meta, std::span<const std::byte>(buf->data() + 1, e.bytes.size()), buf};
  auto r = ferry::detail::decode<std::vector<double>>(od, ferry::ObjectId(0, 1));
  REQUIRE(r.is_ok());
  CHECK(same_bytes(r.value(), d));

  std::vector<std::vector<int>> nested(3, std::vector<int>(ferry::detail::kLandingMinBytes / sizeof(int) / 2, 7));
  nested[1].back() = 9;
  CHECK(ferry::format_of<std::vector<std::vector<int>>>() == Format::cereal_binary);
  CHECK(round_trip<std::vector<std::vector<int>>>(nested) == nested);
}

TEST_CASE("serialization: a large decoded range lands in memory advised for huge pages", "[serialization]") {
  const std::string mode = thp_mode();
  if (mode != "always" && mode != "madvise")
    FERRY_SKIP_CASE("transparent huge pages are '" + mode + "' here (need always or madvise)");
  auto d = pattern<double>(16 * kMiB / sizeof(double));
  auto v = round_trip<std::vector<double>>(d);
  REQUIRE(same_bytes(v, d));
  // The middle of the storage is inside the 2 MiB-aligned part the landing advised.
  const int eligible = thp_eligible(v.data() + v.size() / 2);
  if (eligible < 0) FERRY_SKIP_CASE("no THPeligible line in /proc/self/smaps");
  CHECK(eligible == 1);
}
