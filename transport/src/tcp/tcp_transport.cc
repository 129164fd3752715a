// tcp_transport.cc — the TCP backend's Transport facade, factory and start-up.
//
// Start-up (collective, on the calling thread, before the progress thread
// exists): listen on Options::tcp_listen_address, publish "ip:port" through
// Bootstrap::allgather, then connect: rank i connects to every rank j > i and
// sends a wire::kHello frame {world size, j}; rank j accepts connections from
// every i < j and checks the hello. Connection set-up is driven by running io_
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

#include "backends.h"
#include "common/engine_transport.h"
#include "ferry/transport/affinity.h"
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
  if (!ec) acceptor_.listen(static_cast<int>(std::max<Rank>(size_, 128)), ec);
  tcp::endpoint local;
  if (!ec) local = acceptor_.local_endpoint(ec);
  if (ec)
    return Status(Errc::transport_error, "TCP transport on rank " + std::to_string(self_) + ": cannot listen on " +
                                             endpoint_str(*ep) + ": " + describe(ec) +
                                             " (set FERRY_TCP_ADDRESS to an address of this host)");
  if (local.address().is_unspecified()) local.address(default_address());
  const std::string mine = endpoint_str(local);
  spdlog::debug("ferry[{}]: tcp transport listening on {}", self_, mine);

  auto all = bootstrap.allgather(ByteView(reinterpret_cast<const std::byte*>(mine.data()), mine.size()));
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
    auto pe = parse_endpoint(s, false);
    if (!pe || pe->port() == 0)
      return Status(Errc::bootstrap_failed, "rank " + std::to_string(r) + " published the TCP address '" + s +
                                                "', which is not ip:port (mixed backends or builds?)");
    peers[r] = *pe;
  }
  return Status::ok();
}

// Shared by the set-up handlers; `finished` makes late handlers inert.
struct SetupState {
  Engine& e;
  std::vector<bool> ready;
  std::size_t pending = 0;
  Status fatal;
  bool finished = false;
  clock::time_point deadline;
  std::vector<std::shared_ptr<tcp::socket>> handshakes;  // accepted, hello not read yet

  SetupState(Engine& engine, Rank size) : e(engine), ready(size, false) {}

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

  void connect_to(const std::shared_ptr<SetupState>& self, Rank r, const tcp::endpoint& ep);
  void send_hello(const std::shared_ptr<SetupState>& self, Rank r);
  void accept_next(const std::shared_ptr<SetupState>& self);
  void read_hello(const std::shared_ptr<SetupState>& self, std::shared_ptr<tcp::socket> sock);
};

void SetupState::connect_to(const std::shared_ptr<SetupState>& st, Rank r, const tcp::endpoint& ep) {
  Conn& c = *e.conns_[r];
  c.socket.async_connect(ep, [st, r, ep](const std::error_code& ec) {
    if (st->finished) return;
    if (!ec) return st->send_hello(st, r);
    std::error_code ignored;
    st->e.conns_[r]->socket.close(ignored);
    if (clock::now() + std::chrono::milliseconds(50) >= st->deadline) {
      st->fatal = Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(st->e.self_) +
                                                     ": cannot connect to rank " + std::to_string(r) + " at " +
                                                     endpoint_str(ep) + ": " + describe(ec));
      return;
    }
    // Refused/unreachable for now: retry shortly (the peer may still be binding).
    auto timer = std::make_shared<asio::steady_timer>(st->e.io_, std::chrono::milliseconds(50));
    timer->async_wait([st, r, ep, timer](const std::error_code&) {
      if (!st->finished) st->connect_to(st, r, ep);
    });
  });
}

void SetupState::send_hello(const std::shared_ptr<SetupState>& st, Rank r) {
  Conn& c = *e.conns_[r];
  std::error_code ignored;
  c.socket.set_option(tcp::no_delay(true), ignored);
  auto buf = std::make_shared<std::array<std::byte, kHeaderBytes + kHelloBytes>>();
  const auto h = wire::make_header(wire::kHello, e.self_, 0, kHelloBytes);
  const std::uint32_t body[2] = {e.size_, r};
  std::memcpy(buf->data(), &h, kHeaderBytes);
  std::memcpy(buf->data() + kHeaderBytes, body, kHelloBytes);
  asio::async_write(c.socket, asio::buffer(*buf), [st, r, buf](const std::error_code& ec, std::size_t) {
    if (st->finished) return;
    if (ec) {
      st->fatal = Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(st->e.self_) +
                                                     ": sending the hello to rank " + std::to_string(r) +
                                                     " failed: " + describe(ec));
      return;
    }
    st->connected(r);
  });
}

void SetupState::accept_next(const std::shared_ptr<SetupState>& st) {
  e.acceptor_.async_accept([st](const std::error_code& ec, tcp::socket sock) {
    if (st->finished) return;
    if (!ec) {
      auto s = std::make_shared<tcp::socket>(std::move(sock));
      st->handshakes.push_back(s);
      st->read_hello(st, std::move(s));
      return st->accept_next(st);
    }
    // E.g. out of file descriptors: retry shortly (bounded by the set-up deadline).
    spdlog::warn("ferry[{}]: accepting a TCP connection failed: {}; retrying", st->e.self_, describe(ec));
    auto timer = std::make_shared<asio::steady_timer>(st->e.io_, std::chrono::milliseconds(100));
    timer->async_wait([st, timer](const std::error_code&) {
      if (!st->finished) st->accept_next(st);
    });
  });
}

void SetupState::read_hello(const std::shared_ptr<SetupState>& st, std::shared_ptr<tcp::socket> sock) {
  auto buf = std::make_shared<std::array<std::byte, kHeaderBytes + kHelloBytes>>();
  asio::async_read(*sock, asio::buffer(*buf), [st, sock, buf](const std::error_code& ec, std::size_t) {
    if (st->finished || ec) return;  // a stray or dead connection: dropped with `sock`
    Engine& e = st->e;
    auto h = wire::parse_header(buf->data(), kHeaderBytes, e.size_, kHelloBytes);
    std::uint32_t body[2] = {0, 0};
    std::memcpy(body, buf->data() + kHeaderBytes, kHelloBytes);
    std::string why;
    if (!h) why = h.status().message();
    else if (h->handler != wire::kHello || h->payload_len != kHelloBytes) why = "first frame is not a hello";
    else if (h->src >= e.self_) why = "rank " + std::to_string(h->src) + " should be accepting, not connecting";
    else if (body[0] != e.size_ || body[1] != e.self_)
      why = "hello for a job of " + std::to_string(body[0]) + " ranks addressed to rank " + std::to_string(body[1]);
    else if (st->ready[h->src]) why = "duplicate connection from rank " + std::to_string(h->src);
    if (!why.empty()) {
      spdlog::warn("ferry[{}]: rejected an incoming TCP connection: {}", e.self_, why);
      std::error_code ignored;
      sock->close(ignored);
      return;
    }
    Conn& c = *e.conns_[h->src];
    c.socket = std::move(*sock);
    std::error_code ignored;
    c.socket.set_option(tcp::no_delay(true), ignored);
    st->connected(h->src);
  });
}

Status Engine::connect_all(const std::vector<tcp::endpoint>& peers) {
  auto st = std::make_shared<SetupState>(*this, size_);
  const auto budget = std::max<std::chrono::milliseconds>(opts_.peer_timeout, std::chrono::seconds(30));
  st->deadline = clock::now() + budget;
  st->pending = size_ - 1;
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
  for (auto& s : st->handshakes) s->close(ignored);
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
    if (auto s = connect_all(peers); !s) return s;
    // Start heartbeats only once every rank is connected, so a rank still
    // waiting for slow peers is not mistaken for a silent one.
    if (auto s = bootstrap.barrier(); !s)
      return Status(Errc::bootstrap_failed, "TCP transport on rank " + std::to_string(self_) +
                                                ": barrier after connecting failed: " + s.message());
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
