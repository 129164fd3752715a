// fetch.cc — the reader side of the object protocol (see core.h): local
// reads under a pin, location requests to the owner, one-sided gets into this
// rank's arena, header validation, cached copies, retries and failures.
//
// Thread-safety: fetch() runs on user threads; replies and get completions on
// the progress thread. Fetch state is guarded by fetch_mu_; promises are
// completed after the lock is released (finish()).
#include <spdlog/spdlog.h>

#include <limits>

#include "core.h"
#include "eviction.h"
#include "metrics.h"
#include "protocol.h"
#include "trace.h"

namespace ferry::rt {

namespace {

constexpr int kMaxAttempts = 3;  // reads from secondary holders before giving up

Future<ObjectData> ready(Result<ObjectData> r) { return make_ready_future<ObjectData>(std::move(r)); }

}  // namespace

Status Core::owner_died(const ObjectId& id, const std::string& why) const {
  return Status(Errc::owner_died, "get of " + id.to_string() + " on rank " + std::to_string(self_) +
                                      ": its owner rank " + std::to_string(id.owner()) + " died (" + why +
                                      "); objects owned by a failed rank are lost");
}

Result<ObjectData> Core::read_local(const ObjectId& id) {
  auto pinned = table_->pin(id);  // restores a spilled object
  if (!pinned) {
    const Errc code = pinned.status().code() == Errc::store_full ? Errc::store_full : Errc::not_found;
    return Status(code, "get of " + id.to_string() + ": " + pinned.status().message());
  }
  const objstore::ObjectInfo& in = pinned.value();
  ObjectData d;
  d.meta = detail::ObjectMeta{in.size, in.header.type_tag, in.header.aux, in.header.format};
  const std::byte* payload = arena_->at(in.payload_offset());
  d.bytes = ByteView(payload, in.size);
  Core* core = this;
  d.keep = std::shared_ptr<const void>(payload, [core, id](const void*) {
    GateGuard g(core->gate_);
    if (g && core->table_) (void)core->table_->unpin(id);
  });
  return d;
}

std::optional<Result<ObjectData>> Core::try_local(const ObjectId& id) {
  if (!accepting_.load(std::memory_order_relaxed)) return std::nullopt;  // fetch() says why
  Ownership::LocalRead l = own_.local_read(id);
  switch (l.kind) {
    case Ownership::LocalRead::Kind::none:
    case Ownership::LocalRead::Kind::pending:
      return std::nullopt;
    case Ownership::LocalRead::Kind::value:
      return Result<ObjectData>(ObjectData{l.meta, ByteView(*l.value), std::move(l.value)});
    case Ownership::LocalRead::Kind::failed:
      return Result<ObjectData>(std::move(l.error));
    case Ownership::LocalRead::Kind::arena:
      if (auto d = read_local(id)) return d;
      return std::nullopt;  // freed or dropped meanwhile: the owner decides
  }
  return std::nullopt;
}

std::optional<Result<ObjectData>> Core::wait_owned(const ObjectId& id,
                                                   std::optional<std::chrono::steady_clock::time_point> deadline,
                                                   std::chrono::milliseconds waited) {
  // The entry is re-read (under the ownership lock, which handlers need too)
  // after a poll that did something, and every 16th empty poll otherwise (the
  // completion may have been handled by another thread).
  // Adaptive progress mode bounds the polling: once the transport's spin
  // limit passed with no poll doing anything, nullopt (fetch() then sleeps).
  using steady = std::chrono::steady_clock;
  const std::chrono::nanoseconds limit = t_.spin_limit();
  const bool bounded = limit != std::chrono::nanoseconds::max();
  const steady::time_point start = bounded ? steady::now() : steady::time_point{};
  steady::time_point last = start;
  bool look = true;
  for (unsigned n = 1;; ++n) {
    if (!accepting_.load(std::memory_order_relaxed)) return std::nullopt;  // fetch() says why
    // Not (or no longer) pending, including an id that is not ours: try_local or fetch() decides.
    if (look && own_.local_read(id).kind != Ownership::LocalRead::Kind::pending) {
      if (bounded) t_.spin_outcome(true, steady::now() - start);
      return try_local(id);
    }
    const bool did = t_.poll_once();
    look = did || n % 16 == 0;
    if (did && bounded) last = steady::now();
    if (n % 64 != 0) continue;
    if (deadline && std::chrono::steady_clock::now() >= *deadline)
      return Result<ObjectData>(detail::get_timeout_error(id, waited));
    if (bounded && steady::now() - last >= limit) {
      t_.before_sleep();
      return std::nullopt;
    }
  }
}

Core::FetchPtr Core::join_or_start(const ObjectId& id, bool remote, Future<ObjectData>& waiter) {
  Promise<ObjectData> p(progressor_);
  waiter = p.get_future();
  MutexLock lock(fetch_mu_);
  if (remote) {
    auto it = inflight_.find(id);
    if (it != inflight_.end()) {
      it->second->waiters.push_back(std::move(p));
      return nullptr;
    }
  }
  auto f = std::make_shared<Fetch>();
  f->id = id;
  f->remote = remote;
  f->request = next_request_++;
  f->waiters.push_back(std::move(p));
  requests_[f->request] = f;
  if (remote) inflight_[id] = f;
  return f;
}

Future<ObjectData> Core::fetch(const ObjectId& id, bool local_checked) {
  if (!accepting_.load())
    return ready(Status(Errc::shut_down, "get of " + id.to_string() + " on rank " + std::to_string(self_) +
                                             ": the ferry runtime is shutting down"));
  if (id.owner() >= size_)
    return ready(Status(Errc::not_found, "get of " + id.to_string() + ": owner rank " + std::to_string(id.owner()) +
                                             " is outside this job of " + std::to_string(size_) +
                                             " ranks (a ref from another job, or a corrupted id)"));
  if (!local_checked)
    if (auto d = try_local(id)) return ready(std::move(*d));
  Future<ObjectData> fut;
  if (id.owner() == self_) {
    FetchPtr f = join_or_start(id, false, fut);
    std::uint64_t request;
    {
      MutexLock lock(fetch_mu_);
      request = f->request;
    }
    run(own_.locate(id, self_, request));
    return fut;
  }
  if (own_.is_dead(id.owner())) return ready(owner_died(id, "failure detected earlier"));
  if (FetchPtr f = join_or_start(id, true, fut)) {
    if (trace::on()) trace::async_begin("fetch", id, 0);
    send_locate(f, kInvalidRank);
  }
  return fut;
}

void Core::send_locate(const FetchPtr& f, Rank bad_holder) {
  std::uint64_t request;
  {
    MutexLock lock(fetch_mu_);
    request = f->request;
  }
  const Rank owner = f->id.owner();
  auto sent = t_.send_owned(owner, proto::kLocate, proto::encode(proto::Locate{request, f->id, bad_holder}));
  std::move(sent).then([this, f, owner](Result<void>&& r) {
    if (r) return;
    GateGuard g(gate_);
    if (!g) return;
    const Status& why = r.status();
    if (why.code() == Errc::peer_failed || own_.is_dead(owner)) return finish(f, owner_died(f->id, why.message()));
    finish(f, Status(why.code(), "get of " + f->id.to_string() + " on rank " + std::to_string(self_) +
                                     ": cannot ask its owner rank " + std::to_string(owner) + ": " + why.message()));
  });
}

void Core::send_read_done(const ObjectId& id, std::uint64_t lease, std::optional<std::uint64_t> cached_offset) {
  if (id.owner() == self_) return run(own_.read_done(id, self_, lease, cached_offset));
  send(id.owner(), proto::kReadDone,
       proto::encode(proto::ReadDone{id, lease, cached_offset.has_value(), cached_offset.value_or(0)}));
}

void Core::on_reply_msg(Rank src, ByteView p) {
  auto d = proto::decode_reply(p, src);
  if (!d) return report(d.status());
  if (d.value().id.owner() != src)
    return report(Status(Errc::malformed_message, "rank " + std::to_string(src) + " answered a request for " +
                                                      d.value().id.to_string() + ", which it does not own"));
  on_reply(d.value().request, d.value().id, std::move(d.value().body), d.value().payload);
}

void Core::on_reply(std::uint64_t request, const ObjectId& id, LocateReply&& body, ByteView payload) {
  FetchPtr f;
  {
    MutexLock lock(fetch_mu_);
    auto it = requests_.find(request);
    if (it != requests_.end() && it->second->id == id) {
      f = it->second;
      requests_.erase(it);
    }
  }
  if (!f) {  // nobody waits any more (the fetch failed meanwhile): give the lease back
    if (body.kind == ReplyKind::at_holder && body.lease != 0) send_read_done(id, body.lease, std::nullopt);
    return;
  }
  switch (body.kind) {
    case ReplyKind::error:
      return finish(f, std::move(body.error));
    case ReplyKind::value: {
      SharedBytes v = body.value ? body.value : std::make_shared<const Bytes>(payload.begin(), payload.end());
      if (id.owner() != self_) own_.cache_value(id, body.meta, v);
      return finish(f, ObjectData{body.meta, ByteView(*v), v});
    }
    case ReplyKind::from_arena:
      return finish(f, Status(Errc::internal, "get of " + id.to_string() + ": a local reply asked for an inline copy"));
    case ReplyKind::at_holder:
      if (body.where.rank == self_) {
        if (body.lease != 0) send_read_done(id, body.lease, std::nullopt);
        return finish(f, read_local(id));
      }
      return start_get(f, body);
  }
}

void Core::start_get(const FetchPtr& f, const LocateReply& body) {
  GetTarget g;
  g.id = f->id;
  g.meta = body.meta;
  g.where = body.where;
  g.lease = body.lease;
  const Rank h = g.where.rank;
  const auto* key = h < keys_.size() ? keys_[h].get() : nullptr;
  const bool too_big = g.meta.size > std::numeric_limits<std::uint64_t>::max() - objstore::kHeaderBytes;
  g.total = too_big ? 0 : objstore::kHeaderBytes + g.meta.size;
  if (!key || too_big || g.total > key->remote_length() || g.where.offset > key->remote_length() - g.total) {
    send_read_done(g.id, g.lease, std::nullopt);
    return finish(f, Status(Errc::malformed_message,
                            "get of " + g.id.to_string() + ": owner rank " + std::to_string(g.id.owner()) +
                                " pointed at " + std::to_string(g.total) + " bytes at offset " +
                                std::to_string(g.where.offset) + " of rank " + std::to_string(h) +
                                "'s arena, which is not there (corrupted reply?)"));
  }
  // Land it in our arena as a cached copy; if the store is full (or a copy
  // already exists) read into a private buffer instead.
  if (g.id.owner() != self_) {
    StorePressure::CachingScope caching;  // a cached copy never spills primaries to make room
    auto created = table_->create(g.id, g.meta.size, g.meta.type_tag, g.meta.format, g.meta.aux);
    if (created) {
      g.cached = true;
      g.local_offset = created.value().offset;
      g.dst = arena_->at(g.local_offset);
    }
  }
  if (!g.cached) {
    g.heap = std::shared_ptr<std::byte[]>(new std::byte[g.total]);
    g.dst = g.heap.get();
  }
  {
    MutexLock lock(fetch_mu_);
    ++gets_in_flight_;
  }
  if (trace::on()) g.t0 = trace::now();
  auto got = t_.get(*key, key->remote_base() + g.where.offset, g.dst, g.total);
  std::move(got).then([this, f, g = std::move(g)](Result<void>&& r) { get_done(f, g, std::move(r)); });
}

void Core::get_done(const FetchPtr& f, const GetTarget& g, Result<void>&& r) {
  GateGuard guard(gate_);
  auto get_ended = [this] {
    MutexLock lock(fetch_mu_);
    --gets_in_flight_;
    fetch_cv_.notify_all();
  };
  if (g.t0 != 0 && trace::on()) trace::complete("transfer", g.t0, g.total, g.id);
  if (!guard) return get_ended();  // shut down meanwhile: the arena was kept (leaked) for us
  const Rank owner = g.id.owner(), holder = g.where.rank;
  Status failure = r.status();
  if (r) {
    objstore::HeaderExpectation expect;
    expect.id = g.id;
    expect.max_size = g.meta.size;
    auto h = objstore::validate_header(std::span<const std::byte>(g.dst, g.total), expect);
    if (!h) failure = h.status();
    else if (h.value().size != g.meta.size || h.value().type_tag != g.meta.type_tag)
      failure = Status(Errc::malformed_message, "corrupted header: size/type differ from what the owner reported");
  }
  if (!failure.is_ok()) {
    if (g.cached) (void)table_->free(g.id);
    send_read_done(g.id, g.lease, std::nullopt);
    get_ended();
    if (holder != owner && retry_elsewhere(f, holder)) return;
    const std::string what = "get of " + g.id.to_string() + " on rank " + std::to_string(self_) + ": reading " +
                             std::to_string(g.total) + " bytes from rank " + std::to_string(holder) + " failed: ";
    if (own_.is_dead(owner) || (!r && holder == owner && failure.code() == Errc::peer_failed))
      return finish(f, owner_died(g.id, failure.message()));
    return finish(f, Status(failure.code(), what + failure.message()));
  }
  Result<ObjectData> data = Status(Errc::internal, "unset");
  std::optional<std::uint64_t> kept;
  if (g.cached) {
    if (Status s = table_->seal(g.id); !s) {
      (void)table_->free(g.id);
      data = s;
    } else {
      data = read_local(g.id);  // pinned for the waiters
      Actions a = own_.add_copy(g.id, g.local_offset);
      if (a.free_local.empty()) kept = g.local_offset;
      run(std::move(a));
    }
  } else {
    data = ObjectData{g.meta, ByteView(g.dst + objstore::kHeaderBytes, g.meta.size), g.heap};
  }
  send_read_done(g.id, g.lease, kept);
  finish(f, std::move(data));
  get_ended();
}

bool Core::retry_elsewhere(const FetchPtr& f, Rank bad_holder) {
  if (own_.is_dead(f->id.owner())) return false;
  {
    MutexLock lock(fetch_mu_);
    if (f->done || f->attempts >= kMaxAttempts) return false;
    ++f->attempts;
    f->request = next_request_++;
    requests_[f->request] = f;
  }
  spdlog::debug("ferry[{}]: re-reading {} (holder rank {} failed)", self_, f->id.to_string(), bad_holder);
  send_locate(f, bad_holder);
  return true;
}

void Core::finish(const FetchPtr& f, Result<ObjectData> r) {
  std::vector<Promise<ObjectData>> waiters;
  {
    MutexLock lock(fetch_mu_);
    if (f->done) return;
    f->done = true;
    waiters.swap(f->waiters);
    auto req = requests_.find(f->request);
    if (req != requests_.end() && req->second == f) requests_.erase(req);
    if (f->remote) {
      auto it = inflight_.find(f->id);
      if (it != inflight_.end() && it->second == f) inflight_.erase(it);
    }
    fetch_cv_.notify_all();
  }
  if (f->remote) {
    const std::size_t bytes = r ? r.value().bytes.size() : 0;
    if (r) metrics::add(metrics::C::remote_reads);
    metrics::add(metrics::C::remote_read_bytes, bytes);
    if (trace::on()) trace::async_end("fetch", f->id, 0, bytes);
  }
  for (std::size_t i = 0; i + 1 < waiters.size(); ++i) waiters[i].set_result(r);
  if (!waiters.empty()) waiters.back().set_result(std::move(r));
}

void Core::fail_fetches_of(Rank owner, const std::string& why) {
  std::vector<FetchPtr> victims;
  {
    MutexLock lock(fetch_mu_);
    for (auto& [id, f] : inflight_)
      if (id.owner() == owner) victims.push_back(f);
  }
  for (auto& f : victims) finish(f, owner_died(f->id, why));
}

}  // namespace ferry::rt
