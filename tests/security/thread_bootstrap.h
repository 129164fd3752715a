// thread_bootstrap.h — an in-process Bootstrap for N ranks run as N threads.
//
// allgather/barrier meet on a shared state; `after_gather(rank, round, all)`
// runs on each rank's thread once a round is complete and before the rank
// continues, so a test can act between "every rank listens" and "the ranks
// connect" (e.g. let a stranger in first). Bounded: a collective fails after
// `timeout`.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "ferry/transport/transport.h"

namespace ferry::test {

class ThreadRendezvous {
 public:
  using Hook = std::function<void(transport::Rank, std::size_t, const std::vector<transport::Bytes>&)>;
  ThreadRendezvous(transport::Rank size, std::chrono::milliseconds timeout) : size_(size), timeout_(timeout) {}

  Hook after_gather;  // set before the ranks start

  Result<std::vector<transport::Bytes>> allgather(transport::Rank r, std::size_t round, transport::ByteView mine) {
    std::vector<transport::Bytes> out;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (rounds_.size() <= round) rounds_.resize(round + 1);
      Round& rd = rounds_[round];
      if (rd.blobs.empty()) rd.blobs.resize(size_);
      rd.blobs[r].assign(mine.begin(), mine.end());
      if (++rd.arrived == size_) cv_.notify_all();
      if (!cv_.wait_for(lock, timeout_, [&] { return rounds_[round].arrived == size_; }))
        return Status(Errc::bootstrap_failed, "thread rendezvous timed out");
      out = rounds_[round].blobs;
    }
    if (after_gather) after_gather(r, round, out);
    return out;
  }

 private:
  struct Round {
    std::vector<transport::Bytes> blobs;
    transport::Rank arrived = 0;
  };
  const transport::Rank size_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Round> rounds_;  // guarded by mu_
};

class ThreadBootstrap final : public transport::Bootstrap {
 public:
  ThreadBootstrap(ThreadRendezvous& rv, transport::Rank rank, transport::Rank size)
      : rv_(rv), rank_(rank), size_(size) {}
  transport::Rank rank() const override { return rank_; }
  transport::Rank size() const override { return size_; }
  Result<std::vector<transport::Bytes>> allgather(transport::ByteView mine) override {
    return rv_.allgather(rank_, round_++, mine);
  }
  Status barrier() override {
    auto r = allgather({});
    return r ? Status::ok() : r.status();
  }
  std::string name() const override { return "test-threads"; }

 private:
  ThreadRendezvous& rv_;
  const transport::Rank rank_, size_;
  std::size_t round_ = 0;
};

}  // namespace ferry::test
