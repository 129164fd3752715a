// ucx_ops.h — the UCX engine's outstanding requests (internal): Op (one UCX
// send or get we track), OpList (the ops in flight to one peer, an intrusive
// list) and OpPool (recycled Op objects).
//
// Thread-safety: none; all of it is guarded by the engine lock (Engine::mu_),
// under which UCX runs the completion callbacks that unlink and recycle ops.
#pragma once

#include <ucp/api/ucp.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/wire.h"
#include "ferry/future.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::ucx {

class Engine;

// An outstanding UCX send or get request we track.
struct Op {
  enum class Kind : std::uint8_t { am, get, internal };
  Engine* engine = nullptr;
  Rank peer = kInvalidRank;
  Kind kind = Kind::am;
  wire::FrameHeader header{};        // AM header; must outlive the UCX request
  Bytes raw_header;                  // debug_send_raw: arbitrary header bytes
  std::optional<Promise<void>> promise;  // empty for internal ops and once orphaned
  Op* prev = nullptr;                // OpList (Peer::ops) links
  Op* next = nullptr;
  bool linked = false;
  // UCX may run the completion callback inside the very nbx call that posts
  // the op (and still return the request): while `posting`, the callback only
  // records `early_status` and end_post_locked() settles the op.
  bool posting = false;
  bool completed_early = false;
  ucs_status_t early_status = UCS_OK;
};

// The ops in flight to one peer (newest first). An op is in at most one list.
class OpList {
 public:
  Op* head() const noexcept { return head_; }
  bool empty() const noexcept { return head_ == nullptr; }
  void link(Op* op) noexcept {
    op->prev = nullptr;
    op->next = head_;
    if (head_) head_->prev = op;
    head_ = op;
    op->linked = true;
  }
  // No-op for an op that is not linked.
  void unlink(Op* op) noexcept {
    if (!op->linked) return;
    if (op->prev) op->prev->next = op->next;
    else head_ = op->next;
    if (op->next) op->next->prev = op->prev;
    op->prev = op->next = nullptr;
    op->linked = false;
  }

 private:
  Op* head_ = nullptr;
};

// Recycles Op objects: at most kMaxFree are kept; the pool deletes them when destroyed.
class OpPool {
 public:
  static constexpr std::size_t kMaxFree = 256;
  OpPool() = default;
  OpPool(const OpPool&) = delete;
  OpPool& operator=(const OpPool&) = delete;
  ~OpPool() { clear(); }

  Op* take(Engine* engine, Rank peer, Op::Kind kind) {
    Op* op;
    if (!free_.empty()) {
      op = free_.back();
      free_.pop_back();
    } else {
      op = new Op;
    }
    op->engine = engine;
    op->peer = peer;
    op->kind = kind;
    return op;
  }
  // `op` must be unlinked; its promise (if any) is dropped.
  void give(Op* op) {
    if (free_.size() >= kMaxFree || !op->raw_header.empty()) {
      delete op;
      return;
    }
    op->promise.reset();
    op->prev = op->next = nullptr;
    op->linked = false;
    free_.push_back(op);
  }
  void clear() noexcept {
    for (Op* op : free_) delete op;
    free_.clear();
  }

 private:
  std::vector<Op*> free_;
};

}  // namespace ferry::transport::ucx
