// groupby — a group-by-sum on the shuffle library (not a sort): checks the library's contract.
//
//   ferry-run -n 3 ferry_shuffle_groupby
//
// Map m emits (key, value) pairs (key = (m * 7919 + i * 31) % kKeys, value = m * 1000 + i) cut by
// key % partitions; merges sum per key within a round; reduces sum across rounds and return
// (key, sum) pairs. Rank 0 runs it with several shapes (maps per round, rounds in flight,
// partitions not a multiple of the ranks, placements) and compares every sum with a direct
// computation; then a job whose map throws must make run() throw task_error naming the stage's
// message, as must a map that returns too few blocks stored by itself (the "stored" shape writes
// map and merge blocks in place with ferry::put_in_place), and a later job must still work.
// Prints "rank R: ... ok"; exits 1 on any failure.
#include <cstdio>
#include <cstring>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "ferry/shuffle/shuffle.h"
#include "ferry_test/probe_check.h"

namespace {

using ferry::shuffle::Block;
using ferry::shuffle::BlockView;
using ferry::shuffle::Context;
using ferry::shuffle::Output;
using ferry::shuffle::Partitioned;

constexpr std::uint32_t kKeys = 97, kPairsPerMap = 5000;
struct Pair {
  std::uint64_t key;
  std::uint64_t value;
};

FERRY_TEST_PROBE("groupby")

std::map<std::uint64_t, std::uint64_t> sums_of(std::span<const BlockView> blocks) {
  std::map<std::uint64_t, std::uint64_t> sums;
  for (auto b : blocks)
    for (std::size_t off = 0; off + sizeof(Pair) <= b.size(); off += sizeof(Pair)) {
      Pair p;
      std::memcpy(&p, b.data() + off, sizeof p);
      sums[p.key] += p.value;
    }
  return sums;
}

Block block_of(const std::map<std::uint64_t, std::uint64_t>& sums) {
  Block out(sums.size() * sizeof(Pair));
  std::size_t off = 0;
  for (auto [k, v] : sums) {
    Pair p{k, v};
    std::memcpy(out.data() + off, &p, sizeof p);
    off += sizeof p;
  }
  return out;
}

Partitioned gb_map(const Context& ctx) {
  if (ctx.args == "throw" && ctx.index == 3) throw std::runtime_error("map 3 refuses on purpose");
  std::vector<std::vector<Pair>> parts(ctx.partitions);
  for (std::uint64_t i = 0; i < kPairsPerMap; ++i) {
    std::uint64_t key = (std::uint64_t{ctx.index} * 7919 + i * 31) % kKeys;
    parts[key % ctx.partitions].push_back(Pair{key, std::uint64_t{ctx.index} * 1000 + i});
  }
  Partitioned out;
  if (ctx.args.starts_with("stored")) {  // blocks written in place ("stored-short": one missing)
    for (auto& p : parts)
      out.stored.push_back(ferry::put_in_place<std::byte>(p.size() * sizeof(Pair), [&](std::span<std::byte> b) {
        if (!p.empty()) std::memcpy(b.data(), p.data(), b.size());
      }));
    if (ctx.args == "stored-short") out.stored.pop_back();
    return out;
  }
  out.offsets.push_back(0);
  for (auto& p : parts) {
    const std::size_t at = out.data.size();
    out.data.resize(at + p.size() * sizeof(Pair));
    if (!p.empty()) std::memcpy(out.data.data() + at, p.data(), p.size() * sizeof(Pair));
    out.offsets.push_back(out.data.size());
  }
  return out;
}

Output gb_merge(const Context& ctx, std::span<const BlockView> blocks) {
  for (auto b : blocks)
    for (std::size_t off = 0; off + sizeof(Pair) <= b.size(); off += sizeof(Pair)) {
      Pair p;
      std::memcpy(&p, b.data() + off, sizeof p);
      if (p.key % ctx.partitions != ctx.index) throw std::logic_error("a pair reached the wrong partition");
    }
  if (ctx.args != "stored") return block_of(sums_of(blocks));
  const auto sums = sums_of(blocks);  // written in place
  return ferry::put_in_place<std::byte>(sums.size() * sizeof(Pair), [&](std::span<std::byte> b) {
    std::size_t off = 0;
    for (auto [k, v] : sums) {
      const Pair p{k, v};
      std::memcpy(b.data() + off, &p, sizeof p);
      off += sizeof p;
    }
  });
}

Block gb_reduce(const Context&, std::span<const BlockView> merged) { return block_of(sums_of(merged)); }

[[maybe_unused]] const bool registered = ferry::shuffle::register_stages("groupby", {gb_map, gb_merge, gb_reduce});

std::map<std::uint64_t, std::uint64_t> expected(std::uint32_t maps) {
  std::map<std::uint64_t, std::uint64_t> sums;
  for (std::uint64_t m = 0; m < maps; ++m)
    for (std::uint64_t i = 0; i < kPairsPerMap; ++i) sums[(m * 7919 + i * 31) % kKeys] += m * 1000 + i;
  return sums;
}

void check_job(ferry::shuffle::Job job, const std::string& name) {
  job.stages = "groupby";
  ferry::shuffle::Outcome out = ferry::shuffle::run(job);
  const std::uint32_t per = job.maps_per_round ? job.maps_per_round : ferry::Runtime::current()->size();
  if (out.rounds != (job.maps + per - 1) / per) fail(name + ": wrong number of rounds");
  if (out.results.size() != job.partitions) fail(name + ": one result per partition expected");
  std::map<std::uint64_t, std::uint64_t> got;
  for (std::uint32_t p = 0; p < job.partitions; ++p) {
    BlockView v(out.results[p]);
    for (auto [k, s] : sums_of(std::span<const BlockView>(&v, 1))) {
      if (k % job.partitions != p) fail(name + ": key in the wrong partition's result");
      got[k] = s;
    }
  }
  if (got != expected(job.maps)) fail(name + ": sums differ from the direct computation");
  std::printf("groupby: %s: %u maps, %u partitions, %u rounds ok\n", name.c_str(), job.maps, job.partitions,
              out.rounds);
}

// `job` must fail run() with a task_error whose message contains `cause`.
void expect_task_error(const ferry::shuffle::Job& job, const std::string& what, const char* cause) {
  try {
    (void)ferry::shuffle::run(job);
    fail(what + " did not fail the job");
  } catch (const ferry::task_error& e) {
    if (!std::strstr(e.what(), cause)) fail(std::string("error lacks the cause: ") + e.what());
    std::printf("groupby: %s fails the job with: %s ok\n", what.c_str(), e.what());
  }
}

}  // namespace

int main(int argc, char** argv) try {
  ferry::Session s = ferry::init(argc, argv);
  const std::uint32_t ranks = s.size();
  if (s.rank() == 0) {
    check_job({.maps = 12, .partitions = 5, .maps_per_round = 3, .rounds_in_flight = 2}, "pipelined");
    check_job({.maps = 7, .partitions = ranks, .maps_per_round = 2, .rounds_in_flight = 1}, "one round in flight");
    check_job({.maps = 9, .partitions = 2 * ranks + 1, .maps_per_round = 9}, "single round");
    check_job({.maps = 10, .partitions = 4, .maps_per_round = 4, .rounds_in_flight = 3,
               .map_rank = [ranks](std::uint32_t m) { return (m * 5 + 1) % ranks; },
               .reduce_rank = [ranks](std::uint32_t p) { return (ranks - 1) - p % ranks; }},
              "custom placement");
    expect_task_error({.stages = "groupby", .args = "throw", .maps = 6, .partitions = 3}, "a throwing map",
                      "map 3 refuses on purpose");
    check_job({.args = "stored", .maps = 8, .partitions = 4, .maps_per_round = 3}, "blocks stored by the stages");
    expect_task_error({.stages = "groupby", .args = "stored-short", .maps = 4, .partitions = 3},
                      "a map with too few stored blocks", "expected one per partition");
    try {
      (void)ferry::shuffle::run({.stages = "no-such-stages", .maps = 1, .partitions = 1});
      fail("unknown stages accepted");
    } catch (const ferry::Error& e) {
      if (e.code() != ferry::Errc::invalid_argument) fail("unknown stages: wrong error");
    }
    check_job({.maps = 5, .partitions = 3}, "after a failed job");
  }
  s.barrier();
  s.shutdown();
  std::printf("rank %u: groupby shuffle checks ok\n", s.rank());
  return 0;
} catch (const std::exception& e) {
  fail(e.what());
}
