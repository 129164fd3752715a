// actor_restart.cc — the caller side of actor fault tolerance (see
// actor_restart.h): routing calls to an actor's current incarnation, the
// creator's restart-or-die decision when a host dies, resubmission of lost
// calls, and the kActorUpdate message that tells every rank the verdict.
//
// Thread-safety: see actor_restart.h (seq_mu_ guards book_, then pend_mu_).
#include "actor_restart.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core_services.h"
#include "metrics.h"
#include "task_owner.h"

namespace ferry::rt {

namespace {

std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

ActorKey key_of(const ActorId& a) { return {a.creator, a.counter}; }

std::string actor_name(const ActorId& a) { return "actor:" + std::to_string(a.creator) + ":" + std::to_string(a.counter); }

}  // namespace

SavedArgs SavedArgs::copy(std::span<const ArgSpec> args) {
  SavedArgs s;
  s.specs.reserve(args.size());
  for (const ArgSpec& a : args) {
    ArgSpec c;
    c.kind = a.kind;
    c.meta = a.meta;
    c.ref = a.ref;
    c.epoch = a.epoch;
    c.hold = a.hold;
    c.contained = a.contained;
    if (a.kind == ArgSpec::Kind::value) {
      auto blob = std::make_shared<const Bytes>(a.bytes.begin(), a.bytes.end());
      c.bytes = std::span<const std::byte>(blob->data(), blob->size());
      s.blobs.push_back(std::move(blob));
    }
    s.specs.push_back(std::move(c));
  }
  return s;
}

// ------------------------------------------------------------------ routing

ActorWhere TaskOwner::actor_where_locked(const ActorId& a) const {
  auto it = book_->where.find(key_of(a));
  if (it != book_->where.end()) return it->second;
  return ActorWhere{a.host, 0, Status::ok()};
}

void TaskOwner::remember_owned(const RegistryEntry& cls, const ActorId& id, std::span<const ArgSpec> args) {
  ActorBook::Owned o;
  o.cls = &cls;
  o.id = id;
  o.args = std::make_shared<const SavedArgs>(SavedArgs::copy(args));
  for (const ArgSpec& a : args) {
    if (a.kind == ArgSpec::Kind::ref) o.held.push_back(a.ref);
    if (!a.hold.is_nil()) o.held.push_back(a.hold);
    o.held.insert(o.held.end(), a.contained.begin(), a.contained.end());
  }
  for (const ObjectId& h : o.held) core_.add_ref(h);
  MutexLock lock(seq_mu_);
  book_->owned.emplace(key_of(id), std::move(o));
}

void TaskOwner::forget_owned(const ActorId& a) {
  std::vector<ObjectId> held;
  {
    MutexLock lock(seq_mu_);
    auto it = book_->owned.find(key_of(a));
    if (it == book_->owned.end()) return;
    it->second.over = true;
    held.swap(it->second.held);
  }
  for (const ObjectId& h : held) core_.remove_ref(h);
}

// Takes the pending calls of `key` older than incarnation `inc` (all of them
// when `inc` is 0) plus the parked lost ones, in submission order.
std::vector<TaskOwner::Reroute> TaskOwner::take_calls_locked(const ActorKey& key, std::uint64_t inc) {
  std::vector<Reroute> out;
  {
    MutexLock lock(pend_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      const auto& c = it->second.call;
      if (c && !c->is_create && key_of(c->actor) == key && (inc == 0 || c->incarnation < inc)) {
        board_.finished(it->second.executor);
        out.push_back(Reroute{it->first, std::move(it->second)});
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (pending_.empty()) pend_cv_.notify_all();
  }
  if (auto l = book_->lost.find(key); l != book_->lost.end()) {
    for (auto& r : l->second) out.push_back(std::move(r));
    book_->lost.erase(l);
  }
  std::sort(out.begin(), out.end(), [](const Reroute& a, const Reroute& b) {
    return std::pair(a.p.call->incarnation, a.p.call->seq) < std::pair(b.p.call->incarnation, b.p.call->seq);
  });
  return out;
}

// Gives each call that may retry a sequence number of incarnation `w` and
// moves it to `resend`; the others to `fail` with `no_retry`.
void TaskOwner::assign_locked(std::vector<Reroute>& calls, const ActorWhere& w, const ActorKey& key,
                          std::vector<Reroute>& resend, std::vector<std::pair<Reroute, Status>>& fail,
                          const std::string& no_retry) {
  for (Reroute& r : calls) {
    ActorCall& c = *r.p.call;
    if (c.retries_left == 0 || !c.args) {
      fail.emplace_back(std::move(r), Status(Errc::actor_died, actor_name(c.actor) + ": " + no_retry));
      continue;
    }
    --c.retries_left;
    c.incarnation = w.incarnation;
    c.seq = next_seq_[key]++;
    r.p.executor = w.host;
    resend.push_back(std::move(r));
  }
}

void TaskOwner::resend_calls(std::vector<Reroute>& resend) {
  for (Reroute& r : resend) {
    const ActorCall& c = *r.p.call;
    proto::SubmitHead h;
    h.kind = proto::RecordKind::actor_call;
    h.result = r.id;
    h.name_hash = r.p.entry->name_hash;
    h.signature = r.p.entry->signature;
    h.actor_creator = c.actor.creator;
    h.actor_counter = c.actor.counter;
    h.seq = c.seq;
    const Rank dst = r.p.executor;
    auto args = c.args;
    metrics::add(metrics::C::tasks_retried);
    {
      MutexLock lock(pend_mu_);
      pending_.emplace(r.id, std::move(r.p));
    }
    board_.submitted(dst);
    send_record(dst, h, args->specs);
  }
}

void TaskOwner::fail_calls(std::vector<std::pair<Reroute, Status>>& fail) {
  for (auto& [r, s] : fail) {
    metrics::add(metrics::C::tasks_failed);
    const std::string name = r.p.entry ? r.p.entry->name : std::string("?");
    core_.run(core_.ownership().set_failed(r.id, Status(s.code(), "actor method '" + name + "': " + s.message())));
    for (const ObjectId& h : r.p.held) core_.remove_ref(h);
  }
}

void TaskOwner::broadcast(const proto::ActorUpdate& u) {
  const Bytes msg = proto::encode(u);
  for (Rank r = 0; r < core_.size(); ++r)
    if (r != core_.rank() && board_.alive(r) && !core_.ownership().is_dead(r)) core_.send(r, proto::kActorUpdate, msg);
}

// ------------------------------------------------------------------ the creator's decision

void TaskOwner::creator_hosts_died(Rank dead, const Status& why) {
  std::vector<ActorKey> mine;
  {
    MutexLock lock(seq_mu_);
    for (auto& [key, o] : book_->owned)
      if (!o.over && actor_where_locked(o.id).host == dead) mine.push_back(key);
  }
  for (const ActorKey& key : mine) creator_host_died(key, dead, why);
}

void TaskOwner::creator_host_died(const ActorKey& key, Rank dead, const Status& why) {
  std::vector<Reroute> resend;
  std::vector<std::pair<Reroute, Status>> fail;
  std::optional<proto::ActorUpdate> update;
  std::shared_ptr<const SavedArgs> ctor;
  const RegistryEntry* cls = nullptr;
  ActorId id;
  std::uint64_t inc = 0;
  std::vector<ObjectId> release;
  {
    MutexLock lock(seq_mu_);
    auto it = book_->owned.find(key);
    if (it == book_->owned.end() || it->second.over) return;
    ActorBook::Owned& o = it->second;
    ActorWhere w = actor_where_locked(o.id);
    if (w.host != dead || !w.dead.is_ok()) return;  // decided already
    std::optional<Rank> next;
    for (Rank i = 1; i < core_.size() && !next; ++i) {
      const Rank r = (dead + i) % core_.size();
      if (board_.alive(r) && !core_.ownership().is_dead(r)) next = r;
    }
    const std::string died_on = "its host " + rank_str(dead) + " died (" + why.message() + ")";
    auto calls = take_calls_locked(key, 0);
    if (o.restarts < o.id.options.max_restarts && next) {
      ++o.restarts;
      w = ActorWhere{*next, w.incarnation + 1, Status::ok()};
      book_->where[key] = w;
      next_seq_[key] = 1;  // the create is 0
      assign_locked(calls, w, key, resend, fail,
                    "it was in flight when " + died_on + "; the actor restarted on " + rank_str(*next) +
                        " but the call has no retries left (max_task_retries " +
                        std::to_string(o.id.options.max_task_retries) + ")");
      update = proto::ActorUpdate{proto::ActorUpdate::Kind::moved, key.first, key.second, w.host, w.incarnation, {}};
      ctor = o.args;
      cls = o.cls;
      id = o.id;
      inc = w.incarnation;
    } else {
      o.over = true;
      release.swap(o.held);
      w.dead = Status(Errc::actor_died, "actor class '" + o.cls->name + "' (" + actor_name(o.id) + ") died: " +
                                            died_on + "; " +
                                            (next ? "no restarts left (max_restarts " +
                                                        std::to_string(o.id.options.max_restarts) + ")"
                                                  : std::string("no live rank is left to restart it on")));
      book_->where[key] = w;
      for (Reroute& r : calls) fail.emplace_back(std::move(r), w.dead);
      update = proto::ActorUpdate{proto::ActorUpdate::Kind::died, key.first, key.second, dead, w.incarnation, w.dead};
    }
  }
  if (ctor) {
    auto call = std::make_shared<ActorCall>();
    call->actor = id;
    call->incarnation = inc;
    call->is_create = true;
    const ObjectId result = add_pending(*cls, update->host, ctor->specs, {}, false, nullptr, call);
    proto::SubmitHead h;
    h.kind = proto::RecordKind::actor_create;
    h.result = result;
    h.name_hash = cls->name_hash;
    h.signature = cls->signature;
    h.actor_creator = id.creator;
    h.actor_counter = id.counter;
    h.seq = 0;
    send_record(update->host, h, ctor->specs);
    spdlog::warn("actor class '{}' ({}): its host rank {} died; restarted on rank {} (restart {} of {})", cls->name,
                 actor_name(id), dead, update->host, inc, id.options.max_restarts);
  }
  resend_calls(resend);
  fail_calls(fail);
  for (const ObjectId& h : release) core_.remove_ref(h);
  broadcast(*update);
}

// ------------------------------------------------------------------ lost calls

void TaskOwner::call_lost(const ObjectId& id, Pending p, const Status& why) {
  ActorCall& c = *p.call;
  const ActorKey key = key_of(c.actor);
  if (c.is_create) {  // the restart create's refs; the creator decides in creator_hosts_died
    for (const ObjectId& h : p.held) core_.remove_ref(h);
    return;
  }
  const Rank executor = p.executor;
  std::vector<Reroute> resend;
  std::vector<std::pair<Reroute, Status>> fail;
  {
    MutexLock lock(seq_mu_);
    ActorWhere w = actor_where_locked(c.actor);
    std::vector<Reroute> one;
    one.push_back(Reroute{id, std::move(p)});
    if (!w.dead.is_ok()) {
      fail.emplace_back(std::move(one[0]), w.dead);
    } else if (w.incarnation > c.incarnation) {
      assign_locked(one, w, key, resend, fail,
                    "it was in flight when its host " + rank_str(executor) + " died; the actor restarted on " +
                        rank_str(w.host) + " but the call has no retries left");
    } else if (w.host != executor) {
      fail.emplace_back(std::move(one[0]), Status(Errc::internal, "a call of " + actor_name(c.actor) +
                                                                     " was lost on a rank that is not its host"));
    } else if (c.actor.options.max_restarts == 0 || c.actor.creator == core_.rank() ||
               core_.ownership().is_dead(c.actor.creator) || !board_.alive(c.actor.creator)) {
      // No restart will come: the actor is dead for this rank from now on.
      const std::string reason =
          c.actor.options.max_restarts == 0 ? "it has no restarts (max_restarts 0)"
          : c.actor.creator == core_.rank() ? "it was not restarted"
                                            : "its creator " + rank_str(c.actor.creator) + " died too, so it cannot restart";
      w.dead = Status(Errc::actor_died, actor_name(c.actor) + " died with its host " + rank_str(executor) + " (" +
                                            why.message() + "); " + reason);
      book_->where[key] = w;
      fail.emplace_back(std::move(one[0]), w.dead);
    } else {
      book_->lost[key].push_back(std::move(one[0]));  // until the creator's verdict
    }
  }
  resend_calls(resend);
  fail_calls(fail);
}

void TaskOwner::creator_died(Rank peer) {
  std::vector<std::pair<Reroute, Status>> fail;
  {
    MutexLock lock(seq_mu_);
    for (auto it = book_->lost.begin(); it != book_->lost.end();) {
      if (it->first.first != peer) {
        ++it;
        continue;
      }
      const ActorKey key = it->first;
      ActorWhere w = actor_where_locked(ActorId{0, key.first, key.second, {}});
      if (!it->second.empty()) w.host = it->second.front().p.executor;
      w.dead = Status(Errc::actor_died, actor_name(ActorId{0, key.first, key.second, {}}) + " died with its host " +
                                            rank_str(w.host) + " and its creator " + rank_str(peer) +
                                            " died too, so it cannot restart");
      book_->where[key] = w;
      for (Reroute& r : it->second) fail.emplace_back(std::move(r), w.dead);
      it = book_->lost.erase(it);
    }
  }
  fail_calls(fail);
}

// ------------------------------------------------------------------ updates from creators

void TaskOwner::on_actor_update(Rank src, ByteView p) {
  auto u = proto::decode_actor_update(p, src);
  if (!u) return core_.report(u.status());
  if (u->host >= core_.size())
    return core_.report(Status(Errc::malformed_message, "actor update from " + rank_str(src) + " names rank " +
                                                            std::to_string(u->host) + ", outside this job"));
  const ActorKey key{u->creator, u->counter};
  std::vector<Reroute> resend;
  std::vector<std::pair<Reroute, Status>> fail;
  {
    MutexLock lock(seq_mu_);
    ActorWhere w = actor_where_locked(ActorId{u->host, u->creator, u->counter, {}});
    if (!w.dead.is_ok()) return;  // dead already (for this rank)
    if (u->kind == proto::ActorUpdate::Kind::moved) {
      if (u->incarnation <= w.incarnation) return;  // stale
      w = ActorWhere{u->host, u->incarnation, Status::ok()};
      book_->where[key] = w;
      next_seq_[key] = 0;
      auto calls = take_calls_locked(key, w.incarnation);
      assign_locked(calls, w, key, resend, fail,
                    "it was in flight when its host died; the actor restarted on " + rank_str(w.host) +
                        " but the call has no retries left");
    } else {
      w.dead = u->why;
      book_->where[key] = w;
      auto calls = take_calls_locked(key, 0);
      for (Reroute& r : calls) fail.emplace_back(std::move(r), w.dead);
    }
  }
  resend_calls(resend);
  fail_calls(fail);
}

}  // namespace ferry::rt
