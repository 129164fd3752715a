// test_records.cc — the sort tools' record helpers (shuffle/tools/records.h), in process.
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "records.h"

using namespace sortrec;

namespace {
std::vector<std::byte> make(std::uint64_t first, std::uint64_t n, bool skew, std::uint64_t seed = 3) {
  std::vector<std::byte> v(n * kRecord);
  for (std::uint64_t i = 0; i < n; ++i) make_record(seed, first + i, skew, v.data() + i * kRecord);
  return v;
}
}  // namespace

TEST_CASE("records follow the gensort layout and depend only on seed and index", "[records]") {
  auto a = make(41, 3, false), b = make(42, 1, false);
  CHECK(std::memcmp(a.data() + kRecord, b.data(), kRecord) == 0);  // record 42 twice
  const std::byte* r = b.data();
  CHECK(r[10] == std::byte{0x00});
  CHECK(r[11] == std::byte{0x11});
  CHECK(std::string(reinterpret_cast<const char*>(r + 12), 32) == "0000000000000000000000000000002A");
  CHECK(r[44] == std::byte{0x88});
  CHECK(r[99] == std::byte{0xFF});
  CHECK(std::memcmp(make(42, 1, false, 4).data(), r, kKey) != 0);  // another seed, another key
}

TEST_CASE("skewed keys crowd the low end of the key space", "[records]") {
  auto v = make(0, 4000, true);
  std::size_t low = 0;
  for (std::size_t i = 0; i < 4000; ++i) low += prefix(v.data() + i * kRecord) < (std::uint64_t{1} << 60);
  CHECK(low > 4000 * 0.45);  // P(u^4 < 1/16) = 1/2 (uniform keys: 1/16)
}

TEST_CASE("sort, merge and summaries agree", "[records]") {
  auto in = make(0, 3000, false);
  std::vector<std::byte> sorted(in.size());
  sort_records(in.data(), 3000, sorted.data());
  Summary whole = summarize(sorted), unsorted = summarize(in);
  CHECK(whole.records == 3000);
  CHECK(whole.unordered == 0);
  CHECK(unsorted.unordered > 0);
  CHECK(whole.checksum == unsorted.checksum);  // order-independent

  // Three sorted runs merged = the whole sort.
  std::vector<std::vector<std::byte>> runs;
  for (std::uint64_t k = 0; k < 3; ++k) {
    std::vector<std::byte> part(in.begin() + k * 1000 * kRecord, in.begin() + (k + 1) * 1000 * kRecord), s(part.size());
    sort_records(part.data(), 1000, s.data());
    runs.push_back(std::move(s));
  }
  std::vector<std::span<const std::byte>> spans(runs.begin(), runs.end());
  std::vector<std::byte> merged;
  merge_runs(std::span<const std::span<const std::byte>>(spans), [&](const std::byte* rec) {
    merged.insert(merged.end(), rec, rec + kRecord);
  });
  REQUIRE(merged.size() == sorted.size());
  for (std::size_t i = 0; i < 3000; ++i)  // same keys in the same order (equal keys may swap)
    CHECK(std::memcmp(merged.data() + i * kRecord, sorted.data() + i * kRecord, kKey) == 0);

  // append() sees disorder at the seam between two files.
  Summary lo = summarize(std::span<const std::byte>(sorted.data(), 1000 * kRecord));
  Summary hi = summarize(std::span<const std::byte>(sorted.data() + 1000 * kRecord, 2000 * kRecord));
  Summary joined = lo;
  append(joined, hi);
  CHECK(joined.unordered == 0);
  CHECK(joined.records == 3000);
  CHECK(joined.checksum == whole.checksum);
  Summary swapped = hi;
  append(swapped, lo);
  CHECK(swapped.unordered == 1);
}
