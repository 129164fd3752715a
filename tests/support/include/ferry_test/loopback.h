// ferry_test/loopback.h — an in-process Transport and Bootstrap: N ranks in one process,
// with fault injection, so the real layers above (Core, fetch, Tasks) run in unit tests.
//
//   ferry::test::LoopbackFabric fab(3);
//   auto t = fab.make_transport(1).value();   // rank 1's transport
//   ferry::transport::Bootstrap& b = fab.bootstrap(1);
//
// What it models (the contract of ferry/transport/transport.h):
//   * AMs: the payload is copied at send; the handler runs on the receiver's delivery
//     thread (its "progress thread"); FIFO per sender/receiver pair, also under delays.
//     An AM for an id with no handler goes to the receiver's error handler (unknown_handler).
//   * register_memory / allocate_memory (the base class's), packed keys, unpack_key;
//     get = a memcpy from the owner's registered memory, done on the reader's delivery
//     thread (no owner thread involved, like RDMA); out of range -> invalid_argument.
//   * peer failure (kill), counters, collective shutdown bounded by Options::peer_timeout.
//   * blocking progress only: Options::progress is set to blocking, waiters sleep.
// Faults, from any thread at any time:
//   drop(src, dst, n)   the next n AMs src->dst are lost (their sends complete ok)
//   delay(src, dst, d)  AMs src->dst, and gets by src from dst's memory, take d longer
//   slow(rank, d)       everything delivered to or read from `rank` takes d longer
//   kill(rank)          rank dies: every other rank's on_peer_failure(rank) runs once
//                       (peer_failed); sends to it and gets from its memory fail with
//                       peer_failed, gets in flight included; it receives no more AMs and
//                       sees every other rank fail (so its own shutdown does not wait).
// thread_start: run first on every delivery thread with its rank (a test makes the thread act
// as that rank there, e.g. ferry::rt::testing::act_as_rank).
//
// Thread-safety: everything is thread-safe. The fabric must outlive its transports; a
// transport's regions must go before the transport.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "ferry/transport/transport.h"

namespace ferry::test {

namespace loopback {
struct Fabric;
}

class LoopbackFabric {
 public:
  explicit LoopbackFabric(transport::Rank size,
                          std::function<void(transport::Rank)> thread_start = {});
  ~LoopbackFabric();
  LoopbackFabric(const LoopbackFabric&) = delete;
  LoopbackFabric& operator=(const LoopbackFabric&) = delete;

  transport::Rank size() const noexcept;
  // Rank `rank`'s transport (once per rank). Collective-free: no bootstrap needed.
  Result<std::unique_ptr<transport::Transport>> make_transport(transport::Rank rank,
                                                               transport::Options options = {});
  // Rank `rank`'s bootstrap: allgather/barrier among the fabric's ranks, each bounded by 30 s.
  transport::Bootstrap& bootstrap(transport::Rank rank);

  void drop(transport::Rank src, transport::Rank dst, unsigned n);
  void delay(transport::Rank src, transport::Rank dst, std::chrono::milliseconds d);
  void slow(transport::Rank rank, std::chrono::milliseconds d);
  void kill(transport::Rank rank);
  bool alive(transport::Rank rank) const;
  // AMs lost to drop() so far.
  std::uint64_t dropped() const;

 private:
  std::shared_ptr<loopback::Fabric> f_;
};

}  // namespace ferry::test
