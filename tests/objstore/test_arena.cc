// test_arena.cc — FERRY_STORE_BYTES parsing, the default size, and mapping the arena.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>

#include "ferry/objstore/arena.h"
#include "test_util.h"

using ferry::Errc;
using ferry::objstore::Arena;
using ferry::objstore::ArenaOptions;
using ferry::objstore::default_store_bytes;
using ferry::objstore::parse_byte_size;
using ferry::objstore::test::contains;
using ferry::objstore::test::EnvGuard;

namespace {
constexpr std::size_t K = std::size_t{1} << 10, M = std::size_t{1} << 20, G = std::size_t{1} << 30;
}

TEST_CASE("FERRY_STORE_BYTES accepts bytes and K/M/G/T suffixes", "[arena][env]") {
  CHECK(parse_byte_size("1048576").value() == M);
  CHECK(parse_byte_size("1").value() == 1);
  CHECK(parse_byte_size("64K").value() == 64 * K);
  CHECK(parse_byte_size("64k").value() == 64 * K);
  CHECK(parse_byte_size("64KB").value() == 64 * K);
  CHECK(parse_byte_size("512M").value() == 512 * M);
  CHECK(parse_byte_size("512MiB").value() == 512 * M);
  CHECK(parse_byte_size("16G").value() == 16 * G);
  CHECK(parse_byte_size("16gib").value() == 16 * G);
  CHECK(parse_byte_size("2T").value() == 2048 * G);
  CHECK(parse_byte_size("100B").value() == 100);
}

TEST_CASE("bad FERRY_STORE_BYTES values are invalid_argument naming the variable", "[arena][env]") {
  for (const char* bad : {"", "abc", "-5", "0", "0G", "12X", "1.5G", "16 G", " 16G", "16GG", "16Gi", "G",
                          "99999999999999999999", "17179869184G", "16P"}) {
    INFO("value '" << bad << "'");
    auto r = parse_byte_size(bad);
    REQUIRE_FALSE(r.is_ok());
    CHECK(r.status().code() == Errc::invalid_argument);
    CHECK(contains(r.status().message(), "FERRY_STORE_BYTES='"));
    CHECK(contains(r.status().message(), "512M"));  // says what is accepted
  }
  auto other = parse_byte_size("x", "FERRY_OTHER");
  CHECK(contains(other.status().message(), "FERRY_OTHER='x'"));
}

TEST_CASE("default store size is min(25% of RAM, 16 GiB)", "[arena]") {
  const std::size_t physical = static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
  const std::size_t d = default_store_bytes();
  CHECK(d <= 16 * G);
  CHECK(d >= 64 * M);
  CHECK(d % 64 == 0);
  if (physical / 4 >= 64 * M) CHECK(d <= physical / 4);
  if (physical / 4 >= 16 * G) CHECK(d == 16 * G);
}

TEST_CASE("Arena size comes from options, then FERRY_STORE_BYTES, then the default", "[arena][env]") {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  {
    EnvGuard env("FERRY_STORE_BYTES", "3M");
    auto arena = Arena::create();
    REQUIRE(arena.is_ok());
    CHECK((*arena)->capacity() == 3 * M);
    CHECK((*arena)->allocator().capacity() == 3 * M);
    ArenaOptions opts;
    opts.bytes = 1000;  // explicit option wins, rounded up to a page
    auto small = Arena::create(opts);
    REQUIRE(small.is_ok());
    CHECK((*small)->capacity() == page);
  }
  {
    EnvGuard env("FERRY_STORE_BYTES", "lots");
    auto arena = Arena::create();
    REQUIRE_FALSE(arena.is_ok());
    CHECK(arena.status().code() == Errc::invalid_argument);
    CHECK(contains(arena.status().message(), "FERRY_STORE_BYTES='lots'"));
  }
  {
    EnvGuard env("FERRY_STORE_BYTES", std::nullopt);
    auto arena = Arena::create();  // MAP_NORESERVE: a large default costs nothing until touched
    REQUIRE(arena.is_ok());
    CHECK((*arena)->capacity() >= default_store_bytes());
    CHECK((*arena)->capacity() < default_store_bytes() + page);
  }
}

TEST_CASE("Arena memory is page aligned, writable and unregistered by default", "[arena]") {
  ArenaOptions opts;
  opts.bytes = 4 * M;
  opts.rank = 3;
  std::unique_ptr<Arena> owner = Arena::create(opts).value();
  Arena* arena = owner.get();
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  CHECK(reinterpret_cast<std::uintptr_t>(arena->base()) % page == 0);
  CHECK(arena->rank() == 3);
  std::memset(arena->base(), 0xAB, arena->capacity());
  CHECK(std::to_integer<int>(*arena->at(arena->capacity() - 1)) == 0xAB);
  CHECK_FALSE(arena->registered());
  CHECK(arena->region() == nullptr);
  CHECK(arena->packed_key().empty());
  arena->deregister();  // no-op when not registered
  // Errors of its allocator name the rank.
  auto r = arena->allocator().allocate(5 * M);
  CHECK(contains(r.status().message(), "rank 3"));
}

TEST_CASE("an arena larger than the address space is refused with a remedy", "[arena]") {
  ArenaOptions opts;
  opts.bytes = std::size_t{1} << 62;
  auto arena = Arena::create(opts);
  REQUIRE_FALSE(arena.is_ok());
  CHECK(arena.status().code() == Errc::invalid_argument);
  CHECK(contains(arena.status().message(), "FERRY_STORE_BYTES"));
}
