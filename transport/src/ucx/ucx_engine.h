// ucx_engine.h — the UCX backend's internal engine (one per Transport).
//
// Purpose: everything the UCX backend does lives in Engine: the UCP context and
// its single worker, one endpoint per peer, the active-message (AM) send and
// receive paths with a per-peer reorder buffer, memory registration and
// one-sided gets, the progress thread, liveness (heartbeats) and shutdown.
// common::EngineTransport (common/engine_transport.h) is a thin facade that owns a shared_ptr to it.
// Files: ucx_transport.cc (set-up, shutdown, teardown), ucx_am.cc (AM send and
// receive, reorder, dispatch), ucx_rndv.cc (rendezvous receives),
// ucx_rma.cc (registration, keys, get), ucx_progress.cc (progress thread,
// op bookkeeping, liveness, failures), ucx_buffer.* (receive buffers).
// Parts with their own state and contract: ucx_ops.h (Op, per-peer OpList,
// OpPool; under mu_), ucx_ready.h (the ready queue and its Dispatcher: pushed
// under mu_, run without it), common::ActivityFlags and common::Liveness
// (lock-free activity notes, folded by the progress thread).
//
// Threading model — UCS_THREAD_MODE_SERIALIZED plus our own mutex `mu_`:
//   * mu_ guards the worker AND all per-peer state (ep, seq counters, reorder
//     buffers, pending-op lists). We need such a lock anyway so that seq
//     assignment, op bookkeeping and the UCX call form one atomic step; MULTI
//     mode would add UCX's own lock under ours for nothing. It also makes
//     poll_once() a cheap try_lock.
//   * UCX callbacks (AM receive, send/get/recv completion, ep error) only run
//     inside UCX calls we make with mu_ held. They never call user code: they
//     push entries (deliveries, promise completions) onto the ready queue and
//     record errors/failures; the thread that progressed the worker then runs
//     them after releasing mu_ (after_progress()). So handlers and future
//     continuations never run under mu_ and may call back into the transport.
//   * The ready queue (Dispatcher, ucx_ready.h) is drained by one thread at a
//     time, which keeps handler invocations in queue order = per-peer send
//     order. It is guarded by mu_ (every push happens under it anyway); a
//     thread that progressed the worker takes the queue before releasing mu_.
//   * Lock order: shutdown_mu_ -> mu_. HandlerTable / EventSink /
//     ShutdownBarrier locks are leaves.
//
// Invariants:
//   * Every Op in a Peer::ops list owns a live UCX request whose callback has not
//     run yet; the callback unlinks and recycles it. Ops orphaned by a peer
//     failure (promise already failed) stay linked until their callback runs
//     or teardown frees them after the worker is destroyed. A callback that UCX
//     runs inside the posting nbx call is settled by end_post_locked().
//   * Peer::next_recv_seq is the seq of the next frame to hand to the ready
//     queue from that peer; the reorder map only holds seqs >= it.
//   * Once Peer::failed is set (under mu_) no new op to that peer is posted and
//     its endpoint has been force-closed.
//   * Engine memory outlives the Transport while futures (Progressor), keys or
//     regions still reference it; after teardown() it holds no UCX resources.
#pragma once

#include <ucp/api/ucp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "common/events.h"
#include "common/spin_policy.h"
#include "common/wire.h"
#include "ucx/ucx_buffer.h"
#include "ucx/ucx_ops.h"
#include "ucx/ucx_ready.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::ucx {

class Engine;
class UcxRegion;
class UcxRemoteKey;

// The one UCP AM id ferry uses; the ferry handler id travels in wire::FrameHeader.
inline constexpr unsigned kAmId = 0x4652;
// A frame whose seq is this far ahead of the next expected one is rejected as malformed.
inline constexpr std::uint64_t kReorderWindow = std::uint64_t{1} << 24;
// At most this many bytes of rendezvous AM data are fetched at once (at least
// one message). FERRY_UCX_RNDV_WINDOW_BYTES overrides it (tests use a small
// window to exercise queued receives).
inline constexpr std::size_t kRndvWindowBytes = std::size_t{256} << 20;
// FrameHeader::flags bit of heartbeats sent on the side-band endpoint: outside
// the ordered stream (seq unused), so they never queue behind bulk data.
inline constexpr std::uint32_t kSidebandFlag = 1;

// A rendezvous receive in flight (ucp_am_recv_data_nbx); owns the target buffer
// until UCX is done with it.
struct RecvCtx {
  Engine* engine = nullptr;
  Rank src = kInvalidRank;
  std::uint64_t seq = 0;
  Buffer buffer;
  bool in_window = true;  // counted in Engine::rndv_inflight_ (cleared when its sender fails)
  bool posting = false;  // as Op::posting, for ucp_am_recv_data_nbx
  bool completed_early = false;
  ucs_status_t early_status = UCS_OK;
};

// A rendezvous frame whose data we have not started to fetch yet.
struct PendingRndv {
  Rank src;
  std::uint64_t seq;
  std::uint64_t length;
  void* desc;  // UCP's data descriptor
};

// One frame waiting in a reorder buffer.
struct Inbound {
  enum class State : std::uint8_t { pending, ready, skip };
  HandlerId handler = 0;
  State state = State::pending;
  Buffer payload;
};

struct Peer;
struct EpErrorArg {
  Engine* engine = nullptr;
  Rank rank = kInvalidRank;
};

struct Peer {
  ucp_ep_h ep = nullptr;     // the ordered AM stream, gets, rkeys
  ucp_ep_h hb_ep = nullptr;  // side band for heartbeats only
  bool peer_mode = false;  // ep created with UCP_ERR_HANDLING_MODE_PEER
  bool failed = false;
  std::uint64_t next_send_seq = 0;
  std::uint64_t next_recv_seq = 0;
  std::map<std::uint64_t, Inbound> reorder;
  OpList ops;  // pending ops to this peer
  EpErrorArg err_arg;
};

class Engine final : public Progressor, public std::enable_shared_from_this<Engine> {
 public:
  Engine(const Options& options, Rank self, Rank size);
  ~Engine() override;
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Creates the UCP context/worker, exchanges addresses, connects, starts progress.
  Status init(Bootstrap& bootstrap);

  Rank rank() const noexcept { return self_; }
  Rank size() const noexcept { return size_; }
  const Options& options() const noexcept { return opts_; }
  common::HandlerTable& handlers() noexcept { return handlers_; }
  common::ProgressHook& progress_hook() noexcept { return hook_; }
  common::EventSink& events() noexcept { return events_; }

  Future<void> send(Rank dst, HandlerId id, ByteView payload);
  Future<void> debug_send_raw(Rank dst, ByteView header, ByteView payload);
  Result<std::unique_ptr<MemoryRegion>> register_memory(void* base, std::size_t length);
  Result<std::unique_ptr<MemoryRegion>> allocate_memory(std::size_t length);
  Result<std::shared_ptr<RemoteKey>> unpack_key(Rank peer, ByteView packed);
  Future<void> get(const RemoteKey& key, std::uint64_t remote_addr, void* local, std::size_t length);
  Status shutdown();
  // Releases every UCX resource; `graceful` = after the shutdown barrier. Idempotent.
  void teardown(bool graceful = false);

  // Progressor
  bool waiters_poll() const noexcept override;
  bool on_progress_thread() const noexcept;
  bool poll_once() override;
  int poll_idle() override;
  std::chrono::nanoseconds spin_limit() const noexcept override { return spin_.limit(); }
  void spin_outcome(bool caught, std::chrono::nanoseconds waited) noexcept override;
  void before_sleep() noexcept override { wake(); }
  // Asks the next poller to run the progress hook; false when none may come
  // soon (the caller then flushes another way).
  bool request_hook() noexcept;

  // Called by region/key destructors (ucx_rma.cc).
  void release_region(UcxRegion* region) noexcept;
  Result<std::unique_ptr<MemoryRegion>> make_region_locked(ucp_mem_h memh, void* base, std::size_t length);
  void release_key(UcxRemoteKey* key) noexcept;

 private:
  friend class UcxRegion;
  friend class UcxRemoteKey;
  enum class State : std::uint8_t { created, running, closing, closed };

  // --- ucx_transport.cc: set-up and teardown
  Status create_context_and_worker();
  void use_large_tcp_segments(ucp_config_t* config);  // UCX_TLS=tcp: TX/RX segments of kTcpOnlySegment
  Status connect_peers(Bootstrap& bootstrap);
  ucs_status_t create_ep_locked(Rank r, const ucp_address_t* address, bool peer_mode, ucp_ep_h* out);
  void close_peer_eps_locked(Peer& peer, bool force);
  void close_endpoints_and_wait(bool graceful);
  void release_everything_locked(std::vector<Promise<void>>& orphans, bool graceful);
  void release_rma_locked() noexcept;  // ucx_rma.cc: destroys all rkeys and memory handles

  // --- ucx_am.cc: AM paths
  Future<void> send_self(HandlerId id, ByteView payload);
  Future<void> raw_to_self(ByteView header, ByteView payload);
  // Posts an AM (mu_ held) and takes ownership of `op` (header/promise). On
  // immediate completion or error the op's promise is completed here (no
  // continuation can be attached yet). `consumes_seq`: the header carries
  // peer.next_send_seq, which is advanced (and rolled back on immediate error).
  // Returns true if the op is still in flight (the progress thread must run).
  // `early` (optional): where an immediate outcome goes when the op has no
  // promise (send() attaches one only to an op that stays in flight).
  bool post_am_locked(Op* op, const void* header, std::size_t header_len, ByteView payload, bool consumes_seq,
                      bool sideband = false, Status* early = nullptr);
  void post_internal_locked(Rank dst, HandlerId id);
  void post_heartbeat_locked(Rank dst);
  ucs_status_t on_am_locked(const void* header, std::size_t header_len, void* data, std::size_t length,
                            const ucp_am_recv_param_t* param);
  // --- ucx_rndv.cc: rendezvous receives (bounded window)
  ucs_status_t accept_rndv_locked(const wire::FrameHeader& h, void* desc);
  ucs_status_t start_rndv_locked(const PendingRndv& p, bool in_am_callback);
  void drain_rndv_locked();
  void drop_queued_rndv_locked(Rank src, bool release = true);
  void on_recv_done_locked(RecvCtx* ctx, ucs_status_t status);
  void advance_locked(Rank src);
  void hand_over_locked(Rank src, HandlerId handler, Buffer payload);
  // Internal ids (heartbeat, shutdown) are consumed on arrival: true if `handler` was one.
  bool consume_internal_locked(Rank src, HandlerId handler);
  void dispatch_am(Rank src, HandlerId handler, ByteView payload);
  static ucs_status_t am_cb(void* arg, const void* header, std::size_t header_len, void* data,
                            std::size_t length, const ucp_am_recv_param_t* param);
  static void recv_done_cb(void* request, ucs_status_t status, std::size_t length, void* user_data);

  // --- ops bookkeeping (ucx_progress.cc)
  void finish_op_locked(Op* op, ucs_status_t status);
  Status op_status_locked(const Op& op, ucs_status_t status);
  static ucp_request_param_t op_param(Op* op);
  static void begin_post_locked(Op* op);
  bool end_post_locked(Op* op, ucs_status_ptr_t req, const char* call, Status* early = nullptr);
  static void op_done_cb(void* request, ucs_status_t status, void* user_data);
  static void ep_error_cb(void* arg, ucp_ep_h ep, ucs_status_t status);

  // --- ucx_progress.cc: progress, dispatch, liveness, failures
  void progress_thread_main();
  void run_busy();
  void run_blocking();
  void run_adaptive();
  // Progress until idle, arm the worker and sleep on its event fd (at most
  // `timeout_ms`) unless work is pending. False once the worker is gone.
  bool sleep_on_fd(int timeout_ms);
  // Other threads poll progress in this mode (busy, or adaptive where allowed).
  bool pollers_mode() const noexcept { return spin_.allowed(); }
  // `contended` (try_only): set when the engine lock was held by another thread.
  bool progress_step(bool try_only, bool* contended = nullptr);
  bool after_progress();
  bool drain_ready();
  void run_batch();  // runs the dispatcher's batch (the caller claimed it)
  void push_completion_locked(std::optional<Promise<void>>& promise, Status status);
  void defer_error_locked(Status error);
  void defer_failure_locked(Rank peer, Status why);
  void fail_peer(Rank peer, const Status& why);
  void housekeeping(std::chrono::steady_clock::time_point now);
  void recheck_timeouts();
  void wake_locked() noexcept;
  void wake() noexcept;
  std::chrono::milliseconds tick_period() const noexcept;
  bool usable_locked() const noexcept { return state_ == State::running && worker_ != nullptr; }
  Status shut_down_status() const;
  // The error of `op` towards a peer already marked failed: shut_down once this
  // transport is shut down (peers leaving after a collective shutdown may be
  // marked failed silently), else peer_failed. Takes mu_.
  Status failed_peer_status(const char* op, Rank peer);
  Future<void> ready_error(Status s) const;
  Future<void> self_get(std::uint64_t remote_addr, void* local, std::size_t length);

  const Options opts_;
  const Rank self_;
  const Rank size_;
  common::HandlerTable handlers_;
  common::ProgressHook hook_;
  common::EventSink events_;
  common::ShutdownBarrier barrier_;
  std::optional<common::Liveness> liveness_;  // set once in init(), then read-only

  // Guarded by mu_ (see the file comment).
  mutable std::mutex mu_;
  State state_ = State::created;
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  std::size_t max_am_header_ = 0;
  bool single_node_tls_ = false;   // all ranks on one node: UCX limited to kSingleNodeTls (set once in init)
  bool mm_error_handling_ = false;  // we asked UCX for MM_ERROR_HANDLING (set once in init)
  std::vector<Peer> peers_;  // sized once in the constructor (stable addresses)
  OpPool ops_;  // recycled Op objects
  std::unordered_set<RecvCtx*> recvs_;
  std::deque<PendingRndv> rndv_queue_;
  std::size_t rndv_inflight_ = 0;  // bytes being fetched by recvs_
  const std::size_t rndv_window_;  // kRndvWindowBytes or FERRY_UCX_RNDV_WINDOW_BYTES
  bool rndv_draining_ = false;
  std::vector<void*> close_requests_;
  std::unordered_set<UcxRegion*> regions_;
  std::unordered_set<UcxRemoteKey*> keys_;
  bool rndv_drain_needed_ = false;  // a receive finished: drain_rndv_locked() at the next safe point
  std::vector<Status> deferred_errors_;
  std::vector<std::pair<Rank, Status>> deferred_failures_;
  std::atomic<bool> deferred_pending_{false};

  Dispatcher ready_;  // the ready queue (pushed under mu_) and its single dispatcher (ucx_ready.h)

  // Progress thread.
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> sleeping_{false};               // blocking/adaptive: in (or about to enter) epoll_wait
  common::SpinPolicy spin_;                          // how long pollers poll (adaptive mode tunes it)
  std::atomic<std::uint64_t> external_polls_{0};  // busy mode: poll_once()/poll_idle() calls by other threads
  std::atomic<std::uint64_t> waiter_polls_{0};    // busy mode: poll_once() calls by other threads
  std::atomic<std::uint64_t> idle_seen_{0};       // waiter_polls_ as poll_idle() last saw it
  std::atomic<unsigned> idle_contended_{0};       // consecutive poll_idle() passes that found mu_ held
  common::ActivityFlags activity_;  // folded into liveness_ per tick
  int epoll_fd_ = -1;
  int worker_fd_ = -1;
  std::chrono::steady_clock::time_point next_tick_{};
  std::vector<Rank> need_heartbeat_, timed_out_;  // progress thread scratch

  // shutdown() / teardown().
  std::mutex shutdown_mu_;
  bool shutdown_done_ = false;  // guarded by shutdown_mu_
  Status shutdown_status_;      // guarded by shutdown_mu_
  std::atomic<bool> torn_down_{false};
};

// True for UCX errors meaning the peer is gone or unreachable.
bool is_peer_loss(ucs_status_t status);

// Wraps a ucs status into a ferry Status: "<what> on rank R: <ucs string>".
Status ucx_failure(Errc code, const std::string& what, Rank self, ucs_status_t status);

}  // namespace ferry::transport::ucx
