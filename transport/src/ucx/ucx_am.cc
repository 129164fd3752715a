// ucx_am.cc — active messages over UCX: send paths, the receive callback, the
// per-peer reorder buffer, and handler dispatch.
//
// Wire: one UCP AM id (kAmId); the ucp AM header is a wire::FrameHeader (src
// rank, ferry handler id, per-(src,dst) seq, payload_len); the payload travels
// as AM data. UCX may deliver eager and rendezvous messages out of order, so
// the receiver reorders by seq: a frame is handed to the ready queue only when
// every earlier frame from that sender has been. A rendezvous frame reserves
// its slot when its header arrives and becomes deliverable when
// ucp_am_recv_data_nbx has filled our buffer (ucx_rndv.cc). Heartbeats travel
// on a side-band endpoint with kSidebandFlag, outside the ordered stream.
//
// Validation: every header goes through wire::parse_header; a payload length
// that differs from what arrived, a frame claiming to come from this rank, or a
// seq that is stale, duplicated or more than kReorderWindow ahead is reported
// (EventSink::report_error, malformed_message) and dropped. An unknown handler
// id is reported at dispatch time (unknown_handler) and dropped.
// debug_send_raw sends the given bytes as the AM header; if they form a frame
// the receiver will accept from this rank, its seq is set to the next one of
// our stream so the raw frame cannot desynchronize ordering.
//
// Self-sends never touch UCX: they go straight onto the ready queue (in order)
// and their future completes after the handler ran, so the payload is never copied.
//
// Thread-safety: *_locked functions run with Engine::mu_ held; the UCX
// callbacks here run inside ucp_worker_progress (mu_ held). dispatch_am runs
// on the single dispatcher, without mu_.
#include <spdlog/spdlog.h>

#include <cstddef>
#include <cstring>
#include <new>

#include "ucx/ucx_engine.h"

namespace ferry::transport::ucx {

namespace {

std::string from_to(Rank src, Rank self) {
  return "from rank " + std::to_string(src) + " on rank " + std::to_string(self);
}

}  // namespace

Future<void> Engine::send(Rank dst, HandlerId id, ByteView payload) {
  if (dst >= size_)
    return ready_error(Status(Errc::invalid_argument, "send: destination rank " + std::to_string(dst) +
                                                          " is outside the job (size " + std::to_string(size_) + ")"));
  if (id >= kFirstReservedHandler)
    return ready_error(Status(Errc::invalid_argument, "send: handler id " + std::to_string(id) +
                                                          " is reserved for ferry's internal use"));
  if (payload.size() > opts_.max_am_bytes)
    return ready_error(Status(Errc::invalid_argument,
                              "send: AM payload of " + std::to_string(payload.size()) +
                                  " bytes exceeds Options::max_am_bytes (" + std::to_string(opts_.max_am_bytes) +
                                  "); raise FERRY_MAX_AM_BYTES or move large data with register_memory + get"));
  if (payload.size() > 0 && payload.data() == nullptr)
    return ready_error(Status(Errc::invalid_argument, "send: null payload pointer with non-zero length"));
  if (dst == self_) return send_self(id, payload);
  if (events_.is_failed(dst)) return ready_error(failed_peer_status("send", dst));

  // The promise is made only if the send stays in flight: a small eager AM
  // usually completes inside ucp_am_send_nbx, and then the shared ready
  // future is returned (no allocation). Completion callbacks run under mu_,
  // so attaching the promise after posting cannot race with them.
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) return ready_error(shut_down_status());
  if (peers_[dst].failed)
    return ready_error(Status(Errc::peer_failed, "send: rank " + std::to_string(dst) + " has failed"));
  Op* op = ops_.take(this, dst, Op::Kind::am);
  op->header = wire::make_header(id, self_, peers_[dst].next_send_seq, payload.size());
  Status early;
  if (!post_am_locked(op, &op->header, sizeof op->header, payload, true, false, &early))
    return early.is_ok() ? make_ready_future() : ready_error(std::move(early));
  Promise<void> promise(shared_from_this());
  auto future = promise.get_future();
  op->promise.emplace(std::move(promise));
  wake_locked();
  return future;
}

bool Engine::post_am_locked(Op* op, const void* header, std::size_t header_len, ByteView payload,
                            bool consumes_seq, bool sideband, Status* early) {
  Peer& peer = peers_[op->peer];
  ucp_ep_h ep = sideband ? peer.hb_ep : peer.ep;
  ucp_request_param_t prm = op_param(op);
  if (consumes_seq) ++peer.next_send_seq;
  begin_post_locked(op);
  ucs_status_ptr_t req = ucp_am_send_nbx(ep, kAmId, header, header_len, payload.data(), payload.size(), &prm);
  if (UCS_PTR_IS_ERR(req) && !op->completed_early && consumes_seq)
    --peer.next_send_seq;  // nothing went out: keep the receiver's stream gap-free
  return end_post_locked(op, req, "ucp_am_send_nbx", early);
}

void Engine::post_internal_locked(Rank dst, HandlerId id) {
  Peer& peer = peers_[dst];
  if (peer.failed || !peer.ep) return;
  Op* op = ops_.take(this, dst, Op::Kind::internal);
  op->header = wire::make_header(id, self_, peer.next_send_seq, 0);
  (void)post_am_locked(op, &op->header, sizeof op->header, {}, true);
}

// Heartbeats go on the side-band endpoint, outside the ordered stream, so a
// long transfer on the data endpoint cannot delay them past peer_timeout.
void Engine::post_heartbeat_locked(Rank dst) {
  Peer& peer = peers_[dst];
  if (peer.failed || !peer.hb_ep) return;
  Op* op = ops_.take(this, dst, Op::Kind::internal);
  op->header = wire::make_header(wire::kHeartbeat, self_, 0, 0, kSidebandFlag);
  (void)post_am_locked(op, &op->header, sizeof op->header, {}, false, true);
}

Future<void> Engine::send_self(HandlerId id, ByteView payload) {
  Promise<void> promise(shared_from_this());
  auto future = promise.get_future();
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) {
    promise.set_error(shut_down_status());
    return future;
  }
  ready_.deliver_self_locked(self_, id, payload, std::move(promise));
  wake_locked();
  return future;
}

Future<void> Engine::debug_send_raw(Rank dst, ByteView header, ByteView payload) {
  if (dst >= size_)
    return ready_error(Status(Errc::invalid_argument, "debug_send_raw: destination rank " + std::to_string(dst) +
                                                          " is outside the job"));
  if (dst == self_) return raw_to_self(header, payload);
  // A frame the receiver will accept (valid header naming this rank as its
  // source, matching payload length) gets the next seq of our stream to dst,
  // so a raw frame cannot desynchronize ordering; anything else is sent as is.
  auto parsed = wire::parse_header(header.data(), header.size(), size_, opts_.max_am_bytes);
  const bool in_stream = parsed && parsed->src == self_ && parsed->payload_len == payload.size() &&
                         (parsed->flags & kSidebandFlag) == 0;

  Promise<void> promise(shared_from_this());
  auto future = promise.get_future();
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) {
    promise.set_error(shut_down_status());
  } else if (peers_[dst].failed) {
    promise.set_error(Status(Errc::peer_failed, "debug_send_raw: rank " + std::to_string(dst) + " has failed"));
  } else if (header.size() > max_am_header_) {
    promise.set_error(Status(Errc::invalid_argument, "debug_send_raw: header of " + std::to_string(header.size()) +
                                                         " bytes exceeds UCX's AM header limit of " +
                                                         std::to_string(max_am_header_)));
  } else {
    Op* op = ops_.take(this, dst, Op::Kind::am);
    op->promise.emplace(std::move(promise));
    op->raw_header.assign(header.begin(), header.end());
    if (in_stream) {
      const std::uint64_t seq = peers_[dst].next_send_seq;
      std::memcpy(op->raw_header.data() + offsetof(wire::FrameHeader, seq), &seq, sizeof seq);
    }
    if (post_am_locked(op, op->raw_header.empty() ? nullptr : op->raw_header.data(), op->raw_header.size(), payload,
                       in_stream))
      wake_locked();
  }
  return future;
}

Future<void> Engine::raw_to_self(ByteView header, ByteView payload) {
  auto parsed = wire::parse_header(header.data(), header.size(), size_, opts_.max_am_bytes);
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) return ready_error(shut_down_status());
  if (!parsed) {
    defer_error_locked(Status(Errc::malformed_message, parsed.status().message() + "; frame " +
                                                           from_to(self_, self_) + " dropped"));
  } else if (parsed->payload_len != payload.size()) {
    defer_error_locked(Status(Errc::malformed_message,
                              "malformed frame " + from_to(self_, self_) + ": header announces " +
                                  std::to_string(parsed->payload_len) + " payload bytes but " +
                                  std::to_string(payload.size()) + " arrived; dropped"));
  } else {
    ready_.deliver_copy_locked(self_, parsed->handler, payload.data(), payload.size());
  }
  wake_locked();
  return make_ready_future();
}

ucs_status_t Engine::am_cb(void* arg, const void* header, std::size_t header_len, void* data, std::size_t length,
                           const ucp_am_recv_param_t* param) {
  return static_cast<Engine*>(arg)->on_am_locked(header, header_len, data, length, param);
}

ucs_status_t Engine::on_am_locked(const void* header, std::size_t header_len, void* data, std::size_t length,
                                  const ucp_am_recv_param_t* param) {
  if (state_ != State::running) return UCS_OK;  // closing: drop (a rendezvous sender completes)
  auto parsed = wire::parse_header(header, header_len, size_, opts_.max_am_bytes);
  if (!parsed) {
    defer_error_locked(Status(Errc::malformed_message,
                              parsed.status().message() + "; frame dropped on rank " + std::to_string(self_)));
    return UCS_OK;
  }
  const wire::FrameHeader h = *parsed;
  if (h.payload_len != length) {
    defer_error_locked(Status(Errc::malformed_message,
                              "malformed frame " + from_to(h.src, self_) + ": header announces " +
                                  std::to_string(h.payload_len) + " payload bytes but " + std::to_string(length) +
                                  " arrived; dropped"));
    return UCS_OK;
  }
  if (h.src == self_) {
    defer_error_locked(Status(Errc::malformed_message, "malformed frame on rank " + std::to_string(self_) +
                                                           ": it claims to come from this rank over the network; dropped"));
    return UCS_OK;
  }
  activity_.heard(h.src);
  Peer& peer = peers_[h.src];
  if (peer.failed) return UCS_OK;
  if (h.flags & kSidebandFlag) {
    if (h.handler != wire::kHeartbeat || length != 0)
      defer_error_locked(Status(Errc::malformed_message, "malformed frame " + from_to(h.src, self_) +
                                                             ": side-band flag on a non-heartbeat frame; dropped"));
    return UCS_OK;
  }
  if (h.seq < peer.next_recv_seq || h.seq - peer.next_recv_seq >= kReorderWindow || peer.reorder.count(h.seq)) {
    defer_error_locked(Status(Errc::malformed_message,
                              "malformed frame " + from_to(h.src, self_) + ": sequence number " +
                                  std::to_string(h.seq) + " is stale, duplicated or too far ahead (expected " +
                                  std::to_string(peer.next_recv_seq) + "); dropped"));
    return UCS_OK;
  }
  if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
    return accept_rndv_locked(h, data);
  }
  const bool in_order = h.seq == peer.next_recv_seq && peer.reorder.empty();
  try {
    if (in_order) {  // copied once into the ready queue (its log when small)
      ++peer.next_recv_seq;
      if (!consume_internal_locked(h.src, h.handler)) {
        ready_.deliver_copy_locked(h.src, h.handler, data, length);
      }
      return UCS_OK;
    }
    Buffer payload = Buffer::allocate(length);
    if (length > 0) std::memcpy(payload.data(), data, length);
    peer.reorder.emplace(h.seq, Inbound{h.handler, Inbound::State::ready, std::move(payload)});
  } catch (const std::bad_alloc&) {
    defer_error_locked(Status(Errc::transport_error, "out of memory for a " + std::to_string(length) +
                                                         "-byte AM " + from_to(h.src, self_) + "; dropped"));
    if (in_order) return UCS_OK;  // its seq is consumed: the stream goes on without it
    peer.reorder.emplace(h.seq, Inbound{h.handler, Inbound::State::skip, {}});
  }
  advance_locked(h.src);
  return UCS_OK;
}

void Engine::advance_locked(Rank src) {
  Peer& peer = peers_[src];
  for (auto it = peer.reorder.begin(); it != peer.reorder.end() && it->first == peer.next_recv_seq;) {
    if (it->second.state == Inbound::State::pending) break;
    if (it->second.state == Inbound::State::ready)
      hand_over_locked(src, it->second.handler, std::move(it->second.payload));
    ++peer.next_recv_seq;
    it = peer.reorder.erase(it);
  }
}

bool Engine::consume_internal_locked(Rank src, HandlerId handler) {
  if (handler == wire::kHeartbeat) return true;  // liveness already noted on arrival
  if (handler == wire::kShutdown) {
    barrier_.arrived(src);
    return true;
  }
  return false;
}

// Frames reach this point in send order. Internal ids are consumed here.
void Engine::hand_over_locked(Rank src, HandlerId handler, Buffer payload) {
  if (consume_internal_locked(src, handler)) return;
  ready_.deliver_locked(src, handler, std::move(payload));
}

void Engine::dispatch_am(Rank src, HandlerId handler, ByteView payload) {
  auto fn = handlers_.find(handler);
  if (!fn) {
    events_.report_error(Status(Errc::unknown_handler,
                                "AM for handler id " + std::to_string(handler) + " " + from_to(src, self_) +
                                    " dropped: no handler installed (call set_handler(" + std::to_string(handler) +
                                    ", ...) on every rank, then a barrier, before peers send)"));
    return;
  }
  try {
    (*fn)(src, payload);
  } catch (const std::exception& e) {
    events_.report_error(Status(Errc::internal, "AM handler id " + std::to_string(handler) + " threw on rank " +
                                                    std::to_string(self_) + ": " + e.what()));
  } catch (...) {
    events_.report_error(Status(Errc::internal, "AM handler id " + std::to_string(handler) + " threw on rank " +
                                                    std::to_string(self_) + " (non-standard exception)"));
  }
}

}  // namespace ferry::transport::ucx
