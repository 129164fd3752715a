// task_owner.cc — the submitter / owner role of tasks (see task_owner.h):
// submission, placement, pending outputs, done records, failures, drain.
//
// Thread-safety: see task_owner.h. Ownership actions are executed through
// CoreServices::run with no lock held.
#include "task_owner.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "actor_restart.h"
#include "core_services.h"
#include "metrics.h"
#include "registry.h"
#include "trace.h"

namespace ferry::rt {

namespace {

std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

const char* what_of(const RegistryEntry* e) {
  if (!e) return "task";
  switch (e->kind) {
    case detail::EntryKind::function: return "task";
    case detail::EntryKind::actor_class: return "actor class";
    case detail::EntryKind::method: return "actor method";
  }
  return "task";
}

}  // namespace

TaskOwner::TaskOwner(CoreServices& core, Outbox& submits, TaskExecutor& local)
    : core_(core),
      submits_(submits),
      local_(local),
      board_(core.size()),
      lineage_(core.options().lineage_bytes),
      book_(std::make_unique<ActorBook>()) {}

TaskOwner::~TaskOwner() = default;

std::size_t TaskOwner::pending() const {
  MutexLock lock(pend_mu_);
  return pending_.size();
}

// ------------------------------------------------------------------ submission

Status TaskOwner::check_accepting(const char* what) const {
  if (core_.accepting()) return Status::ok();
  return Status(Errc::shut_down, std::string(what) + " on " + rank_str(core_.rank()) +
                                     ": the ferry runtime is shutting down (or not started)");
}

Status TaskOwner::store_large_args(std::span<ArgSpec> args, std::vector<ObjectId>& held) {
  for (ArgSpec& a : args) {
    if (a.kind != ArgSpec::Kind::value || a.bytes.size() <= core_.options().inline_bytes) continue;
    auto id = core_.put(a.meta, a.bytes);
    if (!id) {
      for (const ObjectId& stored : held) core_.remove_ref(stored);
      held.clear();
      return id.status();
    }
    held.push_back(id.value());  // the put's reference belongs to the pending entry
    a.kind = ArgSpec::Kind::ref;
    a.ref = id.value();
  }
  return Status::ok();
}

Status TaskOwner::begin_submission(const char* what, const std::string& subject, std::optional<Rank> where,
                                   std::span<ArgSpec> args, std::vector<ObjectId>& held) {
  if (Status s = check_accepting(what); !s) return s;
  if (where && *where >= core_.size())
    return Status(Errc::invalid_argument, subject + ": rank " + std::to_string(*where) + " is outside this job of " +
                                              std::to_string(core_.size()) + " ranks");
  return store_large_args(args, held);
}

void TaskOwner::inline_ready_args(std::span<ArgSpec> args, std::vector<ObjectData>& keep) {
  for (ArgSpec& a : args) {
    if (a.kind != ArgSpec::Kind::ref || a.ref.owner() != core_.rank() || !a.hold.is_nil()) continue;
    auto d = core_.try_local(a.ref);  // ready and readable here, or nothing (a failed output stays a ref)
    if (!d || !d->is_ok() || d->value().bytes.size() > core_.options().inline_bytes) continue;
    a.kind = ArgSpec::Kind::value;
    a.meta = d->value().meta;
    a.bytes = d->value().bytes;
    a.hold = a.ref;
    a.ref = ObjectId();
    keep.push_back(std::move(d->value()));
  }
}

Rank TaskOwner::choose(std::span<const ArgSpec> args) {
  std::vector<ArgBytes> where;
  for (const ArgSpec& a : args) {
    if (a.kind != ArgSpec::Kind::ref) continue;
    if (auto hint = core_.ownership().location_hint(a.ref)) where.push_back({hint->rank, hint->bytes});
  }
  thread_local std::vector<RankLoad> loads;
  board_.snapshot(loads, std::chrono::milliseconds(200));
  return place_task(core_.rank(), loads, where, std::max<std::uint64_t>(kDefaultLocalityBytes, core_.options().inline_bytes),
                    board_.next_rotor());
}

ObjectId TaskOwner::add_pending(const RegistryEntry& e, Rank executor, std::span<const ArgSpec> args,
                            std::vector<ObjectId> held, bool owned_output, std::shared_ptr<TaskSpec> spec,
                            std::shared_ptr<ActorCall> call) {
  const ObjectId id = core_.new_object_id();
  if (owned_output) (void)core_.ownership().add_pending(id);  // fresh id: cannot collide
  for (const ArgSpec& a : args) {
    if (a.kind == ArgSpec::Kind::ref) {  // one reference per argument, dropped at completion
      core_.add_ref(a.ref);
      held.push_back(a.ref);
    }
    if (!a.hold.is_nil()) {
      core_.add_ref(a.hold);
      held.push_back(a.hold);
    }
    for (const ObjectId& c : a.contained) {  // refs inside a value argument
      core_.add_ref(c);
      held.push_back(c);
    }
  }
  if (spec) spec->held = std::move(held);  // the spec owns them (they may outlive the task: lineage)
  {
    MutexLock lock(pend_mu_);
    Pending p{&e, executor, std::move(held), 0, std::move(spec)};
    p.call = std::move(call);
    pending_.emplace(id, std::move(p));
  }
  board_.submitted(executor);
  metrics::add(metrics::C::tasks_submitted);
  if (trace::on()) trace::mark("submit", id, 0, trace::kFlowOutTask);
  return id;
}

void TaskOwner::send_record(Rank dst, const proto::SubmitHead& h, std::span<const ArgSpec> args) {
  if (dst != core_.rank()) {
    submits_.append(dst, [&](Bytes& out) { proto::append_submit(out, h, args); });
    return;
  }
  // Local: the same record, handed to the executor side without a message.
  auto msg = std::make_shared<Bytes>();
  proto::begin_batch(*msg);
  proto::append_submit(*msg, h, args);
  local_.accept_batch(dst, std::move(msg));
}

Result<detail::SubmitResult> TaskOwner::submit(const RegistryEntry& fn, std::optional<Rank> where,
                                           std::span<ArgSpec> args, const TaskOptions& opts) {
  std::vector<ObjectId> held;
  if (Status s = begin_submission("task submission", "task '" + fn.name + "'", where, args, held); !s) return s;
  const Rank dst = where ? *where : choose(args);
  std::vector<ObjectData> inlined;  // alive until the record is written (send_spec / send_record)
  inline_ready_args(args, inlined);
  std::shared_ptr<TaskSpec> spec = make_spec(fn, where, args, opts);
  const std::shared_ptr<TaskSpec> sp = spec;  // alive until sent, whatever happens to the pending entry
  const ObjectId id = add_pending(fn, dst, args, std::move(held), true, std::move(spec));
  if (!board_.alive(dst) || core_.ownership().is_dead(dst)) {
    fail_pending_on(dst, Status(Errc::peer_failed, rank_str(dst) + " has failed"));
  } else if (sp) {
    send_spec(dst, id, *sp, args);
  } else {
    proto::SubmitHead h;
    h.kind = proto::RecordKind::task;
    h.result = id;
    h.name_hash = fn.name_hash;
    h.signature = fn.signature;
    send_record(dst, h, args);
  }
  drive_progress_while_submitting();
  return detail::SubmitResult{id, core_.epoch()};
}

// Busy progress mode: a thread submitting many tasks polls the transport every
// kSubmitsPerPoll submissions. It then handles the completions of its earlier
// tasks itself (one thread owns the owner-side tables instead of two
// contending), and the idle executor thread, seeing a waiter-like poller,
// sleeps instead of spinning beside it: on a node with fewer cores than busy
// threads, a third spinner halves the others.
void TaskOwner::drive_progress_while_submitting() {
  constexpr unsigned kSubmitsPerPoll = 32;
  thread_local unsigned submits = 0;
  if (++submits % kSubmitsPerPoll != 0) return;
  transport::Transport& t = core_.transport();
  if (t.waiters_poll()) (void)t.poll_once();
}

// ------------------------------------------------------------------ completion

void TaskOwner::on_done(Rank src, ByteView p) {
  proto::Reader r(p, src, "task-done");
  auto load = proto::read_batch_header(r);
  if (!load) return core_.report(load.status());
  board_.reported(src, load.value());
  std::vector<Completion> batch;
  Status bad;
  while (!r.at_end()) {
    proto::DoneRecord d;
    if (Status s = proto::read_done(r, d); !s) {
      bad = s;
      break;
    }
    if (d.id.owner() != core_.rank()) {
      bad = Status(Errc::malformed_message, rank_str(src) + " reported the result " + d.id.to_string() + ", which " +
                                                rank_str(core_.rank()) + " does not own");
      break;
    }
    batch.push_back(std::move(d));
  }
  complete(src, batch);  // the records before a malformed one still count
  if (!bad.is_ok()) core_.report(bad);
}

Status TaskOwner::decorate(const Pending& p, Rank executor, const Status& s) const {
  if (s.code() == Errc::task_failed) return s;  // composed by the executor (task_failure_message)
  const std::string name = p.entry ? p.entry->name : std::string("?");
  return Status(s.code(), std::string(what_of(p.entry)) + " '" + name + "' on " + rank_str(executor) + ": " +
                              s.message());
}

void TaskOwner::complete(Rank executor, std::span<const Completion> batch) {
  if (batch.empty()) return;
  // One lock of the pending table and one of the ownership core per batch
  // (not per record): the submitting thread contends for both.
  std::vector<std::pair<const Completion*, Pending>> found;
  found.reserve(batch.size());
  Actions a;  // drops of stored results nobody waits for
  std::vector<ObjectId> held;
  std::vector<std::pair<ObjectId, Status>> again;  // retriable failures: run again
  {
    MutexLock lock(pend_mu_);
    for (const Completion& c : batch) {
      auto it = pending_.find(c.id);
      if (it != pending_.end() && it->second.executor == executor && it->second.attempt == c.attempt) {
        Pending& p = it->second;
        if (c.status == proto::DoneStatus::error && retriable(p, c.error)) {
          board_.finished(executor);
          p.executor = transport::kInvalidRank;
          again.emplace_back(c.id, c.error);
          continue;
        }
        // Only a result stored in another rank's arena can be lost while its owner lives.
        if (c.status == proto::DoneStatus::stored && executor != core_.rank()) keep_lineage_locked(c.id, p, held);
        found.emplace_back(&c, std::move(p));
        pending_.erase(it);
      } else if (c.status == proto::DoneStatus::stored && executor != core_.rank()) {
        // Already failed (executor declared dead), another attempt's, or unknown:
        // free a stored result where it lives.
        a.drop_copies.push_back({executor, c.id});
      }
    }
  }
  std::vector<Ownership::Outcome> outcomes(found.size());
  for (std::size_t i = 0; i < found.size(); ++i) {
    const Completion& c = *found[i].first;
    const Pending& p = found[i].second;
    Ownership::Outcome& o = outcomes[i];
    board_.finished(executor);
    metrics::add(c.status == proto::DoneStatus::error ? metrics::C::tasks_failed : metrics::C::tasks_finished);
    o.id = c.id;
    o.meta = c.meta;
    switch (c.status) {
      case proto::DoneStatus::value:
        o.value = std::make_shared<const Bytes>(c.value.begin(), c.value.end());
        break;
      case proto::DoneStatus::stored:
        o.primary = Location{executor, c.offset};
        break;
      case proto::DoneStatus::error:
        o.failed = true;
        o.error = decorate(p, executor, c.error);
        if (p.remaking) o.error = remake_failed(c.id, o.error);
        break;
    }
    held.insert(held.end(), p.held.begin(), p.held.end());
    if (p.spec) held.insert(held.end(), p.spec->held.begin(), p.spec->held.end());  // not kept as lineage
  }
  core_.run(core_.ownership().complete(outcomes));
  for (auto& [id, why] : again) resubmit(id, why);
  if (!a.empty()) core_.run(std::move(a));
  if (!held.empty()) core_.run(core_.ownership().remove_refs(held));
  {
    MutexLock lock(pend_mu_);
    if (pending_.empty()) pend_cv_.notify_all();
  }
}

void TaskOwner::fail_pending_on(Rank executor, const Status& why) {
  creator_hosts_died(executor, why);  // restart or bury this rank's actors first: their calls follow them
  std::vector<std::pair<ObjectId, Pending>> victims;
  std::vector<ObjectId> again;
  {
    MutexLock lock(pend_mu_);
    for (auto it = pending_.begin(); it != pending_.end();) {
      if (it->second.executor == executor && it->second.spec && it->second.spec->retries_left > 0 &&
          !it->second.spec->where) {  // a task pinned with on() is not moved to another rank
        it->second.executor = transport::kInvalidRank;  // lost: placed again below
        again.push_back(it->first);
        ++it;
      } else if (it->second.executor == executor) {
        victims.emplace_back(it->first, std::move(it->second));
        it = pending_.erase(it);
      } else {
        ++it;
      }
    }
    if (pending_.empty()) pend_cv_.notify_all();
  }
  for (auto& [id, p] : victims) {
    board_.finished(executor);
    if (p.call) {  // actor calls may be resubmitted to a restarted actor
      call_lost(id, std::move(p), why);
      continue;
    }
    metrics::add(metrics::C::tasks_failed);
    const std::string name = p.entry ? p.entry->name : std::string("?");
    const std::string tries = !p.spec ? std::string("no retries (max_retries = 0)")
                              : p.spec->where ? std::string("1 attempt: a task placed with on() does not retry on another rank")
                                              : std::to_string(p.spec->attempt + 1) + " attempt(s), no retries left";
    Status s(why.code() == Errc::peer_failed ? Errc::peer_failed : why.code(),
             std::string(what_of(p.entry)) + " '" + name + "' was sent to " + rank_str(executor) +
                 ", which failed before it completed (" + why.message() + "); its output is lost after " + tries);
    core_.run(core_.ownership().set_failed(id, p.remaking ? remake_failed(id, s) : std::move(s)));
    for (const ObjectId& h : p.held) core_.remove_ref(h);
    if (p.spec)
      for (const ObjectId& h : p.spec->held) core_.remove_ref(h);
  }
  for (const ObjectId& id : again) {
    board_.finished(executor);
    resubmit(id, why);
  }
}

void TaskOwner::send_failed(Rank dst, const Status& why) {
  core_.report(Status(why.code(), "task messages to " + rank_str(dst) + " could not be sent: " + why.message()));
  fail_pending_on(dst, why);
}

void TaskOwner::peer_failed(Rank peer, const Status& why) {
  board_.dead(peer);
  fail_pending_on(peer, Status(Errc::peer_failed, why.message()));
  creator_died(peer);
}

bool TaskOwner::drain(std::chrono::steady_clock::time_point deadline, const std::function<void()>& flush) {
  flush();
  MutexUniqueLock lock(pend_mu_);
  while (!pending_.empty()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    lock.unlock();
    flush();
    lock.lock();
    pend_cv_.wait_for(lock.native(), std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace ferry::rt
