// actors.cc — actors: the host side (ActorHost, see actors.h) and the caller
// side (Tasks::create_actor / call_actor / kill_actor: sequence numbers per
// (caller, actor), records through the same outboxes as tasks).
//
// Thread-safety: see actors.h; user code (constructors, methods, destructors)
// runs with no lock held.
#include "actors.h"

#include "actor_restart.h"

#include "core_services.h"
#include "ferry/task_error.h"
#include "metrics.h"
#include "registry.h"
#include "trace.h"

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

struct ActorHost::Drain final : Runnable {
  Drain(ActorHost& h, std::shared_ptr<HostedActor> a) : host(h), actor(std::move(a)) {}
  void run() override {
    host.drain(actor);
    delete this;
  }
  ActorHost& host;
  std::shared_ptr<HostedActor> actor;
};

std::size_t ActorHost::size() const {
  std::lock_guard<std::mutex> lock(actors_mu_);
  return actors_.size();
}

void ActorHost::admit(Job* j, const ActorId& id) {
  std::shared_ptr<HostedActor> a;
  {
    std::lock_guard<std::mutex> lock(actors_mu_);
    auto& slot = actors_[{id.creator, id.counter}];
    if (!slot) {
      slot = std::make_shared<HostedActor>();
      slot->id = id;
    }
    a = slot;
  }
  j->actor = a;
  std::vector<Job*> discard;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    auto& c = a->callers[j->owner];
    if (j->seq < c.next || c.parked.count(j->seq)) {
      discard.push_back(j);  // a duplicate sequence number: a protocol error
      core_.report(Status(Errc::malformed_message, rank_str(j->owner) + " sent call #" + std::to_string(j->seq) +
                                                       " of " + id.to_string() + " twice"));
    } else {
      c.parked.emplace(j->seq, j);
    }
  }
  for (Job* d : discard) {
    d->actor.reset();
    fail_job(d, Status(Errc::malformed_message, "duplicate actor call sequence number"));
  }
}

void ActorHost::ready(Job* j) {
  std::shared_ptr<HostedActor> a = j->actor;
  std::vector<Job*> discard;
  {
    std::lock_guard<std::mutex> lock(a->mu);
    j->deps_ready = true;
    advance_locked(*a, j->owner, discard);
    schedule_locked(a);
  }
  for (Job* d : discard) delete d;
}

void ActorHost::advance_locked(HostedActor& a, Rank caller, std::vector<Job*>&) {
  auto& c = a.callers[caller];
  while (!c.parked.empty()) {
    auto it = c.parked.begin();
    if (it->first != c.next || !it->second->deps_ready) break;
    Job* j = it->second;
    c.parked.erase(it);
    ++c.next;
    if (j->kind == proto::RecordKind::actor_create && !a.created_seen) {
      a.created_seen = true;
      a.serial.push_front(j);
    } else {
      a.serial.push_back(j);
    }
  }
}

void ActorHost::schedule_locked(const std::shared_ptr<HostedActor>& a) {
  if (a->running || !a->created_seen || a->serial.empty()) return;
  a->running = true;
  tasks_.executor_->post(new Drain(*this, a));
}

void ActorHost::drain(const std::shared_ptr<HostedActor>& a) {
  for (int n = 0; n < kDrainBatch; ++n) {
    Job* j;
    {
      std::lock_guard<std::mutex> lock(a->mu);
      if (a->serial.empty()) {
        a->running = false;
        return;
      }
      j = a->serial.front();
      a->serial.pop_front();
    }
    run_one(*a, j);
  }
  std::lock_guard<std::mutex> lock(a->mu);  // more work: give other actors / tasks a turn
  if (a->serial.empty()) {
    a->running = false;
  } else {
    tasks_.executor_->post(new Drain(*this, a));
  }
}

void ActorHost::fail_job(Job* j, const Status& why) {
  tasks_.finish(j, why, nullptr, false);  // actor-level errors are composed already
  delete j;
}

void ActorHost::run_one(HostedActor& a, Job* j) {
  Status pre;
  {
    MutexLock lock(j->error_mu);
    pre = j->error;
  }
  if (j->kind == proto::RecordKind::actor_kill) {
    std::shared_ptr<void> victim;
    {
      std::lock_guard<std::mutex> lock(a.mu);
      victim = std::move(a.instance);
      if (a.state != HostedActor::State::killed) {
        a.state = HostedActor::State::killed;
        a.error = Status(Errc::not_found, a.id.to_string() + " was killed by " + rank_str(j->owner));
      }
    }
    victim.reset();  // the destructor runs here, outside the lock
    j->actor.reset();
    delete j;
    return;
  }
  if (j->kind == proto::RecordKind::actor_create) {
    std::shared_ptr<void> inst;
    Status s = pre;
    if (s.is_ok()) s = j->entry->factory(j->args, inst);
    {
      std::lock_guard<std::mutex> lock(a.mu);
      a.cls = j->entry;
      if (s.is_ok() && a.state == HostedActor::State::waiting) {
        a.instance = std::move(inst);
        a.state = HostedActor::State::alive;
      } else if (!s.is_ok()) {
        const std::string name = j->entry ? j->entry->name : std::string("?");
        a.state = HostedActor::State::failed;
        a.error = s.code() == Errc::task_failed
                      ? Status(Errc::task_failed, detail::task_failure_message("actor class", name, core_.rank(),
                                                                               "constructor threw: " + s.message()))
                      : Status(s.code(), "creating " + a.id.to_string() + " (actor class '" + name + "') on " +
                                             rank_str(core_.rank()) + " failed: " + s.message());
        s = a.error;
      }
    }
    j->actor.reset();
    if (s.is_ok()) {
      Tasks::Completion c;  // the creator only releases the arguments it held
      c.id = j->result;
      c.status = proto::DoneStatus::value;
      tasks_.deliver(j->owner, c);
      delete j;
    } else {
      fail_job(j, s);
    }
    return;
  }
  // A call.
  if (j->owner != core_.rank() && core_.ownership().is_dead(j->owner)) {  // its caller died: dropped unrun
    j->actor.reset();
    delete j;
    return;
  }
  std::shared_ptr<void> inst;
  Status s = pre;
  {
    std::lock_guard<std::mutex> lock(a.mu);
    if (s.is_ok()) {
      if (a.state == HostedActor::State::alive) {
        inst = a.instance;
        if (a.cls && j->entry->class_tag != a.cls->class_tag)
          s = Status(Errc::type_mismatch, "method '" + j->entry->name + "' belongs to another class than actor class '" +
                                              a.cls->name + "'");
      } else {
        s = a.error;
      }
    }
  }
  j->actor.reset();
  if (!pre.is_ok()) {  // an argument is missing: this call's own failure
    tasks_.finish(j, pre, nullptr, true);
    delete j;
    return;
  }
  if (!s.is_ok()) return fail_job(j, s);
  ResultBuffer out(tasks_, core_, j->result);
  {
    GateGuard g(core_.gate());
    metrics::add(metrics::C::tasks_started);
    const std::uint64_t t0 = trace::on() ? trace::now() : 0;
    s = g ? j->entry->method(inst.get(), j->args, out)
          : Status(Errc::shut_down, "the ferry runtime on " + rank_str(core_.rank()) + " shut down");
    if (t0)
      trace::complete(j->entry->name.c_str(), t0, out.emitted ? out.meta.size : 0, j->result,
                      trace::kFlowInTask | trace::kFlowOutObj);
    metrics::add(metrics::C::tasks_ended);
  }
  tasks_.finish(j, std::move(s), &out);
  delete j;
}

void ActorHost::peer_failed(Rank peer, const Status& why) {
  std::vector<std::shared_ptr<HostedActor>> all;
  {
    std::lock_guard<std::mutex> lock(actors_mu_);
    for (auto& [k, a] : actors_) all.push_back(a);
  }
  for (auto& a : all) {
    std::vector<Job*> dropped;
    {
      std::lock_guard<std::mutex> lock(a->mu);
      // The dead caller's parked calls can never run in order; nobody waits for them.
      auto it = a->callers.find(peer);
      if (it != a->callers.end()) {
        for (auto& [seq, j] : it->second.parked)
          if (j->deps_ready) dropped.push_back(j);  // not-ready ones are freed by their continuation
        it->second.parked.clear();
      }
      if (!a->created_seen && a->id.creator == peer) {
        a->state = HostedActor::State::failed;
        a->error = Status(Errc::peer_failed, "the creator " + rank_str(peer) + " of " + a->id.to_string() +
                                                 " died before creating it (" + why.message() + ")");
        a->created_seen = true;  // let the parked calls of others run (and fail)
        schedule_locked(a);
      }
    }
    for (Job* j : dropped) {
      j->actor.reset();
      delete j;
    }
  }
}

void ActorHost::clear() {
  std::map<std::pair<Rank, std::uint64_t>, std::shared_ptr<HostedActor>> all;
  {
    std::lock_guard<std::mutex> lock(actors_mu_);
    all.swap(actors_);
  }
  for (auto& [k, a] : all) {
    std::vector<Job*> jobs;
    std::shared_ptr<void> inst;
    {
      std::lock_guard<std::mutex> lock(a->mu);
      for (auto& [caller, c] : a->callers)
        for (auto& [seq, j] : c.parked)
          if (j->deps_ready) jobs.push_back(j);
      a->callers.clear();
      jobs.insert(jobs.end(), a->serial.begin(), a->serial.end());
      a->serial.clear();
      inst = std::move(a->instance);
      a->state = HostedActor::State::killed;
    }
    for (Job* j : jobs) {
      j->actor.reset();
      delete j;
    }
    inst.reset();  // actors die at shutdown
  }
}

// ------------------------------------------------------------------ caller side

Result<ActorId> Tasks::create_actor(const RegistryEntry& cls, std::optional<Rank> where, std::span<ArgSpec> args,
                                    const detail::ActorOptions& options) {
  if (Status s = check_accepting("actor creation"); !s) return s;
  if (where && *where >= core_.size())
    return Status(Errc::invalid_argument, "actor class '" + cls.name + "': rank " + std::to_string(*where) +
                                              " is outside this job of " + std::to_string(core_.size()) + " ranks");
  std::vector<ObjectId> held;
  if (Status s = store_large_args(args, held); !s) {
    for (const ObjectId& id : held) core_.remove_ref(id);
    return s;
  }
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

Result<detail::SubmitResult> Tasks::call_actor(const ActorId& a, const RegistryEntry& m, std::span<ArgSpec> args) {
  if (Status s = check_accepting("actor call"); !s) return s;
  if (a.is_nil()) return Status(Errc::invalid_argument, "call of method '" + m.name + "' on a nil ferry::actor");
  if (a.host >= core_.size() || a.creator >= core_.size())
    return Status(Errc::invalid_argument, "call of method '" + m.name + "' on " + a.to_string() +
                                              ", which is not an actor of this job");
  std::vector<ObjectId> held;
  if (Status s = store_large_args(args, held); !s) {
    for (const ObjectId& id : held) core_.remove_ref(id);
    return s;
  }
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

Status Tasks::kill_actor(const ActorId& a) {
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
