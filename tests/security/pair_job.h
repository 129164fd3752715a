// pair_job.h — a 2-rank job of real transports run as two threads (ThreadBootstrap).
//
// run_pair(o0, o1, stranger, while_up): rank r makes its transport with options o<r>;
// `stranger(rank 1's published blob up to its first '\0')` runs on rank 0's thread after
// every rank published its address and before rank 0 connects (TCP backend: while rank 1
// listens). Once both are up, rank 0 sends one AM to rank 1, `while_up()` runs on rank 0
// while both transports are alive, then both shut down. Bounded (rendezvous 90 s, AM 20 s).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "thread_bootstrap.h"

namespace ferry::test {

struct PairOutcome {
  Status status[2];
  bool am_delivered = false;
};

inline PairOutcome run_pair(const transport::Options& o0, const transport::Options& o1,
                            const std::function<void(const std::string&)>& stranger,
                            const std::function<void()>& while_up) {
  namespace tp = ferry::transport;
  ThreadRendezvous rv(2, std::chrono::seconds(90));
  rv.after_gather = [&](tp::Rank r, std::size_t round, const std::vector<tp::Bytes>& all) {
    if (r != 0 || round != 0 || !stranger) return;
    std::string blob(reinterpret_cast<const char*>(all[1].data()), all[1].size());
    stranger(blob.substr(0, blob.find('\0')));
  };
  PairOutcome out;
  std::atomic<bool> got{false};
  auto rank_main = [&](tp::Rank r) {
    ThreadBootstrap boot(rv, r, 2);
    auto t = tp::make_transport(r == 0 ? o0 : o1, boot);
    if (!t) {
      out.status[r] = t.status();
      return;
    }
    if (r == 1) (void)(*t)->set_handler(7, [&](tp::Rank src, tp::ByteView) { got = src == 0; });
    if (auto s = boot.barrier(); !s) {
      out.status[r] = s;
      return;
    }
    if (r == 0) {
      const std::byte b[1] = {std::byte{1}};
      out.status[r] = (*t)->send(1, 7, tp::ByteView(b, 1)).result().status();
      if (while_up) while_up();
    } else {
      for (int i = 0; i < 2000 && !got; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (auto s = boot.barrier(); !s && out.status[r].is_ok()) out.status[r] = s;
    if (auto s = (*t)->shutdown(); !s && out.status[r].is_ok()) out.status[r] = s;
  };
  std::thread t1(rank_main, 1);
  rank_main(0);
  t1.join();
  out.am_delivered = got;
  return out;
}

}  // namespace ferry::test
