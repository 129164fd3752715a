// retry.cc — task retries and lineage re-execution on the owner side (see
// tasks.h, lineage.h, ferry/task_options.h).
//
// A spec is made at submission when the task may run again (retries) or its
// output may be re-made (lineage budget > 0). Each run of it is an attempt:
// attempt k is sent with seq = k in its submit record, and only a done record
// from the executor of the current attempt that echoes k completes the output
// (exactly once; a late reply of an earlier attempt is ignored, and its stored
// result is dropped where it lives). A pending entry whose executor is
// kInvalidRank is being placed again: no done record matches it.
//
// Thread-safety: pend_mu_ guards pending_ and lineage_ (and the specs' attempt
// and retries_left); no lock is held while calling the Core or the transport.
#include <spdlog/spdlog.h>

#include "core_services.h"
#include "metrics.h"
#include "task_owner.h"
#include "trace.h"

namespace ferry::rt {

namespace {
std::string rank_str(Rank r) { return "rank " + std::to_string(r); }
}  // namespace

std::shared_ptr<TaskSpec> TaskOwner::make_spec(const RegistryEntry& fn, std::optional<Rank> where,
                                           std::span<const ArgSpec> args, const TaskOptions& opts) const {
  if (opts.retries() == 0 && !lineage_.enabled()) return nullptr;
  auto spec = std::make_shared<TaskSpec>();
  spec->entry = &fn;
  spec->where = where;
  spec->retries_left = opts.retries();
  spec->retry_exceptions = opts.retry_exceptions;
  for (const ArgSpec& a : args)
    if (a.kind == ArgSpec::Kind::ref) spec->arg_refs.push_back(a.ref);
  return spec;
}

void TaskOwner::send_spec(Rank dst, const ObjectId& id, TaskSpec& spec, std::span<const ArgSpec> args) {
  proto::SubmitHead h;
  h.kind = proto::RecordKind::task;
  h.result = id;
  h.name_hash = spec.entry->name_hash;
  h.signature = spec.entry->signature;
  h.seq = 0;
  Bytes record;
  proto::append_submit(record, h, args);
  {
    // Stored before it is sent: a retry may need it as soon as the executor fails.
    MutexLock lock(pend_mu_);
    spec.record = std::move(record);
  }
  const Bytes& rec = spec.record;  // never modified again (resubmit copies it)
  if (dst != core_.rank()) {
    submits_.append(dst, [&](Bytes& out) { out.insert(out.end(), rec.begin(), rec.end()); });
    return;
  }
  auto msg = std::make_shared<Bytes>();
  proto::begin_batch(*msg);
  msg->insert(msg->end(), rec.begin(), rec.end());
  local_.accept_batch(dst, std::move(msg));
}

bool TaskOwner::retriable(const Pending& p, const Status& error) {
  if (!p.spec || p.spec->retries_left == 0) return false;
  if (error.code() == Errc::task_failed) return p.spec->retry_exceptions;
  // A dependency could not be read because its holder died (the owner re-makes it).
  return error.code() == Errc::peer_failed;
}

Status TaskOwner::remake_failed(const ObjectId& id, const Status& why) {
  return Status(Errc::object_lost, "object " + id.to_string() + " was lost and re-making it failed (" +
                                       to_string(why.code()) + "): " + why.message());
}

void TaskOwner::resubmit(const ObjectId& id, const Status& why) {
  std::vector<ArgSpec> hints;
  std::optional<Rank> where;
  {
    MutexLock lock(pend_mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.executor != transport::kInvalidRank || !it->second.spec) return;
    where = it->second.spec->where;
    for (const ObjectId& r : it->second.spec->arg_refs) {
      ArgSpec a;
      a.kind = ArgSpec::Kind::ref;
      a.ref = r;
      hints.push_back(std::move(a));
    }
  }
  // A pinned task runs again where it was placed while that rank lives; a
  // re-made output of a pinned task whose rank died goes where the scheduler says.
  const Rank dst = where && board_.alive(*where) ? *where : choose(hints);
  Bytes record;
  std::uint32_t attempt = 0;
  {
    MutexLock lock(pend_mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second.executor != transport::kInvalidRank) return;
    TaskSpec& spec = *it->second.spec;
    if (spec.record.empty()) return;  // still being sent the first time (cannot be lost yet)
    if (spec.retries_left > 0) --spec.retries_left;
    attempt = ++spec.attempt;
    it->second.executor = dst;
    it->second.attempt = attempt;
    record = spec.record;
  }
  proto::set_record_seq(record, attempt);
  board_.submitted(dst);
  metrics::add(metrics::C::tasks_retried);
  if (trace::on()) trace::instant("retry", id);
  spdlog::debug("ferry[{}]: task output {} attempt {} on {} ({})", core_.rank(), id.to_string(), attempt,
                rank_str(dst), why.to_string());
  if (!board_.alive(dst) || core_.ownership().is_dead(dst))
    return fail_pending_on(dst, Status(Errc::peer_failed, rank_str(dst) + " has failed"));
  if (dst != core_.rank()) {
    submits_.append(dst, [&](Bytes& out) { out.insert(out.end(), record.begin(), record.end()); });
    return;
  }
  auto msg = std::make_shared<Bytes>();
  proto::begin_batch(*msg);
  msg->insert(msg->end(), record.begin(), record.end());
  local_.accept_batch(dst, std::move(msg));
}

void TaskOwner::keep_lineage_locked(const ObjectId& id, Pending& p, std::vector<ObjectId>& drop) {
  if (!p.spec || p.forgotten || !lineage_.enabled() || p.spec->record.empty()) return;
  for (auto& evicted : lineage_.keep(id, std::move(p.spec)))
    drop.insert(drop.end(), evicted->held.begin(), evicted->held.end());
}

void TaskOwner::reconstruct(std::span<const ObjectId> ids) {
  for (const ObjectId& id : ids) {
    Status lost;
    std::vector<ObjectId> drop;
    {
      MutexLock lock(pend_mu_);
      std::shared_ptr<TaskSpec> spec = lineage_.take(id);
      if (!spec) {
        lost = Status(Errc::object_lost,
                      "object " + id.to_string() + " was lost (every copy was on a rank that died) and cannot be re-made: " +
                          (lineage_.evicted(id) ? "its lineage was evicted to stay within FERRY_LINEAGE_BYTES=" +
                                                      std::to_string(lineage_.budget()) + " (raise it)"
                           : !lineage_.enabled() ? std::string("lineage is disabled (FERRY_LINEAGE_BYTES=0)")
                                                 : std::string("no lineage is kept for it (an actor method's result, or "
                                                               "a task submitted with max_retries = 0 and no lineage)")));
      } else if (spec->retries_left == 0) {
        lost = Status(Errc::object_lost, "object " + id.to_string() + " was lost and cannot be re-made: task '" +
                                             spec->entry->name + "' used all its retries (" +
                                             std::to_string(spec->attempt + 1) + " attempts)");
        drop = std::move(spec->held);
      } else {
        Pending p{spec->entry, transport::kInvalidRank, {}, spec->attempt, std::move(spec)};
        p.remaking = true;
        pending_.emplace(id, std::move(p));
      }
    }
    if (!lost.is_ok()) {
      spdlog::warn("ferry[{}]: {}", core_.rank(), lost.message());
      core_.run(core_.ownership().set_failed(id, std::move(lost)));
      if (!drop.empty()) core_.run(core_.ownership().remove_refs(drop));
      continue;
    }
    metrics::add(metrics::C::tasks_submitted);
    resubmit(id, Status(Errc::object_lost, "re-making lost object " + id.to_string()));
  }
}

void TaskOwner::forget_lineage(std::span<const ObjectId> ids) {
  std::vector<ObjectId> drop;
  {
    MutexLock lock(pend_mu_);
    for (const ObjectId& id : ids) {
      if (auto it = pending_.find(id); it != pending_.end()) {
        it->second.forgotten = true;
        continue;
      }
      if (auto spec = lineage_.forget(id)) drop.insert(drop.end(), spec->held.begin(), spec->held.end());
    }
  }
  if (!drop.empty()) core_.run(core_.ownership().remove_refs(drop));
}

std::size_t TaskOwner::lineage_bytes() const {
  MutexLock lock(pend_mu_);
  return lineage_.bytes();
}

}  // namespace ferry::rt
