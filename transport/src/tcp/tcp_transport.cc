// tcp_transport.cc — the TCP backend's Transport facade, factory and start-up.
//
// Start-up (collective, on the calling thread, before the progress thread
// exists): listen on Options::tcp_listen_address, publish "ip:port" through
// Bootstrap::allgather (rank 0 adds a fresh job key unless Options::job_key is
// set), then connect: rank i connects to every rank j > i and answers j's
// challenge with a signed wire::kHello frame (tcp_auth.h); rank j accepts
// connections from every i < j, admitting only those that prove the job key.
// Half-open connections are bounded in number and time (kHelloTimeout,
// kMinHalfOpen); refusals are logged rate-limited. Connection set-up is driven by running io_
// on this thread until every peer is connected or the set-up deadline passes
// (then make_transport fails naming the ranks that did not connect).
//
// Listen address forms: "" (first non-loopback IPv4 of the host, else
// 127.0.0.1), "IP", "IP:PORT", "[IPv6]:PORT", or an interface name ("eth0",
// optionally ":PORT"). Port 0 / none = an ephemeral port.
//
// Thread-safety: common::EngineTransport forwards to Engine, whose methods are thread-safe.
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <deque>

#include "backends.h"
#include "common/engine_transport.h"
#include "ferry/transport/affinity.h"
#include "ferry/transport/startup_profile.h"
#include "common/log_limit.h"
#include "ferry/transport/job_key.h"
#include "tcp/tcp_auth.h"
#include "tcp/tcp_engine.h"

namespace ferry::transport::tcp {
namespace {

using asio::ip::tcp;
using clock = std::chrono::steady_clock;

// First IPv4 address of an up interface: the named one, or ("" ) any running non-loopback one.
std::optional<asio::ip::address> interface_ipv4(const std::string& name) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return std::nullopt;
  std::optional<asio::ip::address> found;
  for (ifaddrs* it = list; it != nullptr && !found; it = it->ifa_next) {
    if (!it->ifa_addr || it->ifa_addr->sa_family != AF_INET || !(it->ifa_flags & IFF_UP)) continue;
    // Auto-pick: skip loopback and interfaces without a carrier (e.g. an idle docker0).
    if (name.empty() ? (it->ifa_flags & (IFF_LOOPBACK | IFF_RUNNING)) != IFF_RUNNING : name != it->ifa_name) continue;
    const auto* sin = reinterpret_cast<const sockaddr_in*>(it->ifa_addr);
    found = asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
  }
  freeifaddrs(list);
  return found;
}

asio::ip::address default_address() {
  if (auto a = interface_ipv4("")) return *a;
  return asio::ip::address_v4::loopback();
}

std::string endpoint_str(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

// Splits "host", "host:port", "[v6]" or "[v6]:port". Returns false on a bad port.
bool split_host_port(const std::string& spec, std::string& host, std::string& port) {
  host = spec;
  port.clear();
  if (!spec.empty() && spec.front() == '[') {
    auto close = spec.find(']');
    if (close == std::string::npos) return false;
    host = spec.substr(1, close - 1);
    std::string rest = spec.substr(close + 1);
    if (rest.empty()) return true;
    if (rest.front() != ':') return false;
    port = rest.substr(1);
  } else if (std::count(spec.begin(), spec.end(), ':') == 1) {
    auto colon = spec.find(':');
    host = spec.substr(0, colon);
    port = spec.substr(colon + 1);
  }
  return port.empty() || (port.size() <= 5 && std::all_of(port.begin(), port.end(), ::isdigit) &&
                          std::stoul(port) <= 65535);
}

Result<tcp::endpoint> parse_endpoint(const std::string& spec, bool allow_interface) {
  std::string host, port;
  if (!split_host_port(spec, host, port)) return Status(Errc::invalid_argument, "bad port in '" + spec + "'");
  const unsigned short p = port.empty() ? 0 : static_cast<unsigned short>(std::stoul(port));
  if (host.empty()) return tcp::endpoint(default_address(), p);
  std::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (!ec) return tcp::endpoint(addr, p);
  if (allow_interface) {
    if (auto a = interface_ipv4(host)) return tcp::endpoint(*a, p);
  }
  return Status(Errc::invalid_argument, "'" + spec + "' is neither an IP address" +
                                            (allow_interface ? " nor an up interface with an IPv4 address" : ""));
}

}  // namespace

std::string describe(const std::error_code& ec) {
  if (ec == asio::error::eof) return "connection closed by the peer (EOF)";
  return ec.message() + " (" + ec.category().name() + ":" + std::to_string(ec.value()) + ")";
}

Status Engine::listen_and_exchange(Bootstrap& bootstrap, std::vector<tcp::endpoint>& peers) {
  auto ep = parse_endpoint(opts_.tcp_listen_address, true);
  if (!ep)
    return Status(Errc::invalid_argument, "TCP transport on rank " + std::to_string(self_) +
                                              ": listen address (Options::tcp_listen_address / FERRY_TCP_ADDRESS) " +
                                              ep.status().message());
  std::error_code ec;
  acceptor_.open(ep->protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*ep, ec);
  if (!ec) acceptor_.listen(kListenBacklog, ec);
  tcp::endpoint local;
  if (!ec) local = acceptor_.local_endpoint(ec);
  if (ec)
    return Status(Errc::transport_error, "TCP transport on rank " + std::to_string(self_) + ": cannot listen on " +
                                             endpoint_str(*ep) + ": " + describe(ec) +
                                             " (set FERRY_TCP_ADDRESS to an address of this host)");
  if (local.address().is_unspecified()) local.address(default_address());
  const std::string mine = endpoint_str(local);
  spdlog::debug("ferry[{}]: tcp transport listening on {}", self_, mine);

  // Rank 0 appends the job key ('\0' + raw bytes) when none was given: the
  // bootstrap channel is trusted, the TCP listeners are not.
  std::string blob = mine;
  if (self_ == 0 && opts_.job_key.empty()) {
    auto hex = make_job_key_hex();
    if (!hex) return hex.status();
    auto raw = parse_job_key_hex(*hex);
    if (!raw) return raw.status();
    blob += '\0';
    blob += *raw;
  }
  auto all = bootstrap.allgather(ByteView(reinterpret_cast<const std::byte*>(blob.data()), blob.size()));
  if (!all)
    return Status(Errc::bootstrap_failed, "TCP address exchange failed on rank " + std::to_string(self_) + ": " +
                                              all.status().message());
  if (all->size() != size_)
    return Status(Errc::bootstrap_failed, "TCP address exchange on rank " + std::to_string(self_) + " returned " +
                                              std::to_string(all->size()) + " addresses for " +
                                              std::to_string(size_) + " ranks");
  peers.assign(size_, tcp::endpoint());
  for (Rank r = 0; r < size_; ++r) {
    const Bytes& b = (*all)[r];
    std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    if (const auto nul = s.find('\0'); nul != std::string::npos) {
      if (r == 0 && opts_.job_key.empty()) job_key_ = s.substr(nul + 1);
      s.resize(nul);
    }
    auto pe = parse_endpoint(s, false);
    if (!pe || pe->port() == 0)
      return Status(Errc::bootstrap_failed, "rank " + std::to_string(r) + " published the TCP address '" + s +
                                                "', which is not ip:port (mixed backends or builds?)");
    peers[r] = *pe;
  }
  if (!opts_.job_key.empty()) job_key_ = opts_.job_key;
  if (job_key_.size() < kMinJobKeyBytes)
    return Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(self_) +
                                              ": no job key (FERRY_JOB_KEY must be set on every rank or on none)");
  return Status::ok();
}

// Shared by the set-up handlers; `finished` makes late handlers inert.
struct SetupState {
  // An accepted connection whose hello has not been checked yet.
  struct Handshake {
    explicit Handshake(asio::io_context& io) : sock(std::make_shared<tcp::socket>(io)), timer(io) {}
    std::shared_ptr<tcp::socket> sock;
    Nonce nonce{};
    HelloFrame hello{};
    Ack ack{};
    asio::steady_timer timer;
    bool done = false;  // refused or authenticated: late handlers leave it alone
  };

  Engine& e;
  std::vector<bool> ready;
  std::vector<bool> claimed;  // accepting side: an authenticated connection from the rank exists
  std::size_t pending = 0;
  Status fatal;
  bool finished = false;
  clock::time_point deadline;
  std::deque<std::shared_ptr<Handshake>> handshakes;  // half-open, oldest first (at most max_half_open)
  std::size_t max_half_open = 0;
  common::LogLimiter refused_log{5, std::chrono::seconds(10)};
  std::uint64_t refused = 0;

  SetupState(Engine& engine, Rank size) : e(engine), ready(size, false), claimed(size, false) {}

  void connected(Rank r) {
    ready[r] = true;
    --pending;
  }
  std::string missing() const {
    std::string out;
    for (Rank r = 0; r < ready.size(); ++r)
      if (!ready[r] && r != e.self_) out += (out.empty() ? "" : ",") + std::to_string(r);
    return out;
  }
  void refuse(const std::shared_ptr<Handshake>& h, const std::string& why);
  void forget(const std::shared_ptr<Handshake>& h);

  void connect_to(const std::shared_ptr<SetupState>& self, Rank r, const tcp::endpoint& ep);
  void retry_connect(const std::shared_ptr<SetupState>& self, Rank r, const tcp::endpoint& ep, const std::string& why);
  void answer_challenge(const std::shared_ptr<SetupState>& self, Rank r, const tcp::endpoint& ep);
  void accept_next(const std::shared_ptr<SetupState>& self);
  void challenge(const std::shared_ptr<SetupState>& self, std::shared_ptr<Handshake> h);
};

// Drops a half-open connection (it is closed, so its pending handlers end).
void SetupState::forget(const std::shared_ptr<Handshake>& ref) {
  const std::shared_ptr<Handshake> h = ref;  // `ref` may be the deque element erased below
  h->done = true;
  auto it = std::find(handshakes.begin(), handshakes.end(), h);
  if (it != handshakes.end()) handshakes.erase(it);
  std::error_code ignored;
  h->timer.cancel();
  h->sock->close(ignored);
}

// Refuses a connection; the log is rate limited (a stranger may open many).
void SetupState::refuse(const std::shared_ptr<Handshake>& h, const std::string& why) {
  if (h->done) return;
  ++refused;
  if (auto suppressed = refused_log.admit())
    spdlog::warn("ferry[{}]: refused an incoming TCP connection: {}{}", e.self_, why,
                 *suppressed ? " (" + std::to_string(*suppressed) + " similar lines suppressed)" : "");
  forget(h);
}

void SetupState::connect_to(const std::shared_ptr<SetupState>& st, Rank r, const tcp::endpoint& ep) {
  Conn& c = *e.conns_[r];
  c.socket.async_connect(ep, [st, r, ep](const std::error_code& ec) {
    if (st->finished) return;
    if (ec) return st->retry_connect(st, r, ep, describe(ec));
    st->answer_challenge(st, r, ep);
  });
}

// Refused, unreachable or turned away for now: retry shortly (the peer may
// still be binding, or may have dropped us as the oldest half-open connection).
void SetupState::retry_connect(const std::shared_ptr<SetupState>& st, Rank r, const tcp::endpoint& ep,
                               const std::string& why) {
  std::error_code ignored;
  e.conns_[r]->socket.close(ignored);
  if (clock::now() + std::chrono::milliseconds(50) >= deadline) {
    fatal = Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(e.self_) +
                                               ": cannot connect to rank " + std::to_string(r) + " at " +
                                               endpoint_str(ep) + ": " + why);
    return;
  }
  auto timer = std::make_shared<asio::steady_timer>(e.io_, std::chrono::milliseconds(50));
  timer->async_wait([st, r, ep, timer](const std::error_code&) {
    if (!st->finished) st->connect_to(st, r, ep);
  });
}

// Connecting side: read the nonce, send the signed hello, check the ack.
void SetupState::answer_challenge(const std::shared_ptr<SetupState>& st, Rank r, const tcp::endpoint& ep) {
  struct Exchange {
    Nonce nonce{};
    HelloFrame hello{};
    Ack ack{};
  };
  Conn& c = *e.conns_[r];
  std::error_code ignored;
  c.socket.set_option(tcp::no_delay(true), ignored);
  auto x = std::make_shared<Exchange>();
  asio::async_read(c.socket, asio::buffer(x->nonce), [st, r, ep, x](const std::error_code& ec, std::size_t) {
    if (st->finished) return;
    if (ec) return st->retry_connect(st, r, ep, "no challenge: " + describe(ec));
    Engine& e = st->e;
    x->hello = make_hello(e.job_key_, x->nonce, e.self_, e.size_, r);
    asio::async_write(e.conns_[r]->socket, asio::buffer(x->hello), [st, r, ep, x](const std::error_code& ec, std::size_t) {
      if (st->finished) return;
      if (ec) return st->retry_connect(st, r, ep, "sending the hello failed: " + describe(ec));
      asio::async_read(st->e.conns_[r]->socket, asio::buffer(x->ack), [st, r, ep, x](const std::error_code& ec, std::size_t) {
        if (st->finished) return;
        if (ec)
          return st->retry_connect(st, r, ep, "the hello was not accepted (" + describe(ec) +
                                                  "; do all ranks have the same FERRY_JOB_KEY?)");
        if (!check_ack(st->e.job_key_, x->nonce, x->hello, x->ack))
          return st->retry_connect(st, r, ep, "the peer's answer is not signed with this job's key");
        st->connected(r);
      });
    });
  });
}

void SetupState::accept_next(const std::shared_ptr<SetupState>& st) {
  auto h = std::make_shared<Handshake>(e.io_);
  e.acceptor_.async_accept(*h->sock, [st, h](const std::error_code& ec) {
    if (st->finished) return;
    if (!ec) {
      if (st->handshakes.size() >= st->max_half_open) {
        const auto oldest = st->handshakes.front();
        st->refuse(oldest, "too many half-open connections; dropped the oldest");
      }
      st->handshakes.push_back(h);
      st->challenge(st, h);
      return st->accept_next(st);
    }
    // E.g. out of file descriptors: retry shortly (bounded by the set-up deadline).
    if (st->refused_log.admit())
      spdlog::warn("ferry[{}]: accepting a TCP connection failed: {}; retrying", st->e.self_, describe(ec));
    auto timer = std::make_shared<asio::steady_timer>(st->e.io_, std::chrono::milliseconds(100));
    timer->async_wait([st, timer](const std::error_code&) {
      if (!st->finished) st->accept_next(st);
    });
  });
}

// Accepting side: send a nonce, read and check the hello within kHelloTimeout, ack it.
void SetupState::challenge(const std::shared_ptr<SetupState>& st, std::shared_ptr<Handshake> h) {
  auto nonce = make_nonce();
  if (!nonce) return refuse(h, nonce.status().message());
  h->nonce = *nonce;
  h->timer.expires_after(kHelloTimeout);
  h->timer.async_wait([st, h](const std::error_code& ec) {
    if (!ec && !st->finished) st->refuse(h, "no hello within " + std::to_string(kHelloTimeout.count()) + " ms");
  });
  asio::async_write(*h->sock, asio::buffer(h->nonce), [st, h](const std::error_code& ec, std::size_t) {
    if (st->finished) return;
    if (ec) return st->refuse(h, "sending the challenge failed: " + describe(ec));
    asio::async_read(*h->sock, asio::buffer(h->hello), [st, h](const std::error_code& ec, std::size_t) {
      if (st->finished) return;
      if (ec) return st->refuse(h, "closed before a complete hello: " + describe(ec));  // no-op once refused
      Engine& e = st->e;
      auto src = check_hello(e.job_key_, h->nonce, h->hello.data(), h->hello.size(), e.self_, e.size_);
      if (!src) return st->refuse(h, src.status().message());
      if (st->claimed[*src]) return st->refuse(h, "duplicate connection from rank " + std::to_string(*src));
      // Authenticated: claim the rank now (a second hello for it is a duplicate), ack, then bind.
      st->claimed[*src] = true;
      h->done = true;
      h->timer.cancel();
      auto it = std::find(st->handshakes.begin(), st->handshakes.end(), h);
      if (it != st->handshakes.end()) st->handshakes.erase(it);
      h->ack = make_ack(e.job_key_, h->nonce, h->hello);
      const Rank r = *src;
      asio::async_write(*h->sock, asio::buffer(h->ack), [st, h, r](const std::error_code& ec, std::size_t) {
        if (st->finished) return;
        std::error_code ignored;
        if (ec) {  // the connecting rank retries with a new connection
          st->claimed[r] = false;
          h->sock->close(ignored);
          return;
        }
        Conn& c = *st->e.conns_[r];
        c.socket = std::move(*h->sock);
        c.socket.set_option(tcp::no_delay(true), ignored);
        st->connected(r);
      });
    });
  });
}

Status Engine::connect_all(const std::vector<tcp::endpoint>& peers) {
  auto st = std::make_shared<SetupState>(*this, size_);
  const auto budget = opts_.tcp_connect_timeout.count() > 0
                          ? opts_.tcp_connect_timeout
                          : std::max<std::chrono::milliseconds>(opts_.peer_timeout, std::chrono::seconds(30));
  st->deadline = clock::now() + budget;
  st->pending = size_ - 1;
  st->max_half_open = std::max<std::size_t>(kMinHalfOpen, 2 * static_cast<std::size_t>(size_));
  for (Rank r = self_ + 1; r < size_; ++r) st->connect_to(st, r, peers[r]);
  if (self_ > 0) st->accept_next(st);
  while (st->pending > 0 && st->fatal.is_ok()) {
    const auto now = clock::now();
    if (now >= st->deadline) break;
    io_.run_one_for(st->deadline - now);
  }
  st->finished = true;
  std::error_code ignored;
  acceptor_.close(ignored);
  for (auto& h : st->handshakes) {
    h->timer.cancel();
    h->sock->close(ignored);
  }
  if (st->refused > 0)
    spdlog::warn("ferry[{}]: refused {} TCP connection(s) during set-up (not from this job's ranks)", self_,
                 st->refused);
  if (!st->fatal.is_ok()) return st->fatal;
  if (st->pending > 0)
    return Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(self_) + ": ranks [" +
                                              st->missing() + "] did not connect within " +
                                              std::to_string(budget.count()) + " ms (did they crash?)");
  return Status::ok();
}

Status Engine::start(Bootstrap& bootstrap) {
  if (size_ > 1) {
    std::vector<tcp::endpoint> peers;
    if (auto s = listen_and_exchange(bootstrap, peers); !s) return s;
    startup_mark(self_, "tcp_addresses");
    if (auto s = connect_all(peers); !s) return s;
    startup_mark(self_, "tcp_connected");
    // Start heartbeats only once every rank is connected, so a rank still
    // waiting for slow peers is not mistaken for a silent one.
    if (auto s = bootstrap.barrier(); !s)
      return Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(self_) +
                                                ": barrier after connecting failed: " + s.message());
    startup_mark(self_, "tcp_barrier");
  }
  for (Rank r = 0; r < size_; ++r) {
    liveness_.heard_from(r);
    if (r == self_) continue;
    conns_[r]->open = true;
    ++open_conns_;
    start_reading(*conns_[r]);
  }
  arm_tick();
  thread_ = std::thread([self = shared_from_this()] {
    affinity::bind_this_thread(affinity::ThreadRole::progress);  // FERRY_BIND
    self->progress_loop();
  });
  spdlog::debug("ferry[{}]: tcp transport connected to {} peers ({} progress)", self_, size_ - 1,
                to_string(opts_.progress));
  return Status::ok();
}

}  // namespace ferry::transport::tcp

namespace ferry::transport::detail {

Result<std::unique_ptr<Transport>> make_tcp_transport(const Options& options, Bootstrap& bootstrap) {
  const Rank self = bootstrap.rank(), size = bootstrap.size();
  if (size == 0 || self >= size)
    return Status(Errc::invalid_argument, "TCP transport: bootstrap reports rank " + std::to_string(self) +
                                              " of " + std::to_string(size) + " ranks");
  if (options.max_am_bytes == 0)
    return Status(Errc::invalid_argument, "TCP transport: Options::max_am_bytes must be positive");
  // The thread-binding plan is computed here, on an application thread (FERRY_BIND errors fail early).
  if (const auto& plan = affinity::process_plan(); !plan) return plan.status();
  auto engine = std::make_shared<tcp::Engine>(options, self, size);
  if (auto s = engine->start(bootstrap); !s) {
    engine->teardown();
    return s;
  }
  return std::unique_ptr<Transport>(new common::EngineTransport<tcp::Engine>(std::move(engine), "tcp"));
}

}  // namespace ferry::transport::detail
