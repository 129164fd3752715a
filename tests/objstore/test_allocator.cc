// test_allocator.cc — the offset allocator: alignment, best fit, coalescing,
// a random workload checked against a shadow model, and store_full messages.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "ferry/objstore/allocator.h"
#include "test_util.h"

using ferry::Errc;
using ferry::objstore::Allocator;
using ferry::objstore::kAlignment;
using ferry::objstore::test::contains;

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

void require_single_free_block(const Allocator& a) {
  auto s = a.stats();
  CHECK(s.used == 0);
  CHECK(s.allocations == 0);
  CHECK(s.free == a.capacity());
  CHECK(s.free_blocks == 1);
  CHECK(s.largest_free == a.capacity());
  REQUIRE(a.check_invariants().is_ok());
}

}  // namespace

TEST_CASE("allocations are 64-byte aligned, rounded and accounted", "[allocator]") {
  Allocator a(kMiB + 17);  // capacity rounds down to the alignment
  CHECK(a.capacity() == kMiB);
  auto x = a.allocate(1);
  auto y = a.allocate(65);
  auto z = a.allocate(4096);
  REQUIRE(x.is_ok());
  REQUIRE(y.is_ok());
  REQUIRE(z.is_ok());
  for (auto off : {*x, *y, *z}) CHECK(off % kAlignment == 0);
  CHECK(a.block_size(*x).value() == 64);
  CHECK(a.block_size(*y).value() == 128);
  CHECK(a.block_size(*z).value() == 4096);
  CHECK(a.stats().used == 64 + 128 + 4096);
  CHECK(a.stats().allocations == 3);
  CHECK(a.allocate(0).status().code() == Errc::invalid_argument);
  REQUIRE(a.check_invariants().is_ok());
  REQUIRE(a.free(*y).is_ok());
  REQUIRE(a.free(*x).is_ok());
  REQUIRE(a.free(*z).is_ok());
  require_single_free_block(a);
}

TEST_CASE("bad frees are rejected without changing state", "[allocator]") {
  Allocator a(kMiB);
  auto x = a.allocate(1000).value();
  auto before = a.stats();
  CHECK(a.free(x + 64).code() == Errc::invalid_argument);
  CHECK(a.free(12345).code() == Errc::invalid_argument);
  CHECK(a.block_size(x + 64).status().code() == Errc::not_found);
  CHECK(a.stats().used == before.used);
  REQUIRE(a.free(x).is_ok());
  ferry::Status again = a.free(x);
  CHECK(again.code() == Errc::invalid_argument);
  CHECK(contains(again.message(), "double free"));
  require_single_free_block(a);
}

TEST_CASE("free coalesces with both neighbours in every order", "[allocator]") {
  const std::vector<std::vector<int>> orders = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  for (const auto& order : orders) {
    Allocator a(3 * 4096);
    std::uint64_t off[3];
    for (auto& o : off) o = a.allocate(4096).value();
    CHECK(a.stats().largest_free == 0);
    for (int i : order) REQUIRE(a.free(off[i]).is_ok());
    require_single_free_block(a);
  }
}

TEST_CASE("best fit picks the smallest hole that fits", "[allocator]") {
  Allocator a(64 * 1024);
  // Layout: [A 4K][B 1K][C 2K][D 1K][E rest]; free A and C -> holes of 4K and 2K.
  auto A = a.allocate(4096).value();
  auto B = a.allocate(1024).value();
  auto C = a.allocate(2048).value();
  auto D = a.allocate(1024).value();
  (void)B;
  (void)D;
  REQUIRE(a.free(A).is_ok());
  REQUIRE(a.free(C).is_ok());
  CHECK(a.allocate(2000).value() == C);  // the 2K hole, not the 4K one or the tail
  CHECK(a.allocate(3000).value() == A);  // now only the 4K hole fits before the tail
  REQUIRE(a.check_invariants().is_ok());
}

TEST_CASE("random alloc/free workload matches a shadow model", "[allocator]") {
  const unsigned seed = GENERATE(1u, 2u, 3u, 20240611u);
  INFO("seed " << seed);
  std::mt19937_64 rng(seed);
  Allocator a(4 * kMiB, "rank 0");
  std::map<std::uint64_t, std::size_t> shadow;  // offset -> rounded size
  std::size_t shadow_used = 0;
  std::uniform_int_distribution<int> op(0, 99);
  std::uniform_int_distribution<std::size_t> small(1, 4096), large(4097, 256 * 1024);
  int failures = 0;
  for (int step = 0; step < 20000; ++step) {
    if (op(rng) < 55 || shadow.empty()) {
      const std::size_t size = op(rng) < 90 ? small(rng) : large(rng);
      const std::size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
      const auto largest = a.stats().largest_free;
      auto r = a.allocate(size);
      if (!r) {
        // A failure is only allowed when no free block is big enough.
        REQUIRE(r.status().code() == Errc::store_full);
        REQUIRE(largest < rounded);
        ++failures;
        continue;
      }
      const std::uint64_t off = *r;
      REQUIRE(off % kAlignment == 0);
      REQUIRE(off + rounded <= a.capacity());
      auto next = shadow.lower_bound(off);  // no overlap with the neighbours
      if (next != shadow.end()) REQUIRE(off + rounded <= next->first);
      if (next != shadow.begin()) {
        auto prev = std::prev(next);
        REQUIRE(prev->first + prev->second <= off);
      }
      shadow.emplace(off, rounded);
      shadow_used += rounded;
    } else {
      auto it = shadow.begin();
      std::advance(it, std::uniform_int_distribution<std::size_t>(0, shadow.size() - 1)(rng));
      REQUIRE(a.free(it->first).is_ok());
      shadow_used -= it->second;
      shadow.erase(it);
    }
    if (step % 500 == 0) {
      REQUIRE(a.check_invariants().is_ok());
      REQUIRE(a.stats().used == shadow_used);
      REQUIRE(a.stats().allocations == shadow.size());
    }
  }
  CHECK(failures > 0);  // the workload is sized to hit store_full sometimes
  for (auto& [off, size] : shadow) REQUIRE(a.free(off).is_ok());
  require_single_free_block(a);
}

TEST_CASE("store_full says requested, free, largest block and how to raise FERRY_STORE_BYTES", "[allocator]") {
  Allocator a(kMiB, "rank 7");
  // 16 blocks of 64 KiB fill the store; free every other one: 512 KiB free in 64 KiB holes.
  std::vector<std::uint64_t> blocks;
  for (int i = 0; i < 16; ++i) blocks.push_back(a.allocate(64 * 1024).value());
  CHECK(a.allocate(1).status().code() == Errc::store_full);
  for (int i = 0; i < 16; i += 2) REQUIRE(a.free(blocks[i]).is_ok());

  auto r = a.allocate(128 * 1024);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Errc::store_full);
  const std::string& msg = r.status().message();
  INFO(msg);
  CHECK(contains(msg, "object store full on rank 7"));
  CHECK(contains(msg, "requested 131072 bytes (128.0 KiB)"));
  CHECK(contains(msg, "free 524288 bytes (512.0 KiB)"));
  CHECK(contains(msg, "largest free block 65536 bytes (64.0 KiB)"));
  CHECK(contains(msg, "capacity 1048576 bytes (1.0 MiB)"));
  CHECK(contains(msg, "raise FERRY_STORE_BYTES"));
  CHECK(contains(msg, "FERRY_STORE_BYTES=2G"));
}

TEST_CASE("requests larger than the whole store fail clearly", "[allocator]") {
  Allocator a(kMiB, "rank 1");
  auto r = a.allocate(3 * kMiB);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Errc::store_full);
  INFO(r.status().message());
  CHECK(contains(r.status().message(), "larger than the whole store"));
  CHECK(contains(r.status().message(), "3145728 bytes"));
  CHECK(contains(r.status().message(), "FERRY_STORE_BYTES"));
  auto huge = a.allocate(std::numeric_limits<std::size_t>::max());
  CHECK(huge.status().code() == Errc::store_full);
  auto huge2 = a.allocate(std::numeric_limits<std::size_t>::max() - 10);
  CHECK(huge2.status().code() == Errc::store_full);
  require_single_free_block(a);
}

TEST_CASE("format_bytes", "[allocator]") {
  using ferry::objstore::format_bytes;
  CHECK(format_bytes(0) == "0 bytes");
  CHECK(format_bytes(1023) == "1023 bytes");
  CHECK(format_bytes(1536) == "1536 bytes (1.5 KiB)");
  CHECK(format_bytes(std::size_t{16} << 30) == "17179869184 bytes (16.0 GiB)");
}
