// core.cc — start-up, the owner/holder side of the object protocol, action
// execution and shutdown (see core.h; the reader side is fetch.cc).
//
// Thread-safety: see core.h. Handlers are wrapped so they run only while the
// gate is open; run() executes Ownership actions with no lock held.
#include "core.h"

#include <spdlog/spdlog.h>

#include <cstring>
#include <thread>

#include "eviction.h"
#include "ferry/transport/startup_profile.h"
#include "metrics.h"
#include "observe.h"
#include "protocol.h"
#include "registry.h"
#include "tasks.h"
#include "trace.h"
#include "wire_io.h"

namespace ferry::rt {

void Gate::close_and_drain() noexcept {
  closed_.store(true);
  while (active_.load() > 0) std::this_thread::sleep_for(std::chrono::microseconds(100));
}

Core::Core(transport::Transport& t, std::unique_ptr<transport::Transport> owned, const RuntimeOptions& options,
           std::uint32_t epoch)
    : self_(t.rank()),
      size_(t.size()),
      epoch_(epoch),
      opts_(options),
      t_(t),
      owned_t_(std::move(owned)),
      progressor_(std::shared_ptr<void>(), &t),
      ids_(t.rank()),
      own_(t.rank(), options.inline_bytes),
      sd_arrived_(t.size(), false) {}

Result<std::shared_ptr<Core>> Core::start(transport::Transport& t, std::unique_ptr<transport::Transport> owned,
                                          transport::Bootstrap& boot, const RuntimeOptions& options,
                                          std::uint32_t epoch) {
  if (boot.rank() != t.rank() || boot.size() != t.size())
    return Status(Errc::invalid_argument, "ferry runtime: bootstrap (rank " + std::to_string(boot.rank()) + " of " +
                                              std::to_string(boot.size()) + ") and transport (rank " +
                                              std::to_string(t.rank()) + " of " + std::to_string(t.size()) +
                                              ") disagree; pass the bootstrap the transport was made with");
  const std::size_t max_inline = t.options().max_am_bytes - proto::kReplyFixedBytes;
  if (t.options().max_am_bytes <= proto::kReplyFixedBytes || options.inline_bytes > max_inline)
    return Status(Errc::invalid_argument, "ferry runtime: FERRY_INLINE_BYTES=" + std::to_string(options.inline_bytes) +
                                              " does not fit in an active message (FERRY_MAX_AM_BYTES=" +
                                              std::to_string(t.options().max_am_bytes) + "); lower it");
  std::shared_ptr<Core> core(new Core(t, std::move(owned), options, epoch));
  if (Status s = core->init(boot); !s) {
    if (core->tasks_) core->tasks_->stop();
    observe::stop(*core);
    core->gate_.close_and_drain();
    core->release_resources(true);
    if (core->owned_t_) {  // its handlers go with it
      core->owned_t_.reset();
      return s;
    }
    // Its handlers are still installed on the caller's transport: like every core, it is never freed.
    static std::mutex failed_mu;
    static auto* failed = new std::vector<std::shared_ptr<Core>>();
    std::lock_guard<std::mutex> lock(failed_mu);
    failed->push_back(core);
    return s;
  }
  core->accepting_.store(true);
  return core;
}

Status Core::init(transport::Bootstrap& boot) {
  if (Status s = observe::start(*this); !s) return s;
  auto arena = objstore::Arena::create_registered(t_, {opts_.store_bytes, self_});
  if (!arena) return arena.status();
  transport::startup_mark(self_, "runtime_arena");
  arena_ = std::move(arena).value();
  auto prefault = objstore::resolve_prefault_bytes(arena_->capacity());
  if (!prefault) return prefault.status();
  arena_->start_prefault({.ahead = *prefault});
  table_ = std::make_unique<objstore::ObjectTable>(*arena_);
  pressure_ = std::make_shared<StorePressure>(*this);
  table_->set_spill_handler(pressure_);
  if (Status s = registry_conflicts(); !s && opts_.check_registry) return s;
  tasks_ = std::make_unique<Tasks>(*this, opts_.executor_threads ? opts_.executor_threads : default_executor_threads());
  install_handlers();
  tasks_->install_handlers();
  install_control_handlers();
  // One allgather: every rank's arena key, registry hash and executor threads;
  // it also proves every rank installed its handlers before anyone sends.
  transport::startup_mark(self_, "runtime_handlers");
  if (Status s = exchange_startup_info(boot); !s) return s;
  transport::startup_mark(self_, "runtime_keys");
  observe::started_sync();
  return Status::ok();
}

Status Core::exchange_startup_info(transport::Bootstrap& boot) {
  const auto listing = registry_listing();
  const std::uint64_t reg_hash = listing_hash(listing);
  proto::Writer w(64 + arena_->packed_key().size());
  w.u32(static_cast<std::uint32_t>(arena_->packed_key().size()));
  w.bytes(arena_->packed_key());
  w.u64(reg_hash);
  w.u32(tasks_->threads());
  w.u8(opts_.check_registry ? 1 : 0);
  const Bytes mine = w.take();
  auto all = boot.allgather(mine);
  if (!all) return all.status();
  if (all.value().size() != size_)
    return Status(Errc::bootstrap_failed, "ferry runtime: key exchange returned " +
                                              std::to_string(all.value().size()) + " keys for " +
                                              std::to_string(size_) + " ranks");
  keys_.resize(size_);
  bool differ = false, anyone_checks = false;
  for (Rank p = 0; p < size_; ++p) {
    proto::Reader r(all.value()[p], p, "runtime start-up");
    std::uint32_t key_len = 0, threads = 0;
    std::uint64_t their_hash = 0;
    std::uint8_t check = 0;
    ByteView key;
    if (!r.u32(key_len) || !r.bytes(key_len, key) || !r.u64(their_hash) || !r.u32(threads) || !r.u8(check))
      return r.truncated();
    differ = differ || their_hash != reg_hash;
    anyone_checks = anyone_checks || check != 0;
    tasks_->set_peer_threads(p, threads);
    if (p == self_) continue;
    auto unpacked = t_.unpack_key(p, key);
    if (!unpacked)
      return Status(unpacked.status().code(), "ferry runtime on rank " + std::to_string(self_) +
                                                  ": cannot unpack the arena key of rank " + std::to_string(p) + ": " +
                                                  unpacked.status().message());
    keys_[p] = std::move(unpacked).value();
  }
  if (!differ || !anyone_checks) return Status::ok();
  // Registries differ: every rank saw that, so every rank joins this second round.
  auto lists = boot.allgather(encode_listing(listing));
  if (!lists) return lists.status();
  if (!opts_.check_registry) return Status::ok();
  for (Rank p = 0; p < size_ && p < lists.value().size(); ++p) {
    if (p == self_) continue;
    auto theirs = decode_listing(lists.value()[p]);
    if (!theirs) return theirs.status();
    if (Status s = compare_listings(listing, self_, theirs.value(), p); !s)
      return Status(s.code(), "ferry runtime start on rank " + std::to_string(self_) +
                                  ": the remote function registries differ: " + s.message());
  }
  return Status::ok();
}

void Core::install_handlers() {
  auto wrap = [this](void (Core::*fn)(Rank, ByteView)) {
    return [this, fn](Rank src, ByteView p) {
      HandlerScope in_handler;
      GateGuard g(gate_);
      if (g) (this->*fn)(src, p);
    };
  };
  auto check = [this](Status s) {
    if (!s) report(s);
  };
  check(t_.set_handler(proto::kLocate, wrap(&Core::on_locate)));
  check(t_.set_handler(proto::kLocateReply, wrap(&Core::on_reply_msg)));
  check(t_.set_handler(proto::kReadDone, wrap(&Core::on_read_done)));
  check(t_.set_handler(proto::kDropCopy, wrap(&Core::on_drop)));
  check(t_.set_handler(proto::kShutdown, wrap(&Core::on_shutdown_msg)));
  install_borrow_handlers();
  pressure_->install_handlers();
  t_.on_peer_failure([this](Rank peer, const Status& why) {
    GateGuard g(gate_);
    if (g) on_peer_failure(peer, why);
  });
}

void Core::report(const Status& s) { spdlog::warn("ferry[{}] runtime: {}", self_, s.to_string()); }

void Core::send(Rank dst, transport::HandlerId id, Bytes payload) {
  // Failures to a dead peer are expected (its state is cleaned up by
  // on_peer_failure); nothing waits on these sends.
  (void)t_.send_owned(dst, id, std::move(payload));
}

// ------------------------------------------------------------------ put

Result<ObjectId> Core::put(const detail::ObjectMeta& meta, std::span<const std::byte> bytes,
                          std::span<const ObjectId> contained) {
  return create_owned(meta, contained, [&](std::span<std::byte> out) {
    if (!bytes.empty()) std::memcpy(out.data(), bytes.data(), bytes.size());
  });
}

Result<ObjectId> Core::put_in_place(const detail::ObjectMeta& meta,
                                    const std::function<void(std::span<std::byte>)>& fill) {
  return create_owned(meta, {}, fill);
}

template <class Fill>
Result<ObjectId> Core::create_owned(const detail::ObjectMeta& meta, std::span<const ObjectId> contained,
                                    const Fill& fill) {
  if (!accepting_.load())
    return Status(Errc::shut_down, "put on rank " + std::to_string(self_) + ": the ferry runtime is shutting down");
  const ObjectId id = ids_.next();
  auto info = table_->create(id, meta.size, meta.type_tag, meta.format, meta.aux);
  if (!info) return info.status();
  try {
    fill(std::span<std::byte>(arena_->at(info.value().payload_offset()), meta.size));
  } catch (...) {
    (void)table_->free(id);
    throw;
  }
  if (Status s = table_->seal(id); !s) {
    (void)table_->free(id);
    return s;
  }
  if (Status s = own_.add_owned(id, meta, Location{self_, info.value().offset}); !s) {
    (void)table_->free(id);
    return s;
  }
  if (!contained.empty()) run(own_.add_contained(id, contained, kInvalidRank));
  return id;
}

// ------------------------------------------------------------------ owner / holder handlers

void Core::on_locate(Rank src, ByteView p) {
  auto m = proto::decode_locate(p, src);
  if (!m) return report(m.status());
  run(own_.locate(m.value().id, src, m.value().request, m.value().bad_holder));
}

void Core::on_read_done(Rank src, ByteView p) {
  auto m = proto::decode_read_done(p, src);
  if (!m) return report(m.status());
  const auto& d = m.value();
  run(own_.read_done(d.id, src, d.lease, d.cached ? std::optional<std::uint64_t>(d.offset) : std::nullopt));
  pressure_->lease_done(src, d.lease);
}

void Core::on_drop(Rank src, ByteView p) {
  auto id = proto::decode_drop(p, src);
  if (!id) return report(id.status());
  if (id.value().owner() != src)
    return report(Status(Errc::malformed_message, "rank " + std::to_string(src) + " asked rank " +
                                                      std::to_string(self_) + " to drop its copy of " +
                                                      id.value().to_string() + ", which it does not own"));
  run(own_.drop_copy(id.value()));
}

void Core::on_shutdown_msg(Rank src, ByteView p) {
  if (Status s = proto::check_shutdown(p, src); !s) return report(s);
  MutexLock lock(sd_mu_);
  sd_arrived_[src] = true;
  sd_cv_.notify_all();
}

void Core::on_peer_failure(Rank peer, const Status& why) {
  metrics::add(metrics::C::peers_failed);
  if (trace::on()) trace::instant("peer_failed", {}, peer);  // bytes = the failed rank
  tasks_->mark_dead(peer);  // re-made outputs (own_.peer_failed -> reconstruct) avoid it
  run(own_.peer_failed(peer));
  pressure_->reader_failed(peer);
  tasks_->peer_failed(peer, why);
  fail_fetches_of(peer, why.to_string());
  MutexLock lock(sd_mu_);
  sd_cv_.notify_all();
}

void Core::run(Actions&& a) {
  for (const ObjectId& id : a.free_local) {
    if (Status s = table_->free(id); !s && s.code() != Errc::not_found) report(s);
  }
  for (const Drop& d : a.drop_copies) {
    if (d.holder == self_) run(own_.drop_copy(d.id));
    else send(d.holder, proto::kDropCopy, proto::encode_drop(d.id));
  }
  for (Reply& r : a.replies) {
    if (r.reader == self_) on_reply(r.request, r.id, std::move(r.body), {});
    else send_reply(std::move(r));
  }
  run_borrow(a);
  if (tasks_ && !a.forget_lineage.empty()) tasks_->forget_lineage(a.forget_lineage);
  if (tasks_ && !a.reconstruct.empty()) tasks_->reconstruct(a.reconstruct);
}

void Core::send_reply(Reply&& r) {
  if (r.body.kind == ReplyKind::value) {
    const Bytes& v = *r.body.value;
    return send(r.reader, proto::kLocateReply, proto::encode_reply(r, v));
  }
  if (r.body.kind == ReplyKind::at_holder && r.body.where.rank == self_ && r.body.lease != 0) {
    // Our own block: pinned (restored if spilled) until the reader's kReadDone; its offset may have moved.
    auto pinned = pressure_->pin_for_lease(r.reader, r.body.lease, r.id);
    if (pinned) {
      r.body.where.offset = pinned.value().offset;
    } else {
      run(own_.read_done(r.id, r.reader, r.body.lease, std::nullopt));
      r.body.kind = ReplyKind::error;
      r.body.error = Status(pinned.status().code(), "get of " + r.id.to_string() + " from its owner rank " +
                                                        std::to_string(self_) + ": " + pinned.status().message());
    }
  }
  if (r.body.kind != ReplyKind::from_arena) return send(r.reader, proto::kLocateReply, proto::encode_reply(r, {}));
  // Small object in our arena: copy its payload into the reply under a pin.
  auto info = table_->pin(r.id);
  if (!info) {
    r.body.kind = ReplyKind::error;
    r.body.error = Status(Errc::not_found, "object " + r.id.to_string() + " was freed on its owner rank " +
                                               std::to_string(self_) + " while being read");
    return send(r.reader, proto::kLocateReply, proto::encode_reply(r, {}));
  }
  // The reader cannot check a header it never sees: check it here (64 bytes).
  objstore::HeaderExpectation expect;
  expect.id = r.id;
  expect.type_tag = r.body.meta.type_tag;
  auto header = objstore::validate_header(ByteView(arena_->at(info.value().offset), objstore::kHeaderBytes), expect);
  Bytes msg;
  if (!header) {
    r.body.kind = ReplyKind::error;
    r.body.error = Status(header.status().code(), "get of " + r.id.to_string() + " from its owner rank " +
                                                      std::to_string(self_) + ": " + header.status().message());
    report(r.body.error);
    msg = proto::encode_reply(r, {});
  } else {
    msg = proto::encode_reply(r, ByteView(arena_->at(info.value().payload_offset()), info.value().size));
  }
  (void)table_->unpin(r.id);
  send(r.reader, proto::kLocateReply, std::move(msg));
}

Status Core::debug_corrupt_header(const ObjectId& id) {
  auto info = table_->pin(id);
  if (!info) return info.status();
  std::byte* h = arena_->at(info.value().offset);
  h[56] ^= std::byte{0x5A};  // checksum field
  return table_->unpin(id);
}

// ------------------------------------------------------------------ stats & shutdown

RuntimeStats Core::stats() const {
  RuntimeStats s;
  GateGuard g(gate_);
  if (!g) return s;
  OwnershipStats o = own_.stats();
  s.owned = o.owned;
  s.leases = o.leases;
  s.secondary = o.secondary;
  s.borrowed = o.borrowed;
  s.cached_values = o.values;
  s.copies = o.copies;
  s.tasks_pending = tasks_ ? tasks_->pending() : 0;
  s.executor_load = tasks_ ? tasks_->executor_load() : 0;
  {
    MutexLock lock(fetch_mu_);
    s.fetches = inflight_.size();
  }
  objstore::TableStats ts = table_->stats();
  s.store_objects = ts.objects;
  s.store_used = ts.arena.used;
  s.store_capacity = ts.arena.capacity;
  s.store_high_water = ts.arena.high_water;
  if (const objstore::Prefaulter* p = arena_->prefaulter()) s.store_prefault_pending = p->pending();
  s.owned_bytes = ts.owned_bytes;
  s.cached_bytes = ts.foreign_bytes;
  return s;
}

bool Core::wait_fetches_drained(std::chrono::steady_clock::time_point deadline) {
  MutexUniqueLock lock(fetch_mu_);
  while (!inflight_.empty() || gets_in_flight_ != 0)
    if (fetch_cv_.wait_until(lock.native(), deadline) == std::cv_status::timeout)
      return inflight_.empty() && gets_in_flight_ == 0;
  return true;
}

Status Core::shutdown(ShutdownMode mode, std::optional<Rank> driver) {
  if (shut_down_.exchange(true)) return Status::ok();
  // The sequence and why it is safe: control.cc.
  auto deadline_from_now = [&] { return std::chrono::steady_clock::now() + opts_.shutdown_timeout; };
  Status result;
  if (mode != ShutdownMode::abort) {
    const bool bounded = mode == ShutdownMode::collective && opts_.shutdown_timeout.count() > 0;
    const auto drain_deadline = bounded ? deadline_from_now() : std::chrono::steady_clock::now() + std::chrono::hours(24 * 365);
    result = drain_own_work(drain_deadline);
    if (Status s = wait_for_peers(bounded ? std::optional(deadline_from_now()) : std::nullopt,
                                  mode == ShutdownMode::serve, driver);
        !s && result.is_ok())
      result = s;
  }
  accepting_.store(false);
  if (mode != ShutdownMode::abort && result.is_ok()) result = drain_own_work(deadline_from_now());
  if (tasks_) tasks_->stop();  // executor threads hold GateGuards while they run
  observe::stop(*this);        // final metrics and trace while stats() still answers
  gate_.close_and_drain();
  bool drained = false;
  {
    MutexLock lock(fetch_mu_);
    drained = gets_in_flight_ == 0;
  }
  release_resources(drained);
  if (owned_t_) {
    if (Status s = owned_t_->shutdown(); !s && result.is_ok()) result = s;
    owned_t_.reset();
  }
  if (!result && mode == ShutdownMode::collective) report(result);  // serve/abort: the caller says it
  return result;
}

void Core::release_resources(bool gets_drained) {
  fail_registrations(Status(Errc::shut_down, "the ferry runtime on rank " + std::to_string(self_) + " shut down"));
  // Local waiters of pending objects learn about the shutdown.
  Actions a = own_.clear();
  for (Reply& r : a.replies)
    if (r.reader == self_) on_reply(r.request, r.id, std::move(r.body), {});
  std::vector<FetchPtr> left;
  {
    MutexLock lock(fetch_mu_);
    for (auto& [req, f] : requests_) left.push_back(f);
  }
  for (auto& f : left)
    finish(f, Status(Errc::shut_down, "get of " + f->id.to_string() + " on rank " + std::to_string(self_) +
                                          ": the ferry runtime shut down"));
  table_.reset();
  pressure_.reset();  // removes this rank's spill directory
  keys_.clear();
  if (arena_) arena_->stop_prefault();
  if (arena_ && !gets_drained) {
    // A one-sided get may still write into the arena: keep the mapping (leak)
    // rather than let the transport write into freed memory.
    report(Status(Errc::timeout, "runtime shutdown: one-sided gets still in flight; the object-store arena is "
                                 "leaked instead of unmapped"));
    (void)arena_.release();
    return;
  }
  arena_.reset();
}

}  // namespace ferry::rt
