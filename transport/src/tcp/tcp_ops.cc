// tcp_ops.cc — the TCP backend's application-facing operations: argument
// checks, hand-off to the progress context (Conn outbox + one posted flush),
// the self path (AMs and gets to this rank, done in software on the progress
// context in send order), memory regions and remote keys.
//
// Packed key (32 bytes, little-endian host order):
//   u32 kKeyMagic, u32 owner rank, u64 region id, u64 base address, u64 length.
//
// Thread-safety: every public Engine method here may be called from any
// thread, including handlers on the progress context. flush()/run_self() run
// only on the progress context.
#include <spdlog/spdlog.h>

#include <cstring>

#include "tcp/tcp_engine.h"

namespace ferry::transport::tcp {
namespace {

class TcpRegion final : public MemoryRegion {
 public:
  TcpRegion(std::shared_ptr<Engine> engine, std::shared_ptr<RegionState> state, Rank owner)
      : engine_(std::move(engine)), state_(std::move(state)) {
    const std::uint32_t magic = kKeyMagic, rank = owner;
    const std::uint64_t id = state_->id, base = reinterpret_cast<std::uintptr_t>(state_->base),
                        len = state_->length;
    std::memcpy(key_.data(), &magic, 4);
    std::memcpy(key_.data() + 4, &rank, 4);
    std::memcpy(key_.data() + 8, &id, 8);
    std::memcpy(key_.data() + 16, &base, 8);
    std::memcpy(key_.data() + 24, &len, 8);
  }
  ~TcpRegion() override { engine_->deregister(state_); }

  void* base() const noexcept override { return state_->base; }
  std::size_t length() const noexcept override { return state_->length; }
  ByteView packed_key() const noexcept override { return ByteView(key_.data(), key_.size()); }

 private:
  std::shared_ptr<Engine> engine_;
  std::shared_ptr<RegionState> state_;
  std::array<std::byte, kPackedKeyBytes> key_{};
};

class TcpRemoteKey final : public RemoteKey {
 public:
  TcpRemoteKey(const Engine* engine, Rank peer, std::uint64_t id, std::uint64_t base, std::uint64_t length)
      : engine_(engine), peer_(peer), id_(id), base_(base), length_(length) {}
  Rank peer() const noexcept override { return peer_; }
  std::uint64_t remote_base() const noexcept override { return base_; }
  std::size_t remote_length() const noexcept override { return static_cast<std::size_t>(length_); }

  const Engine* engine_;
  Rank peer_;
  std::uint64_t id_, base_, length_;
};

std::string rank_s(Rank r) { return std::to_string(r); }

}  // namespace

RegionPin::~RegionPin() {
  if (!region_) return;
  std::lock_guard<std::mutex> lock(region_->mu);
  if (--region_->pins == 0) region_->cv.notify_all();
}

Future<void> Engine::ready_error(Status s) const {
  return make_ready_future<void>(Result<void>(std::move(s)));
}

Status Engine::shut_down_status() const {
  return Status(Errc::shut_down, "the TCP transport of rank " + rank_s(self_) +
                                     " is shut down (operation issued after shutdown() or destruction)");
}

Status Engine::failed_peer_status(const char* op, Rank peer) const {
  {
    std::shared_lock<std::shared_mutex> lock(ops_mu_);
    if (closed_) return shut_down_status();
  }
  return Status(Errc::peer_failed, std::string(op) + ": rank " + rank_s(peer) + " has failed");
}

// Hands `op` to the progress context. Caller holds ops_mu_ (shared) and saw !closed_.
void Engine::submit(Rank dst, Op op) {
  Conn& c = *conns_[dst];
  bool kick = false;
  {
    std::lock_guard<std::mutex> lock(c.out_mu);
    c.outbox.push_back(std::move(op));
    kick = !c.kick_posted;
    c.kick_posted = true;
  }
  if (kick) asio::post(io_, [this, &c] { flush(c); });
}

// The common tail of send/debug_send_raw/get (arguments already checked):
// attaches a promise to `op` and hands it over, unless the transport is closed.
Future<void> Engine::enqueue(Rank dst, Op op) {
  Promise<void> promise(shared_from_this());
  auto future = promise.get_future();
  std::shared_lock<std::shared_mutex> lock(ops_mu_);
  if (closed_) {
    promise.set_error(shut_down_status());
    return future;
  }
  op.promise.emplace(std::move(promise));
  submit(dst, std::move(op));
  return future;
}

Future<void> Engine::send(Rank dst, HandlerId id, ByteView payload) {
  if (dst >= size_)
    return ready_error(Status(Errc::invalid_argument, "send: destination rank " + rank_s(dst) +
                                                          " is outside the job (size " + rank_s(size_) + ")"));
  if (id >= kFirstReservedHandler)
    return ready_error(Status(Errc::invalid_argument, "send: handler id " + std::to_string(id) +
                                                          " is reserved for ferry's internal use"));
  if (payload.size() > opts_.max_am_bytes)
    return ready_error(Status(Errc::invalid_argument,
                              "send: payload of " + std::to_string(payload.size()) + " bytes exceeds max_am_bytes (" +
                                  std::to_string(opts_.max_am_bytes) + "); raise FERRY_MAX_AM_BYTES or use get()"));
  if (payload.data() == nullptr && !payload.empty())
    return ready_error(Status(Errc::invalid_argument, "send: null payload pointer with non-zero length"));
  if (events_.is_failed(dst)) return ready_error(failed_peer_status("send", dst));
  Op op;
  op.kind = Op::Kind::am;
  op.handler = id;
  op.payload = payload;
  return enqueue(dst, std::move(op));
}

Future<void> Engine::debug_send_raw(Rank dst, ByteView header, ByteView payload) {
  if (dst >= size_)
    return ready_error(Status(Errc::invalid_argument, "debug_send_raw: destination rank " + rank_s(dst) +
                                                          " is outside the job"));
  if (events_.is_failed(dst)) return ready_error(failed_peer_status("debug_send_raw", dst));
  Op op;
  op.kind = Op::Kind::raw;
  op.raw_header.assign(header.begin(), header.end());
  op.raw_payload.assign(payload.begin(), payload.end());
  return enqueue(dst, std::move(op));
}

Future<void> Engine::get(const RemoteKey& key, std::uint64_t remote_addr, void* local, std::size_t length) {
  const auto* k = dynamic_cast<const TcpRemoteKey*>(&key);
  if (k == nullptr || k->engine_ != this)
    return ready_error(Status(Errc::invalid_argument, "get: the key was not unpacked by this TCP transport"));
  const std::uint64_t off = remote_addr - k->base_;
  if (remote_addr < k->base_ || off > k->length_ || length > k->length_ - off)
    return ready_error(Status(Errc::invalid_argument,
                              "get: " + std::to_string(length) + " bytes at offset " +
                                  std::to_string(static_cast<std::int64_t>(off)) + " fall outside rank " +
                                  rank_s(k->peer_) + "'s region of " + std::to_string(k->length_) + " bytes"));
  if (length == 0) return make_ready_future();
  if (local == nullptr) return ready_error(Status(Errc::invalid_argument, "get: null local buffer"));
  if (events_.is_failed(k->peer_)) return ready_error(failed_peer_status("get", k->peer_));
  Op op;
  op.kind = Op::Kind::get;
  op.region_id = k->id_;
  op.remote_addr = remote_addr;
  op.length = length;
  op.local = local;
  return enqueue(k->peer_, std::move(op));
}

// Progress context: moves the outbox of `c` into its write queue (or, for
// self, performs the ops in order).
void Engine::flush(Conn& c) {
  std::vector<Op> ops;
  {
    std::lock_guard<std::mutex> lock(c.out_mu);
    ops.swap(c.outbox);
    c.kick_posted = false;
  }
  if (c.self && !stopped_.load()) {
    for (Op& op : ops) run_self(op);
    return;
  }
  if (c.self || !c.open) {
    const bool failed = !stopped_.load() && events_.is_failed(c.peer);
    Status why = failed ? Status(Errc::peer_failed, "rank " + rank_s(c.peer) + " has failed (connection closed)")
                        : shut_down_status();
    for (Op& op : ops) op.promise->set_error(why);
    return;
  }
  for (Op& op : ops) {
    OutFrame f;
    if (op.kind == Op::Kind::am) {
      f.header = wire::make_header(op.handler, self_, 0, op.payload.size());
      f.payload = op.payload;
      f.promise = std::move(op.promise);
    } else if (op.kind == Op::Kind::raw) {
      f.raw = true;
      f.raw_header = std::move(op.raw_header);
      f.owned = std::move(op.raw_payload);
      f.promise = std::move(op.promise);
    } else {
      const std::uint64_t id = c.next_get_id++;
      c.gets.emplace(id, PendingGet{static_cast<std::byte*>(op.local), op.length, std::move(op.promise)});
      f.header = wire::make_header(wire::kGetRequest, self_, 0, kGetRequestBytes);
      const std::uint64_t body[4] = {id, op.region_id, op.remote_addr, op.length};
      std::memcpy(f.prefix.data(), body, kGetRequestBytes);
      f.prefix_len = kGetRequestBytes;
    }
    push_frame(c, std::move(f));
  }
  start_write(c);
}

void Engine::run_self(Op& op) {
  switch (op.kind) {
    case Op::Kind::am:
      deliver(self_, op.handler, op.payload);
      op.promise->set_value();
      break;
    case Op::Kind::raw:
      raw_to_self(op);
      break;
    case Op::Kind::get: {
      Status s = serve_local_get(op.region_id, op.remote_addr, op.local, op.length, self_);
      if (s.is_ok()) op.promise->set_value();
      else op.promise->set_error(std::move(s));
      break;
    }
  }
}

// A raw frame to self: validated like one from the wire; a bad one is
// reported (there is no connection to close), a good one is delivered.
void Engine::raw_to_self(Op& op) {
  auto h = wire::parse_header(op.raw_header.data(), op.raw_header.size(), size_, opts_.max_am_bytes);
  std::string why;
  if (!h) why = h.status().message();
  else if (h->src != self_) why = "source rank " + rank_s(h->src) + " differs from the sender, rank " + rank_s(self_);
  else if (h->payload_len != op.raw_payload.size())
    why = "header announces " + std::to_string(h->payload_len) + " payload bytes but " +
          std::to_string(op.raw_payload.size()) + " follow";
  if (!why.empty()) {
    events_.report_error(Status(Errc::malformed_message,
                                "rank " + rank_s(self_) + " got a malformed frame from itself: " + why + "; dropped"));
  } else if (h->handler < kFirstReservedHandler) {
    deliver(self_, h->handler, ByteView(op.raw_payload));
  } else {
    events_.report_error(Status(Errc::malformed_message, "rank " + rank_s(self_) +
                                                             " got an internal frame (handler id " +
                                                             std::to_string(h->handler) + ") from itself; dropped"));
  }
  op.promise->set_value();
}

std::shared_ptr<RegionState> Engine::find_region(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(regions_mu_);
  auto it = regions_.find(id);
  return it == regions_.end() ? nullptr : it->second;
}

// Bounds-checked copy out of one of this rank's regions (self gets).
Status Engine::serve_local_get(std::uint64_t region_id, std::uint64_t addr, void* local, std::uint64_t len,
                               Rank requester) {
  auto region = find_region(region_id);
  if (region) {
    std::lock_guard<std::mutex> lock(region->mu);
    const auto base = reinterpret_cast<std::uintptr_t>(region->base);
    if (!region->alive) {
      // fall through to not_found
    } else if (addr < base || addr - base > region->length || len > region->length - (addr - base)) {
      return Status(Errc::invalid_argument, "get: " + std::to_string(len) + " bytes " + offset_text(addr, base) +
                                                " fall outside rank " + rank_s(self_) +
                                                "'s region " + std::to_string(region_id) + " of " +
                                                std::to_string(region->length) + " bytes");
    } else {
      std::memmove(local, reinterpret_cast<const void*>(addr), len);
      return Status::ok();
    }
  }
  return Status(Errc::not_found, "get by rank " + rank_s(requester) + ": region " + std::to_string(region_id) +
                                     " of rank " + rank_s(self_) +
                                     " is not registered (deregistered, or the key outlived its region)");
}

Result<std::unique_ptr<MemoryRegion>> Engine::register_memory(void* base, std::size_t length) {
  if (base == nullptr || length == 0)
    return Status(Errc::invalid_argument, "register_memory: cannot register an empty range (base " +
                                              std::to_string(reinterpret_cast<std::uintptr_t>(base)) + ", length " +
                                              std::to_string(length) + ")");
  {
    std::shared_lock<std::shared_mutex> lock(ops_mu_);
    if (closed_) return shut_down_status();
  }
  auto state = std::make_shared<RegionState>();
  state->base = static_cast<std::byte*>(base);
  state->length = length;
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    state->id = next_region_id_++;
    regions_.emplace(state->id, state);
  }
  return std::unique_ptr<MemoryRegion>(new TcpRegion(shared_from_this(), std::move(state), self_));
}

// Removes the region; waits (off the progress context) until no reply still
// reads from it, so the caller may free the memory afterwards.
void Engine::deregister(const std::shared_ptr<RegionState>& region) {
  {
    std::lock_guard<std::mutex> lock(regions_mu_);
    regions_.erase(region->id);
  }
  std::unique_lock<std::mutex> lock(region->mu);
  region->alive = false;
  if (region->pins == 0) return;
  if (on_progress_thread()) {
    spdlog::warn("ferry[{}]: a memory region was deregistered on the progress thread while {} get replies still "
                 "read from it; free its memory only after they complete",
                 self_, region->pins);
    return;
  }
  // Replies complete when written or when their connection fails (bounded by peer_timeout).
  const auto limit = std::max<std::chrono::milliseconds>(opts_.peer_timeout, std::chrono::seconds(10)) * 2;
  if (!region->cv.wait_for(lock, limit, [&] { return region->pins == 0; }))
    spdlog::error("ferry[{}]: deregistering a region: {} get replies still read from it after {} ms", self_,
                  region->pins, limit.count());
}

Result<std::shared_ptr<RemoteKey>> Engine::unpack_key(Rank peer, ByteView packed) {
  if (peer >= size_)
    return Status(Errc::invalid_argument, "unpack_key: rank " + rank_s(peer) + " is outside the job (size " +
                                              rank_s(size_) + ")");
  auto k = parse_packed_key(packed, peer);
  if (!k) return k.status();
  if (k->owner != peer)
    return Status(Errc::invalid_argument, "unpack_key: the key belongs to rank " + rank_s(k->owner) +
                                              ", not rank " + rank_s(peer));
  if (events_.is_failed(peer)) return failed_peer_status("unpack_key", peer);
  return std::shared_ptr<RemoteKey>(std::make_shared<TcpRemoteKey>(this, peer, k->id, k->base, k->length));
}

}  // namespace ferry::transport::tcp
