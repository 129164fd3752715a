// actor_calls.cc — the caller side of actors (TaskOwner::create_actor /
// call_actor / kill_actor): sequence numbers per (caller, actor), records
// through the same outbox as tasks. Restarts: actor_restart.cc.
#include "actor_restart.h"
#include "core_services.h"
#include "task_owner.h"

namespace ferry::rt {

namespace {
std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

// The record head of an actor create (seq 0) or method call.
proto::SubmitHead actor_head(proto::RecordKind kind, const ObjectId& result, const RegistryEntry& entry,
                             const ActorId& actor, std::uint64_t seq) {
  proto::SubmitHead h;
  h.kind = kind;
  h.result = result;
  h.name_hash = entry.name_hash;
  h.signature = entry.signature;
  h.actor_creator = actor.creator;
  h.actor_counter = actor.counter;
  h.seq = seq;
  return h;
}
}  // namespace

Result<ActorId> TaskOwner::create_actor(const RegistryEntry& cls, std::optional<Rank> where, std::span<ArgSpec> args,
                                    const detail::ActorOptions& options) {
  std::vector<ObjectId> held;
  if (Status s = begin_submission("actor creation", "actor class '" + cls.name + "'", where, args, held); !s)
    return s;
  const Rank host = where ? *where : choose(args);
  const ActorId id{host, core_.rank(), next_actor_.fetch_add(1), options};
  {
    MutexLock lock(seq_mu_);
    next_seq_[{id.creator, id.counter}] = 1;
  }
  if (options.max_restarts > 0) remember_owned(cls, id, args);  // keeps the constructor's arguments
  auto call = std::make_shared<ActorCall>();
  call->actor = id;
  call->is_create = true;
  // The create's "result" is not an object: the pending entry only holds the arguments.
  const ObjectId result = add_pending(cls, host, args, std::move(held), false, nullptr, std::move(call));
  if (!board_.alive(host) || core_.ownership().is_dead(host)) {
    fail_pending_on(host, Status(Errc::peer_failed, rank_str(host) + " has failed"));
    return id;  // calls fail the same way (or go to the restarted actor)
  }
  send_record(host, actor_head(proto::RecordKind::actor_create, result, cls, id, 0), args);
  return id;
}

Result<detail::SubmitResult> TaskOwner::call_actor(const ActorId& a, const RegistryEntry& m, std::span<ArgSpec> args) {
  if (Status s = check_accepting("actor call"); !s) return s;
  if (a.is_nil()) return Status(Errc::invalid_argument, "call of method '" + m.name + "' on a nil ferry::actor");
  if (a.host >= core_.size() || a.creator >= core_.size())
    return Status(Errc::invalid_argument, "call of method '" + m.name + "' on " + a.to_string() +
                                              ", which is not an actor of this job");
  std::vector<ObjectId> held;
  if (Status s = store_large_args(args, held); !s) return s;
  auto call = std::make_shared<ActorCall>();
  call->actor = a;
  call->retries_left = a.options.max_task_retries;
  if (call->retries_left > 0) call->args = std::make_shared<const SavedArgs>(SavedArgs::copy(args));
  std::vector<ObjectData> inlined;  // alive until send_record wrote the record
  inline_ready_args(args, inlined);  // after the copy: a retry re-sends the refs
  ActorWhere w;
  {
    // Calls of one thread leave in seq order; across threads the host
    // reorders by seq.
    MutexLock lock(seq_mu_);
    w = actor_where_locked(a);
    if (w.dead.is_ok()) call->seq = next_seq_[{a.creator, a.counter}]++;
  }
  call->incarnation = w.incarnation;
  const ObjectId id = add_pending(m, w.host, args, std::move(held), true, nullptr, call);
  Status lost = w.dead;
  if (lost.is_ok()) {  // moved or died meanwhile? Then the call counts as lost on its old host.
    MutexLock lock(seq_mu_);
    const ActorWhere now = actor_where_locked(a);
    if (now.incarnation != w.incarnation || !now.dead.is_ok())
      lost = Status(Errc::peer_failed, "the actor left " + rank_str(w.host));
  }
  if (lost.is_ok() && (!board_.alive(w.host) || core_.ownership().is_dead(w.host))) {
    fail_pending_on(w.host, Status(Errc::peer_failed, rank_str(w.host) + " (the actor's host) has failed"));
  } else if (!lost.is_ok()) {
    std::optional<Pending> p;
    {
      MutexLock lock(pend_mu_);
      if (auto it = pending_.find(id); it != pending_.end()) {
        p = std::move(it->second);
        pending_.erase(it);
      }
    }
    if (p) {
      board_.finished(w.host);
      call_lost(id, std::move(*p), lost);
    }
  } else {
    send_record(w.host, actor_head(proto::RecordKind::actor_call, id, m, a, call->seq), args);
  }
  return detail::SubmitResult{id, core_.epoch()};
}

Status TaskOwner::kill_actor(const ActorId& a) {
  if (Status s = check_accepting("actor kill"); !s) return s;
  if (a.is_nil() || a.host >= core_.size() || a.creator >= core_.size())
    return Status(Errc::invalid_argument, "kill of " + a.to_string() + ", which is not an actor of this job");
  forget_owned(a);  // a killed actor is not restarted
  std::uint64_t seq;
  ActorWhere w;
  {
    MutexLock lock(seq_mu_);
    w = actor_where_locked(a);
    seq = next_seq_[{a.creator, a.counter}]++;
  }
  if (!w.dead.is_ok() || !board_.alive(w.host)) return Status::ok();  // it died with its host
  proto::SubmitHead h;
  h.kind = proto::RecordKind::actor_kill;
  h.actor_creator = a.creator;
  h.actor_counter = a.counter;
  h.seq = seq;
  send_record(w.host, h, {});
  return Status::ok();
}

}  // namespace ferry::rt
