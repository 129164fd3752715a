// test_get.cc — one-sided get conformance: sizes from 8 B to 256 MiB verified
// byte for byte (also at odd offsets and lengths into unaligned buffers), 0-length
// gets, gets from the own region, out-of-range gets and garbled keys
// (invalid_argument), and 1000 outstanding gets mixed with 1000 outstanding AMs.
#include <atomic>

#include "common.h"

using namespace conf;

namespace {

constexpr ft::HandlerId kData = 10;

struct GetCase {
  std::size_t offset;
  std::size_t len;
  std::size_t local_misalign;
};

// Gets every case from `src`'s region and verifies it against src's pattern.
void get_and_verify(RankEnv& env, const Regions& regions, Rank src, const std::vector<GetCase>& cases) {
  std::size_t biggest = 0;
  for (auto& c : cases) biggest = std::max(biggest, c.len + c.local_misalign);
  auto dst = raw_buffer(biggest);
  for (auto& c : cases) {
    std::byte* local = dst.get() + c.local_misalign;
    std::memset(local, 0xA5, std::min<std::size_t>(c.len, 64));  // stale bytes must not survive
    auto t0 = steady::now();
    auto f = env.transport().get(regions.key(src), regions.base(src) + c.offset, local, c.len);
    auto r = FERRY_WAIT(f, 60s);
    if (!r.is_ok())
      FERRY_FAIL("get of " + std::to_string(c.len) + " B at offset " + std::to_string(c.offset) + " from rank " +
                 std::to_string(src) + ": " + r.status().to_string());
    double ms = ms_since(t0);
    auto mm = ferry::test::find_mismatch(local, c.len, regions.seed_of(src), c.offset);
    if (mm)
      FERRY_FAIL("get of " + std::to_string(c.len) + " B at offset " + std::to_string(c.offset) + " from rank " +
                 std::to_string(src) + ": " + mm->describe(c.len));
    if (c.len >= 64 * MiB)
      ferry::test::note("get " + std::to_string(c.len >> 20) + " MiB from rank " + std::to_string(src) + ": " +
                        std::to_string(ms) + " ms");
  }
}

void gets_body(RankEnv& env) {
  const std::size_t kRegion = 64 * MiB + 4 * KiB;
  auto regions = make_regions(env, kRegion, 2);
  Rank peer = (env.rank() + 1) % env.size();
  get_and_verify(env, *regions, peer,
                 {{0, 8, 0},
                  {0, 4 * KiB, 0},
                  {0, MiB, 0},
                  {0, 64 * MiB, 0},
                  {3, 13, 1},
                  {4093, 4 * KiB + 3, 3},
                  {MiB + 1, MiB - 1, 7},
                  {kRegion - 1, 1, 0},
                  {kRegion - 4 * KiB - 5, 4 * KiB + 5, 5},
                  {12345, 64 * MiB - 12345, 1}});
  env.barrier();  // nobody deregisters while a peer still reads
}

}  // namespace

TEST_CASE("get: 8 B .. 64 MiB and odd offsets/lengths (busy and blocking)", "[get][modes]") {
  for (auto mode : kModes) {
    DYNAMIC_SECTION("progress " << mode_name(mode)) {
      FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 120, mode), gets_body));
    }
  }
}

TEST_CASE("get: 256 MiB (times FERRY_TEST_VOLUME), verified byte for byte", "[get][large]") {
  auto o = group(2, 180);
  // Long transfers must not trip failure detection on a loaded machine.
  o.configure = [](ft::Options& opts) { opts.peer_timeout = std::chrono::seconds(20); };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(o, [](RankEnv& env) {
    const std::size_t kSize = ferry::test::scaled(256 * MiB);
    auto regions = make_regions(env, kSize, 3);
    // One direction at a time: rank 0 reads rank 1's region, then the reverse.
    for (Rank reader = 0; reader < 2; ++reader) {
      if (env.rank() == reader) get_and_verify(env, *regions, 1 - reader, {{0, kSize, 0}});
      env.barrier();
    }
  }));
}

TEST_CASE("get: 0-length, own region, out of range, bad keys", "[get][errors]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 60), [](RankEnv& env) {
    auto& t = env.transport();
    const std::size_t kLen = MiB;
    auto regions = make_regions(env, kLen, 4);
    const Rank me = env.rank(), peer = 1 - me;
    std::vector<std::byte> dst(kLen + 16);

    // 0-length gets complete successfully and write nothing.
    std::fill(dst.begin(), dst.end(), std::byte{0x5A});
    require_ok(t.get(regions->key(peer), regions->base(peer), dst.data(), 0), "0-length get");
    require_ok(t.get(regions->key(peer), regions->base(peer) + 1000, dst.data(), 0), "0-length get mid-region");
    FERRY_REQUIRE(dst[0] == std::byte{0x5A});

    // The own region, through the own key.
    require_ok(t.get(regions->key(me), regions->base(me) + 77, dst.data() + 1, 300 * KiB), "get from own region");
    FERRY_REQUIRE_PATTERN(dst.data() + 1, 300 * KiB, regions->seed_of(me), 77);
    require_ok(t.get(regions->key(me), regions->base(me), dst.data(), kLen), "whole own region");
    FERRY_REQUIRE_PATTERN(dst.data(), kLen, regions->seed_of(me), 0);

    // Out of range: past the end, before the start, length overflow, a byte too many.
    const auto& key = regions->key(peer);
    const std::uint64_t base = regions->base(peer);
    auto oor = [&](std::uint64_t addr, std::size_t len, const std::string& what) {
      require_code(t.get(key, addr, dst.data(), len), Errc::invalid_argument, "out-of-range get (" + what + ")");
    };
    oor(base + kLen - 4, 8, "crosses the end");
    oor(base + kLen, 1, "starts at the end");
    oor(base + kLen + 4096, 8, "beyond the end");
    oor(base - 8, 8, "before the start");
    oor(base - 1, 2, "straddles the start");
    oor(base + 1, ~std::size_t{0}, "length overflows");
    oor(~std::uint64_t{0} - 3, 8, "address overflows");
    oor(base, kLen + 1, "one byte too many");
    require_ok(t.get(key, base, dst.data(), kLen), "the whole region after the rejected ones");
    FERRY_REQUIRE_PATTERN(dst.data(), kLen, regions->seed_of(peer), 0);

    // Garbled packed keys must be rejected, not crash.
    const ft::Bytes& good = regions->packed[peer];
    std::vector<std::pair<std::string, ft::Bytes>> bad;
    bad.push_back({"empty", {}});
    bad.push_back({"first byte only", ft::Bytes(good.begin(), good.begin() + 1)});
    bad.push_back({"half", ft::Bytes(good.begin(), good.begin() + good.size() / 2)});
    bad.push_back({"one byte short", ft::Bytes(good.begin(), good.end() - 1)});
    bad.push_back({"all 0xFF", ft::Bytes(good.size(), std::byte{0xFF})});
    bad.push_back({"all zero", ft::Bytes(good.size(), std::byte{0})});
    ft::Bytes noise(good.size());
    ferry::test::fill_pattern(noise.data(), noise.size(), 0xBAD);
    bad.push_back({"random bytes", noise});
    for (auto& [what, bytes] : bad) {
      auto r = t.unpack_key(peer, bytes);
      if (r.is_ok()) FERRY_FAIL("unpack_key accepted a garbled key (" + what + ")");
      if (r.status().code() != Errc::invalid_argument)
        FERRY_FAIL("unpack_key(" + what + "): expected invalid_argument, got " + r.status().to_string());
    }
    auto wrong_rank = t.unpack_key(5, good);
    FERRY_REQUIRE(wrong_rank.status().code() == Errc::invalid_argument);
    env.barrier();
  }));
}

TEST_CASE("get: 1000 outstanding gets and 1000 outstanding AMs complete", "[get][am][outstanding]") {
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(group(2, 90), [](RankEnv& env) {
    constexpr std::size_t kOps = 1000, kSlot = 4 * KiB;
    auto& t = env.transport();
    auto regions = make_regions(env, kOps * kSlot + 64, 5);
    const Rank peer = 1 - env.rank();
    Counter got;
    std::atomic<std::uint64_t> bad{0};
    FERRY_REQUIRE_OK(t.set_handler(kData, [&](Rank src, ft::ByteView p) {
      std::uint64_t k = read_u64(p);
      if (p.size() != 8 + k % 512) ++bad;
      else FERRY_REQUIRE_PATTERN(p.data() + 8, p.size() - 8, ferry::test::make_seed(src, k), 8);
      got.add();
    }));
    env.barrier();
    std::vector<ft::Bytes> msgs;
    for (std::uint64_t k = 0; k < kOps; ++k) msgs.push_back(make_message(8 + k % 512, k, ferry::test::make_seed(env.rank(), k)));
    auto dst = raw_buffer(kOps * kSlot);
    std::vector<ferry::Future<void>> gets, sends;
    auto len_of = [](std::size_t k) { return kSlot - (k % 11); };
    auto off_of = [](std::size_t k) { return k * kSlot + (k % 13); };
    for (std::size_t k = 0; k < kOps; ++k) {
      gets.push_back(t.get(regions->key(peer), regions->base(peer) + off_of(k), dst.get() + k * kSlot, len_of(k)));
      sends.push_back(t.send(peer, kData, msgs[k]));
    }
    for (auto& f : gets) require_ok(std::move(f), "outstanding get");
    for (auto& f : sends) require_ok(std::move(f), "outstanding send");
    for (std::size_t k = 0; k < kOps; ++k)
      FERRY_REQUIRE_PATTERN(dst.get() + k * kSlot, len_of(k), regions->seed_of(peer), off_of(k));
    FERRY_REQUIRE(got.wait_for_at_least(kOps, kOpWait));
    FERRY_REQUIRE(bad.load() == 0u);
    env.barrier();
  }));
}
