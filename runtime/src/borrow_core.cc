// borrow_core.cc — the Core's side of the borrower protocol (see
// docs/ARCHITECTURE.md "Borrowers"): registration of decoded refs, the
// owner's answers, contained refs of task results, releases.
//
// Thread-safety: as core.cc. reg_mu_ guards reg_waiters_; no lock is held
// while calling the transport, the ownership core or a promise.
#include <spdlog/spdlog.h>

#include <map>

#include "borrow_protocol.h"
#include "core.h"
#include "eviction.h"
#include "protocol.h"

namespace ferry::rt {

void Core::install_borrow_handlers() {
  auto wrap = [this](void (Core::*fn)(Rank, ByteView)) {
    return [this, fn](Rank src, ByteView p) {
      HandlerScope in_handler;
      GateGuard g(gate_);
      if (g) (this->*fn)(src, p);
    };
  };
  for (auto [id, fn] : {std::pair{proto::kBorrowAdd, &Core::on_borrow_add},
                        std::pair{proto::kBorrowAck, &Core::on_borrow_ack},
                        std::pair{proto::kBorrowRemove, &Core::on_borrow_remove},
                        std::pair{proto::kContained, &Core::on_contained},
                        std::pair{proto::kRelease, &Core::on_release}}) {
    if (Status s = t_.set_handler(id, wrap(fn)); !s) report(s);
  }
}

Future<void> Core::add_ref_decoded(const ObjectId& id) {
  // A running task's argument: its submitter holds it until the done record.
  std::vector<ObjectId>* cover = detail::ArgumentDecoding::active() ? TaskCover::active() : nullptr;
  Ownership::Decoded d = own_.add_ref_decoded(id, cover != nullptr);
  Future<void> f;
  if (d.covered) {
    cover->push_back(id);
    return f;
  }
  // A handler (or the progress thread) cannot wait for the answer: it would
  // have to deliver it. There the registration goes on without a waiter.
  const bool can_wait = d.wait && !HandlerScope::active() && !t_.on_progress_thread();
  if (can_wait) {
    Promise<void> p(progressor_);
    f = p.get_future();
    MutexLock lock(reg_mu_);
    reg_waiters_.emplace(d.seq, std::move(p));
  }
  run(std::move(d.actions));  // sends kBorrowAdd after the waiter is in place
  return f;
}

Future<void> Core::uncover(std::span<const ObjectId> covered) {
  if (covered.empty()) return {};
  std::vector<BorrowMsg> wait;
  Actions a = own_.uncover(covered, wait);
  Future<void> all;
  if (!wait.empty()) {
    // One future for all of them: the last answer (or failure) completes it.
    struct Join {
      explicit Join(std::size_t n) : left(n) {}
      std::atomic<std::size_t> left;
      Promise<void> done;
    };
    auto join = std::make_shared<Join>(wait.size());
    all = join->done.get_future();
    std::vector<std::pair<std::uint64_t, Promise<void>>> waiters;
    for (const BorrowMsg& m : wait) {
      Promise<void> p;
      p.get_future().then([this, join, id = m.id](Result<void>&&) {
        run(own_.remove_ref(id));  // the waiter's ref (Ownership::uncover)
        if (join->left.fetch_sub(1) == 1) join->done.set_value();
      });
      waiters.emplace_back(m.seq, std::move(p));
    }
    MutexLock lock(reg_mu_);
    for (auto& [seq, p] : waiters) reg_waiters_.emplace(seq, std::move(p));
  }
  run(std::move(a));  // sends kBorrowAdd after the waiters are in place
  // An episode started earlier (by another holder) may have been answered before our
  // waiter was in place: then nobody else will wake it.
  for (const BorrowMsg& m : wait)
    if (!own_.registering(m.id, m.seq)) wake_registered(m.seq);
  return all;
}

void Core::wake_registered(std::uint64_t seq) {
  std::vector<Promise<void>> woken;
  {
    MutexLock lock(reg_mu_);
    auto [first, last] = reg_waiters_.equal_range(seq);
    for (auto it = first; it != last; ++it) woken.push_back(std::move(it->second));
    reg_waiters_.erase(first, last);
  }
  // The waiters go on either way: a refused ref fails at get() with its error.
  for (Promise<void>& p : woken) p.set_value();
}

void Core::hold_contained(const ObjectId& outer, std::span<const ObjectId> contained) {
  if (contained.empty()) return;
  const Rank owner = outer.owner();
  own_.hold_for(owner, contained);
  if (owner == self_) return run(own_.add_contained(outer, contained, self_));
  send(owner, proto::kContained, proto::encode_contained(outer, contained));
}

void Core::run_borrow(Actions& a) {
  for (const BorrowMsg& m : a.borrow_adds)
    send(m.id.owner(), proto::kBorrowAdd, proto::encode_episode(m.id, m.seq));
  for (const BorrowMsg& m : a.borrow_removes)
    send(m.id.owner(), proto::kBorrowRemove, proto::encode_episode(m.id, m.seq));
  for (const ObjectId& id : a.retire_copies) send(id.owner(), kRetireCopy, proto::encode_drop(id));
  for (const BorrowAck& k : a.borrow_acks)
    send(k.borrower, proto::kBorrowAck, proto::encode_borrow_ack(k.id, k.seq, k.status));
  if (!a.releases.empty()) {
    std::map<Rank, std::vector<ObjectId>> by_holder;
    for (const Release& r : a.releases) by_holder[r.holder].push_back(r.id);
    for (auto& [holder, ids] : by_holder) {
      if (holder == self_) run(own_.release_for(self_, ids));
      else send(holder, proto::kRelease, proto::encode_release(ids));
    }
  }
  for (const Registered& r : a.registered) wake_registered(r.seq);
}

void Core::fail_registrations(const Status& why) {
  std::unordered_multimap<std::uint64_t, Promise<void>> waiters;
  {
    MutexLock lock(reg_mu_);
    waiters.swap(reg_waiters_);
  }
  for (auto& [seq, p] : waiters) p.set_error(why);
}

void Core::on_borrow_add(Rank src, ByteView p) {
  auto m = proto::decode_episode(p, src, "borrow-add");
  if (!m) return report(m.status());
  run(own_.borrow_add(m.value().id, src, m.value().seq));
}

void Core::on_borrow_ack(Rank src, ByteView p) {
  auto m = proto::decode_borrow_ack(p, src);
  if (!m) return report(m.status());
  if (m.value().id.owner() != src)
    return report(Status(Errc::malformed_message, "rank " + std::to_string(src) + " answered a registration of " +
                                                      m.value().id.to_string() + ", which it does not own"));
  run(own_.borrow_acked(m.value().id, m.value().seq, std::move(m.value().status)));
}

void Core::on_borrow_remove(Rank src, ByteView p) {
  auto m = proto::decode_episode(p, src, "borrow-remove");
  if (!m) return report(m.status());
  run(own_.borrow_remove(m.value().id, src, m.value().seq));
}

void Core::on_contained(Rank src, ByteView p) {
  auto m = proto::decode_contained(p, src);
  if (!m) return report(m.status());
  if (m.value().outer.owner() != self_) {
    report(Status(Errc::malformed_message, "rank " + std::to_string(src) + " sent refs contained in " +
                                               m.value().outer.to_string() + ", which rank " +
                                               std::to_string(self_) + " does not own"));
    return send(src, proto::kRelease, proto::encode_release(m.value().ids));
  }
  run(own_.add_contained(m.value().outer, m.value().ids, src));
}

void Core::on_release(Rank src, ByteView p) {
  auto m = proto::decode_release(p, src);
  if (!m) return report(m.status());
  run(own_.release_for(src, m.value()));
}

}  // namespace ferry::rt
