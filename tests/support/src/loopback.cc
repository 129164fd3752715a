// loopback.cc — LoopbackFabric (ferry_test/loopback.h).
//
// Each rank has a Node: a time-ordered event queue served by one delivery thread
// (AM deliveries, gets, failure reports). Link order: an AM src->dst is due at
// max(now + delay, the previous AM's due time on that link), and equal times keep
// posting order (sequence numbers), so every link is FIFO.
// Lock order: Fabric::mu before Node::cb_mu; Node::mu and Fabric::reg_mu are leaves.
// No callback (handler, failure/error handler, future continuation) runs under a lock.
#include "ferry_test/loopback.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <queue>
#include <set>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace ferry::test {

namespace loopback {

namespace tp = ferry::transport;
using tp::Bytes;
using tp::ByteView;
using tp::Rank;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kKeyMagic = 0x4c4f4f50;  // "LOOP"
constexpr std::size_t kKeyBytes = 4 + 4 + 8 + 8 + 8;
constexpr auto kCollectiveTimeout = std::chrono::seconds(30);

struct Event {
  Clock::time_point when;
  std::uint64_t seq;
  std::function<void(bool run)> fn;  // run == false: cancelled (the node stopped)
};
struct Later {
  bool operator()(const Event& a, const Event& b) const {
    return a.when != b.when ? a.when > b.when : a.seq > b.seq;
  }
};

struct Node {
  std::mutex mu;
  std::condition_variable cv;
  std::priority_queue<Event, std::vector<Event>, Later> queue;  // guarded by mu
  bool stop = false;                                              // guarded by mu
  std::thread thread;

  std::mutex cb_mu;
  std::unordered_map<tp::HandlerId, std::shared_ptr<tp::AmHandler>> handlers;  // guarded by cb_mu
  std::shared_ptr<tp::PeerFailureHandler> on_failure;                          // guarded by cb_mu
  std::shared_ptr<tp::ErrorHandler> on_error;                                  // guarded by cb_mu
  std::set<Rank> failed;                                                       // guarded by cb_mu: reported
  std::atomic<bool> made{false};
  std::atomic<bool> shut{false};  // shutdown() was called

  bool has_failed(Rank peer) {
    std::lock_guard<std::mutex> lock(cb_mu);
    return failed.count(peer) != 0;
  }
};

struct Region {
  Rank rank;
  const std::byte* base;
  std::size_t len;
};

class Boot;

struct Fabric;
// The fabric whose delivery thread this is (null elsewhere): handlers run there.
thread_local const Fabric* tl_delivery_fabric = nullptr;

struct Fabric {
  Rank n = 0;
  std::function<void(Rank)> thread_start;
  std::vector<std::unique_ptr<Node>> nodes;
  std::unique_ptr<std::atomic<bool>[]> alive;
  std::atomic<std::uint64_t> seq{0};
  std::atomic<std::uint64_t> dropped{0};

  mutable std::mutex mu;  // faults, link times, collectives, shutdown rendezvous
  std::condition_variable cv;
  std::vector<unsigned> drops;                // [src * n + dst], guarded by mu
  std::vector<Clock::duration> delays;        // [src * n + dst], guarded by mu
  std::vector<Clock::duration> slows;         // [rank], guarded by mu
  std::vector<Clock::time_point> link_last;   // [src * n + dst], guarded by mu
  std::uint64_t gen = 0;                      // guarded by mu: collectives completed
  Rank arrived = 0;                           // guarded by mu
  std::vector<Bytes> gather, result;          // guarded by mu
  std::vector<std::unique_ptr<Boot>> boots;

  std::shared_mutex reg_mu;
  std::unordered_map<std::uint64_t, Region> regions;  // guarded by reg_mu
  std::uint64_t next_region = 0;                      // guarded by reg_mu

  bool is_alive(Rank r) const { return alive[r].load(); }

  void post(Rank dst, Clock::time_point when, std::function<void(bool)> fn) {
    Node& node = *nodes[dst];
    {
      std::lock_guard<std::mutex> lock(node.mu);
      if (!node.stop) {
        node.queue.push(Event{when, seq.fetch_add(1), std::move(fn)});
        node.cv.notify_one();
        return;
      }
    }
    fn(false);
  }

  // Reports `peer` failed to `r` once (runs on r's delivery thread).
  void report(Rank r, Rank peer) {
    Node& node = *nodes[r];
    std::shared_ptr<tp::PeerFailureHandler> h;
    {
      std::lock_guard<std::mutex> lock(node.cb_mu);
      if (!node.failed.insert(peer).second) return;
      h = node.on_failure;
    }
    {
      std::lock_guard<std::mutex> lock(mu);  // wakes shutdown() waiters
      cv.notify_all();
    }
    if (h && *h && !node.shut.load())
      (*h)(peer, Status(Errc::peer_failed, "rank " + std::to_string(peer) + " failed (loopback: killed by the test)"));
  }

  void serve(Rank r) {
    tl_delivery_fabric = this;
    if (thread_start) thread_start(r);
    Node& node = *nodes[r];
    std::unique_lock<std::mutex> lock(node.mu);
    while (!node.stop) {
      if (node.queue.empty()) {
        node.cv.wait(lock);
        continue;
      }
      if (const auto due = node.queue.top().when; due > Clock::now()) {
        node.cv.wait_until(lock, due);
        continue;
      }
      Event e = std::move(const_cast<Event&>(node.queue.top()));
      node.queue.pop();
      lock.unlock();
      e.fn(true);
      lock.lock();
    }
    auto rest = std::move(node.queue);
    lock.unlock();
    for (; !rest.empty(); rest.pop()) const_cast<Event&>(rest.top()).fn(false);
  }

  void start(Rank r) {
    nodes[r]->thread = std::thread([this, r] { serve(r); });
  }

  void stop(Rank r) {
    Node& node = *nodes[r];
    {
      std::lock_guard<std::mutex> lock(node.mu);
      node.stop = true;
      node.cv.notify_all();
    }
    if (node.thread.joinable()) node.thread.join();
  }

  Result<std::vector<Bytes>> allgather(Rank r, ByteView mine) {
    std::unique_lock<std::mutex> lock(mu);
    const std::uint64_t my_gen = gen;
    gather[r] = Bytes(mine.begin(), mine.end());
    if (++arrived == n) {
      result = gather;
      arrived = 0;
      ++gen;
      cv.notify_all();
      return result;
    }
    if (!cv.wait_for(lock, kCollectiveTimeout, [&] { return gen != my_gen; })) {
      --arrived;
      return Status(Errc::timeout, "loopback bootstrap: rank " + std::to_string(r) +
                                       " waited 30 s for the other ranks in a collective");
    }
    return result;
  }
};

class Boot final : public tp::Bootstrap {
 public:
  Boot(Fabric& f, Rank r) : f_(f), r_(r) {}
  Rank rank() const override { return r_; }
  Rank size() const override { return f_.n; }
  Result<std::vector<Bytes>> allgather(ByteView mine) override { return f_.allgather(r_, mine); }
  Status barrier() override {
    auto r = f_.allgather(r_, {});
    return r ? Status::ok() : r.status();
  }
  std::string name() const override { return "loopback"; }

 private:
  Fabric& f_;
  const Rank r_;
};

class Key final : public tp::RemoteKey {
 public:
  Key(Rank peer, std::uint64_t id, std::uint64_t base, std::size_t len) : peer_(peer), id_(id), base_(base), len_(len) {}
  Rank peer() const noexcept override { return peer_; }
  std::uint64_t remote_base() const noexcept override { return base_; }
  std::size_t remote_length() const noexcept override { return len_; }
  std::uint64_t id() const noexcept { return id_; }

 private:
  Rank peer_;
  std::uint64_t id_, base_;
  std::size_t len_;
};

class MemRegion final : public tp::MemoryRegion {
 public:
  MemRegion(Fabric& f, Rank r, std::uint64_t id, void* base, std::size_t len) : f_(f), id_(id), base_(base), len_(len) {
    key_.resize(kKeyBytes);
    std::byte* p = key_.data();
    auto put = [&p](const auto& v) {
      std::memcpy(p, &v, sizeof v);
      p += sizeof v;
    };
    put(kKeyMagic);
    put(r);
    put(id);
    put(static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(base)));
    put(static_cast<std::uint64_t>(len));
  }
  ~MemRegion() override {
    std::unique_lock<std::shared_mutex> lock(f_.reg_mu);  // waits for gets copying from it
    f_.regions.erase(id_);
  }
  void* base() const noexcept override { return base_; }
  std::size_t length() const noexcept override { return len_; }
  ByteView packed_key() const noexcept override { return key_; }

 private:
  Fabric& f_;
  std::uint64_t id_;
  void* base_;
  std::size_t len_;
  Bytes key_;
};

Future<void> ready(Status s) { return make_ready_future<void>(s ? Result<void>() : Result<void>(std::move(s))); }

class Loop final : public tp::Transport {
 public:
  Loop(std::shared_ptr<Fabric> f, Rank r, tp::Options o) : f_(std::move(f)), r_(r), opts_(std::move(o)), node_(*f_->nodes[r]) {
    opts_.progress = tp::ProgressMode::blocking;
    f_->start(r_);
  }
  ~Loop() override {
    node_.shut.store(true);
    f_->stop(r_);
  }

  Rank rank() const noexcept override { return r_; }
  Rank size() const noexcept override { return f_->n; }
  std::string_view backend_name() const noexcept override { return "loopback"; }
  const tp::Options& options() const noexcept override { return opts_; }
  bool waiters_poll() const noexcept override { return false; }
  bool on_progress_thread() const noexcept override { return tl_delivery_fabric == f_.get(); }
  bool poll_once() override { return false; }

  Status set_handler(tp::HandlerId id, tp::AmHandler handler) override {
    if (id >= tp::kFirstReservedHandler)
      return Status(Errc::invalid_argument, "loopback: handler id " + std::to_string(id) + " is reserved");
    std::lock_guard<std::mutex> lock(node_.cb_mu);
    if (handler) node_.handlers[id] = std::make_shared<tp::AmHandler>(std::move(handler));
    else node_.handlers.erase(id);
    return Status::ok();
  }
  void on_peer_failure(tp::PeerFailureHandler handler) override {
    std::lock_guard<std::mutex> lock(node_.cb_mu);
    node_.on_failure = std::make_shared<tp::PeerFailureHandler>(std::move(handler));
  }
  void on_error(tp::ErrorHandler handler) override {
    std::lock_guard<std::mutex> lock(node_.cb_mu);
    node_.on_error = std::make_shared<tp::ErrorHandler>(std::move(handler));
  }

  Future<void> send(Rank dst, tp::HandlerId id, ByteView payload) override {
    if (Status s = usable(dst); !s) return ready(std::move(s));
    if (payload.size() > opts_.max_am_bytes)
      return ready(Status(Errc::invalid_argument, "loopback: AM of " + std::to_string(payload.size()) +
                                                      " bytes exceeds max_am_bytes"));
    sent_.fetch_add(1, std::memory_order_relaxed);
    Clock::time_point when;
    {
      std::lock_guard<std::mutex> lock(f_->mu);
      const std::size_t link = std::size_t{r_} * f_->n + dst;
      if (f_->drops[link] > 0) {
        --f_->drops[link];
        f_->dropped.fetch_add(1);
        return ready(Status::ok());
      }
      when = std::max(Clock::now() + f_->delays[link] + f_->slows[dst] + f_->slows[r_], f_->link_last[link]);
      f_->link_last[link] = when;
    }
    auto data = std::make_shared<Bytes>(payload.begin(), payload.end());
    Fabric* f = f_.get();
    const Rank src = r_;
    f_->post(dst, when, [f, src, dst, id, data](bool run) {
      if (!run || !f->is_alive(dst)) return;
      Node& node = *f->nodes[dst];
      std::shared_ptr<tp::AmHandler> h;
      std::shared_ptr<tp::ErrorHandler> err;
      {
        std::lock_guard<std::mutex> lock(node.cb_mu);
        if (node.failed.count(src)) return;  // nothing arrives from a peer reported failed
        if (auto it = node.handlers.find(id); it != node.handlers.end()) h = it->second;
        else err = node.on_error;
      }
      if (h) (*h)(src, ByteView(*data));
      else if (err && *err)
        (*err)(Status(Errc::unknown_handler, "loopback rank " + std::to_string(dst) + ": AM for handler id " +
                                                 std::to_string(id) + " from rank " + std::to_string(src) +
                                                 " has no handler"));
    });
    return ready(Status::ok());
  }

  Result<std::unique_ptr<tp::MemoryRegion>> register_memory(void* base, std::size_t length) override {
    std::unique_lock<std::shared_mutex> lock(f_->reg_mu);
    const std::uint64_t id = ++f_->next_region;
    f_->regions[id] = Region{r_, static_cast<const std::byte*>(base), length};
    lock.unlock();
    return std::unique_ptr<tp::MemoryRegion>(new MemRegion(*f_, r_, id, base, length));
  }

  Result<std::shared_ptr<tp::RemoteKey>> unpack_key(Rank peer, ByteView packed) override {
    std::uint32_t magic = 0, rank = 0;
    std::uint64_t id = 0, base = 0, len = 0;
    if (packed.size() != kKeyBytes) return Status(Errc::invalid_argument, "loopback: packed key of wrong size");
    const std::byte* p = packed.data();
    auto get = [&p](auto& v) {
      std::memcpy(&v, p, sizeof v);
      p += sizeof v;
    };
    get(magic);
    get(rank);
    get(id);
    get(base);
    get(len);
    if (magic != kKeyMagic || rank != peer || peer >= f_->n)
      return Status(Errc::invalid_argument, "loopback: key is not a region of rank " + std::to_string(peer));
    return std::shared_ptr<tp::RemoteKey>(std::make_shared<Key>(peer, id, base, static_cast<std::size_t>(len)));
  }

  Future<void> get(const tp::RemoteKey& key, std::uint64_t addr, void* local, std::size_t length) override {
    const auto* k = dynamic_cast<const Key*>(&key);
    if (!k) return ready(Status(Errc::invalid_argument, "loopback: get with a key of another transport"));
    if (addr < k->remote_base() || addr - k->remote_base() > k->remote_length() ||
        length > k->remote_length() - (addr - k->remote_base()))
      return ready(Status(Errc::invalid_argument, "loopback: get outside the remote region"));
    const Rank owner = k->peer();
    if (Status s = usable(owner); !s) return ready(std::move(s));
    gets_.fetch_add(1, std::memory_order_relaxed);
    bytes_got_.fetch_add(length, std::memory_order_relaxed);
    Clock::time_point when;
    {
      std::lock_guard<std::mutex> lock(f_->mu);
      when = Clock::now() + f_->delays[std::size_t{r_} * f_->n + owner] + f_->slows[owner] + f_->slows[r_];
    }
    auto promise = std::make_shared<Promise<void>>();
    auto fut = promise->get_future();
    Fabric* f = f_.get();
    const std::uint64_t id = k->id();
    const Rank me = r_;
    f_->post(r_, when, [f, me, owner, id, addr, local, length, promise](bool run) {
      Status s = Status::ok();
      if (!run) {
        s = Status(Errc::shut_down, "loopback: transport shut down with a get in flight");
      } else if (!f->is_alive(owner) || f->nodes[me]->has_failed(owner)) {
        s = Status(Errc::peer_failed, "loopback: rank " + std::to_string(owner) + " failed during a get");
      } else {
        std::shared_lock<std::shared_mutex> lock(f->reg_mu);  // the region cannot go while we copy
        auto it = f->regions.find(id);
        if (it == f->regions.end()) s = Status(Errc::invalid_argument, "loopback: get from a deregistered region");
        else std::memcpy(local, reinterpret_cast<const void*>(static_cast<std::uintptr_t>(addr)), length);
      }
      if (s) promise->set_value();
      else promise->set_error(std::move(s));
    });
    return fut;
  }

  std::vector<Rank> failed_peers() const override {
    std::lock_guard<std::mutex> lock(node_.cb_mu);
    return {node_.failed.begin(), node_.failed.end()};
  }

  tp::TransportCounters counters() const noexcept override {
    return {sent_.load(), gets_.load(), bytes_got_.load()};
  }

  Status shutdown() override {
    if (node_.shut.exchange(true)) return Status::ok();
    const auto bound = opts_.peer_timeout.count() > 0 ? opts_.peer_timeout : std::chrono::milliseconds(30000);
    std::vector<Rank> missing;
    {
      std::unique_lock<std::mutex> lock(f_->mu);
      f_->cv.notify_all();
      auto all_there = [&] {
        missing.clear();
        for (Rank p = 0; p < f_->n; ++p)
          if (p != r_ && f_->is_alive(r_) && f_->is_alive(p) && !f_->nodes[p]->shut.load() && !node_.has_failed(p))
            missing.push_back(p);
        return missing.empty();
      };
      f_->cv.wait_for(lock, bound, all_there);
    }
    f_->stop(r_);
    if (missing.empty()) return Status::ok();
    std::string list;
    for (Rank p : missing) list += (list.empty() ? "" : ",") + std::to_string(p);
    return Status(Errc::timeout, "loopback rank " + std::to_string(r_) + ": ranks " + list + " did not reach shutdown");
  }

  Future<void> debug_send_raw(Rank, ByteView, ByteView) override {
    return ready(Status(Errc::unsupported, "loopback: no wire format, no raw frames"));
  }

 private:
  // ok, or why nothing can go to/from `peer` now.
  Status usable(Rank peer) const {
    if (peer >= f_->n)
      return Status(Errc::invalid_argument, "loopback: rank " + std::to_string(peer) + " out of range");
    if (node_.shut.load()) return Status(Errc::shut_down, "loopback rank " + std::to_string(r_) + " is shut down");
    if (!f_->is_alive(r_)) return Status(Errc::shut_down, "loopback rank " + std::to_string(r_) + " was killed");
    if (!f_->is_alive(peer) || node_.has_failed(peer))
      return Status(Errc::peer_failed, "loopback: rank " + std::to_string(peer) + " failed");
    return Status::ok();
  }

  std::shared_ptr<Fabric> f_;
  const Rank r_;
  tp::Options opts_;
  Node& node_;
  std::atomic<std::uint64_t> sent_{0}, gets_{0}, bytes_got_{0};
};

}  // namespace loopback

using loopback::Clock;

LoopbackFabric::LoopbackFabric(transport::Rank size, std::function<void(transport::Rank)> thread_start)
    : f_(std::make_shared<loopback::Fabric>()) {
  auto& f = *f_;
  f.n = size;
  f.thread_start = std::move(thread_start);
  f.alive = std::make_unique<std::atomic<bool>[]>(size);
  for (transport::Rank r = 0; r < size; ++r) {
    f.nodes.push_back(std::make_unique<loopback::Node>());
    f.alive[r].store(true);
    f.boots.push_back(std::make_unique<loopback::Boot>(f, r));
  }
  f.drops.assign(std::size_t{size} * size, 0);
  f.delays.assign(std::size_t{size} * size, Clock::duration::zero());
  f.link_last.assign(std::size_t{size} * size, Clock::time_point{});
  f.slows.assign(size, Clock::duration::zero());
  f.gather.resize(size);
}

LoopbackFabric::~LoopbackFabric() {
  for (transport::Rank r = 0; r < f_->n; ++r) f_->stop(r);
}

transport::Rank LoopbackFabric::size() const noexcept { return f_->n; }

Result<std::unique_ptr<transport::Transport>> LoopbackFabric::make_transport(transport::Rank rank,
                                                                             transport::Options options) {
  if (rank >= f_->n) return Status(Errc::invalid_argument, "loopback: rank " + std::to_string(rank) + " out of range");
  if (f_->nodes[rank]->made.exchange(true))
    return Status(Errc::invalid_argument, "loopback: rank " + std::to_string(rank) + " already has a transport");
  return std::unique_ptr<transport::Transport>(new loopback::Loop(f_, rank, std::move(options)));
}

transport::Bootstrap& LoopbackFabric::bootstrap(transport::Rank rank) { return *f_->boots.at(rank); }

void LoopbackFabric::drop(transport::Rank src, transport::Rank dst, unsigned n) {
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->drops.at(std::size_t{src} * f_->n + dst) += n;
}

void LoopbackFabric::delay(transport::Rank src, transport::Rank dst, std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->delays.at(std::size_t{src} * f_->n + dst) = d;
}

void LoopbackFabric::slow(transport::Rank rank, std::chrono::milliseconds d) {
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->slows.at(rank) = d;
}

void LoopbackFabric::kill(transport::Rank rank) {
  if (!f_->alive[rank].exchange(false)) return;
  const auto now = Clock::now();
  loopback::Fabric* f = f_.get();
  for (transport::Rank r = 0; r < f_->n; ++r) {
    if (r == rank) continue;
    f_->post(r, now, [f, r, rank](bool run) {
      if (run) f->report(r, rank);
    });
    f_->post(rank, now, [f, r, rank](bool run) {
      if (run) f->report(rank, r);
    });
  }
  std::lock_guard<std::mutex> lock(f_->mu);
  f_->cv.notify_all();
}

bool LoopbackFabric::alive(transport::Rank rank) const { return f_->is_alive(rank); }

std::uint64_t LoopbackFabric::dropped() const { return f_->dropped.load(); }

}  // namespace ferry::test
