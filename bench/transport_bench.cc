// transport_bench — Google Benchmark figures of the raw transport, run as 2 ranks:
//   ferry-run -n 2 ferry_bench_transport [--benchmark_* flags]
// Rank 0 runs the benchmarks; rank 1 serves (echoes AMs, counts sinks, holds a
// 64 MiB registered region for gets) until rank 0 tells it to stop.
//   am_roundtrip/<bytes>  one AM there and one back, waited for (latency)
//   am_rate/<bytes>       one-way AMs, acknowledged every kWindow (message rate)
//   get/<bytes>           one-sided get from rank 1's region, waited for
// Use FERRY_PROGRESS=busy for latency (the waiting thread drives progress) and
// UCX_TLS to pick the path; bench/compare-limits.sh runs this beside ucx_perftest.
#include <benchmark/benchmark.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <span>
#include <vector>


#include "ferry/launcher/bootstrap.h"

namespace ft = ferry::transport;

namespace {

constexpr ft::HandlerId kEcho = 1, kPong = 2, kSink = 3, kAck = 4, kKey = 5, kStop = 6;
constexpr std::size_t kRegionBytes = std::size_t{64} << 20;
constexpr std::uint64_t kWindow = 256;

// A counter bumped by handlers and waited for by the benchmark thread: in busy
// mode the waiter drives progress itself, in blocking mode it sleeps.
struct Counter {
  std::atomic<std::uint64_t> value{0};
  std::mutex mu;
  std::condition_variable cv;

  void bump() {
    value.fetch_add(1, std::memory_order_acq_rel);
    if (!polling) {
      std::lock_guard<std::mutex> lock(mu);
      cv.notify_all();
    }
  }
  void wait_for(std::uint64_t target, ft::Transport& t) {
    if (polling) {
      while (value.load(std::memory_order_acquire) < target) t.poll_once();
      return;
    }
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return value.load(std::memory_order_acquire) >= target; });
  }
  bool polling = false;
};

struct Bench {
  ft::Transport* t = nullptr;
  Counter pongs, acks, keys, stops;
  std::atomic<std::uint64_t> sunk{0};
  std::shared_ptr<ft::RemoteKey> key;
  std::mutex mu;
  ft::Bytes key_blob;  // guarded by mu
};

Bench g;
std::vector<std::byte> g_payload(std::size_t{1} << 20, std::byte{0x5a});
std::byte* g_local = nullptr;  // rank 0's destination (allocated by the transport, like the arena)

// kRegionBytes from Transport::allocate_memory (what the object store's arena
// uses: with UCX, shared memory same-node peers read with plain copies), filled.
std::unique_ptr<ft::MemoryRegion> allocate_filled(ft::Transport& t, std::byte fill) {
  auto r = t.allocate_memory(kRegionBytes);
  if (!r) {
    std::fprintf(stderr, "bench: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
  std::memset((*r)->base(), static_cast<int>(fill), kRegionBytes);
  return std::move(*r);
}

void check(ferry::Result<void> r) {
  if (!r) {
    std::fprintf(stderr, "bench: %s\n", r.status().to_string().c_str());
    std::exit(1);
  }
}

void am_roundtrip(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    const auto target = g.pongs.value.load() + 1;
    check(g.t->send(1, kEcho, ft::ByteView(g_payload.data(), bytes)).result());
    g.pongs.wait_for(target, *g.t);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(am_roundtrip)->Arg(8)->Arg(4096)->Arg(65536)->UseRealTime();

void am_rate(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  // Rank 1 acks every kWindow messages; keep at most two windows in flight.
  const std::uint64_t acks0 = g.acks.value.load();
  std::uint64_t sent = 0;
  for (auto _ : state) {
    (void)g.t->send(1, kSink, ft::ByteView(g_payload.data(), bytes));
    if (++sent % kWindow == 0 && sent >= 2 * kWindow) g.acks.wait_for(acks0 + sent / kWindow - 1, *g.t);
  }
  g.acks.wait_for(acks0 + sent / kWindow, *g.t);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * bytes);
  // Resynchronise the sink counter for the next run (a 0-byte sink is the reset marker).
  check(g.t->send(1, kSink, ft::ByteView()).result());
}
BENCHMARK(am_rate)->Arg(8)->Arg(4096)->UseRealTime();

void get(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) check(g.t->get(*g.key, g.key->remote_base(), g_local, bytes).result());
  state.SetBytesProcessed(state.iterations() * bytes);
}
BENCHMARK(get)->RangeMultiplier(8)->Range(8, 8 << 20)->Arg(1 << 20)->Arg(64 << 20)->MinWarmUpTime(0.2)->UseRealTime();  // warm-up: first touches of the peer's mapping fault

}  // namespace

int main(int argc, char** argv) {
  auto conn = ferry::launcher::connect();
  if (!conn) {
    std::fprintf(stderr, "bench: %s\n", conn.status().to_string().c_str());
    return 1;
  }
  ft::Transport& t = *conn->transport;
  if (t.size() != 2) {
    std::fprintf(stderr, "bench: run with exactly 2 ranks (ferry-run -n 2 %s)\n", argv[0]);
    return 1;
  }
  g.t = &t;
  const bool polling = t.waiters_poll();
  for (Counter* c : {&g.pongs, &g.acks, &g.keys, &g.stops}) c->polling = polling;
  (void)t.set_handler(kEcho, [&](ft::Rank src, ft::ByteView p) {
    (void)t.send(src, kPong, ft::ByteView(g_payload.data(), p.size()));
  });
  (void)t.set_handler(kPong, [](ft::Rank, ft::ByteView) { g.pongs.bump(); });
  (void)t.set_handler(kAck, [](ft::Rank, ft::ByteView) { g.acks.bump(); });
  (void)t.set_handler(kSink, [&](ft::Rank src, ft::ByteView p) {
    if (p.empty()) {  // reset marker: the sender's window count starts again
      g.sunk = 0;
      return;
    }
    if (++g.sunk % kWindow == 0) (void)t.send(src, kAck, ft::ByteView());
  });
  (void)t.set_handler(kKey, [](ft::Rank, ft::ByteView p) {
    {
      std::lock_guard<std::mutex> lock(g.mu);
      g.key_blob.assign(p.begin(), p.end());
    }
    g.keys.bump();
  });
  (void)t.set_handler(kStop, [](ft::Rank, ft::ByteView) { g.stops.bump(); });

  std::unique_ptr<ft::MemoryRegion> region;
  check(conn->bootstrap->barrier());
  if (t.rank() == 1) {
    region = allocate_filled(t, std::byte{0x42});
    check(t.send(0, kKey, region->packed_key()).result());
    // Serve until rank 0 is done, asleep: the progress thread answers, and a
    // second spinning thread here would steal a core from rank 0's gets.
    g.stops.polling = false;
    g.stops.wait_for(1, t);
  } else {
    g.keys.wait_for(1, t);
    ft::Bytes blob;
    {
      std::lock_guard<std::mutex> lock(g.mu);
      blob = g.key_blob;
    }
    auto k = t.unpack_key(1, blob);
    check(k.status());
    g.key = *k;
    region = allocate_filled(t, std::byte{0});
    g_local = static_cast<std::byte*>(region->base());
    benchmark::Initialize(&argc, argv);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    g.key.reset();
    check(t.send(1, kStop, ft::ByteView()).result());
  }
  region.reset();
  check(t.shutdown());
  return 0;
}
