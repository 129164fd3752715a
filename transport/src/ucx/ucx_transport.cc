// ucx_transport.cc — the UCX backend's facade (common::EngineTransport), its factory
// make_ucx_transport(), and the Engine's set-up, shutdown and teardown.
//
// Set-up: when all ranks share one node and the user left UCX_TLS alone, UCX
// is limited to shared memory (ucx_node.h: no TCP listener) -> ucp_init (AM + RMA features, + WAKEUP in blocking mode: busy mode
// never sleeps on the event fd, and requesting WAKEUP there would only narrow
// the transports UCX may pick) -> one worker in UCS_THREAD_MODE_SERIALIZED
// (we serialize with Engine::mu_, see ucx_engine.h) -> register the single AM
// id -> ucp_worker_get_address -> Bootstrap::allgather -> ucp_ep_create to
// every other rank, two per peer: the ordered data endpoint and a side band
// for heartbeats, which must not queue behind bulk data (self-AMs and
// self-gets are served in software) -> start the progress thread.
// Endpoints use UCP_ERR_HANDLING_MODE_PEER when Options::ucx_peer_error_handling
// is set. UCX 1.13's shm transports support it only with UCX_MM_ERROR_HANDLING=y,
// which we set (ucp_config_modify) when UCX_TLS allows shm, unless the user set
// an MM/POSIX/SYSV_ERROR_HANDLING variable (without it, same-node AMs would go
// over TCP loopback, or with shm-only UCX_TLS endpoint creation fails). If
// MODE_PEER still cannot be had we fall back to MODE_NONE (debug log) and rely on
// heartbeats; a UCX log hook (installed for every engine) keeps a cma copy from
// a dead peer from aborting the process. Each endpoint's mode and lane
// transports are logged at debug level (tests/conformance/test_ucx_setup.cc).
//
// Shutdown: suppress failure reports, send wire::kShutdown to every live peer
// (in-stream, so it arrives after everything we sent before), wait on the
// ShutdownBarrier bounded by peer_timeout, then teardown(graceful): join the
// progress thread, run what is already queued, flush-close endpoints (failed
// ones force-closed) with a bounded wait, release rkeys/memh/worker/context and
// fail whatever is still pending with shut_down. The destructor tears down
// without the barrier (non-collective) and never waits long. UCX's WARNs about
// requests it cannot complete (to dead peers, or abandoned by a teardown
// without shutdown) are muted while the worker is destroyed.
//
// Thread-safety: common::EngineTransport forwards to Engine, which is fully thread-safe.
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <ucs/config/global_opts.h>
#include <ucs/debug/log_def.h>
#include <unistd.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <mutex>
#include <string>
#include <vector>

#include "backends.h"
#include "common/engine_transport.h"
#include "ferry/transport/affinity.h"
#include "ucx/ucx_engine.h"
#include "ucx/ucx_node.h"
#include "ucx/ucx_tls.h"

namespace ferry::transport::ucx {

// UCX keepalive round ferry asks for (UCX_KEEPALIVE_INTERVAL; UCX 1.13's default is 20 s).
// Each round checks up to UCX_KEEPALIVE_NUM_EPS (128) endpoints: a shm peer's process by
// its /proc entry, a TCP peer by a probe on its socket; a kill is seen within 1-2 rounds.
constexpr const char* kUcxKeepalive = "250ms";

Status ucx_failure(Errc code, const std::string& what, Rank self, ucs_status_t status) {
  return Status(code, what + " on rank " + std::to_string(self) + ": " + ucs_status_string(status));
}

namespace {

// UCX 1.13 aborts the whole process (a FATAL log) when a cma copy
// (process_vm_readv/writev) hits a peer that died or unmapped the buffer, on an
// endpoint without error handling — the only mode its shm transports offer.
// This one message is demoted: the UCX operation fails with an I/O error, which
// ferry treats as losing that peer (fail_peer), and the process lives.
ucs_log_func_rc_t demote_cma_peer_death(const char* file, unsigned /*line*/, const char* /*function*/,
                                        ucs_log_level_t level, const ucs_log_component_config_t* /*comp*/,
                                        const char* format, va_list ap) {
  if (level != UCS_LOG_LEVEL_FATAL || file == nullptr || std::strstr(file, "cma_ep.c") == nullptr)
    return UCS_LOG_FUNC_RC_CONTINUE;
  char msg[512];
  va_list copy;
  va_copy(copy, ap);
  std::vsnprintf(msg, sizeof msg, format, copy);
  va_end(copy);
  // ESRCH: the peer process is gone. EFAULT: its buffer is gone (a peer that
  // tore down without shutdown, or freed a payload it was still sending).
  if (std::strstr(msg, "No such process") == nullptr && std::strstr(msg, "Bad address") == nullptr)
    return UCS_LOG_FUNC_RC_CONTINUE;
  spdlog::debug("ferry: UCX cma copy failed ({}); treating the peer as lost", msg);
  return UCS_LOG_FUNC_RC_STOP;
}

// UCX_TLS as UCX reads it: a comma-separated list of transport names or
// aliases (a ":aux" suffix marks auxiliary use), or "^..." to exclude those
// names; unset or empty means all. Names are compared whole: "sm" is the
// shared-memory alias, not a substring of anything else.
struct TlsSetting {
  bool exclude = false;
  std::vector<std::string> names;
  bool has(std::initializer_list<const char*> any) const {
    for (const std::string& n : names)
      for (const char* a : any)
        if (n == a) return true;
    return false;
  }
};

TlsSetting parse_tls(const char* ucx_tls) {
  TlsSetting t;
  std::string s = ucx_tls ? ucx_tls : "";
  if (!s.empty() && s.front() == '^') {
    t.exclude = true;
    s.erase(0, 1);
  }
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    std::string name = s.substr(start, end - start);
    name = name.substr(0, name.find(':'));
    if (!name.empty()) t.names.push_back(name);
    start = end + 1;
  }
  if (t.names.empty()) t.exclude = true;  // unset/empty: everything allowed
  return t;
}

}  // namespace

bool tls_may_use_shm(const char* ucx_tls) {
  const TlsSetting t = parse_tls(ucx_tls);
  if (t.exclude) return !t.has({"sm", "shm", "mm", "all"}) && !(t.has({"posix"}) && t.has({"sysv"}));
  return t.has({"all", "sm", "shm", "mm", "posix", "sysv"});
}

bool tls_is_tcp_only(const char* ucx_tls) {
  const TlsSetting t = parse_tls(ucx_tls);
  if (t.exclude || !t.has({"tcp"})) return false;
  for (const std::string& n : t.names)
    if (n != "tcp" && n != "self") return false;
  return true;
}

namespace {

// The transports of an endpoint's lanes, e.g. "sysv,posix,cma", parsed from
// ucp_ep_print_info (UCX 1.13 has no query for them); "?" if unavailable.
std::string ep_transports(ucp_ep_h ep) {
  char* text = nullptr;
  std::size_t len = 0;
  FILE* f = ::open_memstream(&text, &len);
  if (f == nullptr) return "?";
  ucp_ep_print_info(ep, f);
  std::fclose(f);
  const std::string all(text ? text : "", len);
  std::free(text);
  std::string out;
  // Lines look like "#   lane[0]:  1:sysv/memory.0 md[1] -> ...".
  for (std::size_t at = all.find("lane["); at != std::string::npos; at = all.find("lane[", at + 1)) {
    const std::size_t colon = all.find("]:", at);
    if (colon == std::string::npos) break;
    const std::size_t tok = all.find_first_not_of(' ', colon + 2);
    const std::size_t idx = tok == std::string::npos ? tok : all.find(':', tok);
    const std::size_t slash = idx == std::string::npos ? idx : all.find('/', idx);
    if (slash == std::string::npos || all.find('\n', tok) < slash) continue;
    const std::string name = all.substr(idx + 1, slash - idx - 1);
    if (("," + out + ",").find("," + name + ",") == std::string::npos) out += (out.empty() ? "" : ",") + name;
  }
  return out.empty() ? "?" : out;
}

// Guards the save/mute/restore of UCX's process-wide log level (ucs_global_opts):
// engines of one process (in-process tests) must not interleave them, or one
// restores a level the other muted.
std::mutex& ucs_log_level_mu() {
  static std::mutex mu;
  return mu;
}

void install_cma_guard_once() {
  static std::once_flag once;
  std::call_once(once, [] { ucs_log_push_handler(&demote_cma_peer_death); });
}

}  // namespace

namespace {

// FERRY_UCX_RNDV_WINDOW_BYTES if it is a positive number, else kRndvWindowBytes.
std::size_t rndv_window_from_env() {
  const char* v = std::getenv("FERRY_UCX_RNDV_WINDOW_BYTES");
  if (v == nullptr || *v == '\0') return kRndvWindowBytes;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0' || n == 0) {
    spdlog::warn("ferry: ignoring FERRY_UCX_RNDV_WINDOW_BYTES={} (expected a positive byte count)", v);
    return kRndvWindowBytes;
  }
  return static_cast<std::size_t>(n);
}

}  // namespace

Engine::Engine(const Options& options, Rank self, Rank size)
    : opts_(options), self_(self), size_(size), events_(self, size), barrier_(size), peers_(size),
      rndv_window_(rndv_window_from_env()), spin_(common::SpinPolicy::for_this_process(options.progress)),
      activity_(size) {
  for (Rank r = 0; r < size_; ++r) peers_[r].err_arg = EpErrorArg{this, r};
}

Engine::~Engine() {
  // teardown() normally ran from the facade's destructor; this is a safety net
  // for an Engine whose init() failed half-way.
  if (!torn_down_.load()) teardown(false);
}

Status Engine::init(Bootstrap& bootstrap) {
  if (const auto& plan = affinity::process_plan(); !plan) return plan.status();  // a bad FERRY_BIND
  if (tls_left_to_ferry()) {
    auto one = size_ == 1 ? Result<bool>(true) : all_ranks_on_one_node(bootstrap);
    if (!one) return one.status();
    single_node_tls_ = *one;
  }
  if (auto s = create_context_and_worker(); !s) return s;
  if (auto s = connect_peers(bootstrap); !s) return s;
  liveness_.emplace(self_, size_, opts_.heartbeat_interval, opts_.peer_timeout);
  {
    std::lock_guard<std::mutex> lock(mu_);
    state_ = State::running;
  }
  // The thread holds a reference so the Engine outlives it even if it is ever detached.
  thread_ = std::thread([self = shared_from_this()] {
    affinity::bind_this_thread(affinity::ThreadRole::progress);  // FERRY_BIND
    self->progress_thread_main();
  });
  spdlog::debug("ferry[{}]: UCX transport up ({} ranks, progress {}, peer error handling {}, mm error handling {})",
                self_, size_, to_string(opts_.progress), opts_.ucx_peer_error_handling ? "on" : "off",
                mm_error_handling_ ? "requested" : "not requested");
  return Status::ok();
}

namespace {
constexpr const char* kTcpOnlySegment = "512K";
}  // namespace

// UCX_TLS=tcp: UCX 1.13 emulates a get with TCP active messages of at most
// one TX segment (8 KiB by default), ~0.25x of what Open MPI moves over the
// same sockets. 512 KiB segments made a 64 MiB get 2.5-3.5x faster on the
// loaded test machine (1 MiB and more were slower again). Costs memory: UCX
// keeps TX/RX buffers of this size per interface and endpoint. A user's
// UCX_TCP_TX_SEG_SIZE / UCX_TCP_RX_SEG_SIZE wins.
void Engine::use_large_tcp_segments(ucp_config_t* config) {
  // ucp_config_modify hands names it does not know to every UCT interface
  // config, whose fields are named without the "TCP_" prefix (only tcp is on).
  for (const char* name : {"TX_SEG_SIZE", "RX_SEG_SIZE"}) {
    if (std::getenv((std::string("UCX_TCP_") + name).c_str())) continue;
    if (ucs_status_t st = ucp_config_modify(config, name, kTcpOnlySegment); st != UCS_OK)
      spdlog::debug("ferry[{}]: cannot set UCX_TCP_{}={}: {}", self_, name, kTcpOnlySegment, ucs_status_string(st));
    else
      spdlog::debug("ferry[{}]: UCX_TLS is TCP only: UCX_TCP_{}={}", self_, name, kTcpOnlySegment);
  }
}

Status Engine::create_context_and_worker() {
  install_cma_guard_once();  // cma may serve any endpoint without peer-failure handling
  ucp_config_t* config = nullptr;
  if (ucs_status_t st = ucp_config_read(nullptr, nullptr, &config); st != UCS_OK)
    return ucx_failure(Errc::transport_error, "ucp_config_read failed (check the UCX_* environment variables)", self_, st);
  // UCX 1.13's shared-memory transports (posix, sysv) support peer-failure
  // handling only when asked (UCX_MM_ERROR_HANDLING). Without it MODE_PEER
  // endpoints avoid them: same-node AMs go over TCP loopback, or, when UCX_TLS
  // offers no TCP, endpoint creation fails and we fall back to MODE_NONE. An
  // explicit user setting (MM_, POSIX_ or SYSV_ERROR_HANDLING) wins.
  // One node and no user choice: shared memory only, so UCX listens on no TCP port.
  if (single_node_tls_) {
    if (ucs_status_t st = ucp_config_modify(config, "TLS", kSingleNodeTls); st != UCS_OK) {
      ucp_config_release(config);
      return ucx_failure(Errc::transport_error, std::string("cannot limit UCX to ") + kSingleNodeTls, self_, st);
    }
    spdlog::debug("ferry[{}]: all ranks on one node: UCX transports limited to {} (set UCX_TLS to choose)", self_,
                  kSingleNodeTls);
  }
  const char* tls = std::getenv("UCX_TLS");
  if (opts_.ucx_peer_error_handling && tls_may_use_shm(tls) && !std::getenv("UCX_MM_ERROR_HANDLING") &&
      !std::getenv("UCX_POSIX_ERROR_HANDLING") && !std::getenv("UCX_SYSV_ERROR_HANDLING")) {
    if (ucs_status_t st = ucp_config_modify(config, "MM_ERROR_HANDLING", "y"); st == UCS_OK)
      mm_error_handling_ = true;
    else
      spdlog::debug("ferry[{}]: cannot enable UCX_MM_ERROR_HANDLING: {}", self_, ucs_status_string(st));
  }
  // UCX's keepalive is what reports a dead same-node peer over shared memory (the mm
  // transports check that the peer process still exists; no traffic, no false positive
  // under load). Its default round of 20 s makes a SIGKILLed rank look alive for that long:
  // ferry asks for kUcxKeepalive unless the user tuned UCX_KEEPALIVE_* themselves.
  if (opts_.ucx_peer_error_handling && !std::getenv("UCX_KEEPALIVE_INTERVAL") &&
      !std::getenv("UCX_KEEPALIVE_NUM_EPS")) {
    if (ucs_status_t st = ucp_config_modify(config, "KEEPALIVE_INTERVAL", kUcxKeepalive); st != UCS_OK)
      spdlog::debug("ferry[{}]: cannot set UCX_KEEPALIVE_INTERVAL: {}", self_, ucs_status_string(st));
  }
  if (tls_is_tcp_only(tls)) use_large_tcp_segments(config);
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED | UCP_PARAM_FIELD_ESTIMATED_NUM_EPS;
  params.features = UCP_FEATURE_AM | UCP_FEATURE_RMA;
  if (opts_.progress != ProgressMode::busy) params.features |= UCP_FEATURE_WAKEUP;
  params.mt_workers_shared = 0;
  params.estimated_num_eps = size_;
  ucs_status_t st = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (st != UCS_OK) {
    context_ = nullptr;
    return ucx_failure(Errc::transport_error, "ucp_init failed (is UCX_TLS valid on this machine? see ucx_info -d)", self_, st);
  }

  ucp_worker_params_t wp{};
  wp.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wp.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  if (st = ucp_worker_create(context_, &wp, &worker_); st != UCS_OK) {
    worker_ = nullptr;
    return ucx_failure(Errc::transport_error, "ucp_worker_create failed", self_, st);
  }
  ucp_worker_attr_t attr{};
  attr.field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER;
  if (st = ucp_worker_query(worker_, &attr); st != UCS_OK)
    return ucx_failure(Errc::transport_error, "ucp_worker_query failed", self_, st);
  max_am_header_ = attr.max_am_header;
  if (max_am_header_ < sizeof(wire::FrameHeader))
    return Status(Errc::transport_error, "UCX allows only " + std::to_string(max_am_header_) +
                                             "-byte AM headers on rank " + std::to_string(self_) + "; ferry needs " +
                                             std::to_string(sizeof(wire::FrameHeader)));

  ucp_am_handler_param_t hp{};
  hp.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_FLAGS | UCP_AM_HANDLER_PARAM_FIELD_CB |
                  UCP_AM_HANDLER_PARAM_FIELD_ARG;
  hp.id = kAmId;
  hp.flags = UCP_AM_FLAG_WHOLE_MSG;
  hp.cb = &Engine::am_cb;
  hp.arg = this;
  if (st = ucp_worker_set_am_recv_handler(worker_, &hp); st != UCS_OK)
    return ucx_failure(Errc::transport_error, "ucp_worker_set_am_recv_handler failed", self_, st);

  if (opts_.progress != ProgressMode::busy) {
    if (st = ucp_worker_get_efd(worker_, &worker_fd_); st != UCS_OK)
      return ucx_failure(Errc::transport_error, "ucp_worker_get_efd failed (blocking progress needs UCX wakeup support)",
                       self_, st);
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = worker_fd_;
    if (epoll_fd_ < 0 || ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, worker_fd_, &ev) != 0)
      return Status(Errc::transport_error, "epoll set-up for the UCX worker fd failed on rank " + std::to_string(self_));
  }
  return Status::ok();
}

Status Engine::connect_peers(Bootstrap& bootstrap) {
  ucp_address_t* addr = nullptr;
  std::size_t addr_len = 0;
  if (ucs_status_t st = ucp_worker_get_address(worker_, &addr, &addr_len); st != UCS_OK)
    return ucx_failure(Errc::transport_error, "ucp_worker_get_address failed", self_, st);
  auto all = bootstrap.allgather(ByteView(reinterpret_cast<const std::byte*>(addr), addr_len));
  ucp_worker_release_address(worker_, addr);
  if (!all)
    return Status(Errc::bootstrap_failed, "UCX address exchange failed on rank " + std::to_string(self_) + ": " +
                                              all.status().to_string());
  if (all->size() != size_)
    return Status(Errc::bootstrap_failed, "UCX address exchange on rank " + std::to_string(self_) + " returned " +
                                              std::to_string(all->size()) + " addresses for " + std::to_string(size_) +
                                              " ranks");
  std::lock_guard<std::mutex> lock(mu_);
  bool want_peer_mode = opts_.ucx_peer_error_handling;
  for (Rank r = 0; r < size_; ++r) {
    if (r == self_) continue;
    const Bytes& blob = (*all)[r];
    if (blob.empty())
      return Status(Errc::bootstrap_failed, "rank " + std::to_string(r) + " published an empty UCX address");
    const auto* address = reinterpret_cast<const ucp_address_t*>(blob.data());
    Peer& p = peers_[r];
    ucs_status_t st = want_peer_mode ? create_ep_locked(r, address, true, &p.ep) : UCS_ERR_UNREACHABLE;
    if (st == UCS_ERR_UNREACHABLE && want_peer_mode) {
      // No transport UCX_TLS allows can do peer-failure handling here: in UCX
      // 1.13, cma never can, posix/sysv only with MM_ERROR_HANDLING=y (which
      // the user turned off, or which UCX_TLS made pointless). Fall back for
      // this and the remaining peers: failures are then found by heartbeats.
      want_peer_mode = false;
      spdlog::debug("ferry[{}]: no UCX transport to rank {} supports peer-failure handling (UCX_TLS={}); using "
                   "UCP_ERR_HANDLING_MODE_NONE, failures are detected by heartbeats",
                   self_, r, std::getenv("UCX_TLS") ? std::getenv("UCX_TLS") : "default");
    }
    if (!want_peer_mode) st = create_ep_locked(r, address, false, &p.ep);
    if (st == UCS_OK) st = create_ep_locked(r, address, want_peer_mode, &p.hb_ep);
    if (st != UCS_OK)
      return ucx_failure(Errc::transport_error, "ucp_ep_create to rank " + std::to_string(r) + " failed", self_, st);
    p.peer_mode = want_peer_mode;
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("ferry[{}]: endpoint to rank {}: error handling {}, transports {}", self_, r,
                    want_peer_mode ? "peer" : "none", ep_transports(p.ep));
  }
  return Status::ok();
}

// Creates the endpoint to rank r. A probe in peer-error mode runs with UCX's
// log muted: its "no peer failure handler" ERROR is expected and handled by
// the caller's fallback (a failure in the fallback still prints).
ucs_status_t Engine::create_ep_locked(Rank r, const ucp_address_t* address, bool peer_mode, ucp_ep_h* out) {
  ucp_ep_params_t ep{};
  ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
  ep.address = address;
  ep.err_mode = peer_mode ? UCP_ERR_HANDLING_MODE_PEER : UCP_ERR_HANDLING_MODE_NONE;
  if (peer_mode) {
    ep.field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep.err_handler.cb = &Engine::ep_error_cb;
    ep.err_handler.arg = &peers_[r].err_arg;
  }
  std::lock_guard<std::mutex> muted(ucs_log_level_mu());
  const auto saved_level = ucs_global_opts.log_component.log_level;
  if (peer_mode) ucs_global_opts.log_component.log_level = UCS_LOG_LEVEL_FATAL;
  ucs_status_t st = ucp_ep_create(worker_, &ep, out);
  if (peer_mode) ucs_global_opts.log_component.log_level = saved_level;
  if (st != UCS_OK) *out = nullptr;
  return st;
}

// Closes both endpoints of a peer (mu_ held). Force-close cancels UCX's
// outstanding requests on them (their callbacks run with UCS_ERR_CANCELED).
void Engine::close_peer_eps_locked(Peer& peer, bool force) {
  for (ucp_ep_h* ep : {&peer.ep, &peer.hb_ep}) {
    if (!*ep || !worker_) {
      *ep = nullptr;
      continue;
    }
    ucp_request_param_t prm{};
    prm.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    prm.flags = force ? UCP_EP_CLOSE_FLAG_FORCE : 0;
    void* req = ucp_ep_close_nbx(*ep, &prm);
    *ep = nullptr;
    if (UCS_PTR_IS_PTR(req)) close_requests_.push_back(req);
    else if (UCS_PTR_IS_ERR(req))
      spdlog::debug("ferry[{}]: closing an endpoint: {}", self_, ucs_status_string(UCS_PTR_STATUS(req)));
  }
}

Status Engine::shutdown() {
  std::lock_guard<std::mutex> sl(shutdown_mu_);
  if (shutdown_done_) return shutdown_status_;
  if (on_progress_thread())
    return Status(Errc::invalid_argument, "shutdown() called from an AM handler on rank " + std::to_string(self_) +
                                              "; call it from an application thread");
  events_.suppress_peer_failure_reports();
  Status result;
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (usable_locked()) {
      started = true;
      for (Rank r = 0; r < size_; ++r)
        if (r != self_ && !peers_[r].failed) post_internal_locked(r, wire::kShutdown);
      wake_locked();
    }
  }
  if (started) {
    // Dead peers are skipped once detected (within peer_timeout); a live one may arrive late
    // (a rank still writing its trace), so the bound is at least 30 s, not the peer timeout.
    auto bound = std::max<std::chrono::milliseconds>(opts_.peer_timeout, std::chrono::seconds(30));
    std::function<bool()> poll;
    if (opts_.progress == ProgressMode::busy) poll = [this] { return poll_once(); };
    result = barrier_.wait(self_, events_, std::chrono::steady_clock::now() + bound, poll);
    if (!result) spdlog::warn("ferry[{}]: {}; closing anyway", self_, result.to_string());
  }
  teardown(started);
  shutdown_status_ = result;
  shutdown_done_ = true;
  return result;
}

void Engine::teardown(bool graceful) {
  if (torn_down_.exchange(true)) return;
  events_.suppress_peer_failure_reports();
  if (thread_.joinable()) {
    stop_.store(true);
    wake();
    if (on_progress_thread()) {
      // Destroyed from inside a handler: we cannot join ourselves. The thread
      // exits after this handler returns; it only touches Engine memory, which
      // the shared_ptr held by the running thread keeps alive.
      spdlog::error("ferry[{}]: transport destroyed from an AM handler; detaching the progress thread", self_);
      thread_.detach();
    } else {
      thread_.join();
    }
  }
  if (graceful) drain_ready();  // deliver what arrived before the peers' shutdown messages
  ready_.drop_deliveries();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (state_ != State::closed) state_ = State::closing;
  }
  close_endpoints_and_wait(graceful);
  std::vector<Promise<void>> orphans;
  {
    std::lock_guard<std::mutex> lock(mu_);
    release_everything_locked(orphans, graceful);
    state_ = State::closed;
  }
  for (auto& p : orphans) p.set_error(shut_down_status());
  drain_ready();  // completions still run; deliveries are dropped once closed
  spdlog::debug("ferry[{}]: UCX transport closed ({})", self_, graceful ? "after shutdown" : "without shutdown");
}

void Engine::close_endpoints_and_wait(bool graceful) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!worker_) return;
    for (Rank r = 0; r < size_; ++r) {
      Peer& p = peers_[r];
      if (!p.ep && !p.hb_ep) continue;
      close_peer_eps_locked(p, p.failed || (!graceful && p.peer_mode));
    }
  }
  using clock = std::chrono::steady_clock;
  auto bound = graceful ? std::clamp(opts_.peer_timeout, std::chrono::milliseconds(200), std::chrono::milliseconds(2000))
                        : std::chrono::milliseconds(500);
  const auto deadline = clock::now() + bound;
  for (unsigned spins = 0;; ++spins) {
    bool done = true;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ucp_worker_progress(worker_);
      for (void* req : close_requests_)
        if (ucp_request_check_status(req) == UCS_INPROGRESS) done = false;
    }
    after_progress();
    if (done) return;
    if (clock::now() >= deadline) {
      spdlog::debug("ferry[{}]: endpoint close did not finish within {} ms; releasing the worker anyway", self_,
                    bound.count());
      return;
    }
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void Engine::release_everything_locked(std::vector<Promise<void>>& orphans, bool graceful) {
  for (void* req : close_requests_) ucp_request_free(req);
  close_requests_.clear();
  drop_queued_rndv_locked(kInvalidRank, false);  // the worker frees UCP's descriptors
  release_rma_locked();
  for (Peer& p : peers_) {
    for (Op* op = p.ops.head(); op; op = op->next)
      if (op->promise) {
        orphans.push_back(std::move(*op->promise));
        op->promise.reset();
      }
    p.reorder.clear();
  }
  // Destroying the worker may still run completion callbacks (they find the ops
  // orphaned and free them); afterwards no UCX request refers to our memory.
  // Requests to peers that died, or abandoned by a teardown without shutdown,
  // cannot complete (UCX 1.13 does not cancel a rendezvous on a force-closed
  // endpoint); UCX would WARN about each leaked request, so in those cases its
  // log is quieted to errors while the worker is destroyed.
  const bool any_failed = std::any_of(peers_.begin(), peers_.end(), [](const Peer& p) { return p.failed; });
  std::unique_lock<std::mutex> muted(ucs_log_level_mu());
  const auto saved_level = ucs_global_opts.log_component.log_level;
  if ((any_failed || !graceful) && saved_level > UCS_LOG_LEVEL_ERROR)
    ucs_global_opts.log_component.log_level = UCS_LOG_LEVEL_ERROR;
  if (worker_) ucp_worker_destroy(worker_);
  ucs_global_opts.log_component.log_level = saved_level;
  muted.unlock();
  worker_ = nullptr;
  for (Peer& p : peers_) {
    while (!p.ops.empty()) {
      Op* op = p.ops.head();
      p.ops.unlink(op);
      delete op;
    }
    p.ep = p.hb_ep = nullptr;
  }
  for (RecvCtx* ctx : recvs_) delete ctx;
  recvs_.clear();
  ops_.clear();
  if (context_) ucp_cleanup(context_);
  context_ = nullptr;
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  epoll_fd_ = -1;
  worker_fd_ = -1;
}

Status Engine::shut_down_status() const {
  return Status(Errc::shut_down, "the UCX transport of rank " + std::to_string(self_) +
                                     " was shut down before the operation completed");
}

Status Engine::failed_peer_status(const char* op, Rank peer) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!usable_locked()) return shut_down_status();
  }
  return Status(Errc::peer_failed, std::string(op) + ": rank " + std::to_string(peer) + " has failed");
}

Future<void> Engine::ready_error(Status s) const { return make_ready_future<void>(Result<void>(std::move(s))); }

}  // namespace ferry::transport::ucx

namespace ferry::transport::detail {

Result<std::unique_ptr<Transport>> make_ucx_transport(const Options& options, Bootstrap& bootstrap) {
  const Rank size = bootstrap.size();
  const Rank rank = bootstrap.rank();
  if (size == 0 || rank >= size)
    return Status(Errc::invalid_argument, "UCX transport: bootstrap reports rank " + std::to_string(rank) +
                                              " of size " + std::to_string(size));
  if (options.max_am_bytes == 0)
    return Status(Errc::invalid_argument, "UCX transport: Options::max_am_bytes must be positive");
  auto engine = std::make_shared<ucx::Engine>(options, rank, size);
  if (auto s = engine->init(bootstrap); !s) {
    spdlog::warn("ferry[{}]: {}", rank, s.to_string());
    engine->teardown(false);
    return s;
  }
  return std::unique_ptr<Transport>(new common::EngineTransport<ucx::Engine>(std::move(engine), "ucx"));
}

}  // namespace ferry::transport::detail
