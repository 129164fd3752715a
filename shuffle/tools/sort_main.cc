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
// Memory: when this rank's share of the data fits in half the object store, everything stays in
// the store. Otherwise the sort runs out of core through the store's spilling (FERRY_SPILL_DIR):
// the default chunk shrinks so the rounds in flight take at most half the store, and the default
// partition count grows so one partition (which a reduce holds in the store at once, with another
// reduce beside it) is at most an eighth of it; map and merged blocks the store cannot hold are
// spilled to disk and restored when read. Before starting, rank 0 compares what must be in the
// store at once (rounds in flight + two partitions) with FERRY_STORE_BYTES and stops with a
// message naming both (and the remedies) when it does not fit (--no-store-check skips the
// estimate: the run then fails with the runtime's store_full error). --spill-dir DIR (a
// directory on each reducer's disk) is the shuffle's own out-of-core path instead: merged blocks
// are written there as files, outside the store. Exit: 0 ok, 1 error, 2 bad usage.
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
  bool spill = false;        // merged blocks go to --spill-dir
  bool out_of_core = false;  // the data exceed half the stores: store spilling carries the rest
};

Plan plan(const Args& a, std::uint32_t ranks) {
  Plan p;
  std::vector<std::string> files = list_files(a.required("--input"));
  std::uint64_t total = 0;
  for (const auto& f : files) total += file_size(f);
  const std::uint64_t store = ferry::Runtime::current()->stats().store_capacity;
  p.spill = !a.str("--spill-dir").empty();
  p.out_of_core = !p.spill && total / ranks > store / 2;
  // Out of core: one partition at most an eighth of a store, a multiple of the ranks.
  std::uint64_t parts = ranks;
  if (p.out_of_core) parts = std::max<std::uint64_t>(ranks, (total / (store / 8) + ranks) / ranks * ranks);
  p.partitions = static_cast<std::uint32_t>(a.num("--partitions", parts));
  p.per_round = static_cast<std::uint32_t>(a.num("--maps-per-round", ranks));
  p.in_flight = static_cast<std::uint32_t>(a.num("--rounds-in-flight", 2));
  if (p.partitions == 0 || p.per_round == 0 || p.in_flight == 0)
    throw std::invalid_argument("--partitions, --maps-per-round and --rounds-in-flight must be >= 1");
  std::uint64_t fallback = total / (8 * ranks);
  if (p.spill || p.out_of_core)  // the rounds in flight take at most half the store
    fallback = std::min<std::uint64_t>(fallback, store * ranks / (4 * std::uint64_t{p.in_flight} * p.per_round));
  p.chunks = make_chunks(files, a.num("--chunk", std::clamp<std::uint64_t>(fallback, 64u << 10, 256u << 20)));
  for (const auto& c : p.chunks) p.records += c.records;
  return p;
}

// Empty when the store can hold the run, else the message to print.
std::string store_problem(const Plan& p, std::uint32_t ranks) {
  std::uint64_t largest = 0;
  for (const auto& c : p.chunks) largest = std::max(largest, c.records * kRecord);
  const std::uint64_t data = p.records * kRecord;
  const std::uint64_t all_rounds = (p.chunks.size() + p.per_round - 1) / p.per_round;
  const std::uint64_t rounds = std::min<std::uint64_t>(p.in_flight, std::max<std::uint64_t>(1, all_rounds));
  // what must be in the store at once: held rounds of map blocks (as blocks and copies), plus
  // in core this rank's share of the merged blocks, out of core two reduces' partitions
  const std::uint64_t partition = data / p.partitions + data / p.partitions / 4;  // + 25 % for skew
  std::uint64_t need = 2 * rounds * std::uint64_t{p.per_round} * largest / ranks;
  if (p.out_of_core) need += 2 * partition;
  else if (!p.spill) need += data / ranks;
  need += need / 16 + (1u << 20);  // headers, fragmentation, small objects
  const std::uint64_t have = ferry::Runtime::current()->stats().store_capacity;
  if (need <= have) return {};
  auto mib = [](std::uint64_t b) {
    return b >= (1u << 20) ? std::to_string(b >> 20) + " MiB" : std::to_string(b >> 10) + " KiB";
  };
  if (p.out_of_core)
    return "the object store cannot hold what this out-of-core sort needs at once: " + mib(data) + " of records, " +
           std::to_string(rounds) + " rounds of " + std::to_string(p.per_round) + " maps of up to " + mib(largest) +
           " and two partitions of about " + mib(partition) + " (" + std::to_string(p.partitions) +
           " partitions) need about " + mib(need) + " of store per rank, FERRY_STORE_BYTES gives " + mib(have) +
           "; raise FERRY_STORE_BYTES to " + std::to_string((need >> 20) + 1) +
           "M, or use a smaller --chunk or more --partitions (the rest of the data is spilled to FERRY_SPILL_DIR)";
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
