// ping — a 2+ rank transport smoke test that prints what it verified.
//
// Every rank registers a 1 MiB buffer filled with a rank-specific pattern and
// sends its packed key to every peer in an active message. Then each rank
//   1. ping-pongs AMs with its right neighbour (rank+1 mod N) and checks echoes,
//   2. reads the neighbour's whole buffer one-sided (get) and verifies it byte for byte.
// Runs under ferry-run, mpirun and srun --mpi=pmix (the launcher is detected).
// Exit code 0 only if everything verified.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <vector>

#include "ferry/launcher/bootstrap.h"

namespace ft = ferry::transport;

namespace {

constexpr ft::HandlerId kKey = 1;   // payload: packed remote key of the sender's buffer
constexpr ft::HandlerId kPing = 2;  // payload: u64 sequence; echoed back as kPong
constexpr ft::HandlerId kPong = 3;
constexpr std::size_t kBufBytes = std::size_t{1} << 20;
constexpr int kRoundTrips = 1000;

std::byte pattern(ft::Rank rank, std::size_t i) { return std::byte((i * 131 + rank * 7 + 1) & 0xff); }

int fail(ft::Rank rank, const std::string& what) {
  std::fprintf(stderr, "rank %u: FAILED: %s\n", rank, what.c_str());
  return 1;
}

}  // namespace

int main() {
  auto conn = ferry::launcher::connect();
  if (!conn) {
    std::fprintf(stderr, "ping: %s\n", conn.status().to_string().c_str());
    return 1;
  }
  ft::Transport& t = *conn->transport;
  const ft::Rank me = t.rank(), n = t.size();
  if (n < 2) return fail(me, "ping needs at least 2 ranks (try: ferry-run -n 2 ferry_ping)");
  const ft::Rank right = (me + 1) % n;
  // A non-owning handle: futures made here do not outlive the transport.
  std::shared_ptr<ferry::Progressor> progress(std::shared_ptr<void>(), &t);

  std::mutex mu;
  std::vector<ft::Bytes> keys(n);
  ferry::Promise<void> keys_done(progress);
  std::atomic<ft::Rank> keys_seen{0};
  (void)t.set_handler(kKey, [&](ft::Rank src, ft::ByteView p) {
    {
      std::lock_guard<std::mutex> lock(mu);
      keys[src].assign(p.begin(), p.end());
    }
    if (++keys_seen == n - 1) keys_done.set_value();
  });
  std::atomic<std::uint64_t> last_pong{~0ull};
  std::atomic<int> bad_pongs{0};
  std::unique_ptr<ferry::Promise<void>> pong;  // replaced each round trip by the main thread
  std::mutex pong_mu;
  (void)t.set_handler(kPing, [&](ft::Rank src, ft::ByteView p) {
    (void)t.send_owned(src, kPong, ft::Bytes(p.begin(), p.end()));
  });
  (void)t.set_handler(kPong, [&](ft::Rank, ft::ByteView p) {
    std::uint64_t seq = 0;
    if (p.size() != sizeof seq) ++bad_pongs;
    else std::memcpy(&seq, p.data(), sizeof seq);
    last_pong = seq;
    std::lock_guard<std::mutex> lock(pong_mu);
    if (pong) pong->set_value();
  });

  std::vector<std::byte> buf(kBufBytes);
  for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = pattern(me, i);
  auto region = t.register_memory(buf.data(), buf.size());
  if (!region) return fail(me, region.status().to_string());
  // Handlers are installed: tell the peers they may send (an AM that arrives
  // before its handler exists is dropped and reported as unknown_handler).
  if (auto s = conn->bootstrap->barrier(); !s) return fail(me, s.to_string());
  auto keys_ready = keys_done.get_future();
  for (ft::Rank p = 0; p < n; ++p)
    if (p != me) (void)t.send(p, kKey, (*region)->packed_key());
  if (!keys_ready.wait_for(std::chrono::seconds(30))) return fail(me, "did not receive every peer's key in 30 s");

  // 1. AM ping-pong with the right neighbour.
  auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t seq = 0; seq < kRoundTrips; ++seq) {
    ferry::Future<void> got;
    {
      std::lock_guard<std::mutex> lock(pong_mu);
      pong = std::make_unique<ferry::Promise<void>>(progress);
      got = pong->get_future();
    }
    auto sent = t.send(right, kPing, ft::ByteView(reinterpret_cast<const std::byte*>(&seq), sizeof seq));
    if (!got.wait_for(std::chrono::seconds(10))) return fail(me, "no pong from rank " + std::to_string(right));
    if (auto r = sent.result(); !r) return fail(me, r.status().to_string());
    if (last_pong.load() != seq) return fail(me, "pong carried the wrong sequence number");
  }
  double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / kRoundTrips;
  if (bad_pongs) return fail(me, "malformed pong payloads");
  std::printf("rank %u/%u: %d AM round trips with rank %u verified (%.1f us avg, %s transport)\n", me, n,
              kRoundTrips, right, us, std::string(t.backend_name()).c_str());

  // 2. One-sided get of the neighbour's whole buffer.
  ft::Bytes key_blob;
  {
    std::lock_guard<std::mutex> lock(mu);
    key_blob = keys[right];
  }
  auto key = t.unpack_key(right, key_blob);
  if (!key) return fail(me, key.status().to_string());
  std::vector<std::byte> dst(kBufBytes);
  auto g = t.get(**key, (*key)->remote_base(), dst.data(), dst.size()).result();
  if (!g) return fail(me, g.status().to_string());
  for (std::size_t i = 0; i < dst.size(); ++i)
    if (dst[i] != pattern(right, i)) return fail(me, "get: byte " + std::to_string(i) + " differs");
  std::printf("rank %u/%u: one-sided get of %zu bytes from rank %u verified byte for byte\n", me, n, dst.size(),
              right);

  // The left neighbour may still be reading our buffer: deregister only after everyone is done.
  if (auto s = conn->bootstrap->barrier(); !s) return fail(me, s.to_string());
  region->reset();
  if (auto s = t.shutdown(); !s) return fail(me, s.to_string());
  std::printf("rank %u/%u: ping ok\n", me, n);
  return 0;
}
