// actors.cc — the host side of actors (ActorHost, see actors.h; the caller
// side is in actor_calls.cc).
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
  tasks_.post(new Drain(*this, a));
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
    tasks_.post(new Drain(*this, a));
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
    if (s.is_ok()) {
      const TaskCover cover(j->covered);
      s = j->entry->factory(j->args, inst);
    }
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
      Completion c;  // the creator only releases the arguments it held
      c.id = j->result;
      c.status = proto::DoneStatus::value;
      tasks_.deliver_job(j, c);
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
    const TaskCover cover(j->covered);
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

}  // namespace ferry::rt
