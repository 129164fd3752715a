// test_arena.cc — FERRY_STORE_BYTES parsing, the default size, and mapping the arena.
#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ferry/objstore/arena.h"
#include "test_util.h"

using ferry::Errc;
using ferry::objstore::Arena;
using ferry::objstore::ArenaOptions;
using ferry::objstore::default_store_bytes;
using ferry::objstore::parse_byte_size;
using ferry::objstore::shared_store_preferred;
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

// A case that cannot run here ends the process with 77, which CTest reports as
// skipped (SKIP_RETURN_CODE; each CTest runs one case). Never a pass.
#define PREFAULT_SKIP(reason)                                     \
  do {                                                            \
    std::printf("SKIPPED: %s\n", reason);                         \
    std::fflush(stdout);                                          \
    std::_Exit(77);                                               \
  } while (0)

namespace {

// Bytes of [p, p + n) resident in memory (mincore).
std::size_t resident_bytes(const std::byte* p, std::size_t n) {
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> v((n + page - 1) / page);
  REQUIRE(::mincore(const_cast<std::byte*>(p), n, v.data()) == 0);
  std::size_t pages = 0;
  for (unsigned char c : v) pages += c & 1;
  return pages * page;
}

// Waits (bounded; no speed assumed) until the prefaulter reached `bytes` or stopped.
bool wait_faulted(const ferry::objstore::Prefaulter& p, std::size_t bytes) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (p.supported() && p.faulted() < bytes && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  return p.faulted() >= bytes;
}

}  // namespace

TEST_CASE("FERRY_STORE_PREFAULT: default, off, bytes, capped by the store, bad values", "[arena][env][prefault]") {
  using ferry::objstore::resolve_prefault_bytes;
  {
    EnvGuard g("FERRY_STORE_PREFAULT", std::nullopt);
    EnvGuard r("FERRY_LOCAL_RANK", "0"), n("FERRY_LOCAL_SIZE", "1");
    const std::size_t physical = static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE);
    const auto cpus = static_cast<std::size_t>(::sysconf(_SC_NPROCESSORS_ONLN));
    if (cpus > 1) {  // one rank leaves a CPU to spare
      CHECK(resolve_prefault_bytes(8 * G).value() == std::min(ferry::objstore::kDefaultPrefaultBytes, physical / 8));
      CHECK(resolve_prefault_bytes(64 * M).value() == std::min(64 * M, physical / 8));
      // Ranks on the node share an eighth of its memory.
      EnvGuard nc("FERRY_LOCAL_SIZE", std::to_string(cpus - 1));
      CHECK(resolve_prefault_bytes(8 * G).value() ==
            std::min(ferry::objstore::kDefaultPrefaultBytes, physical / 8 / (cpus - 1)));
    }
    // As many ranks as CPUs, or more: none (no CPU to spare).
    EnvGuard nc("FERRY_LOCAL_SIZE", std::to_string(cpus));
    CHECK(resolve_prefault_bytes(8 * G).value() == 0);
    EnvGuard n256("FERRY_LOCAL_SIZE", std::to_string(cpus + 1));
    CHECK(resolve_prefault_bytes(8 * G).value() == 0);
  }
  for (const char* off : {"0", "n", "no", "off", "N"}) {
    EnvGuard g("FERRY_STORE_PREFAULT", off);
    CHECK(resolve_prefault_bytes(G).value() == 0);
  }
  {
    EnvGuard g("FERRY_STORE_PREFAULT", "128M");
    CHECK(resolve_prefault_bytes(G).value() == 128 * M);
    CHECK(resolve_prefault_bytes(64 * M).value() == 64 * M);
  }
  {
    EnvGuard g("FERRY_STORE_PREFAULT", "lots");
    auto r = resolve_prefault_bytes(G);
    REQUIRE(!r.is_ok());
    CHECK(r.status().code() == Errc::invalid_argument);
    CHECK(contains(r.status().message(), "FERRY_STORE_PREFAULT"));
  }
}

TEST_CASE("prefaulter: faults in `ahead` bytes past the high-water mark, never past the store", "[arena][prefault]") {
  auto arena = Arena::create(ArenaOptions{256 * M}).value();
  REQUIRE(resident_bytes(arena->base(), arena->capacity()) < 4 * M);
  arena->start_prefault({.ahead = 32 * M});
  const auto* p = arena->prefaulter();
  REQUIRE(p != nullptr);
  if (!wait_faulted(*p, 32 * M) && !p->supported())
    PREFAULT_SKIP("this kernel refuses MADV_POPULATE_WRITE (Linux >= 5.14 needed)");
  REQUIRE(p->faulted() >= 32 * M);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // it must stop there
  CHECK(p->faulted() == 32 * M);
  CHECK(p->pending() == 0);
  const std::size_t resident = resident_bytes(arena->base(), arena->capacity());
  CHECK(resident >= 32 * M);
  CHECK(resident <= 34 * M);

  // Using 100 MiB of the store moves the target to 132 MiB (rounded to 2 MiB steps).
  auto block = arena->allocator().allocate(100 * M);
  REQUIRE(block.is_ok());
  CHECK(p->pending() <= 100 * M);  // what is left of the new target's 100 MiB
  REQUIRE(wait_faulted(*p, 132 * M));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(p->faulted() == 132 * M);
  CHECK(p->pending() == 0);
  CHECK(resident_bytes(arena->base(), arena->capacity()) <= 134 * M);

  // Using (nearly) everything: it stops at the capacity.
  auto rest = arena->allocator().allocate(150 * M);
  REQUIRE(rest.is_ok());
  REQUIRE(wait_faulted(*p, 256 * M));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(p->faulted() == 256 * M);
  arena->stop_prefault();
  CHECK(arena->prefaulter() == nullptr);
}

TEST_CASE("prefaulter: ahead = 0 starts nothing, and the contents are never changed", "[arena][prefault]") {
  auto arena = Arena::create(ArenaOptions{64 * M}).value();
  arena->start_prefault({.ahead = 0});
  CHECK(arena->prefaulter() == nullptr);
  // Data written before and while the prefaulter runs is kept.
  auto off = arena->allocator().allocate(8 * M).value();
  std::memset(arena->at(off), 0x5a, 8 * M);
  arena->start_prefault({.ahead = 64 * M});
  for (std::size_t i = 8 * M; i < 16 * M; i += 4096) *arena->at(i) = std::byte{0x33};
  const auto* p = arena->prefaulter();
  REQUIRE(p != nullptr);
  if (!wait_faulted(*p, 64 * M) && !p->supported())
    PREFAULT_SKIP("this kernel refuses MADV_POPULATE_WRITE (Linux >= 5.14 needed)");
  for (std::size_t i = 0; i < 8 * M; i += 4093) REQUIRE(*arena->at(off + i) == std::byte{0x5a});
  for (std::size_t i = 8 * M; i < 16 * M; i += 4096) REQUIRE(*arena->at(i) == std::byte{0x33});
  CHECK(*arena->at(32 * M) == std::byte{0});
}

TEST_CASE("shared_store_preferred: shared memory unless only anonymous memory gets huge pages; FERRY_UCX_ALLOCATE decides",
          "[arena]") {
  char tmpl[] = "/tmp/ferry-thp-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string root = tmpl;
  auto set = [&](const char* enabled, const char* shmem) {
    std::ofstream(root + "/enabled") << enabled << "\n";
    std::ofstream(root + "/shmem_enabled") << shmem << "\n";
  };
  {
    EnvGuard env("FERRY_UCX_ALLOCATE", std::nullopt);
    set("always [madvise] never", "always within_size advise [never] deny force");  // Debian's default
    CHECK_FALSE(shared_store_preferred(root.c_str()));
    set("[always] madvise never", "always within_size advise never [deny] force");
    CHECK_FALSE(shared_store_preferred(root.c_str()));
    set("always [madvise] never", "always within_size [advise] never deny force");  // shared memory gets them too
    CHECK(shared_store_preferred(root.c_str()));
    set("always madvise [never]", "always within_size advise [never] deny force");  // nobody gets them
    CHECK(shared_store_preferred(root.c_str()));
    CHECK(shared_store_preferred((root + "/missing").c_str()));  // no THP at all
  }
  set("always [madvise] never", "always within_size advise [never] deny force");
  {
    EnvGuard env("FERRY_UCX_ALLOCATE", "y");
    CHECK(shared_store_preferred(root.c_str()));
  }
  {
    EnvGuard env("FERRY_UCX_ALLOCATE", "n");
    CHECK_FALSE(shared_store_preferred(root.c_str()));
  }
  std::filesystem::remove_all(root);
}
