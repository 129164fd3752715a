// ferry-sort — distributed sort of 100-byte records (10-byte key) on the shuffle library.
//
//   ferry-run -n 4 ferry-sort --input DIR --output DIR [--partitions P] [--chunk BYTES]
//             [--maps-per-round N] [--rounds-in-flight K] [--samples N] [--spill-dir DIR]
//             [--no-store-check]
//
// Every regular file in --input (sorted by name) is cut into chunks of --chunk bytes (default:
// the input over 8 x ranks, between 64K and 256M); each chunk is one map, --maps-per-round
// (default: ranks) maps make a round, --rounds-in-flight (default 2) rounds are held at once. Split points come from
// --samples evenly spaced keys per chunk (default 1000). Output: --output/part-NNNNN, one file
// per partition (default P = ranks), each sorted, and every key of part-i <= every key of
// part-(i+1). Rank 0 drives; all ranks run tasks. Works under ferry-run, mpirun and srun (files
// must be visible to every rank at the same path).
//
// Memory: the object store must hold this rank's share of the data plus the rounds in flight;
// before starting, rank 0 compares that estimate with FERRY_STORE_BYTES and stops with a message
// naming both (and the remedy) when it does not fit (--no-store-check skips the estimate: the
// run then fails with the runtime's store_full error). --spill-dir DIR (a directory on each
// reducer's disk) writes merged blocks there instead: the store holds only the rounds in flight
// (the default chunk then shrinks to fit them in half the store), so the data may exceed the
// stores (out of core). Exit: 0 ok, 1 error, 2 bad usage.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "args.h"
#include "ferry/ferry.h"
#include "ferry/shuffle/shuffle.h"
#include "records.h"
#include "sort_stages.h"

namespace {

using namespace sortrec;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Plan {
  std::vector<Chunk> chunks;
  std::uint64_t records = 0;
  std::uint32_t partitions = 0, per_round = 0, in_flight = 0;
  bool spill = false;  // merged blocks go to --spill-dir
};

Plan plan(const Args& a, std::uint32_t ranks) {
  Plan p;
  std::vector<std::string> files = list_files(a.required("--input"));
  std::uint64_t total = 0;
  for (const auto& f : files) total += file_size(f);
  p.partitions = static_cast<std::uint32_t>(a.num("--partitions", ranks));
  p.per_round = static_cast<std::uint32_t>(a.num("--maps-per-round", ranks));
  p.in_flight = static_cast<std::uint32_t>(a.num("--rounds-in-flight", 2));
  if (p.partitions == 0 || p.per_round == 0 || p.in_flight == 0)
    throw std::invalid_argument("--partitions, --maps-per-round and --rounds-in-flight must be >= 1");
  std::uint64_t fallback = total / (8 * ranks);
  if (!a.str("--spill-dir").empty())  // the rounds in flight take at most half the store
    fallback = std::min<std::uint64_t>(fallback, ferry::Runtime::current()->stats().store_capacity * ranks /
                                                     (4 * std::uint64_t{p.in_flight} * p.per_round));
  p.chunks = make_chunks(files, a.num("--chunk", std::clamp<std::uint64_t>(fallback, 64u << 10, 256u << 20)));
  for (const auto& c : p.chunks) p.records += c.records;
  p.spill = !a.str("--spill-dir").empty();
  return p;
}

// Empty when the store can hold the run, else the message to print.
std::string store_problem(const Plan& p, std::uint32_t ranks) {
  std::uint64_t largest = 0;
  for (const auto& c : p.chunks) largest = std::max(largest, c.records * kRecord);
  const std::uint64_t data = p.records * kRecord;
  const std::uint64_t all_rounds = (p.chunks.size() + p.per_round - 1) / p.per_round;
  const std::uint64_t rounds = std::min<std::uint64_t>(p.in_flight, std::max<std::uint64_t>(1, all_rounds));
  // merged blocks (this rank's share, unless spilled) + held rounds of map blocks, as blocks and copies
  std::uint64_t need = (p.spill ? 0 : data / ranks) + 2 * rounds * std::uint64_t{p.per_round} * largest / ranks;
  need += need / 16 + (1u << 20);  // headers, fragmentation, small objects
  const std::uint64_t have = ferry::Runtime::current()->stats().store_capacity;
  if (need <= have) return {};
  auto mib = [](std::uint64_t b) { return std::to_string(b >> 20) + " MiB"; };
  if (p.spill)
    return "the object store cannot hold this sort's rounds in flight: " + std::to_string(rounds) + " rounds of " +
           std::to_string(p.per_round) + " maps of up to " + mib(largest) + " need about " + mib(need) +
           " of store per rank, FERRY_STORE_BYTES gives " + mib(have) + "; use a smaller --chunk or raise "
           "FERRY_STORE_BYTES to " + std::to_string((need >> 20) + 1) + "M";
  return "the object store cannot hold this sort: " + mib(data) + " of records over " + std::to_string(ranks) +
         " rank(s) need about " + mib(need) + " of store per rank (its share of the sorted data plus " +
         std::to_string(rounds) + " rounds of map output), FERRY_STORE_BYTES gives " + mib(have) +
         "; raise FERRY_STORE_BYTES to " + std::to_string((need >> 20) + 1) +
         "M, run on more ranks, or pass --spill-dir DIR (merged blocks on disk: out of core)";
}

int drive(const Args& a, std::uint32_t ranks) {
  auto t0 = Clock::now();
  Plan p = plan(a, ranks);
  if (!a.flag("--no-store-check"))
    if (std::string why = store_problem(p, ranks); !why.empty()) {
      std::fprintf(stderr, "ferry-sort: error: %s\n", why.c_str());
      return 1;
    }
  SortSpec spec;
  spec.chunks = p.chunks;
  spec.output_dir = a.required("--output");
  std::filesystem::create_directories(spec.output_dir);
  spec.splits = sample_splits(p.chunks, p.partitions, static_cast<std::uint32_t>(a.num("--samples", 1000)));
  const double sample_s = since(t0);

  ferry::shuffle::Job job;
  job.stages = kSortStages;
  job.args = encode_spec(spec);
  job.maps = static_cast<std::uint32_t>(std::max<std::size_t>(1, p.chunks.size()));
  job.partitions = p.partitions;
  job.maps_per_round = p.per_round;
  job.rounds_in_flight = p.in_flight;
  job.spill_dir = a.str("--spill-dir");
  if (p.chunks.empty()) {  // no input: one empty map keeps the job well formed
    spec.chunks.push_back(Chunk{"/dev/null", 0, 0});
    job.args = encode_spec(spec);
  }
  ferry::shuffle::Outcome out = ferry::shuffle::run(job);
  std::uint64_t written = 0;
  for (const auto& r : out.results) {
    std::uint64_t n = 0;
    std::memcpy(&n, r.data(), std::min(r.size(), sizeof n));
    written += n;
  }
  if (written != p.records)
    throw std::runtime_error("wrote " + std::to_string(written) + " records of " + std::to_string(p.records));
  const double total_s = since(t0);
  std::printf("ferry-sort: %llu records (%llu bytes), %u rank(s), %u partitions, %u maps in %u round(s): %.3f s "
              "(sample %.3f, map+merge %.3f, reduce %.3f) ok\n",
              static_cast<unsigned long long>(p.records), static_cast<unsigned long long>(p.records * kRecord), ranks,
              p.partitions, job.maps, out.rounds, total_s, sample_s, out.map_merge_seconds, out.reduce_seconds);
  std::printf("sort_seconds %.3f\n", total_s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args(argc, argv);
  if (args.flag("--help") || args.str("--input").empty() || args.str("--output").empty()) {
    std::fprintf(stderr, "usage: ferry-sort --input DIR --output DIR [--partitions P] [--chunk BYTES] "
                         "[--maps-per-round N] [--rounds-in-flight K] [--samples N] [--spill-dir DIR] [--no-store-check]\n");
    return 2;
  }
  // Driver mode: rank 0 drives, the other ranks serve its tasks until it returns; a driver that
  // fails ends every rank (ferry/driver.h).
  return ferry::run(argc, argv, [&args] {
    try {
      return drive(args, ferry::world_size());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "ferry-sort: error: %s\n", e.what());
      return 1;
    }
  });
}
