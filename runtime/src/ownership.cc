// ownership.cc — the ownership core (protocol and invariants in ownership.h).
//
// Thread-safety: every public method takes mu_ once and returns Actions; no
// callback, I/O or other lock is entered while mu_ is held.
#include "ownership.h"

#include <algorithm>
#include <utility>

namespace ferry::rt {

namespace {

std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

template <class V, class Pred>
void erase_if_vec(V& v, Pred pred) {
  v.erase(std::remove_if(v.begin(), v.end(), pred), v.end());
}

Reply error_reply(Rank reader, std::uint64_t request, ObjectId id, Status why) {
  Reply r;
  r.reader = reader;
  r.request = request;
  r.id = id;
  r.body.kind = ReplyKind::error;
  r.body.error = std::move(why);
  return r;
}

}  // namespace

const Ownership::Extra& Ownership::Owned::view() const {
  static const Extra kNone;
  return extra ? *extra : kNone;
}

const char* to_string(ReplyKind k) noexcept {
  switch (k) {
    case ReplyKind::error: return "error";
    case ReplyKind::value: return "value";
    case ReplyKind::from_arena: return "from_arena";
    case ReplyKind::at_holder: return "at_holder";
  }
  return "unknown";
}

void Actions::append(Actions&& o) {
  free_local.insert(free_local.end(), o.free_local.begin(), o.free_local.end());
  drop_copies.insert(drop_copies.end(), o.drop_copies.begin(), o.drop_copies.end());
  for (auto& r : o.replies) replies.push_back(std::move(r));
  borrow_adds.insert(borrow_adds.end(), o.borrow_adds.begin(), o.borrow_adds.end());
  borrow_removes.insert(borrow_removes.end(), o.borrow_removes.begin(), o.borrow_removes.end());
  for (auto& a : o.borrow_acks) borrow_acks.push_back(std::move(a));
  releases.insert(releases.end(), o.releases.begin(), o.releases.end());
  for (auto& r : o.registered) registered.push_back(std::move(r));
  retire_copies.insert(retire_copies.end(), o.retire_copies.begin(), o.retire_copies.end());
  reconstruct.insert(reconstruct.end(), o.reconstruct.begin(), o.reconstruct.end());
  forget_lineage.insert(forget_lineage.end(), o.forget_lineage.begin(), o.forget_lineage.end());
}

std::string OwnershipStats::describe() const {
  return "owned " + std::to_string(owned) + " (released " + std::to_string(released) + ", pending " +
         std::to_string(pending) + "), leases " + std::to_string(leases) + ", waiters " + std::to_string(waiters) +
         ", secondary copies " + std::to_string(secondary) + ", borrowed " + std::to_string(borrowed) +
         " (values " + std::to_string(values) + "), local copies " + std::to_string(copies) + ", borrowers " +
         std::to_string(borrowers) + ", transfers " + std::to_string(transfers);
}

Ownership::Ownership(Rank self, std::size_t inline_bytes) : self_(self), inline_bytes_(inline_bytes) {}

Status Ownership::not_found(ObjectId id) const {
  return Status(Errc::not_found, "object " + id.to_string() + " not found on its owner " + rank_str(id.owner()) +
                                     ": it was freed when its last reference on the owner was dropped (or never "
                                     "existed); keep an ObjectRef alive on the owner until every reader is done");
}

// ------------------------------------------------------------------ owner: creation

Status Ownership::add_entry(ObjectId id, Owned entry) {
  if (id.is_nil() || id.owner() != self_)
    return Status(Errc::invalid_argument, "ownership on " + rank_str(self_) + ": cannot own " + id.to_string() +
                                              " (nil id, or an id of another owner)");
  MutexLock lock(mu_);
  auto [it, inserted] = owned_.try_emplace(id, std::move(entry));
  if (!inserted)
    return Status(Errc::invalid_argument, "ownership on " + rank_str(self_) + ": " + id.to_string() +
                                              " is already registered (ids are never reused)");
  return Status::ok();
}

Status Ownership::add_owned(ObjectId id, const ObjectMeta& meta, Location primary) {
  Owned e;
  e.meta = meta;
  e.primary = primary;
  return add_entry(id, std::move(e));
}

Status Ownership::add_owned_value(ObjectId id, const ObjectMeta& meta, SharedBytes value) {
  if (!value) return Status(Errc::invalid_argument, "ownership: inline value of " + id.to_string() + " is null");
  Owned e;
  e.meta = meta;
  e.value = std::move(value);
  return add_entry(id, std::move(e));
}

Status Ownership::add_pending(ObjectId id) {
  Owned e;
  e.state = State::pending;
  e.task_output = true;
  return add_entry(id, std::move(e));
}

Actions Ownership::set_ready(ObjectId id, const ObjectMeta& meta, std::optional<Location> primary,
                             SharedBytes value) {
  Actions out;
  MutexLock lock(mu_);
  set_ready_locked(id, meta, primary, std::move(value), out);
  drain_unheld(out);
  return out;
}

Actions Ownership::set_failed(ObjectId id, Status why) {
  Actions out;
  MutexLock lock(mu_);
  set_failed_locked(id, std::move(why), out);
  drain_unheld(out);
  return out;
}

Actions Ownership::complete(std::span<Outcome> outcomes) {
  Actions out;
  MutexLock lock(mu_);
  for (Outcome& o : outcomes) {
    if (o.failed) set_failed_locked(o.id, std::move(o.error), out);
    else set_ready_locked(o.id, o.meta, o.primary, std::move(o.value), out);
  }
  drain_unheld(out);
  return out;
}

void Ownership::set_ready_locked(ObjectId id, const ObjectMeta& meta, std::optional<Location> primary,
                                 SharedBytes value, Actions& out) {
  auto it = owned_.find(id);
  if (it == owned_.end()) {
    // Nobody wants it any more: the result's block is freed where it lives.
    if (primary && primary->rank == self_) out.free_local.push_back(id);
    else if (primary) out.drop_copies.push_back({primary->rank, id});
    return;
  }
  Owned& e = it->second;
  if (e.state != State::pending) return;  // duplicate completion: keep the first
  e.state = State::ready;
  e.meta = meta;
  e.primary = primary;
  e.value = std::move(value);
  if (primary && primary->rank != self_ && dead_.count(primary->rank)) {
    lose_primary_locked(id, e, primary->rank, out);
    if (e.state == State::pending) return;  // re-made: the waiters keep waiting
  }
  if (e.extra) {
    for (const Waiter& w : e.extra->waiters) out.replies.push_back({w.reader, w.request, id, answer(id, e, w.reader)});
    e.extra->waiters.clear();
  }
  settle(it, out);
}

void Ownership::set_failed_locked(ObjectId id, Status why, Actions& out) {
  auto it = owned_.find(id);
  if (it == owned_.end() || it->second.state != State::pending) return;
  fail_locked(id, it->second, std::move(why), out);
  settle(it, out);
}

void Ownership::lose_primary_locked(ObjectId id, Owned& e, Rank holder, Actions& out) {
  e.primary.reset();
  if (Extra* x = e.extra.get(); x && !x->copies.empty()) {  // a reader's copy becomes the primary
    e.primary = x->copies.front();
    x->copies.erase(x->copies.begin());
    for (const Waiter& w : x->waiters) out.replies.push_back({w.reader, w.request, id, answer(id, e, w.reader)});
    x->waiters.clear();
    return;
  }
  if (Extra* x = e.extra.get(); x && !e.released) {
    bool reading = false;  // a live reader's finished read may still bring a copy
    for (const Lease& l : x->leases)
      reading = reading || (l.holder == holder && l.reader != holder && !dead_.count(l.reader));
    if (reading) {
      x->lost_holder = holder;
      e.state = State::pending;
      return;
    }
  }
  decide_lost_locked(id, e, holder, out);
}

void Ownership::decide_lost_locked(ObjectId id, Owned& e, Rank holder, Actions& out) {
  if (e.task_output && !e.released) {
    e.state = State::pending;
    e.value.reset();
    out.reconstruct.push_back(id);
    return;
  }
  fail_locked(id, e,
              Status(Errc::object_lost, "object " + id.to_string() + " was lost: every copy was on " + rank_str(holder) +
                                            ", which died, and it cannot be re-made"),
              out);
}

void Ownership::settle_lost_locked(ObjectId id, Owned& e, Actions& out) {
  Extra* x = e.extra.get();
  if (!x || x->lost_holder == transport::kInvalidRank) return;
  const Rank holder = x->lost_holder;
  if (std::any_of(x->leases.begin(), x->leases.end(), [&](const Lease& l) { return l.holder == holder; })) return;
  x->lost_holder = transport::kInvalidRank;
  decide_lost_locked(id, e, holder, out);
}

void Ownership::fail_locked(ObjectId id, Owned& e, Status why, Actions& out) {
  e.state = State::failed;
  Extra& x = e.x();
  x.error = std::move(why);
  for (const Waiter& w : x.waiters) out.replies.push_back(error_reply(w.reader, w.request, id, x.error));
  x.waiters.clear();
}

// ------------------------------------------------------------------ references

void Ownership::add_ref(ObjectId id) {
  MutexLock lock(mu_);
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    // A ref to an owned object that is gone (or going) cannot revive it.
    if (it != owned_.end() && !it->second.released) ++it->second.refs;
    return;
  }
  ++borrowed_[id].refs;
}

Actions Ownership::remove_ref(ObjectId id) {
  Actions out;
  MutexLock lock(mu_);
  remove_ref_locked(id, out);
  drain_unheld(out);
  return out;
}

Actions Ownership::remove_refs(std::span<const ObjectId> ids) {
  Actions out;
  MutexLock lock(mu_);
  for (const ObjectId& id : ids) remove_ref_locked(id, out);
  drain_unheld(out);
  return out;
}

void Ownership::remove_ref_locked(ObjectId id, Actions& out) {
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    if (it == owned_.end() || it->second.released || it->second.refs == 0) return;
    if (--it->second.refs == 0 && unreferenced(it->second)) {
      release_locked(id, it->second, out);
      settle(it, out);
    }
    return;
  }
  auto it = borrowed_.find(id);
  if (it != borrowed_.end() && --it->second.refs == 0) erase_borrowed(it, out);
}

void Ownership::drain_unheld(Actions& out) {
  while (!unheld_.empty()) {
    const ObjectId id = unheld_.back();
    unheld_.pop_back();
    remove_ref_locked(id, out);  // may erase more entries (appends to unheld_)
  }
}

std::uint64_t Ownership::ref_count(ObjectId id) const {
  MutexLock lock(mu_);
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    return it == owned_.end() ? 0 : it->second.refs;
  }
  auto it = borrowed_.find(id);
  return it == borrowed_.end() ? 0 : it->second.refs;
}

void Ownership::release_locked(ObjectId id, Owned& e, Actions& out) {
  e.released = true;
  e.refs = 0;
  if (!e.extra) return;
  for (const Waiter& w : e.extra->waiters) out.replies.push_back(error_reply(w.reader, w.request, id, not_found(id)));
  e.extra->waiters.clear();
}

void Ownership::settle(OwnedMap::iterator it, Actions& out) {
  const ObjectId id = it->first;
  Owned& e = it->second;
  if (Extra* x = e.extra.get()) {
    auto leased = [&](Rank holder) {
      return std::any_of(x->leases.begin(), x->leases.end(), [&](const Lease& l) { return l.holder == holder; });
    };
    erase_if_vec(x->retired, [&](const Location& loc) {
      if (leased(loc.rank)) return false;
      out.drop_copies.push_back({loc.rank, id});
      return true;
    });
    if (!x->leases.empty()) return;
  }
  if (!e.released) return;
  if (e.primary) {
    if (e.primary->rank == self_) out.free_local.push_back(id);
    else out.drop_copies.push_back({e.primary->rank, id});
  }
  for (const Location& loc : e.view().copies) out.drop_copies.push_back({loc.rank, id});
  if (e.extra) unheld_.insert(unheld_.end(), e.extra->contained.begin(), e.extra->contained.end());
  if (e.task_output) out.forget_lineage.push_back(id);
  owned_.erase(it);
}

// ------------------------------------------------------------------ owner: readers

LocateReply Ownership::answer(ObjectId id, Owned& e, Rank reader) {
  LocateReply r;
  if (e.state == State::failed) {
    r.error = e.view().error;
    return r;
  }
  r.meta = e.meta;
  if (e.value) {
    r.kind = ReplyKind::value;
    r.value = e.value;
    return r;
  }
  if (!e.primary) {
    r.error = Status(Errc::internal, "ownership: ready object " + id.to_string() + " has neither bytes nor a location");
    return r;
  }
  const Location primary = *e.primary;
  if (primary.rank == self_ && reader != self_ && e.meta.size <= inline_bytes_) {
    r.kind = ReplyKind::from_arena;
    r.where = primary;
    return r;
  }
  // Holders the reader may read one-sided: the primary and the copies (round robin).
  std::vector<Location> holders;
  holders.push_back(primary);
  for (const Location& c : e.view().copies) holders.push_back(c);
  auto own = std::find_if(holders.begin(), holders.end(), [&](const Location& l) { return l.rank == reader; });
  r.kind = ReplyKind::at_holder;
  if (own != holders.end()) {  // the reader holds it already (its own arena): no lease
    r.where = *own;
    return r;
  }
  r.where = holders[e.cursor++ % holders.size()];
  r.lease = next_lease_++;
  e.x().leases.push_back({r.lease, reader, r.where.rank});
  return r;
}

Actions Ownership::locate(ObjectId id, Rank reader, std::uint64_t request, Rank bad_holder) {
  Actions out;
  MutexLock lock(mu_);
  // A message from a rank already declared dead may still be delivered: no
  // lease or waiter may be created for it (nobody would ever release it).
  if (dead_.count(reader)) return out;
  auto it = owned_.find(id);
  if (id.owner() != self_ || it == owned_.end() || it->second.released) {
    Status why = id.owner() == self_
                     ? not_found(id)
                     : Status(Errc::not_found, "object " + id.to_string() + " was asked of " + rank_str(self_) +
                                                   ", which does not own it (its owner is " +
                                                   rank_str(id.owner()) + "): corrupted id?");
    out.replies.push_back(error_reply(reader, request, id, std::move(why)));
    return out;
  }
  Owned& e = it->second;
  if (bad_holder != kInvalidRank && e.extra) {
    Extra& x = *e.extra;
    for (auto c = x.copies.begin(); c != x.copies.end();) {
      if (c->rank == bad_holder) {
        x.retired.push_back(*c);
        c = x.copies.erase(c);
      } else {
        ++c;
      }
    }
  }
  // The reader could not read the primary: its holder is dying, and this rank
  // has not noticed yet. Wait for peer_failed (a copy is promoted, or the task
  // re-made) instead of handing out the same holder again.
  const bool primary_bad = bad_holder != kInvalidRank && e.state == State::ready && e.primary &&
                           e.primary->rank == bad_holder && bad_holder != self_;
  if (e.state == State::pending || primary_bad) {
    e.x().waiters.push_back({reader, request});
  } else {
    out.replies.push_back({reader, request, id, answer(id, e, reader)});
  }
  settle(it, out);
  drain_unheld(out);
  return out;
}

Actions Ownership::read_done(ObjectId id, Rank reader, std::uint64_t lease,
                             std::optional<std::uint64_t> cached_offset) {
  Actions out;
  MutexLock lock(mu_);
  auto it = owned_.find(id);
  if (it == owned_.end()) {
    if (cached_offset && reader != self_) out.drop_copies.push_back({reader, id});
    return out;
  }
  Owned& e = it->second;
  if (e.extra) erase_if_vec(e.extra->leases, [&](const Lease& l) { return l.id == lease && l.reader == reader; });
  if (e.extra && e.extra->lost_holder != transport::kInvalidRank) {
    Extra& x = *e.extra;
    if (cached_offset && reader != self_ && !dead_.count(reader) && !e.released) {
      // Read before its holder died: this copy is now the only one, and the primary.
      x.lost_holder = transport::kInvalidRank;
      e.state = State::ready;
      e.primary = Location{reader, *cached_offset};
      for (const Waiter& w : x.waiters) out.replies.push_back({w.reader, w.request, id, answer(id, e, w.reader)});
      x.waiters.clear();
      settle(it, out);
      drain_unheld(out);
      return out;
    }
    settle_lost_locked(id, e, out);
  }
  if (cached_offset && reader != self_) {
    const Extra& v = e.view();
    auto same = [&](const Location& l) { return l.rank == reader; };
    bool known = std::any_of(v.copies.begin(), v.copies.end(), same) ||
                 std::any_of(v.retired.begin(), v.retired.end(), same) || (e.primary && e.primary->rank == reader);
    if (e.released || e.state != State::ready || dead_.count(reader)) {
      if (!known) out.drop_copies.push_back({reader, id});
    } else if (!known) {
      e.x().copies.push_back({reader, *cached_offset});
    }
  }
  settle(it, out);
  drain_unheld(out);
  return out;
}

// ------------------------------------------------------------------ holder: copies

Actions Ownership::add_copy(ObjectId id, std::uint64_t offset) {
  Actions out;
  MutexLock lock(mu_);
  // The object table holds one block per id, so a second add_copy of the same
  // id names the block already recorded: nothing to do.
  if (copies_.count(id)) return out;
  if (id.owner() == self_ || dead_.count(id.owner())) {
    // Own objects are never "copies"; a dead owner's copy is useless: the block goes back at once.
    out.free_local.push_back(id);
    return out;
  }
  copies_.emplace(id, offset);
  return out;
}

std::optional<std::uint64_t> Ownership::copy_offset(ObjectId id) const {
  MutexLock lock(mu_);
  auto it = copies_.find(id);
  if (it == copies_.end()) return std::nullopt;
  return it->second;
}

Actions Ownership::drop_copy(ObjectId id) {
  Actions out;
  MutexLock lock(mu_);
  if (copies_.erase(id) > 0) out.free_local.push_back(id);
  return out;
}

// ------------------------------------------------------------------ reader: values

void Ownership::cache_value(ObjectId id, const ObjectMeta& meta, SharedBytes value) {
  MutexLock lock(mu_);
  if (id.owner() == self_ || dead_.count(id.owner())) return;
  auto it = borrowed_.find(id);
  if (it == borrowed_.end() || it->second.value) return;  // only while referenced
  it->second.meta = meta;
  it->second.value = std::move(value);
}

std::optional<Ownership::CachedValue> Ownership::cached_value(ObjectId id) const {
  MutexLock lock(mu_);
  auto it = borrowed_.find(id);
  if (it == borrowed_.end() || !it->second.value) return std::nullopt;
  return CachedValue{it->second.meta, it->second.value};
}

Ownership::LocalRead Ownership::local_read(ObjectId id) const {
  LocalRead r;
  MutexLock lock(mu_);
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    if (it == owned_.end() || it->second.released) return r;
    const Owned& e = it->second;
    if (e.state == State::failed) {
      r.kind = LocalRead::Kind::failed;
      r.error = e.view().error;
    } else if (e.state == State::ready && e.value) {
      r.kind = LocalRead::Kind::value;
      r.meta = e.meta;
      r.value = e.value;
    } else if (e.state == State::ready && e.primary && e.primary->rank == self_) {
      r.kind = LocalRead::Kind::arena;
    } else if (e.state == State::pending) {
      r.kind = LocalRead::Kind::pending;
    }
    return r;
  }
  auto b = borrowed_.find(id);
  if (b != borrowed_.end() && b->second.reg == Reg::invalid) {
    r.kind = LocalRead::Kind::failed;
    r.error = b->second.error;
    return r;
  }
  if (copies_.count(id)) {
    r.kind = LocalRead::Kind::arena;
    return r;
  }
  if (b != borrowed_.end() && b->second.value) {
    r.kind = LocalRead::Kind::value;
    r.meta = b->second.meta;
    r.value = b->second.value;
  }
  return r;
}

std::optional<Ownership::Hint> Ownership::location_hint(ObjectId id) const {
  MutexLock lock(mu_);
  if (id.owner() == self_) {
    auto it = owned_.find(id);
    if (it == owned_.end() || it->second.state != State::ready) return std::nullopt;
    const Owned& e = it->second;
    if (e.primary) return Hint{e.primary->rank, e.meta.size};
    return Hint{self_, e.meta.size};
  }
  if (copies_.count(id)) return Hint{self_, 0};
  auto b = borrowed_.find(id);
  if (b != borrowed_.end() && b->second.value) return Hint{self_, b->second.meta.size};
  return std::nullopt;
}

// ------------------------------------------------------------------ failures

Actions Ownership::peer_failed(Rank peer) {
  Actions out;
  if (peer == self_) return out;
  MutexLock lock(mu_);
  if (!dead_.insert(peer).second) return out;
  for (auto it = owned_.begin(); it != owned_.end();) {
    Owned& e = it->second;
    const ObjectId id = it->first;
    if (Extra* x = e.extra.get()) {
      erase_if_vec(x->borrowers, [&](const Episode& b) { return b.rank == peer; });
      erase_if_vec(x->tombstones, [&](const Episode& b) { return b.rank == peer; });
      // Leases on the dead holder stay while their (live) readers may still announce a copy.
      erase_if_vec(x->leases, [&](const Lease& l) {
        return l.reader == peer || (l.holder == peer && (e.released || (e.primary && e.primary->rank != peer)));
      });
      erase_if_vec(x->copies, [&](const Location& l) { return l.rank == peer; });
      erase_if_vec(x->retired, [&](const Location& l) { return l.rank == peer; });
      erase_if_vec(x->waiters, [&](const Waiter& w) { return w.reader == peer; });
    }
    if (e.primary && e.primary->rank == peer && e.state == State::ready) lose_primary_locked(id, e, peer, out);
    else settle_lost_locked(id, e, out);  // a reader of a lost primary died
    if (!e.released && unreferenced(e)) release_locked(id, e, out);
    auto next = std::next(it);
    settle(it, out);  // may erase `it`
    it = next;
  }
  for (auto it = copies_.begin(); it != copies_.end();) {
    if (it->first.owner() == peer) {
      out.free_local.push_back(it->first);
      it = copies_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto& [id, b] : borrowed_) {
    if (id.owner() != peer) continue;
    b.value.reset();
    if (b.reg == Reg::registering) out.registered.push_back({id, b.seq, Status(Errc::owner_died, "owner died")});
    if (b.reg != Reg::invalid) {
      b.reg = Reg::invalid;
      b.error = Status(Errc::owner_died, "object " + id.to_string() + ": its owner " + rank_str(peer) + " died");
    }
    for (Rank h : b.release_to) out.releases.push_back({h, id});
    b.release_to.clear();
  }
  // Refs kept for the dead rank (hold_for) go.
  if (auto t = transfers_.find(peer); t != transfers_.end()) {
    auto kept = std::move(t->second);
    transfers_.erase(t);
    for (const auto& [id, n] : kept)
      for (std::uint32_t i = 0; i < n; ++i) remove_ref_locked(id, out);
  }
  for (auto& r : out.releases)  // no message to the dead rank
    if (r.holder == peer) r.holder = kInvalidRank;
  erase_if_vec(out.releases, [](const Release& r) { return r.holder == kInvalidRank; });
  drain_unheld(out);
  return out;
}

bool Ownership::is_dead(Rank peer) const {
  MutexLock lock(mu_);
  return dead_.count(peer) > 0;
}

Actions Ownership::clear() {
  Actions out;
  MutexLock lock(mu_);
  for (auto& [id, e] : owned_) {
    if (e.primary && e.primary->rank == self_) out.free_local.push_back(id);
    for (const Waiter& w : e.view().waiters)
      out.replies.push_back(error_reply(w.reader, w.request, id,
                                        Status(Errc::shut_down, "the ferry runtime on " + rank_str(self_) +
                                                                    " shut down while " + id.to_string() +
                                                                    " was awaited")));
  }
  for (auto& [id, offset] : copies_) out.free_local.push_back(id);
  owned_.clear();
  copies_.clear();
  borrowed_.clear();
  transfers_.clear();
  unheld_.clear();
  return out;
}

OwnershipStats Ownership::stats() const {
  OwnershipStats s;
  MutexLock lock(mu_);
  s.owned = owned_.size();
  for (const auto& [id, e] : owned_) {
    s.released += e.released ? 1 : 0;
    s.pending += e.state == State::pending ? 1 : 0;
    const Extra& x = e.view();
    s.leases += x.leases.size();
    s.waiters += x.waiters.size();
    s.secondary += x.copies.size() + x.retired.size();
    s.borrowers += x.borrowers.size();
  }
  for (const auto& [r, m] : transfers_)
    for (const auto& [id, n] : m) s.transfers += n;
  s.borrowed = borrowed_.size();
  for (const auto& [id, b] : borrowed_) s.values += b.value ? 1 : 0;
  s.copies = copies_.size();
  return s;
}

}  // namespace ferry::rt
