// core.h — one rank's runtime engine (internal): the object-store arena and
// table, the Ownership core, the arena keys of every peer, and the handlers
// of the object protocol (protocol.h). The public Runtime and the object API
// (api.cc) are thin layers over it.
//
// Split: core.cc = start-up, owner/holder side (locate, read-done, drop,
// peer failure), action execution and shutdown; fetch.cc = reader side
// (local reads, remote location requests, one-sided gets into the arena).
//
// Reading an object (reader R, owner O):
//   R == O: Ownership::locate(self) answers at once (own arena, pinned).
//   R != O: cached copy / cached small value here -> done. Else one Fetch per
//   id (concurrent readers join it): kLocate to O; O replies with the bytes
//   (<= inline_bytes) or a holder + lease; R allocates a block for the object
//   in its own arena, gets header + payload one-sided from the holder,
//   validates the header, seals it as a cached copy and sends kReadDone
//   (lease back, copy announced). A failed read from a secondary holder is
//   retried (<= 3 times) with that holder reported bad.
//
// Lifetime: Cores are never destroyed (api.cc retains them; a few hundred
// bytes once shut down), so handlers, continuations and ObjectRefs racing
// with shutdown see a closed Gate instead of freed memory. Everything heavy
// (arena, table, keys, maps, executor threads) is released by shutdown().
//
// Tasks and actors live in Tasks (tasks.h), which the Core owns and hooks into
// start-up (one allgather: arena key + registry hash + executor threads),
// peer failure and shutdown (drain submitted tasks, then stop executors).
// Tasks and the store-pressure handler (eviction.h) see the Core only as
// CoreServices (core_services.h): no friends.
//
// Thread-safety: handlers run on the transport's progress thread, the object
// API on any thread. Every entry point holds a GateGuard; internal methods
// assume one is held. fetch_mu_ guards the fetch maps; sd_mu_ the shutdown
// barrier; the Ownership and ObjectTable lock themselves. No lock is held
// while calling the transport, the ownership core, or a promise.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "ferry/detail/object_api.h"
#include "ferry/objstore/objstore.h"
#include "ferry/runtime.h"
#include "ferry/transport/transport.h"
#include "core_services.h"
#include "gate.h"
#include "ownership.h"

namespace ferry::rt {
class Tasks;
class StorePressure;
}

namespace ferry::rt {

using detail::ObjectData;
using transport::ByteView;
using transport::Bytes;

class Core final : public CoreServices {
 public:
  // Collective over `boot`. `owned` (may be null) is the transport `t` when the core owns it.
  static Result<std::shared_ptr<Core>> start(transport::Transport& t, std::unique_ptr<transport::Transport> owned,
                                             transport::Bootstrap& boot, const RuntimeOptions& options,
                                             std::uint32_t epoch);
  Core(const Core&) = delete;
  Core& operator=(const Core&) = delete;

  // How shutdown waits for the peers (control.cc documents the sequence):
  //   collective: at most options().shutdown_timeout (0: forever);
  //   serve:      forever (a worker serving a driver), until every live peer arrived or one aborted;
  //               a failed peer fails it (only `driver`'s failure, when given);
  //   abort:      not at all (this rank announced an abort; in-flight work is abandoned).
  enum class ShutdownMode { collective, serve, abort };
  Status shutdown(ShutdownMode mode = ShutdownMode::collective, std::optional<Rank> driver = std::nullopt);
  // Collective over the runtime's messages: returns when every rank called
  // barrier() as often as this one. No timeout; fails when a peer fails or aborts (control.cc).
  Status barrier();
  // Tells every peer this rank aborts with `why` (their barrier/serve/shutdown
  // fail with it), then shuts down without waiting for them (control.cc).
  Status abort(const Status& why);

  std::uint32_t epoch() const noexcept override { return epoch_; }
  Rank rank() const noexcept override { return self_; }
  Rank size() const noexcept override { return size_; }
  transport::Transport& transport() const noexcept override { return t_; }
  const RuntimeOptions& options() const noexcept override { return opts_; }
  Gate& gate() const noexcept override { return gate_; }
  RuntimeStats stats() const;

  // Object API (the caller holds a GateGuard).
  Result<ObjectId> put(const detail::ObjectMeta& meta, std::span<const std::byte> bytes,
                       std::span<const ObjectId> contained = {}) override;
  // As put, but the payload (meta.size bytes) is written in place: `fill` gets the object's
  // arena bytes while it is being created (not readable, not evictable). If fill throws, the
  // object is freed and the exception propagates. fill must not wait on other objects.
  Result<ObjectId> put_in_place(const detail::ObjectMeta& meta, const std::function<void(std::span<std::byte>)>& fill);
  // `local_checked`: the caller has just seen try_local() miss (its check is not repeated).
  Future<ObjectData> fetch(const ObjectId& id, bool local_checked = false) override;
  // The object's bytes if this rank can read them now (owned and ready, a
  // failed task output, or cached here): no message, no future. nullopt: fetch().
  std::optional<Result<ObjectData>> try_local(const ObjectId& id) override;
  // Busy progress mode (the caller checked it and that this rank owns `id`),
  // an object still being computed: the calling thread drives progress and re-reads the ownership entry until
  // it is ready or failed (no fetch, no future), or until `deadline` (an
  // Errc::timeout naming `waited`). nullopt: not applicable, use fetch().
  std::optional<Result<ObjectData>> wait_owned(const ObjectId& id,
                                               std::optional<std::chrono::steady_clock::time_point> deadline,
                                               std::chrono::milliseconds waited);
  void add_ref(const ObjectId& id) override { own_.add_ref(id); }
  // A ref decoded here (ObjectRef::from_id): a valid future when this rank
  // starts borrowing `id` and the caller should wait for the owner's answer
  // (borrow_core.cc) before whatever carried the ref may be dropped.
  Future<void> add_ref_decoded(const ObjectId& id);
  Future<void> uncover(std::span<const ObjectId> covered) override;
  // A value about to be stored or sent holds refs `contained`: put() hands
  // them to the new object's entry; a task result's owner gets kContained.
  void hold_contained(const ObjectId& outer, std::span<const ObjectId> contained) override;
  void remove_ref(const ObjectId& id) override { run(own_.remove_ref(id)); }

  // The task layer (tasks.h); valid until the Core is destroyed (never).
  Tasks& tasks() const noexcept { return *tasks_; }
  bool accepting() const noexcept override { return accepting_.load(); }

  // Testing hook: damages the header checksum of a local object (malformed_message for remote readers).
  Status debug_corrupt_header(const ObjectId& id);

 private:
  // put and put_in_place: creates an owned object of meta.size bytes, fill(payload) writes it, seals it.
  template <class Fill>
  Result<ObjectId> create_owned(const detail::ObjectMeta& meta, std::span<const ObjectId> contained, const Fill& fill);

  // ---- CoreServices only (the task layer and the store-pressure handler)
  Ownership& ownership() noexcept override { return own_; }
  ObjectId new_object_id() override { return ids_.next(); }
  objstore::ObjectTable& table() noexcept override { return *table_; }
  objstore::Arena& arena() noexcept override { return *arena_; }

  struct Fetch;
  using FetchPtr = std::shared_ptr<Fetch>;

  Core(transport::Transport& t, std::unique_ptr<transport::Transport> owned, const RuntimeOptions& options,
       std::uint32_t epoch);
  Status init(transport::Bootstrap& boot);
  Status exchange_startup_info(transport::Bootstrap& boot);
  void install_handlers();
  void release_resources(bool gets_drained);

  // ---- owner / holder side (core.cc)
  void on_locate(Rank src, ByteView p);
  void on_read_done(Rank src, ByteView p);
  void on_drop(Rank src, ByteView p);
  void on_shutdown_msg(Rank src, ByteView p);
  // ---- job control (control.cc)
  void install_control_handlers();
  void on_barrier_msg(Rank src, ByteView p);
  void on_abort_msg(Rank src, ByteView p);
  // A peer's abort, when one arrived.
  std::optional<Status> aborted_locked() const FERRY_REQUIRES(sd_mu_) { return aborted_; }
  // Sends kShutdown and waits until every live peer sent it (nullopt: no deadline). peers_must_live:
  // a peer that failed instead of arriving is an error (serve), else it is skipped; with `driver`,
  // only that peer's failure is an error.
  Status wait_for_peers(std::optional<std::chrono::steady_clock::time_point> deadline, bool peers_must_live,
                        std::optional<Rank> driver = std::nullopt);
  Status drain_own_work(std::chrono::steady_clock::time_point deadline);
  void on_peer_failure(Rank peer, const Status& why);
  void run(Actions&& actions) override;
  // ---- borrowers (borrow_core.cc)
  void install_borrow_handlers();
  void on_borrow_add(Rank src, ByteView p);
  void on_borrow_ack(Rank src, ByteView p);
  void on_borrow_remove(Rank src, ByteView p);
  void on_contained(Rank src, ByteView p);
  void on_release(Rank src, ByteView p);
  void run_borrow(Actions& a);
  void wake_registered(std::uint64_t seq);  // completes every waiter of episode `seq`
  void fail_registrations(const Status& why);
  void send_reply(Reply&& r);
  void send(Rank dst, transport::HandlerId id, Bytes payload) override;
  void report(const Status& s) override;
  bool wait_fetches_drained(std::chrono::steady_clock::time_point deadline);

  // ---- reader side (fetch.cc)
  Result<ObjectData> read_local(const ObjectId& id);
  // Registers a waiter: joins the remote fetch of `id` in flight (returns
  // null) or starts a new fetch (returned; the caller drives it).
  FetchPtr join_or_start(const ObjectId& id, bool remote, Future<ObjectData>& waiter);
  void send_locate(const FetchPtr& f, Rank bad_holder);
  void on_reply_msg(Rank src, ByteView p);
  void on_reply(std::uint64_t request, const ObjectId& id, LocateReply&& body, ByteView payload);
  void start_get(const FetchPtr& f, const LocateReply& body);
  struct GetTarget;
  void get_done(const FetchPtr& f, const GetTarget& g, Result<void>&& r);
  bool retry_elsewhere(const FetchPtr& f, Rank bad_holder);
  void finish(const FetchPtr& f, Result<ObjectData> r);
  void fail_fetches_of(Rank owner, const std::string& why);
  void send_read_done(const ObjectId& id, std::uint64_t lease, std::optional<std::uint64_t> cached_offset);
  Status owner_died(const ObjectId& id, const std::string& why) const;

  const Rank self_, size_;
  const std::uint32_t epoch_;
  const RuntimeOptions opts_;
  transport::Transport& t_;
  std::unique_ptr<transport::Transport> owned_t_;
  std::shared_ptr<Progressor> progressor_;  // non-owning alias of t_
  mutable Gate gate_;
  std::atomic<bool> accepting_{false};
  std::atomic<bool> shut_down_{false};

  std::unique_ptr<objstore::Arena> arena_;
  std::unique_ptr<objstore::ObjectTable> table_;
  std::shared_ptr<StorePressure> pressure_;  // the table's spill handler (eviction.h); reset with the table
  std::vector<std::shared_ptr<transport::RemoteKey>> keys_;  // written in init, read-only after
  objstore::ObjectIdGenerator ids_;
  Ownership own_;
  std::unique_ptr<Tasks> tasks_;  // created in init, stopped by shutdown, never destroyed before the Core

  mutable Mutex fetch_mu_;
  std::condition_variable fetch_cv_;                                             // signalled when a fetch or get ends
  std::unordered_map<std::uint64_t, FetchPtr> requests_ FERRY_GUARDED_BY(fetch_mu_);  // request id -> fetch
  std::unordered_map<ObjectId, FetchPtr> inflight_ FERRY_GUARDED_BY(fetch_mu_);       // remote fetches by id
  std::uint64_t next_request_ FERRY_GUARDED_BY(fetch_mu_) = 1;
  std::size_t gets_in_flight_ FERRY_GUARDED_BY(fetch_mu_) = 0;  // one-sided gets into our memory

  Mutex reg_mu_;
  // episode -> its waiters (a decoder, finished tasks whose done records wait for it)
  std::unordered_multimap<std::uint64_t, Promise<void>> reg_waiters_ FERRY_GUARDED_BY(reg_mu_);

  Mutex sd_mu_;
  std::condition_variable sd_cv_;
  std::vector<bool> sd_arrived_ FERRY_GUARDED_BY(sd_mu_);
  std::vector<std::uint64_t> barrier_seen_ FERRY_GUARDED_BY(sd_mu_);  // barriers each peer has entered
  std::uint64_t barrier_gen_ FERRY_GUARDED_BY(sd_mu_) = 0;            // barriers this rank has entered
  std::optional<Status> aborted_ FERRY_GUARDED_BY(sd_mu_);            // a peer's (or this rank's) abort
};

// One read of a remote object (or a local read of an owned one), shared by
// every thread waiting for the same id.
struct Core::Fetch {
  ObjectId id;
  bool remote = false;                       // in inflight_ (owner is another rank)
  std::uint64_t request = 0;                 // guarded by fetch_mu_ (changes on retry)
  int attempts = 0;                          // guarded by fetch_mu_
  bool done = false;                         // guarded by fetch_mu_
  std::vector<Promise<ObjectData>> waiters;  // guarded by fetch_mu_
};

// Where one one-sided get lands.
struct Core::GetTarget {
  ObjectId id;
  detail::ObjectMeta meta;
  Location where;
  std::uint64_t lease = 0;
  std::byte* dst = nullptr;
  std::size_t total = 0;              // header + payload
  bool cached = false;                // dst is a new block of our table (a copy to keep)
  std::uint64_t local_offset = 0;     // its offset, when cached
  std::shared_ptr<std::byte[]> heap;  // dst's owner otherwise
  std::uint64_t t0 = 0;               // trace::now() when the one-sided get was posted (tracing on)
};

}  // namespace ferry::rt
