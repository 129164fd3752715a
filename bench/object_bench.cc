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
//   remote_view_rotating/<bytes>
//                        remote_view with a working set of 4 live objects on each side (see below)
//   raw_get/<bytes>      baseline: the runtime's transport get of the same size from a region
//                        rank 1 allocated like its arena into one rank 0 allocated likewise
//                        (what ucx_perftest's ucp_get measures, between these two processes)
//   raw_get_fresh/<bytes> the same, rank 1 rewriting its region before each get (untimed), as
//                        put() writes each new object: the like-for-like baseline of remote_view
//                        (on the test VM a copy of pages another process just wrote is 10-15 %
//                        slower than a re-read of idle ones)
//   fresh_value_copy/<bytes> rank 0 alone: a copy from a warm buffer into a fresh vector prepared
//                        as get() prepares its result (the page-fault floor of any get into a
//                        fresh value)
// Objects are made in batches outside the timed region (PauseTiming). Use FERRY_PROGRESS=busy
// and UCX_TLS to pick the path; bench/compare-limits.sh runs this beside ucx_perftest's ucp_get.
//
// Large objects (>= 16 MiB) are made one at a time: each read is of a fresh object, and
// it lands where the previous one was (rank 1 puts it in the block the previous object
// freed, rank 0 caches it in the block its previous copy freed) - the steady state of a
// code producing one object of a given size per step, and the same memory on both sides
// from read to read, as in ucx_perftest's ucp_get. remote_view_rotating keeps 4 live at a
// time, so reads cycle through 4 blocks on each side (256 MiB): on the PVM guests of
// RESULTS.md that costs ~13% by itself (a plain memcpy of 64 MiB cycling through 4
// buffers vs one), so it is reported for information beside the steady-state figure.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include "ferry/detail/landing.h"
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

long page_faults() {  // of this process so far, all threads
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_minflt + u.ru_majflt;
}

// Lives on rank 1: owns the objects rank 0 reads (its refs keep them alive).
// The value put is staged in one buffer kept from batch to batch: a fresh 64 MiB
// vector per batch would be mapped and unmapped by malloc each time, and on the
// test VM an munmap in the producer slows the reader's next pass over shared
// pages by 10-15% (measured with two plain processes, no ferry involved).
class Maker {
 public:
  std::vector<BlobRef> make(std::uint64_t bytes, std::uint64_t count) {
    held_.clear();  // frees the previous batch (and rank 0's cached copies of it)
    if (value_.size() != bytes) value_.assign(bytes, std::byte{0x5a});
    for (std::uint64_t i = 0; i < count; ++i) held_.push_back(ferry::put(value_));
    return held_;
  }
  bool clear() {
    held_.clear();
    return true;
  }
  // Rewrites the region from the staging buffer, as put() writes a new object.
  bool rewrite_raw() {
    if (value_.size() != raw_->length()) value_.assign(raw_->length(), std::byte{0x5a});
    std::memcpy(raw_->base(), value_.data(), value_.size());
    return true;
  }
  // A transport region of `bytes` (allocated once, like the arena), filled; its packed key.
  std::vector<std::byte> raw_region(std::uint64_t bytes) {
    if (!raw_) {
      auto r = ferry::Runtime::current()->transport().allocate_memory(bytes);
      if (!r) throw std::runtime_error(r.status().to_string());
      raw_ = std::move(*r);
      std::memset(raw_->base(), 0x5a, bytes);
    }
    auto k = raw_->packed_key();
    return std::vector<std::byte>(k.begin(), k.end());
  }

 private:
  std::vector<BlobRef> held_;
  Blob value_;
  std::unique_ptr<ferry::transport::MemoryRegion> raw_;  // freed with the actor, before shutdown
};
inline const auto maker_class = ferry::actor_class<Maker>("object_bench.Maker");
inline const auto maker_make = ferry::method<&Maker::make>("object_bench.Maker::make");
inline const auto maker_clear = ferry::method<&Maker::clear>("object_bench.Maker::clear");
inline const auto maker_rewrite = ferry::method<&Maker::rewrite_raw>("object_bench.Maker::rewrite_raw");
inline const auto maker_raw_region = ferry::method<&Maker::raw_region>("object_bench.Maker::raw_region");

ferry::actor<Maker> g_maker;
std::unique_ptr<ferry::transport::MemoryRegion> g_raw_dst;  // rank 0's raw_get destination
std::shared_ptr<ferry::transport::RemoteKey> g_raw_key;     // rank 1's raw_get source

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
// large_batch: objects made per batch when they are >= 16 MiB (see the top of the file).
void read_remote(benchmark::State& state, bool view, std::uint64_t large_batch = 1) {
  const auto bytes = static_cast<std::uint64_t>(state.range(0));
  const std::uint64_t batch = bytes >= (std::uint64_t{16} << 20) ? large_batch : bytes >= (std::uint64_t{1} << 20) ? 64 : 2000;
  std::vector<BlobRef> refs;
  std::size_t next = 0;
  // Faults are counted for reads of 1 MiB and more: getrusage costs microseconds itself.
  const bool count_faults = bytes >= (std::uint64_t{1} << 20);
  long faults = 0;
  for (auto _ : state) {
    if (next == refs.size()) {
      state.PauseTiming();
      refs.clear();  // drop this batch's refs before rank 1 frees it
      refs = g_maker.call(maker_make, bytes, batch).get();
      next = 0;
      state.ResumeTiming();
    }
    const BlobRef& r = refs[next++];
    const long faults0 = count_faults ? page_faults() : 0;
    bool ok = false;
    if (view) {
      auto v = r.view();
      auto d = v.data();
      ok = d.size() == bytes && (bytes == 0 || d[bytes - 1] == std::byte{0x5a});
    } else {
      Blob v = r.get();
      ok = v.size() == bytes && (bytes == 0 || v[bytes - 1] == std::byte{0x5a});
    }
    if (count_faults) faults += page_faults() - faults0;
    if (!ok) state.SkipWithError("wrong object bytes");
  }
  // Page faults per read, in any thread of rank 0 (0 in steady state; remote_get of a large
  // object faults in the fresh vector it returns: glibc maps allocations above 32 MiB anew).
  state.counters["faults"] = benchmark::Counter(static_cast<double>(faults), benchmark::Counter::kAvgIterations);
  refs.clear();
  (void)g_maker.call(maker_clear).get();
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
void warm_up() {
  for (int batch = 0; batch < 2; ++batch)
    for (const BlobRef& r : g_maker.call(maker_make, kLargest, std::uint64_t{4}).get()) (void)r.view();
  (void)g_maker.call(maker_clear).get();
}

// fresh: rank 1 rewrites its region before each get (untimed), as a put writes each new object.
void raw_read(benchmark::State& state, bool fresh) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  ferry::transport::Transport& t = ferry::Runtime::current()->transport();
  // Unpacked once, as the runtime does with the arenas' keys: a new key is a new mapping of
  // rank 1's segment here, whose pages would be faulted in again (~0.4 s per 64 MiB on the VM).
  if (!g_raw_key) {
    const std::vector<std::byte> packed = g_maker.call(maker_raw_region, std::uint64_t{bytes}).get();
    auto key = t.unpack_key(1, ferry::transport::ByteView(packed.data(), packed.size()));
    if (!key) return state.SkipWithError(key.status().to_string().c_str());
    g_raw_key = std::move(*key);
  }
  if (!g_raw_dst || g_raw_dst->length() < bytes) {
    auto r = t.allocate_memory(bytes);
    if (!r) return state.SkipWithError(r.status().to_string().c_str());
    g_raw_dst = std::move(*r);
    std::memset(g_raw_dst->base(), 0, bytes);
  }
  for (auto _ : state) {
    if (fresh) {
      state.PauseTiming();
      (void)g_maker.call(maker_rewrite).get();
      state.ResumeTiming();
    }
    auto r = t.get(*g_raw_key, g_raw_key->remote_base(), g_raw_dst->base(), bytes).result();
    if (!r) state.SkipWithError(r.status().to_string().c_str());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The floor under remote_get of a large object: copying `bytes` from a warm buffer into a fresh
// vector prepared as get() prepares its result (reserve, huge pages advised, one copy without
// zero-fill; serialization.h decode), no runtime involved. A get into a fresh value pays this
// (page faults of the new storage) after the transfer; ucp_get into a reused buffer does not.
void fresh_value_copy(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const Blob source(bytes, std::byte{0x5a});
  for (auto _ : state) {
    Blob v;
    v.reserve(bytes);
    ferry::detail::prepare_landing(v.data(), bytes);
    v.insert(v.end(), source.begin(), source.end());
    benchmark::DoNotOptimize(v.data());
    if (v[bytes - 1] != std::byte{0x5a}) state.SkipWithError("wrong bytes");
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void raw_get(benchmark::State& state) { raw_read(state, false); }
void raw_get_fresh(benchmark::State& state) { raw_read(state, true); }

void remote_get(benchmark::State& state) { read_remote(state, false); }
void remote_view(benchmark::State& state) { read_remote(state, true); }
void remote_view_rotating(benchmark::State& state) { read_remote(state, true, 4); }
BENCHMARK(remote_get)->Arg(8)->Arg(4096)->Arg(1 << 20)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();
BENCHMARK(remote_view)->Arg(8)->Arg(4096)->Arg(1 << 20)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();
BENCHMARK(remote_view_rotating)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();
BENCHMARK(raw_get)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();
BENCHMARK(raw_get_fresh)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();
BENCHMARK(fresh_value_copy)->Arg(kLargest)->MinWarmUpTime(kWarmUpSeconds)->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  return ferry_bench::run_two_ranks(
      argc, argv, "object_bench",
      [] {
        g_maker = maker_class.on(ferry::rank{1}).create();
        warm_up();
      },
      [] {
        g_raw_key.reset();
        g_raw_dst.reset();
        g_maker.kill();
        g_maker = ferry::actor<Maker>();
      });
}
