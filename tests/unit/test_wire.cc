// test_wire.cc — the 32-byte AM frame header (transport/src/common/wire.h):
// layout on the wire and every validation branch of parse_header().
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <vector>

#include "common/wire.h"

namespace wire = ferry::transport::wire;
using ferry::Errc;

namespace {

std::vector<unsigned char> bytes_of(const wire::FrameHeader& h) {
  std::vector<unsigned char> b(sizeof h);
  std::memcpy(b.data(), &h, sizeof h);
  return b;
}

template <class T>
T read_le(const std::vector<unsigned char>& b, std::size_t off) {
  T v = 0;
  for (std::size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<T>(b[off + i]) << (8 * i));
  return v;
}

}  // namespace

TEST_CASE("wire: make_header fills every field", "[wire]") {
  auto h = wire::make_header(17, 3, 99, 4096, 5);
  CHECK(h.magic == wire::kMagic);
  CHECK(h.version == wire::kVersion);
  CHECK(h.handler == 17);
  CHECK(h.src == 3);
  CHECK(h.flags == 5);
  CHECK(h.seq == 99);
  CHECK(h.payload_len == 4096);
  CHECK(wire::make_header(1, 0, 0, 0).flags == 0);
}

TEST_CASE("wire: the header layout is fixed, little-endian, 32 bytes", "[wire]") {
  auto b = bytes_of(wire::make_header(0x1234, 0x01020304, 0x1122334455667788ull, 0x0A0B0C0D0E0F1011ull, 0xAABBCCDD));
  REQUIRE(b.size() == 32);
  CHECK(read_le<std::uint32_t>(b, 0) == 0x59524546u);  // "FERY"
  CHECK(b[0] == 'F');
  CHECK(b[1] == 'E');
  CHECK(b[2] == 'R');
  CHECK(b[3] == 'Y');
  CHECK(read_le<std::uint16_t>(b, 4) == wire::kVersion);
  CHECK(read_le<std::uint16_t>(b, 6) == 0x1234);
  CHECK(read_le<std::uint32_t>(b, 8) == 0x01020304u);
  CHECK(read_le<std::uint32_t>(b, 12) == 0xAABBCCDDu);
  CHECK(read_le<std::uint64_t>(b, 16) == 0x1122334455667788ull);
  CHECK(read_le<std::uint64_t>(b, 24) == 0x0A0B0C0D0E0F1011ull);
}

TEST_CASE("wire: reserved handler ids are above the user range", "[wire]") {
  for (auto id : {wire::kHeartbeat, wire::kShutdown, wire::kGetRequest, wire::kGetReply, wire::kHello})
    CHECK(id >= ferry::transport::kFirstReservedHandler);
}

TEST_CASE("wire: parse_header accepts a valid header and returns its fields", "[wire]") {
  auto h = wire::make_header(42, 2, 7, 1000);
  auto r = wire::parse_header(&h, sizeof h, 4, 1000);  // src = size-1 and len = max are both allowed
  REQUIRE(r.is_ok());
  CHECK(r.value().handler == 42);
  CHECK(r.value().src == 2);
  CHECK(r.value().seq == 7);
  CHECK(r.value().payload_len == 1000);
  // Unaligned input is fine (memcpy-based).
  std::vector<unsigned char> buf(sizeof h + 1);
  std::memcpy(buf.data() + 1, &h, sizeof h);
  CHECK(wire::parse_header(buf.data() + 1, sizeof h, 4, 1000).is_ok());
}

TEST_CASE("wire: parse_header rejects a wrong header size", "[wire]") {
  unsigned char big[64] = {};
  auto h = wire::make_header(1, 0, 0, 0);
  std::memcpy(big, &h, sizeof h);
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{16}, std::size_t{31}, std::size_t{33},
                           std::size_t{64}}) {
    INFO("size " << size);
    auto r = wire::parse_header(big, size, 2, 100);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Errc::malformed_message);
    CHECK(r.status().message().find("header is " + std::to_string(size) + " bytes") != std::string::npos);
  }
}

TEST_CASE("wire: parse_header rejects a bad magic", "[wire]") {
  auto h = wire::make_header(1, 0, 0, 0);
  h.magic = 0xDEADBEEF;
  auto r = wire::parse_header(&h, sizeof h, 2, 100);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Errc::malformed_message);
  CHECK(r.status().message().find("bad magic 0xdeadbeef") != std::string::npos);
  h.magic = wire::kMagic ^ 1;  // one flipped bit
  CHECK(wire::parse_header(&h, sizeof h, 2, 100).status().code() == Errc::malformed_message);
}

TEST_CASE("wire: parse_header rejects another protocol version", "[wire]") {
  auto h = wire::make_header(1, 0, 0, 0);
  for (std::uint16_t v : {std::uint16_t(0), std::uint16_t(wire::kVersion + 1), std::uint16_t(0xFFFF)}) {
    h.version = v;
    auto r = wire::parse_header(&h, sizeof h, 2, 100);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Errc::malformed_message);
    CHECK(r.status().message().find("protocol version") != std::string::npos);
  }
}

TEST_CASE("wire: parse_header rejects a source rank outside the job", "[wire]") {
  for (std::uint32_t src : {4u, 5u, 0xFFFFFFFFu}) {
    auto h = wire::make_header(1, src, 0, 0);
    auto r = wire::parse_header(&h, sizeof h, 4, 100);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Errc::malformed_message);
    CHECK(r.status().message().find("source rank " + std::to_string(src)) != std::string::npos);
  }
  auto h = wire::make_header(1, 0, 0, 0);
  CHECK(wire::parse_header(&h, sizeof h, 0, 100).status().code() == Errc::malformed_message);
}

TEST_CASE("wire: parse_header rejects a payload length above the limit", "[wire]") {
  auto h = wire::make_header(1, 1, 0, 101);
  auto r = wire::parse_header(&h, sizeof h, 2, 100);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Errc::malformed_message);
  CHECK(r.status().message().find("exceeds the limit 100") != std::string::npos);
  h.payload_len = ~0ull;
  CHECK(wire::parse_header(&h, sizeof h, 2, ~0ull - 1).status().code() == Errc::malformed_message);
  h.payload_len = 0;
  CHECK(wire::parse_header(&h, sizeof h, 2, 0).is_ok());
}
