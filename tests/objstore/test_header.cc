// test_header.cc — the 64-byte object header: layout, round trip, and
// detection of corrupted, stale and mistyped headers.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "ferry/objstore/object_header.h"
#include "test_util.h"

using ferry::Errc;
using ferry::objstore::encode_header;
using ferry::objstore::HeaderBytes;
using ferry::objstore::HeaderExpectation;
using ferry::objstore::kHeaderBytes;
using ferry::objstore::mark_header_freed;
using ferry::objstore::ObjectHeader;
using ferry::objstore::ObjectId;
using ferry::objstore::validate_header;
using ferry::objstore::test::contains;

namespace {

ObjectHeader sample() {
  ObjectHeader h;
  h.id = ObjectId(3, 0x2a, 1);
  h.size = 123456;
  h.type_tag = ferry::objstore::hash_string("std::vector<double>");
  h.format = 2;
  h.aux = 15432;
  return h;
}

unsigned byte_at(const HeaderBytes& b, std::size_t i) { return std::to_integer<unsigned>(b[i]); }

}  // namespace

TEST_CASE("header wire layout is fixed little-endian", "[header]") {
  HeaderBytes b = encode_header(sample());
  CHECK(b.size() == 64);
  CHECK(std::memcmp(b.data(), "FOBJ", 4) == 0);
  CHECK(byte_at(b, 4) == 1);  // version
  CHECK(byte_at(b, 5) == 0);
  CHECK(byte_at(b, 6) == 2);  // format
  for (std::size_t i = 8; i < 16; ++i) CHECK(byte_at(b, i) == 0);
  CHECK(byte_at(b, 16) == 3);     // owner rank
  CHECK(byte_at(b, 20) == 1);     // return index
  CHECK(byte_at(b, 24) == 0x2a);  // counter
  CHECK(byte_at(b, 32) == (123456 & 0xff));
  CHECK(byte_at(b, 48) == (15432 & 0xff));
  CHECK(ferry::objstore::hash_string("abc") ==
        ferry::objstore::hash_bytes(reinterpret_cast<const unsigned char*>("abc"), 3));
}

TEST_CASE("encode_header / validate_header round trip", "[header]") {
  const ObjectHeader h = sample();
  HeaderBytes b = encode_header(h);
  auto r = validate_header(b);
  REQUIRE(r.is_ok());
  CHECK(*r == h);
  HeaderExpectation all{h.id, h.type_tag, h.size};
  CHECK(validate_header(b, all).is_ok());
  // Trailing payload bytes after the header are ignored.
  std::vector<std::byte> with_payload(b.begin(), b.end());
  with_payload.resize(kHeaderBytes + 100, std::byte{0x5a});
  CHECK(validate_header(with_payload, all).is_ok());
}

TEST_CASE("every single-bit flip of the header is detected as corrupted", "[header]") {
  const HeaderBytes good = encode_header(sample());
  const HeaderExpectation expect{sample().id, std::nullopt, std::nullopt};
  for (std::size_t bit = 0; bit < kHeaderBytes * 8; ++bit) {
    HeaderBytes bad = good;
    bad[bit / 8] ^= static_cast<std::byte>(1u << (bit % 8));
    auto r = validate_header(bad, expect);
    INFO("bit " << bit);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Errc::malformed_message);
    CHECK(contains(r.status().message(), "corrupted header of obj:3:2a#1"));
  }
}

TEST_CASE("short, garbage and zero headers are rejected", "[header]") {
  HeaderBytes b = encode_header(sample());
  auto short_read = validate_header(std::span<const std::byte>(b.data(), 63));
  CHECK(short_read.status().code() == Errc::malformed_message);
  CHECK(contains(short_read.status().message(), "only 63 of 64"));

  HeaderBytes garbage;
  garbage.fill(std::byte{0xEE});
  auto g = validate_header(garbage);
  CHECK(g.status().code() == Errc::malformed_message);
  CHECK(contains(g.status().message(), "bad magic 0xeeeeeeee"));

  HeaderBytes zero{};  // a block that is being (re)written
  CHECK(validate_header(zero).status().code() == Errc::not_found);
}

TEST_CASE("stale headers: freed block or another object's header", "[header]") {
  HeaderBytes b = encode_header(sample());
  auto other = validate_header(b, HeaderExpectation{ObjectId(3, 0x2b), std::nullopt, std::nullopt});
  REQUIRE_FALSE(other.is_ok());
  CHECK(other.status().code() == Errc::not_found);
  CHECK(contains(other.status().message(), "stale header: obj:3:2b"));
  CHECK(contains(other.status().message(), "found obj:3:2a#1"));

  mark_header_freed(b);
  auto freed = validate_header(b, HeaderExpectation{sample().id, std::nullopt, std::nullopt});
  REQUIRE_FALSE(freed.is_ok());
  CHECK(freed.status().code() == Errc::not_found);
  CHECK(contains(freed.status().message(), "freed"));
}

TEST_CASE("type tag and size expectations", "[header]") {
  HeaderBytes b = encode_header(sample());
  auto wrong_type = validate_header(b, HeaderExpectation{std::nullopt, 77, std::nullopt});
  CHECK(wrong_type.status().code() == Errc::type_mismatch);
  CHECK(contains(wrong_type.status().message(), "type mismatch for obj:3:2a#1"));
  auto too_big = validate_header(b, HeaderExpectation{std::nullopt, std::nullopt, 1000});
  CHECK(too_big.status().code() == Errc::malformed_message);
  CHECK(contains(too_big.status().message(), "payload size 123456 exceeds"));
}
