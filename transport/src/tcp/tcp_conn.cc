// tcp_conn.cc — frames in and out of one TCP connection (progress context only).
//
// Reading is a small state machine over a per-connection buffer (Conn::rbuf):
//   header     -> wait for 32 bytes, validate with wire::parse_header plus
//                 per-handler length rules; a bad frame closes the connection
//                 (the stream is out of sync) and fails the peer.
//   body       -> payloads <= kSmallBody (and get requests / error replies)
//                 are assembled in rbuf and handled from there (no copy).
//   get_prefix -> the 16-byte prefix of a get reply names the pending get.
//   direct     -> large AM payloads are read straight into a fresh buffer,
//                 get-reply data straight into the requester's `local`.
// Each read updates Liveness (bytes of a long transfer count as signs of life).
//
// Writing: Conn::wq is a FIFO of OutFrames; one async_write at a time gathers
// a batch of frames (header, small prefix, borrowed payload — no copies) and,
// when it completes, completes their promises and starts the next batch.
//
// Thread-safety: everything here runs on the progress context (see tcp_engine.h).
#include <spdlog/spdlog.h>
#include <sys/mman.h>

#include <cstring>
#include <limits>
#include <new>

#include "tcp/tcp_engine.h"

namespace ferry::transport::tcp {
namespace {

constexpr std::size_t kMaxBatchFrames = 256;
constexpr std::size_t kMaxBatchBuffers = 192;
constexpr std::size_t kMaxBatchBytes = std::size_t{8} << 20;

// asio's default completion condition caps each writev at 64 KiB; allow more.
struct LargeWrites {
  std::size_t operator()(const std::error_code& ec, std::size_t) const { return ec ? 0 : (std::size_t{16} << 20); }
};

std::string rank_s(Rank r) { return std::to_string(r); }

}  // namespace

ReadBuffer ReadBuffer::allocate() {
  void* p = ::mmap(nullptr, kReadBuffer, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  (void)::madvise(p, kReadBuffer, MADV_NOHUGEPAGE);  // advice only: small pages where THP is "always"
  return ReadBuffer{std::unique_ptr<std::byte, Unmap>(static_cast<std::byte*>(p))};
}

void ReadBuffer::Unmap::operator()(std::byte* p) const noexcept { (void)::munmap(p, kReadBuffer); }

void Engine::start_reading(Conn& c) {
  c.rbuf = ReadBuffer::allocate();
  c.rbeg = c.rend = 0;
  c.rs = Conn::Rs::header;
  read_more(c);
}

// Reads more bytes into rbuf (after moving the unread tail to the front).
void Engine::read_more(Conn& c) {
  if (c.rbeg == c.rend) {
    c.rbeg = c.rend = 0;
  } else if (c.rbeg > 0) {
    std::memmove(c.rbuf.data.get(), c.rbuf.data.get() + c.rbeg, c.rend - c.rbeg);
    c.rend -= c.rbeg;
    c.rbeg = 0;
  }
  c.socket.async_read_some(asio::buffer(c.rbuf.data.get() + c.rend, kReadBuffer - c.rend),
                           [this, &c](const std::error_code& ec, std::size_t n) { on_read(c, ec, n); });
}

// Reads the rest of a direct payload straight into its destination (or, when
// discarding, into rbuf, which is empty at this point).
void Engine::read_direct(Conn& c) {
  const std::size_t remaining = c.body_len - c.dst_done;
  asio::mutable_buffer target;
  if (c.dst != nullptr) {
    target = asio::buffer(c.dst + c.dst_done, remaining);
  } else {
    c.rbeg = c.rend = 0;
    target = asio::buffer(c.rbuf.data.get(), std::min(remaining, kReadBuffer));
  }
  c.socket.async_read_some(target, [this, &c](const std::error_code& ec, std::size_t n) { on_read(c, ec, n); });
}

void Engine::on_read(Conn& c, const std::error_code& ec, std::size_t n) {
  if (!c.open) return;
  if (ec) return on_conn_error(c, ec, "reading");
  liveness_.heard_from(c.peer);
  if (c.rs == Conn::Rs::direct) {
    c.dst_done += n;
    if (c.dst_done < c.body_len) return read_direct(c);
    finish_direct(c);
  } else {
    c.rend += n;
  }
  process(c);
}

// Handles every complete frame in rbuf, then issues the next read.
void Engine::process(Conn& c) {
  while (c.open) {
    const std::size_t avail = c.rend - c.rbeg;
    std::byte* p = c.rbuf.data.get() + c.rbeg;
    switch (c.rs) {
      case Conn::Rs::header:
        if (c.queued_replies >= max_queued_replies_) {  // resumed by on_written
          c.read_paused = true;
          return;
        }
        if (avail < kHeaderBytes) return read_more(c);
        if (!begin_frame(c)) return;
        break;
      case Conn::Rs::body:
        if (avail < c.body_len) return read_more(c);
        c.rbeg += c.body_len;
        c.rs = Conn::Rs::header;
        handle_body(c, ByteView(p, c.body_len));
        break;
      case Conn::Rs::get_prefix:
        if (avail < kGetReplyPrefix) return read_more(c);
        if (!begin_get_reply(c)) return;
        break;
      case Conn::Rs::direct: {
        const std::size_t k = std::min(avail, c.body_len - c.dst_done);
        if (c.dst != nullptr && k > 0) std::memcpy(c.dst + c.dst_done, p, k);
        c.rbeg += k;
        c.dst_done += k;
        if (c.dst_done < c.body_len) return read_direct(c);
        finish_direct(c);
        break;
      }
    }
  }
}

// Validates the header at rbuf[rbeg] and sets up reading its payload.
// Returns false when the frame was malformed (the connection is then closed).
bool Engine::begin_frame(Conn& c) {
  auto h = wire::parse_header(c.rbuf.data.get() + c.rbeg, kHeaderBytes, size_,
                              std::numeric_limits<std::uint64_t>::max());
  if (!h) {
    malformed(c, h.status().message());
    return false;
  }
  if (h->src != c.peer) {
    malformed(c, "frame names source rank " + rank_s(h->src));
    return false;
  }
  c.rbeg += kHeaderBytes;
  c.cur = *h;
  const std::uint64_t len = h->payload_len;
  auto bad_len = [&](const char* what, std::uint64_t expected) {
    malformed(c, std::string(what) + " frame with a payload of " + std::to_string(len) + " bytes (expected " +
                     std::to_string(expected) + ")");
    return false;
  };
  switch (h->handler) {
    case wire::kHeartbeat:
      if (len != 0) return bad_len("heartbeat", 0);
      c.rs = Conn::Rs::header;
      return true;
    case wire::kShutdown:
      if (len != 0) return bad_len("shutdown", 0);
      c.peer_shut_down = true;
      barrier_.arrived(c.peer);
      c.rs = Conn::Rs::header;
      return true;
    case wire::kGetRequest:
      if (len != kGetRequestBytes) return bad_len("get-request", kGetRequestBytes);
      c.body_len = kGetRequestBytes;
      c.rs = Conn::Rs::body;
      return true;
    case wire::kGetReply:
      if (len < kGetReplyPrefix) return bad_len("get-reply", kGetReplyPrefix);
      c.rs = Conn::Rs::get_prefix;
      return true;
    case wire::kHello:
      malformed(c, "unexpected hello frame after connection set-up");
      return false;
    default:
      break;
  }
  if (len > opts_.max_am_bytes) {
    malformed(c, "AM payload length " + std::to_string(len) + " exceeds max_am_bytes (" +
                     std::to_string(opts_.max_am_bytes) + ")");
    return false;
  }
  c.body_len = static_cast<std::size_t>(len);
  if (len <= kSmallBody) {
    c.rs = Conn::Rs::body;
    return true;
  }
  try {
    c.big = Buffer::allocate(c.body_len);
    c.dst = c.big.data.get();
  } catch (const std::bad_alloc&) {
    events_.report_error(Status(Errc::transport_error, "rank " + rank_s(self_) + ": out of memory for a " +
                                                           std::to_string(len) + "-byte AM from rank " +
                                                           rank_s(c.peer) + "; the message is discarded"));
    c.dst = nullptr;
  }
  c.dst_done = 0;
  c.rs = Conn::Rs::direct;
  return true;
}

// Reads the get-reply prefix and picks the pending get it answers.
bool Engine::begin_get_reply(Conn& c) {
  std::uint64_t id = 0;
  std::uint32_t status = 0;
  std::memcpy(&id, c.rbuf.data.get() + c.rbeg, 8);
  std::memcpy(&status, c.rbuf.data.get() + c.rbeg + 8, 4);
  c.rbeg += kGetReplyPrefix;
  const std::uint64_t rest = c.cur.payload_len - kGetReplyPrefix;
  auto it = c.gets.find(id);
  if (it == c.gets.end()) {
    malformed(c, "get reply for unknown request id " + std::to_string(id));
    return false;
  }
  if (status == 0 && rest != it->second.length) {
    malformed(c, "get reply carries " + std::to_string(rest) + " bytes for a " + std::to_string(it->second.length) +
                     "-byte get");
    return false;
  }
  if (status != 0 && rest > kMaxErrorText) {
    malformed(c, "get error reply with a " + std::to_string(rest) + "-byte message");
    return false;
  }
  c.cur_get.emplace(std::move(it->second));
  c.gets.erase(it);
  c.cur_get_status = status;
  c.body_len = static_cast<std::size_t>(rest);
  if (status != 0) {
    c.rs = Conn::Rs::body;
  } else {
    c.dst = c.cur_get->local;
    c.dst_done = 0;
    c.rs = Conn::Rs::direct;
  }
  return true;
}

void Engine::finish_direct(Conn& c) {
  c.rs = Conn::Rs::header;
  c.dst = nullptr;
  if (c.cur.handler == wire::kGetReply) {
    std::optional<PendingGet> g;
    g.swap(c.cur_get);
    g->promise->set_value();
    return;
  }
  Buffer b = std::move(c.big);
  if (b.data) deliver(c.peer, c.cur.handler, ByteView(b.data.get(), b.size));
}

void Engine::handle_body(Conn& c, ByteView body) {
  switch (c.cur.handler) {
    case wire::kGetRequest:
      serve_get(c, body);
      return;
    case wire::kGetReply: {  // an error reply
      std::optional<PendingGet> g;
      g.swap(c.cur_get);
      const std::uint32_t code = c.cur_get_status;
      const Errc errc = code <= static_cast<std::uint32_t>(kLastErrc) ? static_cast<Errc>(code)
                                                                           : Errc::transport_error;
      g->promise->set_error(Status(errc, std::string(reinterpret_cast<const char*>(body.data()), body.size())));
      return;
    }
    default:
      deliver(c.peer, c.cur.handler, body);
  }
}

// Holder side of a get: answers from the registered region without copying.
void Engine::serve_get(Conn& c, ByteView request) {
  std::uint64_t q[4];
  std::memcpy(q, request.data(), sizeof q);
  const std::uint64_t id = q[0], region_id = q[1], addr = q[2], len = q[3];
  OutFrame f;
  Status err;
  if (auto region = find_region(region_id)) {
    bool pinned = false;
    {
      std::lock_guard<std::mutex> lock(region->mu);
      const auto base = reinterpret_cast<std::uintptr_t>(region->base);
      if (!region->alive) {
        err = Status(Errc::not_found, "");
      } else if (addr < base || addr - base > region->length || len > region->length - (addr - base)) {
        err = Status(Errc::invalid_argument,
                     "get by rank " + rank_s(c.peer) + ": " + std::to_string(len) + " bytes " +
                         offset_text(addr, base) + " fall outside rank " +
                         rank_s(self_) + "'s region " + std::to_string(region_id) + " of " +
                         std::to_string(region->length) + " bytes");
      } else {
        ++region->pins;
        pinned = true;
      }
    }
    if (pinned) {
      f.pin = std::make_unique<RegionPin>(region);
      f.payload = ByteView(reinterpret_cast<const std::byte*>(addr), len);
    }
  } else {
    err = Status(Errc::not_found, "");
  }
  if (err.code() == Errc::not_found)
    err = Status(Errc::not_found, "get by rank " + rank_s(c.peer) + ": region " + std::to_string(region_id) +
                                      " of rank " + rank_s(self_) +
                                      " is not registered (deregistered, or the key outlived its region)");
  const std::uint32_t status = static_cast<std::uint32_t>(err.code()), zero = 0;
  std::memcpy(f.prefix.data(), &id, 8);
  std::memcpy(f.prefix.data() + 8, &status, 4);
  std::memcpy(f.prefix.data() + 12, &zero, 4);
  f.prefix_len = kGetReplyPrefix;
  if (!err.is_ok()) {
    const std::string& m = err.message();
    f.owned.resize(std::min(m.size(), kMaxErrorText));
    std::memcpy(f.owned.data(), m.data(), f.owned.size());
  }
  const std::size_t body = f.owned.empty() ? f.payload.size() : f.owned.size();
  f.header = wire::make_header(wire::kGetReply, self_, 0, kGetReplyPrefix + body);
  f.reply = true;
  ++c.queued_replies;
  push_frame(c, std::move(f));
  start_write(c);
}

void Engine::deliver(Rank src, HandlerId id, ByteView payload) {
  auto h = handlers_.find(id);
  if (!h) {
    events_.report_error(Status(Errc::unknown_handler,
                                "rank " + rank_s(self_) + " got an AM for handler id " + std::to_string(id) +
                                    " from rank " + rank_s(src) +
                                    ", but no handler is installed for it; message dropped (install handlers "
                                    "with set_handler before peers send, e.g. followed by a barrier)"));
    return;
  }
  try {
    (*h)(src, payload);
  } catch (const std::exception& e) {
    events_.report_error(Status(Errc::internal, "AM handler id " + std::to_string(id) + " threw on rank " +
                                                    rank_s(self_) + ": " + e.what()));
  } catch (...) {
    events_.report_error(Status(Errc::internal, "AM handler id " + std::to_string(id) + " threw on rank " +
                                                    rank_s(self_) + " (non-standard exception)"));
  }
}

void Engine::push_frame(Conn& c, OutFrame f) {
  if (!f.raw) f.header.seq = c.next_seq++;
  c.wq.push_back(std::move(f));
}

void Engine::start_write(Conn& c) {
  if (!c.open || c.writing > 0) return;
  if (c.wq.empty()) return maybe_half_close(c);
  c.wbufs.clear();
  std::size_t frames = 0, bytes = 0;
  auto add = [&](const void* p, std::size_t n) {
    if (n > 0) c.wbufs.emplace_back(p, n);
    bytes += n;
  };
  for (OutFrame& f : c.wq) {
    if (frames == kMaxBatchFrames || c.wbufs.size() + 3 > kMaxBatchBuffers) break;
    if (f.raw) {
      add(f.raw_header.data(), f.raw_header.size());
      add(f.owned.data(), f.owned.size());
    } else {
      add(&f.header, kHeaderBytes);
      add(f.prefix.data(), f.prefix_len);
      if (!f.owned.empty()) add(f.owned.data(), f.owned.size());
      else add(f.payload.data(), f.payload.size());
    }
    ++frames;
    if (bytes >= kMaxBatchBytes) break;
  }
  c.writing = frames;
  asio::async_write(c.socket, c.wbufs, LargeWrites{},
                    [this, &c](const std::error_code& ec, std::size_t) { on_written(c, ec); });
}

void Engine::on_written(Conn& c, const std::error_code& ec) {
  const std::size_t n = c.writing;
  c.writing = 0;
  if (!c.open) return;  // close_conn already failed the frames
  if (ec) return on_conn_error(c, ec, "writing");
  liveness_.sent_to(c.peer);
  std::vector<Promise<void>> done;
  for (std::size_t i = 0; i < n && !c.wq.empty(); ++i) {
    if (c.wq.front().promise) done.push_back(std::move(*c.wq.front().promise));
    if (c.wq.front().reply) --c.queued_replies;
    c.wq.pop_front();
  }
  start_write(c);
  for (auto& p : done) p.set_value();
  if (c.read_paused && c.open && c.queued_replies <= max_queued_replies_ / 2) {
    c.read_paused = false;
    process(c);
  }
}

void Engine::malformed(Conn& c, const std::string& what) {
  events_.report_error(Status(Errc::malformed_message, "rank " + rank_s(self_) + ": " + what +
                                                           " on the connection from rank " + rank_s(c.peer) +
                                                           "; the stream is out of sync, closing the connection"));
  fail_peer(c.peer, Status(Errc::peer_failed, "rank " + rank_s(c.peer) + " sent a malformed frame (" + what +
                                                  "); rank " + rank_s(self_) + " closed its connection"));
}

}  // namespace ferry::transport::tcp
