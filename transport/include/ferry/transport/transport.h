// ferry/transport/transport.h — the narrow transport interface every layer above uses.
//
// A Transport connects this rank to every rank of the job and offers:
//   * active messages (AM): send(dst, handler_id, payload) -> Future<void>; the
//     receiver's handler for that id runs on a progress context with a view of
//     the payload that is valid only during the call. AMs from one sender to
//     one receiver are delivered to handlers in send order (any size).
//   * memory registration: register_memory(base, len) returns a MemoryRegion
//     with a packed remote key; peers unpack_key() it once and then get()
//     bytes from it one-sided (UCX: ucp_get_nbx = RDMA READ on IB, CMA/shm on
//     one node; TCP backend: served by the holder's progress thread).
//   * failure reporting: a peer-failure callback (once per peer; SIGKILL, EOF,
//     heartbeat timeout) and an error callback for asynchronous protocol errors
//     (unknown handler id, malformed frame). After a peer failed, all pending
//     and new operations to it complete with Errc::peer_failed: nothing hangs.
//
// Threading: every method is thread-safe. One progress thread per transport
// drives the backend. In ProgressMode::busy it spins, and a thread waiting on a
// transport future polls progress itself; in ProgressMode::blocking the
// progress thread sleeps on the backend's event fd and waiters sleep on a
// condition variable (stable on oversubscribed nodes). ProgressMode::adaptive
// (the default) polls like busy mode for a short, self-tuning time after
// traffic and then sleeps like blocking mode; it never polls when the node has
// more local ranks than CPUs (UCX backend; the TCP backend runs it as blocking).
//
// Install handlers before peers may send to them (e.g. set_handler, then a
// Bootstrap::barrier): an AM that arrives for an id with no handler is dropped.
//
// Handlers must not block (no waiting on futures inside a handler); they may
// send AMs and issue gets.
//
// Handler ids >= kFirstReservedHandler are used internally (heartbeat,
// shutdown barrier, TCP get protocol) and rejected by set_handler().
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/future.h"
#include "ferry/status.h"

namespace ferry::transport {

using Rank = std::uint32_t;
using HandlerId = std::uint16_t;
using Bytes = std::vector<std::byte>;
using ByteView = std::span<const std::byte>;

inline constexpr HandlerId kFirstReservedHandler = 0xFF00;
inline constexpr Rank kInvalidRank = ~Rank{0};

// Exchange of small blobs among all ranks at start-up. Implemented by the
// launcher layer (PMIx, MPI communicator, ferry-run's local rendezvous);
// declared here so the transport does not depend on the launcher.
class Bootstrap {
 public:
  virtual ~Bootstrap() = default;
  virtual Rank rank() const = 0;
  virtual Rank size() const = 0;
  // Collective: every rank contributes `mine`, every rank gets all blobs, indexed by rank.
  virtual Result<std::vector<Bytes>> allgather(ByteView mine) = 0;
  // Collective.
  virtual Status barrier() = 0;
  // "pmix", "mpi", "local", "single" ...
  virtual std::string name() const = 0;
};

enum class Backend { ucx, tcp };
enum class ProgressMode { busy, blocking, adaptive };

struct Options {
  Backend backend = Backend::ucx;
  ProgressMode progress = ProgressMode::adaptive;
  // Liveness: every peer is sent a heartbeat each interval when the link is otherwise
  // idle; a peer not heard from within peer_timeout is declared failed. 0 disables.
  // A stopped or cut-off peer is found within about peer_timeout; the ratio 5 tolerates
  // heartbeats delayed by a loaded node, and a rank whose own progress thread was
  // starved restarts the timeouts instead of judging (see docs/ARCHITECTURE.md, Failure).
  // from_env() scales both on a crowded node (kLivenessRanksPerCpu, kLivenessScaleMax).
  std::chrono::milliseconds heartbeat_interval{500};
  std::chrono::milliseconds peer_timeout{2500};
  // UCX: UCP_ERR_HANDLING_MODE_PEER on endpoints (failure detection). With it UCX may
  // pick send/recv-based protocols for get; false measures the pure one-sided path.
  bool ucx_peer_error_handling = true;
  // Largest AM payload accepted by send(); larger sends fail with invalid_argument.
  // Bounds what one peer can make this rank buffer for a single message (large
  // objects move by one-sided get, not AMs).
  std::size_t max_am_bytes = std::size_t{256} << 20;
  // TCP backend: address to listen on ("" = first non-loopback IPv4, else 127.0.0.1).
  std::string tcp_listen_address;
  // TCP backend: how long start-up waits for every rank to connect and prove the job key
  // before it fails with bootstrap_failed naming the missing ranks. 0 = max(peer_timeout,
  // 30 s): long enough for ranks that start late (a loaded node, a slow file system).
  std::chrono::milliseconds tcp_connect_timeout{0};
  // TCP backend: the job key as raw bytes (ferry/transport/job_key.h); empty = rank 0
  // makes one and the bootstrap distributes it. Never logged.
  std::string job_key;

  // On a node with many more ranks than CPUs a live rank can go unscheduled for seconds: unless
  // FERRY_HEARTBEAT_MS / FERRY_PEER_TIMEOUT_MS say otherwise, from_env() multiplies the two
  // defaults by the ranks per CPU divided by kLivenessRanksPerCpu, rounded up (up to that many
  // ranks per CPU keep them), at most kLivenessScaleMax. With only FERRY_PEER_TIMEOUT_MS set,
  // the heartbeat interval is a fifth of it.
  static constexpr unsigned kLivenessRanksPerCpu = 2;
  static constexpr unsigned kLivenessScaleMax = 8;

  // Reads FERRY_TRANSPORT (ucx|tcp), FERRY_PROGRESS (busy|blocking|adaptive),
  // FERRY_HEARTBEAT_MS, FERRY_PEER_TIMEOUT_MS, FERRY_UCX_ERR_MODE (peer|none),
  // FERRY_MAX_AM_BYTES, FERRY_TCP_ADDRESS, FERRY_TCP_CONNECT_TIMEOUT_MS, FERRY_JOB_KEY (hex).
  // Invalid values -> invalid_argument.
  static Result<Options> from_env();
};

const char* to_string(Backend b) noexcept;
const char* to_string(ProgressMode m) noexcept;

// Handler for one AM id. `payload` is valid only during the call.
using AmHandler = std::function<void(Rank src, ByteView payload)>;
using PeerFailureHandler = std::function<void(Rank peer, const Status& why)>;
using ErrorHandler = std::function<void(const Status& error)>;

// A registered local memory range. Deregistered when destroyed (must be
// destroyed before the Transport).
class MemoryRegion {
 public:
  virtual ~MemoryRegion() = default;
  virtual void* base() const noexcept = 0;
  virtual std::size_t length() const noexcept = 0;
  // Opaque blob a peer passes to Transport::unpack_key(). Self-describing
  // (includes base and length), so it can be shipped as is.
  virtual ByteView packed_key() const noexcept = 0;
};

// A peer's region, unpacked for this transport. Cheap to share.
class RemoteKey {
 public:
  virtual ~RemoteKey() = default;
  virtual Rank peer() const noexcept = 0;
  virtual std::uint64_t remote_base() const noexcept = 0;
  virtual std::size_t remote_length() const noexcept = 0;
};

// Operations posted through a Transport's send() and get() since it was made
// (send_owned counts as a send). Internal traffic (heartbeats, shutdown) is
// not counted. For diagnostics and protocol tests: how many messages and
// one-sided reads an operation of a layer above costs.
struct TransportCounters {
  std::uint64_t ams_sent = 0;
  std::uint64_t gets = 0;
  std::uint64_t bytes_got = 0;  // requested by those gets
};

class Transport : public Progressor {
 public:
  ~Transport() override = default;

  virtual Rank rank() const noexcept = 0;
  virtual Rank size() const noexcept = 0;
  virtual std::string_view backend_name() const noexcept = 0;  // "ucx", "tcp"
  virtual const Options& options() const noexcept = 0;

  // Installs (or replaces; an empty function removes) the handler for `id`.
  // An AM for an id with no handler is dropped and reported to the error handler.
  virtual Status set_handler(HandlerId id, AmHandler handler) = 0;
  virtual void on_peer_failure(PeerFailureHandler handler) = 0;
  virtual void on_error(ErrorHandler handler) = 0;

  // Sends an AM. The payload must stay valid until the future completes.
  // Completion means the payload may be reused, not that the handler ran.
  virtual Future<void> send(Rank dst, HandlerId id, ByteView payload) = 0;
  // Same, but the transport owns the payload (kept alive until completion).
  Future<void> send_owned(Rank dst, HandlerId id, Bytes payload);

  virtual Result<std::unique_ptr<MemoryRegion>> register_memory(void* base, std::size_t length) = 0;
  // Allocates `length` bytes (rounded up to whole pages) that peers can read
  // one-sided, already registered; the memory is freed with the region (which,
  // like any region, must go before the transport). Pages are untouched until
  // first use. Default: an anonymous MAP_NORESERVE mapping + register_memory.
  // UCX lets ucp_mem_map allocate (UCX_ALLOC_PRIO: System V / POSIX shared
  // memory first), so a same-node peer's get is a plain copy from a mapped
  // segment instead of a CMA system call; on a NIC it is registered as usual.
  virtual Result<std::unique_ptr<MemoryRegion>> allocate_memory(std::size_t length);
  virtual Result<std::shared_ptr<RemoteKey>> unpack_key(Rank peer, ByteView packed) = 0;

  // One-sided read of `length` bytes at `remote_addr` (inside key's region) into `local`.
  // `local` must stay valid until the future completes. Out-of-range -> invalid_argument.
  virtual Future<void> get(const RemoteKey& key, std::uint64_t remote_addr, void* local,
                           std::size_t length) = 0;

  // Ranks declared failed so far.
  virtual std::vector<Rank> failed_peers() const = 0;

  // See TransportCounters (all zero for a backend that does not count).
  virtual TransportCounters counters() const noexcept { return {}; }

  // Deferred work for whoever polls next, in busy progress mode: after
  // request_progress_hook(), a progress context — the progress thread, a
  // thread waiting on a future, or an idle executor in poll_idle(), whichever
  // polls first — runs the hook once (requests made before it runs merge).
  // A layer above uses it to send batched messages without waking a thread.
  // The hook must not block. request_progress_hook() returns false when
  // nobody polls (blocking mode, shut down): the caller does the work another
  // way. set_progress_hook({}) removes the hook and waits for a running call.
  virtual void set_progress_hook(std::function<void()> hook) { (void)hook; }
  virtual bool request_progress_hook() noexcept { return false; }
  // True on the backend's progress thread (where handlers run): a caller
  // there must not block waiting for a message.
  virtual bool on_progress_thread() const noexcept { return false; }

  // Collective, idempotent: waits (bounded by peer_timeout) until every live rank
  // has called shutdown, then stops the progress thread and closes endpoints.
  // Peer failures after this point are not reported. Pending ops fail with shut_down.
  virtual Status shutdown() = 0;

  // Testing hook: sends raw bytes as if they were an AM frame/header to `dst`,
  // bypassing validation, so conformance tests can check malformed-input handling.
  virtual Future<void> debug_send_raw(Rank dst, ByteView header, ByteView payload) = 0;
};

// Creates and connects a transport (collective over the bootstrap).
Result<std::unique_ptr<Transport>> make_transport(const Options& options, Bootstrap& bootstrap);

}  // namespace ferry::transport
