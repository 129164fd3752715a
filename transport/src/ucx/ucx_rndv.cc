// ucx_rndv.cc — receiving rendezvous active messages with bounded memory.
//
// A rendezvous frame's header arrives first (UCP_AM_RECV_ATTR_FLAG_RNDV); its
// slot in the sender's reorder buffer is reserved at once, and the data is
// fetched with ucp_am_recv_data_nbx into a Buffer we own. At most
// rndv_window_ bytes (kRndvWindowBytes unless FERRY_UCX_RNDV_WINDOW_BYTES says
// otherwise) of such fetches run at a time (always at least one): the
// others wait as UCP descriptors in rndv_queue_, in arrival order, so a burst
// of large AMs from many senders cannot make this rank allocate without bound.
//
// A receive failing with a peer-loss error (e.g. cma reading a dead process)
// schedules fail_peer for the sender; other failures are reported and the
// frame is skipped so the stream stays gap-free.
//
// Thread-safety: everything here runs with Engine::mu_ held (inside UCX
// callbacks or after them).
#include <spdlog/spdlog.h>

#include <new>

#include "ucx/ucx_engine.h"

namespace ferry::transport::ucx {

// Called from the AM callback. Returns UCS_INPROGRESS while UCP's descriptor is
// kept (queued or being received), UCS_OK if the frame was dropped (UCP then
// drops the descriptor itself).
ucs_status_t Engine::accept_rndv_locked(const wire::FrameHeader& h, void* desc) {
  peers_[h.src].reorder.emplace(h.seq, Inbound{h.handler, Inbound::State::pending, {}});
  PendingRndv p{h.src, h.seq, h.payload_len, desc};
  const bool fits = rndv_inflight_ == 0 || rndv_inflight_ + p.length <= rndv_window_;
  if (!rndv_queue_.empty() || !fits) {
    rndv_queue_.push_back(p);
    return UCS_INPROGRESS;
  }
  return start_rndv_locked(p, true);
}

// Starts queued receives while the window allows. Called at safe points only
// (after ucp_worker_progress returned, or outside UCX calls), never from a
// completion callback, so UCX calls do not nest. Not reentrant: a receive
// completing inside the loop only updates the counters.
void Engine::drain_rndv_locked() {
  if (rndv_draining_) return;
  rndv_draining_ = true;
  rndv_drain_needed_ = false;
  while (!rndv_queue_.empty() && worker_ &&
         (rndv_inflight_ == 0 || rndv_inflight_ + rndv_queue_.front().length <= rndv_window_)) {
    PendingRndv p = rndv_queue_.front();
    rndv_queue_.pop_front();
    (void)start_rndv_locked(p, false);
  }
  rndv_draining_ = false;
}

// Drops queued descriptors of `src` (all senders if kInvalidRank), handing
// them back to UCP unless `release` is false (teardown: the worker frees them).
void Engine::drop_queued_rndv_locked(Rank src, bool release) {
  for (auto it = rndv_queue_.begin(); it != rndv_queue_.end();) {
    if (src != kInvalidRank && it->src != src) {
      ++it;
      continue;
    }
    if (release && worker_) ucp_am_data_release(worker_, it->desc);
    it = rndv_queue_.erase(it);
  }
}

ucs_status_t Engine::start_rndv_locked(const PendingRndv& p, bool in_am_callback) {
  auto slot = peers_[p.src].reorder.find(p.seq);
  auto* ctx = new RecvCtx{this, p.src, p.seq, {}};
  try {
    ctx->buffer = Buffer::allocate(p.length);
  } catch (const std::bad_alloc&) {
    delete ctx;
    defer_error_locked(Status(Errc::transport_error, "out of memory for a " + std::to_string(p.length) +
                                                         "-byte AM from rank " + std::to_string(p.src) + " on rank " +
                                                         std::to_string(self_) + "; dropped"));
    if (!in_am_callback) ucp_am_data_release(worker_, p.desc);
    if (slot != peers_[p.src].reorder.end()) slot->second.state = Inbound::State::skip;
    advance_locked(p.src);
    return UCS_OK;
  }
  rndv_inflight_ += p.length;
  ucp_request_param_t prm{};
  prm.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  prm.cb.recv_am = &Engine::recv_done_cb;
  prm.user_data = ctx;
  ctx->posting = true;  // see begin_post_locked: the callback may run inside the call
  ucs_status_ptr_t req = ucp_am_recv_data_nbx(worker_, p.desc, ctx->buffer.data(), p.length, &prm);
  ctx->posting = false;
  if (ctx->completed_early) {
    if (UCS_PTR_IS_PTR(req)) ucp_request_free(req);
    on_recv_done_locked(ctx, ctx->early_status);
  } else if (req == nullptr) {
    on_recv_done_locked(ctx, UCS_OK);
  } else if (UCS_PTR_IS_ERR(req)) {
    on_recv_done_locked(ctx, UCS_PTR_STATUS(req));
  } else {
    recvs_.insert(ctx);
  }
  return UCS_INPROGRESS;
}

void Engine::recv_done_cb(void* request, ucs_status_t status, std::size_t /*length*/, void* user_data) {
  auto* ctx = static_cast<RecvCtx*>(user_data);
  Engine* e = ctx->engine;
  if (ctx->posting) {
    ctx->completed_early = true;
    ctx->early_status = status;
    return;
  }
  e->recvs_.erase(ctx);
  e->on_recv_done_locked(ctx, status);
  ucp_request_free(request);
}

void Engine::on_recv_done_locked(RecvCtx* ctx, ucs_status_t status) {
  std::unique_ptr<RecvCtx> owned(ctx);
  if (ctx->in_window) rndv_inflight_ -= ctx->buffer.size();
  Peer& peer = peers_[ctx->src];
  auto it = peer.reorder.find(ctx->seq);
  const bool live = !peer.failed && state_ == State::running && it != peer.reorder.end() &&
                    it->second.state == Inbound::State::pending;
  if (live) {
    if (status == UCS_OK) {
      activity_.heard(ctx->src);  // its data kept flowing
      it->second.payload = std::move(ctx->buffer);
      it->second.state = Inbound::State::ready;
    } else if (is_peer_loss(status)) {
      it->second.state = Inbound::State::skip;
      if (!peer.peer_mode) {  // with MODE_PEER, UCX calls ep_error_cb itself
        defer_failure_locked(ctx->src, ucx_failure(Errc::peer_failed,
                                                   "rendezvous receive from rank " + std::to_string(ctx->src) +
                                                       " failed; the peer is unreachable",
                                                   self_, status));
      }
    } else {
      it->second.state = Inbound::State::skip;
      defer_error_locked(ucx_failure(Errc::transport_error,
                                     "rendezvous receive of a " + std::to_string(ctx->buffer.size()) +
                                         "-byte AM from rank " + std::to_string(ctx->src) + " failed (message dropped)",
                                     self_, status));
    }
    advance_locked(ctx->src);
  }
  rndv_drain_needed_ = true;  // the window has room again
}

}  // namespace ferry::transport::ucx
