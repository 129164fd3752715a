// borrowing.cc — the borrower half of the ownership core (see ownership.h and
// docs/ARCHITECTURE.md "Borrowers"): registration episodes, contained refs,
// refs kept for a receiver.
//
// Why episodes: a borrower's add and remove for one id may be sent by
// different threads and reach the owner in either order. Each registration
// gets a sequence number unique on the borrowing rank; the remove names it,
// and a remove that overtakes its add leaves a tombstone that cancels the
// add. The owner's borrower list is therefore exactly the set of episodes
// still open, whatever the arrival order.
//
// Thread-safety: as ownership.cc (one mutex, no call-outs under it).
#include <algorithm>

#include "ownership.h"

namespace ferry::rt {

namespace {

std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

}  // namespace

Ownership::Decoded Ownership::add_ref_decoded(ObjectId id, bool covered) {
  Decoded d;
  MutexLock lock(mu_);
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    if (it != owned_.end() && !it->second.released) ++it->second.refs;
    return d;
  }
  Borrowed& b = borrowed_[id];
  if (b.refs++ > 0) {  // registered, registering under another carrier, or covered
    if (b.reg != Reg::covered) return d;
    if (covered) {
      ++b.covers;
      d.covered = true;
      return d;
    }
    // A holder that no running task's submitter stands for: register now, as a first decode.
    start_registration(id, b, d.actions);
    d.wait = true;
    d.seq = b.seq;
    return d;
  }
  if (dead_.count(id.owner())) {
    b.reg = Reg::invalid;
    b.error = Status(Errc::owner_died, "object " + id.to_string() + ": its owner " + rank_str(id.owner()) + " died");
    return d;
  }
  if (covered) {
    b.reg = Reg::covered;
    b.covers = 1;
    d.covered = true;
    return d;
  }
  start_registration(id, b, d.actions);
  d.wait = true;
  d.seq = b.seq;
  return d;
}

void Ownership::start_registration(ObjectId id, Borrowed& b, Actions& out) {
  b.reg = Reg::registering;
  b.covers = 0;
  b.seq = next_seq_++;
  out.borrow_adds.push_back({id, b.seq});
}

Actions Ownership::uncover(std::span<const ObjectId> ids, std::vector<BorrowMsg>& wait) {
  Actions out;
  MutexLock lock(mu_);
  for (const ObjectId& id : ids) {
    auto it = borrowed_.find(id);
    if (it == borrowed_.end()) continue;  // its last ref dropped while covered: nothing was sent
    Borrowed& b = it->second;
    if (b.reg == Reg::covered) {
      // Still referenced here (refs > 0, else the entry would be gone): whatever holds it may
      // outlive every running task, so it registers now, even if other tasks still cover it
      // (their submitters' holds could end first, or with the submitter's death).
      if (b.covers > 0) --b.covers;
      start_registration(id, b, out);
    } else if (b.reg != Reg::registering) {
      continue;  // registered (or invalid): nothing to wait for
    }
    ++b.refs;  // the waiter's: the entry (and so the answer, or owner_died) outlives the wait
    wait.push_back({id, b.seq});
  }
  return out;
}

bool Ownership::registering(ObjectId id, std::uint64_t seq) const {
  MutexLock lock(mu_);
  auto it = borrowed_.find(id);
  return it != borrowed_.end() && it->second.seq == seq && it->second.reg == Reg::registering;
}

void Ownership::erase_borrowed(std::unordered_map<ObjectId, Borrowed>::iterator it, Actions& out) {
  const ObjectId id = it->first;
  Borrowed& b = it->second;
  if (b.reg == Reg::registering || b.reg == Reg::registered) out.borrow_removes.push_back({id, b.seq});
  // Never registered: the owner does not know us as a borrower, so our copy is retired explicitly.
  if (b.reg == Reg::covered && copies_.count(id)) out.retire_copies.push_back(id);
  // Holders that waited for our registration: we hold nothing any more.
  for (Rank h : b.release_to) out.releases.push_back({h, id});
  borrowed_.erase(it);
}

Actions Ownership::borrow_add(ObjectId id, Rank borrower, std::uint64_t seq) {
  Actions out;
  MutexLock lock(mu_);
  if (dead_.count(borrower)) return out;
  auto it = owned_.find(id);
  if (id.owner() != self_ || it == owned_.end() || it->second.released) {
    Status why(Errc::not_found, "object " + id.to_string() + " (owner " + rank_str(id.owner()) + ") " +
                                    (id.owner() == self_ ? "was freed or never existed (a stale or forged ref)"
                                                         : "was registered with " + rank_str(self_) +
                                                               ", which does not own it (corrupted ref?)"));
    out.borrow_acks.push_back({borrower, id, seq, std::move(why)});
    return out;
  }
  Extra& x = it->second.x();
  auto tomb = std::find_if(x.tombstones.begin(), x.tombstones.end(),
                           [&](const Episode& e) { return e.rank == borrower && e.seq == seq; });
  if (tomb != x.tombstones.end()) {
    x.tombstones.erase(tomb);  // its remove came first: the episode is over already
  } else {
    x.borrowers.push_back({borrower, seq});
  }
  out.borrow_acks.push_back({borrower, id, seq, Status::ok()});
  return out;
}

Actions Ownership::borrow_remove(ObjectId id, Rank borrower, std::uint64_t seq) {
  Actions out;
  MutexLock lock(mu_);
  auto it = owned_.find(id);
  if (id.owner() != self_ || it == owned_.end() || !it->second.extra) {
    if (it != owned_.end()) it->second.x().tombstones.push_back({borrower, seq});
    return out;
  }
  Owned& e = it->second;
  Extra& x = *e.extra;
  auto ep = std::find_if(x.borrowers.begin(), x.borrowers.end(),
                         [&](const Episode& b) { return b.rank == borrower && b.seq == seq; });
  if (ep == x.borrowers.end()) {
    if (!e.released && !dead_.count(borrower)) x.tombstones.push_back({borrower, seq});
    return out;
  }
  x.borrowers.erase(ep);
  // The borrower no longer references it: its cached copy is retired (dropped
  // once no read lease on it is left).
  for (auto c = x.copies.begin(); c != x.copies.end();) {
    if (c->rank == borrower) {
      x.retired.push_back(*c);
      c = x.copies.erase(c);
    } else {
      ++c;
    }
  }
  if (!e.released && unreferenced(e)) release_locked(id, e, out);
  settle(it, out);
  drain_unheld(out);
  return out;
}

Actions Ownership::borrow_acked(ObjectId id, std::uint64_t seq, Status status) {
  Actions out;
  MutexLock lock(mu_);
  auto it = borrowed_.find(id);
  if (it == borrowed_.end() || it->second.seq != seq || it->second.reg != Reg::registering) return out;
  Borrowed& b = it->second;
  if (status.is_ok()) {
    b.reg = Reg::registered;
  } else {
    b.reg = Reg::invalid;
    b.error = status;
    b.value.reset();
  }
  for (Rank h : b.release_to) out.releases.push_back({h, id});
  b.release_to.clear();
  out.registered.push_back({id, seq, std::move(status)});
  return out;
}

bool Ownership::hold_locked(ObjectId id, Rank from, Actions& out) {
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    const bool alive = it != owned_.end() && !it->second.released;
    if (alive) ++it->second.refs;
    if (from != kInvalidRank) out.releases.push_back({from, id});
    return alive;
  }
  Borrowed& b = borrowed_[id];
  if (b.refs++ == 0) {
    if (dead_.count(id.owner())) {
      b.reg = Reg::invalid;
      b.error = Status(Errc::owner_died, "object " + id.to_string() + ": its owner " + rank_str(id.owner()) + " died");
    } else {
      start_registration(id, b, out);
    }
  } else if (b.reg == Reg::covered) {
    start_registration(id, b, out);  // a holder no running task's submitter stands for
  }
  if (from == kInvalidRank) return true;
  if (b.reg == Reg::registering) b.release_to.push_back(from);
  else out.releases.push_back({from, id});
  return true;
}

Actions Ownership::add_contained(ObjectId outer, std::span<const ObjectId> inner, Rank from) {
  Actions out;
  MutexLock lock(mu_);
  auto it = owned_.find(outer);
  const bool keep = outer.owner() == self_ && it != owned_.end() && !it->second.released;
  for (const ObjectId& id : inner) {
    if (id.is_nil()) continue;
    if (!keep) {  // nobody wants the outer object: hold nothing
      if (from != kInvalidRank) out.releases.push_back({from, id});
      continue;
    }
    if (hold_locked(id, from, out)) it->second.x().contained.push_back(id);
  }
  return out;
}

void Ownership::hold_for(Rank to, std::span<const ObjectId> ids) {
  MutexLock lock(mu_);
  if (dead_.count(to)) return;  // peer_failed(to) already dropped what was kept for it: keep nothing
  for (const ObjectId& id : ids) {
    if (id.is_nil()) continue;
    if (id.owner() == self_) {
      auto it = owned_.find(id);
      if (it == owned_.end() || it->second.released) continue;  // dead ref: nothing to keep
      ++it->second.refs;
    } else {
      auto it = borrowed_.find(id);
      if (it == borrowed_.end()) continue;
      ++it->second.refs;
    }
    ++transfers_[to][id];
  }
}

Actions Ownership::release_for(Rank to, std::span<const ObjectId> ids) {
  Actions out;
  MutexLock lock(mu_);
  auto t = transfers_.find(to);
  if (t == transfers_.end()) return out;
  for (const ObjectId& id : ids) {
    auto k = t->second.find(id);
    if (k == t->second.end()) continue;
    if (--k->second == 0) t->second.erase(k);
    remove_ref_locked(id, out);
  }
  if (t->second.empty()) transfers_.erase(t);
  drain_unheld(out);
  return out;
}

std::optional<Status> Ownership::borrow_error(ObjectId id) const {
  MutexLock lock(mu_);
  auto it = borrowed_.find(id);
  if (it == borrowed_.end() || it->second.reg != Reg::invalid) return std::nullopt;
  return it->second.error;
}

}  // namespace ferry::rt
