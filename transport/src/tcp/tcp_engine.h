// tcp_engine.h — the TCP backend's internal engine (one per Transport).
//
// Purpose: everything the TCP fallback backend does lives in Engine: one TCP
// connection per pair of ranks (standalone Asio), the frame writer/reader,
// active-message delivery, one-sided gets served by the holder's progress
// thread, heartbeats, failure handling and the collective shutdown.
// common::EngineTransport (common/engine_transport.h) is a thin facade that owns a shared_ptr to it.
//
// Connections: one per pair. The lower rank connects to the higher one and
// proves the job key (challenge-response, tcp_auth.h) with a wire::kHello frame
// naming itself; the higher rank accepts only such connections. Each
// rank listens on Options::tcp_listen_address ("" = first non-loopback IPv4,
// else 127.0.0.1) and publishes "ip:port" through Bootstrap::allgather. Traffic
// to self never touches a socket: it goes through the self Conn's outbox and is
// delivered on the progress context, in send order.
//
// Wire: every frame is a wire::FrameHeader followed by payload_len bytes.
//   kHello      payload {u32 world size, u32 rank being connected to, 32-byte MAC}
//               (start-up only, after the acceptor's nonce; see tcp_auth.h)
//   kHeartbeat  empty                 kShutdown  empty
//   kGetRequest {u64 request id, u64 region id, u64 remote addr, u64 length}
//   kGetReply   {u64 request id, u32 status (0 = ok, else Errc), u32 0}, then
//               `length` bytes (ok) or an error message (<= kMaxErrorText)
//
// Threading model:
//   * All connection state (write queues, read state machines, pending gets)
//     is touched only by code running inside io_ — the "progress context".
//     At most one thread runs io_ at a time: the progress thread, or in busy
//     mode a waiting application thread that won progress_mu_ in poll_once().
//     So handlers and continuations never run concurrently with each other.
//   * Application threads hand work to the progress context through a Conn's
//     outbox (mutex-protected vector of Ops) plus one posted flush; the outbox
//     mutex defines the send order per destination.
//   * ops_mu_ (shared) is held by API calls while they check closed_ and hand
//     off work; teardown() takes it exclusively to set closed_, so after that
//     nothing new can reach io_ and draining io_ completes every promise.
//   * Promises are completed, and user code runs, with no engine mutex held
//     (in busy mode progress_mu_ is held: it only marks who runs io_).
//   * Lock order: shutdown_mu_ -> teardown_mu_ -> ops_mu_ -> progress_mu_ ->
//     Conn::out_mu -> regions_mu_ -> RegionState::mu. Events/handler locks are
//     leaves.
//
// Receive-side validation: wire::parse_header (magic, version, src < size),
// then src must be the connection's peer, and the length must fit the handler:
// heartbeat/shutdown 0, get request 32, get reply 16 + the pending get's length
// (or an error text <= kMaxErrorText), user AMs <= Options::max_am_bytes.
// Anything else is a malformed frame: reported (Errc::malformed_message), the
// connection is closed and the peer is declared failed.
//
// Invariants:
//   * Conn objects live as long as the Engine; once Conn::open is false it is
//     never reopened and every op on it has been (or will be, when flushed)
//     failed.
//   * A frame in Conn::wq whose payload points into a registered region holds
//     a RegionPin, so deregistration waits until the bytes left the process.
//   * The Engine outlives the Transport while futures (they carry it as their
//     Progressor), keys or regions reference it; after teardown() it holds no
//     sockets and every promise it was given has been completed.
#pragma once

#include <asio.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/events.h"
#include "common/wire.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::tcp {

class Engine;

inline constexpr std::size_t kHeaderBytes = sizeof(wire::FrameHeader);
inline constexpr std::size_t kGetRequestBytes = 32;
inline constexpr std::size_t kGetReplyPrefix = 16;
// Start-up: an accepted connection must complete the handshake (tcp_auth.h)
// within kHelloTimeout; at most max(kMinHalfOpen, 2 * size) wait at once (the
// oldest is dropped for a new one); the listen backlog is kListenBacklog.
inline constexpr std::chrono::milliseconds kHelloTimeout{10000};
inline constexpr std::size_t kMinHalfOpen = 64;
inline constexpr int kListenBacklog = 128;
// Per peer: get replies queued before reading from that peer pauses (a peer that
// sends requests without reading the replies cannot grow this rank's queue).
inline constexpr std::size_t kMaxQueuedReplies = 16384;
inline constexpr std::size_t kMaxErrorText = 4096;
// Payloads up to this size are assembled in the connection's read buffer;
// larger ones are read straight into their destination.
inline constexpr std::size_t kSmallBody = 64 * 1024;
inline constexpr std::size_t kReadBuffer = 256 * 1024;
inline constexpr std::uint32_t kKeyMagic = 0x4b544652;  // "RFTK": ferry TCP key
inline constexpr std::size_t kPackedKeyBytes = 32;      // magic u32, owner u32, id u64, base u64, length u64

// An uninitialized byte buffer (no zero fill for large payloads).
struct Buffer {
  std::unique_ptr<std::byte[]> data;
  std::size_t size = 0;
  static Buffer allocate(std::size_t n) {
    return Buffer{n ? std::unique_ptr<std::byte[]>(new std::byte[n]) : nullptr, n};
  }
};

// A connection's read buffer (kReadBuffer bytes): a mapping of its own with small pages, so that a
// mostly idle connection costs the few pages its frames touched, whatever the process's malloc
// settings (a huge-page heap, as under ferry-run, would back each touched buffer with whole 2 MiB
// pages, and a rank holds one per peer). Throws std::bad_alloc when it cannot map.
struct ReadBuffer {
  struct Unmap {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte, Unmap> data;
  static ReadBuffer allocate();
};

// A registered region as the holder sees it. base/length/id are immutable.
struct RegionState {
  std::uint64_t id = 0;
  std::byte* base = nullptr;
  std::size_t length = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool alive = true;     // guarded by mu
  std::size_t pins = 0;  // guarded by mu: replies in flight that read from the region
};

// Keeps a region's memory in use (see RegionState::pins); released on destruction.
class RegionPin {
 public:
  explicit RegionPin(std::shared_ptr<RegionState> r) : region_(std::move(r)) {}
  RegionPin(const RegionPin&) = delete;
  RegionPin& operator=(const RegionPin&) = delete;
  ~RegionPin();

 private:
  std::shared_ptr<RegionState> region_;
};

// Work an application thread hands to the progress context.
struct Op {
  enum class Kind : std::uint8_t { am, raw, get };
  Kind kind = Kind::am;
  HandlerId handler = 0;
  ByteView payload;                 // am: the caller's memory
  Bytes raw_header;                 // raw: header bytes as given
  Bytes raw_payload;                // raw: payload bytes as given
  std::uint64_t region_id = 0;      // get
  std::uint64_t remote_addr = 0;    // get
  std::uint64_t length = 0;         // get
  void* local = nullptr;            // get
  std::optional<Promise<void>> promise;
};

// One frame in a connection's write queue.
struct OutFrame {
  wire::FrameHeader header{};
  std::array<std::byte, 32> prefix{};  // small body written right after the header
  std::uint32_t prefix_len = 0;
  bool raw = false;                    // raw_header + owned are written as they are
  Bytes raw_header;
  Bytes owned;                         // owned payload (raw frames, error text)
  ByteView payload;                    // borrowed payload (caller or region memory)
  std::optional<Promise<void>> promise;
  std::unique_ptr<RegionPin> pin;
  bool reply = false;                  // a get reply (counted in Conn::queued_replies)
};

// A get waiting for its reply.
struct PendingGet {
  std::byte* local = nullptr;
  std::uint64_t length = 0;
  std::optional<Promise<void>> promise;
};

// The link to one peer (or, for self, just the outbox).
struct Conn {
  Conn(asio::io_context& io, Rank p, bool is_self) : peer(p), self(is_self), socket(io) {}

  const Rank peer;
  const bool self;
  asio::ip::tcp::socket socket;

  // Outbox: any thread (out_mu).
  std::mutex out_mu;
  std::vector<Op> outbox;    // guarded by out_mu
  bool kick_posted = false;  // guarded by out_mu

  // Everything below: progress context only.
  bool open = false;
  bool half_close_wanted = false;  // shutdown: SHUT_WR once wq drains
  bool half_closed = false;
  bool peer_shut_down = false;     // the peer's kShutdown arrived
  std::deque<OutFrame> wq;
  std::size_t writing = 0;  // frames at the front of wq in the current async_write
  std::vector<asio::const_buffer> wbufs;
  std::uint64_t next_seq = 0;
  std::uint64_t next_get_id = 1;
  std::unordered_map<std::uint64_t, PendingGet> gets;
  // Get replies this rank owes the peer, still in wq. At Engine::max_queued_replies_
  // reading from the peer pauses (no new requests are taken) until half have left.
  std::size_t queued_replies = 0;
  bool read_paused = false;

  // Read state machine.
  enum class Rs : std::uint8_t { header, body, get_prefix, direct };
  Rs rs = Rs::header;
  ReadBuffer rbuf;
  std::size_t rbeg = 0, rend = 0;  // unread bytes are rbuf[rbeg, rend)
  wire::FrameHeader cur{};         // frame being read
  std::size_t body_len = 0;        // Rs::body / Rs::direct: payload bytes this state reads
  std::byte* dst = nullptr;        // Rs::direct: destination (null = discard)
  std::size_t dst_done = 0;        // Rs::direct: bytes of body_len already read
  Buffer big;                      // Rs::direct for a large AM
  std::optional<PendingGet> cur_get;  // the get whose reply is being read
  std::uint32_t cur_get_status = 0;
};

class Engine final : public Progressor, public std::enable_shared_from_this<Engine> {
 public:
  Engine(const Options& options, Rank self, Rank size);
  ~Engine() override;

  // Listens, exchanges addresses, connects to every peer, starts the progress thread.
  Status start(Bootstrap& bootstrap);

  Rank rank() const noexcept { return self_; }
  Rank size() const noexcept { return size_; }
  const Options& options() const noexcept { return opts_; }
  common::HandlerTable& handlers() noexcept { return handlers_; }
  common::ProgressHook& progress_hook() noexcept { return hook_; }
  common::EventSink& events() noexcept { return events_; }

  Future<void> send(Rank dst, HandlerId id, ByteView payload);
  Future<void> debug_send_raw(Rank dst, ByteView header, ByteView payload);
  Future<void> get(const RemoteKey& key, std::uint64_t remote_addr, void* local, std::size_t length);
  Result<std::unique_ptr<MemoryRegion>> register_memory(void* base, std::size_t length);
  Result<std::shared_ptr<RemoteKey>> unpack_key(Rank peer, ByteView packed);
  void deregister(const std::shared_ptr<RegionState>& region);

  Status shutdown();
  // Stops the progress thread, closes every socket, fails what is pending. Idempotent.
  void teardown();

  bool waiters_poll() const noexcept override { return busy_ && !stopped_.load(std::memory_order_relaxed); }
  bool request_hook() noexcept {
    if (!waiters_poll()) return false;
    hook_.request();
    return true;
  }
  bool on_progress_thread() const noexcept;
  bool poll_once() override;
  int poll_idle() override;

 private:
  friend struct SetupState;
  enum class Phase : std::uint8_t { running, barrier, draining };

  // tcp_transport.cc: start-up.
  Status listen_and_exchange(Bootstrap& bootstrap, std::vector<asio::ip::tcp::endpoint>& peers);
  Status connect_all(const std::vector<asio::ip::tcp::endpoint>& peers);

  // tcp_ops.cc: API hand-off and the self path.
  Future<void> ready_error(Status s) const;
  Status shut_down_status() const;
  // The error of `op` towards a peer already marked failed: shut_down once this
  // transport is shut down (peers leaving after a collective shutdown may be
  // marked failed silently), else peer_failed. Takes ops_mu_ (shared).
  Status failed_peer_status(const char* op, Rank peer) const;
  void submit(Rank dst, Op op);
  Future<void> enqueue(Rank dst, Op op);  // promise + closed check + submit
  void flush(Conn& c);
  void run_self(Op& op);
  void raw_to_self(Op& op);
  Status serve_local_get(std::uint64_t region_id, std::uint64_t addr, void* local, std::uint64_t len,
                         Rank requester);
  std::shared_ptr<RegionState> find_region(std::uint64_t id);

  // tcp_conn.cc: frames in and out.
  void start_reading(Conn& c);
  void on_read(Conn& c, const std::error_code& ec, std::size_t n);
  void process(Conn& c);
  void read_more(Conn& c);
  void read_direct(Conn& c);
  bool begin_frame(Conn& c);
  bool begin_get_reply(Conn& c);
  void finish_direct(Conn& c);
  void handle_body(Conn& c, ByteView body);
  void serve_get(Conn& c, ByteView request);
  void deliver(Rank src, HandlerId id, ByteView payload);
  void push_frame(Conn& c, OutFrame f);
  void start_write(Conn& c);
  void on_written(Conn& c, const std::error_code& ec);
  void malformed(Conn& c, const std::string& what);

  // tcp_progress.cc: progress, liveness, failure, shutdown.
  void progress_loop();
  bool poll_step();  // io_.poll_one() if this thread wins progress_mu_
  void arm_tick();
  void on_tick();
  // How often on_tick runs: half the shorter of heartbeat interval and peer timeout, >= 5 ms.
  std::chrono::milliseconds tick_period() const noexcept;
  void on_conn_error(Conn& c, const std::error_code& ec, const char* during);
  void fail_peer(Rank peer, const Status& why);
  void close_conn(Conn& c, const Status& why);
  void begin_half_close();
  void maybe_half_close(Conn& c);
  std::size_t open_peer_count() const noexcept { return open_conns_.load(); }

  const Options opts_;
  const Rank self_, size_;
  const std::size_t max_queued_replies_;  // FERRY_TCP_MAX_QUEUED_REPLIES, default kMaxQueuedReplies
  std::string job_key_;  // set once in start() before any connection; never logged
  const bool busy_;

  common::HandlerTable handlers_;
  common::ProgressHook hook_;
  common::EventSink events_;
  common::Liveness liveness_;
  common::ShutdownBarrier barrier_;

  // Declared before everything that holds I/O objects so it is destroyed last.
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer tick_timer_;
  std::chrono::steady_clock::time_point tick_due_{};    // when the armed tick should run (progress context)
  std::vector<std::unique_ptr<Conn>> conns_;  // indexed by rank; conns_[self_] is the self outbox
  std::vector<Rank> heartbeat_due_, timed_out_;

  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> stopped_{false};           // teardown finished with io_: poll_once is a no-op
  std::atomic<Phase> phase_{Phase::running};
  std::atomic<std::size_t> open_conns_{0};
  std::mutex progress_mu_;                     // busy mode: who runs io_
  std::atomic<std::int64_t> last_waiter_poll_{0};  // clock ticks of the last poll_once() by another thread
  std::atomic<std::int64_t> last_idle_poll_{0};    // ... of the last poll_idle()

  mutable std::shared_mutex ops_mu_;
  bool closed_ = false;  // guarded by ops_mu_

  std::mutex regions_mu_;
  std::unordered_map<std::uint64_t, std::shared_ptr<RegionState>> regions_;  // guarded by regions_mu_
  std::uint64_t next_region_id_ = 1;                                        // guarded by regions_mu_

  std::mutex shutdown_mu_;
  bool shutdown_done_ = false;  // guarded by shutdown_mu_
  Status shutdown_status_;      // guarded by shutdown_mu_
  std::mutex teardown_mu_;
  bool torn_down_ = false;      // guarded by teardown_mu_
};

// A TCP-backend packed key, checked (magic, size, non-zero id and length, no wrap).
struct PackedKey {
  Rank owner = 0;
  std::uint64_t id = 0, base = 0, length = 0;
};
// invalid_argument naming `peer` when `packed` is not such a key. Pure.
Result<PackedKey> parse_packed_key(ByteView packed, Rank peer);

// "at offset N" or "below the region": error texts a peer may see never hold an address.
inline std::string offset_text(std::uint64_t addr, std::uint64_t base) {
  return addr < base ? std::string("below the region") : "at offset " + std::to_string(addr - base);
}

// Formats an asio error for messages.
std::string describe(const std::error_code& ec);

}  // namespace ferry::transport::tcp
