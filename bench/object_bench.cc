// object_bench — Google Benchmark figures of the object store, run as 2 ranks:
//   ferry-run -n 2 ferry_bench_object [--benchmark_* flags]
// Rank 0 runs the benchmarks; rank 1 owns the objects read remotely: an actor
// there (`Maker`) puts batches of fresh objects and holds their refs, so each
// remote get below reads an object rank 0 has never cached.
//   put/<bytes>          ferry::put of a vector<byte> on rank 0 (one copy into the arena) + drop
//   remote_get/<bytes>   rank 0 gets an object owned by rank 1: <= FERRY_INLINE_BYTES: one AM
//                        round trip (value in the reply); larger: a locate round trip, one
//                        one-sided get of header + payload into rank 0's arena, a one-way done;
//                        then the copy out into the returned vector
//   remote_view/<bytes>  the same read through ObjectRef::view() (zero-copy: no copy out)
// Objects are made in batches outside the timed region (PauseTiming). Use FERRY_PROGRESS=busy
// and UCX_TLS to pick the path; bench/compare-limits.sh runs this beside ucx_perftest's ucp_get.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "two_rank_main.h"

namespace {

// Steady state, as ucx_perftest measures (its buffers are touched before it times anything): before
// the benchmarks, warm_up() reads two batches of the largest objects, so the arena blocks the timed
// reads reuse (rank 0's copies, rank 1's objects, and rank 0's mapping of rank 1's arena) have been
// touched; each benchmark also warms up for kWarmUpSeconds. A first touch costs a page fault per
// 4 KiB (10-60 us each on the PVM guests of RESULTS.md: a cold 64 MiB read takes ~1 s there).
constexpr double kWarmUpSeconds = 0.2;
constexpr std::uint64_t kLargest = std::uint64_t{64} << 20;

using Blob = std::vector<std::byte>;
using BlobRef = ferry::ObjectRef<Blob>;

// Lives on rank 1: owns the objects rank 0 reads (its refs keep them alive).
class Maker {
 public:
  std::vector<BlobRef> make(std::uint64_t bytes, std::uint64_t count) {
    held_.clear();  // frees the previous batch (and rank 0's cached copies of it)
    Blob value(bytes, std::byte{0x5a});
    for (std::uint64_t i = 0; i < count; ++i) held_.push_back(ferry::put(value));
    return held_;
  }
  bool clear() {
    held_.clear();
    return true;
  }

 private:
  std::vector<BlobRef> held_;
};
inline const auto maker_class = ferry::actor_class<Maker>("object_bench.Maker");
inline const auto maker_make = ferry::method<&Maker::make>("object_bench.Maker::make");
inline const auto maker_clear = ferry::method<&Maker::clear>("object_bench.Maker::clear");

ferry::actor<Maker> g_maker;

void put(benchmark::State& state) {
  const Blob value(static_cast<std::size_t>(state.range(0)), std::byte{0x42});
  for (auto _ : state) {
    BlobRef r = ferry::put(value);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(put)->Arg(8)->Arg(4096)->Arg(1 << 20)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

// view = true: ObjectRef::view() (zero-copy: the bytes stay in rank 0's arena,
// the figure comparable with a raw ucp_get); false: get() (one more copy, into a vector).
void read_remote(benchmark::State& state, bool view) {
  const auto bytes = static_cast<std::uint64_t>(state.range(0));
  // Batches small enough for the arenas (64 MiB objects: 4 at a time).
  const std::uint64_t batch = bytes >= (std::uint64_t{16} << 20) ? 4 : bytes >= (std::uint64_t{1} << 20) ? 64 : 2000;
  std::vector<BlobRef> refs;
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == refs.size()) {
      state.PauseTiming();
      refs.clear();  // drop this batch's refs before rank 1 frees it
      refs = g_maker.call(maker_make, bytes, batch).get();
      next = 0;
      state.ResumeTiming();
    }
    const BlobRef& r = refs[next++];
    bool ok = false;
    if (view) {
      auto v = r.view();
      auto d = v.data();
      ok = d.size() == bytes && (bytes == 0 || d[bytes - 1] == std::byte{0x5a});
    } else {
      Blob v = r.get();
      ok = v.size() == bytes && (bytes == 0 || v[bytes - 1] == std::byte{0x5a});
    }
    if (!ok) state.SkipWithError("wrong object bytes");
  }
  refs.clear();
  (void)g_maker.call(maker_clear).get();
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
void warm_up() {
  for (int batch = 0; batch < 2; ++batch)
    for (const BlobRef& r : g_maker.call(maker_make, kLargest, std::uint64_t{4}).get()) (void)r.view();
  (void)g_maker.call(maker_clear).get();
}

void remote_get(benchmark::State& state) { read_remote(state, false); }
void remote_view(benchmark::State& state) { read_remote(state, true); }
BENCHMARK(remote_get)->Arg(8)->Arg(4096)->Arg(1 << 20)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();
BENCHMARK(remote_view)->Arg(8)->Arg(4096)->Arg(1 << 20)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return ferry_bench::run_two_ranks(
      argc, argv, "object_bench",
      [] {
        g_maker = maker_class.on(ferry::rank{1}).create();
        warm_up();
      },
      [] {
        g_maker.kill();
        g_maker = ferry::actor<Maker>();
      });
}
