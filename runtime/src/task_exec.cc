// task_exec.cc — the executor role of tasks (see task_executor.h): decoding submit
// batches into Jobs, fetching ObjectRef arguments without blocking a thread,
// running the function, and sending the result (inline, or stored in this
// arena as a copy of an object the submitter owns).
//
// Thread-safety: on_submit runs on the progress thread; dependency
// continuations on whichever thread completes the fetch; execute() on
// executor threads. A Job is touched by one thread at a time except its
// args[i] slots (one writer each) and `error` (error_mu).
#include <cstring>

#include "actors.h"
#include "core_services.h"
#include "ferry/task_error.h"
#include "metrics.h"
#include "registry.h"
#include "task_executor.h"
#include "trace.h"

namespace ferry::rt {

namespace {

std::string rank_str(Rank r) { return "rank " + std::to_string(r); }

detail::EntryKind expected_kind(proto::RecordKind k) {
  switch (k) {
    case proto::RecordKind::task: return detail::EntryKind::function;
    case proto::RecordKind::actor_create: return detail::EntryKind::actor_class;
    default: return detail::EntryKind::method;
  }
}

}  // namespace

namespace {
thread_local Bytes tl_scratch;
}

Status ResultBuffer::emit(const detail::ObjectMeta& m, std::span<const std::byte> bytes,
                          std::span<const ObjectId> contained) {
  if (emitted) return Status(Errc::internal, "a task emitted two results");
  emitted = true;
  // Refs inside the result: kept here until its owner holds them (kContained, before the done record).
  core.hold_contained(id, contained);
  this->contained = !contained.empty();
  meta = m;
  if (bytes.size() <= core.options().inline_bytes) {
    tl_scratch.assign(bytes.begin(), bytes.end());
    scratch = &tl_scratch;
    status = proto::DoneStatus::value;
    return Status::ok();
  }
  status = proto::DoneStatus::stored;
  return tasks.store_result(id, m, bytes, offset);
}

void Job::run() { tasks->execute(this); }

namespace {

// The completion of a coroutine task, owned by the coroutine until finish().
struct DeferredResult final : detail::ResultSink {
  DeferredResult(TaskExecutor& t, CoreServices& c, Job* j) : tasks(t), buffer(t, c, j->result), job(j) {}
  Status emit(const detail::ObjectMeta& m, std::span<const std::byte> bytes,
              std::span<const ObjectId> contained) override {
    return buffer.emit(m, bytes, contained);
  }
  void finish(Status s) override {
    buffer.finish_job(job, std::move(s));
    delete job;
    delete this;
  }
  TaskExecutor& tasks;
  ResultBuffer buffer;
  Job* job;
};

}  // namespace

void ResultBuffer::finish_job(Job* j, Status s) { tasks.finish(j, std::move(s), this); }

detail::ResultSink* ResultBuffer::defer() {
  if (!job || deferred) return nullptr;
  deferred = true;
  return new DeferredResult(tasks, core, job);
}

// ------------------------------------------------------------------ receiving

TaskExecutor::TaskExecutor(CoreServices& core, unsigned threads, Outbox& dones, LocalCompletions complete_local,
                           std::function<void()> flush, std::function<void()> wake)
    : core_(core), threads_(threads ? threads : 1), dones_(dones), complete_local_(std::move(complete_local)) {
  host_ = std::make_unique<ActorHost>(*this, core_);
  executor_ = std::make_unique<Executor>(threads_, core_.rank(), std::move(flush), std::move(wake), &core_.transport());
}

TaskExecutor::~TaskExecutor() { stop(); }

void TaskExecutor::resume() {
  executor_->resume();
  GateGuard g(core_.gate());
  for (;;) {  // replay in arrival order; later submits queue behind until none is left
    std::vector<std::pair<Rank, Bytes>> early;
    {
      MutexLock lock(early_mu_);
      if (early_.empty()) {
        started_ = true;
        return;
      }
      early.swap(early_);
    }
    if (g)
      for (auto& [src, bytes] : early) accept_batch(src, std::make_shared<const Bytes>(std::move(bytes)));
  }
}

void TaskExecutor::stop() {
  if (executor_) executor_->stop();
  if (host_) host_->clear();
}

void TaskExecutor::peer_failed(Rank peer, const Status& why) { host_->peer_failed(peer, why); }

void TaskExecutor::on_submit(Rank src, ByteView p) {
  {
    MutexLock lock(early_mu_);
    if (!started_) {  // still starting (or replaying held submits): keep the order, hold it
      early_.emplace_back(src, Bytes(p.begin(), p.end()));
      return;
    }
  }
  // One copy per batch: the jobs' value arguments are views into it.
  accept_batch(src, std::make_shared<const Bytes>(p.begin(), p.end()));
}

void TaskExecutor::accept_batch(Rank src, std::shared_ptr<const Bytes> msg) {
  proto::Reader r(*msg, src, "task-submit");
  if (auto h = proto::read_batch_header(r); !h) return core_.report(h.status());
  std::vector<proto::WireArg> args;
  std::vector<Runnable*> ready;
  while (!r.at_end()) {
    proto::SubmitHead h;
    if (Status s = proto::read_submit(r, h, args); !s) {
      core_.report(s);
      break;
    }
    Job* j = make_job(src, h, args, msg);
    if (h.kind == proto::RecordKind::task && j->error.is_ok()) {
      MutexLock lock(local_mu_);
      local_.try_emplace(j->result);
    }
    const bool now = start_dependencies(j, args);
    if (!now) continue;
    if (j->actor) host_->ready(j);
    else if (rerun(*j)) executor_->post_urgent(j);
    else ready.push_back(j);
  }
  executor_->post_many(ready);
}

Job* TaskExecutor::make_job(Rank src, const proto::SubmitHead& h, const std::vector<proto::WireArg>& args,
                     const std::shared_ptr<const Bytes>& msg) {
  Job* j = new Job;
  j->tasks = this;
  j->kind = h.kind;
  j->owner = src;
  j->result = h.result;
  j->msg = msg;
  j->seq = h.seq;
  j->args.resize(args.size());
  for (std::size_t i = 0; i < args.size(); ++i)
    if (args[i].kind == ArgSpec::Kind::value) j->args[i] = ObjectData{args[i].meta, args[i].bytes, msg};
  const RegistryEntry* e = h.kind == proto::RecordKind::actor_kill ? nullptr : lookup_entry(h.name_hash);
  if (h.kind != proto::RecordKind::actor_kill) {
    if (!e)
      j->error = Status(Errc::not_found, "not registered on " + rank_str(core_.rank()) +
                                             " (every rank must run the same binary and define the same "
                                             "ferry::function / actor_class / method handles)");
    else if (e->signature != h.signature || e->kind != expected_kind(h.kind))
      j->error = Status(Errc::type_mismatch, "registered on " + rank_str(core_.rank()) + " as " + entry_kind_name(e->kind) + " '" +
                                                 e->name + "' with another signature (mismatched builds?)");
    else if (e->arity != args.size())
      j->error = Status(Errc::malformed_message, "received " + std::to_string(args.size()) + " arguments for " +
                                                     std::to_string(e->arity) + " parameters");
    else
      j->entry = e;
  }
  if (h.kind != proto::RecordKind::task)
    host_->admit(j, ActorId{core_.rank(), h.actor_creator, h.actor_counter, {}});
  return j;
}

bool TaskExecutor::start_dependencies(Job* j, const std::vector<proto::WireArg>& args) {
  if (!j->error.is_ok()) return true;
  std::uint32_t refs = 0;
  for (const auto& a : args) refs += a.kind == ArgSpec::Kind::ref ? 1 : 0;
  if (refs == 0) return true;
  j->waiting.store(refs + 1);
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i].kind != ArgSpec::Kind::ref) continue;
    const ObjectId id = args[i].ref;
    if (trace::on()) trace::async_begin("fetch_arg", id, static_cast<std::uint32_t>(i));
    if (wait_local(id, j, i)) continue;  // produced by a job on this rank: handed over when it finishes
    core_.fetch(id).then([this, j, i, id](Result<ObjectData>&& r) { arg_arrived(j, i, id, std::move(r)); });
  }
  return j->waiting.fetch_sub(1) == 1;
}

void TaskExecutor::arg_arrived(Job* j, std::size_t i, const ObjectId& id, Result<ObjectData>&& r) {
  if (trace::on()) {
    const std::uint64_t bytes = r ? r.value().bytes.size() : 0;
    trace::async_end("fetch_arg", id, static_cast<std::uint32_t>(i), bytes);
    trace::mark("arg_ready", id, bytes, trace::kFlowInObj);
  }
  if (r) {
    j->args[i] = std::move(r).value();
  } else {
    MutexLock lock(j->error_mu);
    if (j->error.is_ok())
      j->error = Status(r.status().code(), "argument " + std::to_string(i + 1) + " (" + id.to_string() +
                                               ") is not available: " + r.status().message());
  }
  if (j->waiting.fetch_sub(1) == 1) dependency_ready(j);
}

bool TaskExecutor::wait_local(const ObjectId& id, Job* j, std::size_t arg) {
  MutexLock lock(local_mu_);
  auto it = local_.find(id);
  if (it == local_.end()) return false;
  it->second.push_back(LocalWait{j, arg});
  return true;
}

// Runs when a task job accepted here finished (before its done record leaves):
// a small value goes straight to the waiting jobs (a copy they share); a
// stored result, one holding refs, or an error sends them the ordinary way
// (fetch: the owner answers once it has the done record).
void TaskExecutor::hand_off(const Completion& c, bool contained) {
  std::vector<LocalWait> waits;
  {
    MutexLock lock(local_mu_);
    auto it = local_.find(c.id);
    if (it == local_.end()) return;
    waits.swap(it->second);
    local_.erase(it);
  }
  if (waits.empty()) return;
  std::shared_ptr<const Bytes> copy;
  if (c.status == proto::DoneStatus::value && !contained)
    copy = std::make_shared<const Bytes>(c.value.begin(), c.value.end());
  for (const LocalWait& w : waits) {
    if (copy) {
      arg_arrived(w.job, w.arg, c.id, Result<ObjectData>(ObjectData{c.meta, ByteView(*copy), copy}));
    } else {
      const ObjectId id = c.id;
      Job* j = w.job;
      const std::size_t i = w.arg;
      core_.fetch(id).then([this, j, i, id](Result<ObjectData>&& r) { arg_arrived(j, i, id, std::move(r)); });
    }
  }
}

void TaskExecutor::dependency_ready(Job* j) {
  if (j->actor) host_->ready(j);
  else if (rerun(*j)) executor_->post_urgent(j);
  else executor_->post(j);
}

// ------------------------------------------------------------------ running

void TaskExecutor::execute(Job* j) {
  if (owner_gone(j)) return;
  ResultBuffer out(*this, core_, j->result, j->kind == proto::RecordKind::task ? j : nullptr);
  Status s;
  {
    MutexLock lock(j->error_mu);
    s = j->error;
  }
  if (s.is_ok()) {
    GateGuard g(core_.gate());
    metrics::add(metrics::C::tasks_started);
    const std::uint64_t t0 = trace::on() ? trace::now() : 0;
    const TaskCover cover(j->covered);
    s = g ? j->entry->function(j->args, out)
          : Status(Errc::shut_down, "the ferry runtime on " + rank_str(core_.rank()) + " shut down");
    if (t0)
      trace::complete(j->entry->name.c_str(), t0, out.emitted ? out.meta.size : 0, j->result,
                      trace::kFlowInTask | trace::kFlowOutObj);
    metrics::add(metrics::C::tasks_ended);
  }
  if (out.deferred) return;  // a coroutine task: its DeferredResult finishes and deletes the job
  finish(j, std::move(s), &out);
  delete j;
}

bool TaskExecutor::owner_gone(Job* j) {
  if (j->owner == core_.rank() || !core_.ownership().is_dead(j->owner)) return false;
  // Its submitter died: nobody will read the result, so the task is dropped
  // unrun (its argument fetches are over; a running task finishes, and its
  // result is freed where it lands: store_result / hold_contained).
  delete j;
  return true;
}

void TaskExecutor::finish(Job* j, Status s, ResultBuffer* out, bool compose) {
  Completion c;
  c.id = j->result;
  c.attempt = j->kind == proto::RecordKind::task ? static_cast<std::uint32_t>(j->seq) : 0;
  if (s.is_ok() && out && out->emitted) {
    c.status = out->status;
    c.meta = out->meta;
    c.offset = out->offset;
    if (out->scratch) c.value = ByteView(*out->scratch);
  } else {
    if (s.is_ok()) s = Status(Errc::internal, "the task produced no result");
    c.status = proto::DoneStatus::error;
    if (compose && s.code() == Errc::task_failed && j->entry) {
      const char* what = j->entry->kind == detail::EntryKind::method        ? "actor method"
                         : j->entry->kind == detail::EntryKind::actor_class ? "actor class"
                                                                            : "task";
      c.error = Status(Errc::task_failed, detail::task_failure_message(what, j->entry->name, core_.rank(), s.message()));
    } else {
      c.error = std::move(s);
    }
  }
  if (j->kind == proto::RecordKind::task) hand_off(c, out && out->contained);
  deliver_job(j, c);
}

void TaskExecutor::deliver_job(Job* j, const Completion& c) {
  Future<void> registered = core_.uncover(j->covered);
  if (j->owner != core_.rank() && core_.ownership().is_dead(j->owner)) return;  // nobody to tell (its copy is freed)
  if (!registered.valid()) return deliver(j->owner, c);
  // The submitter drops its hold on the arguments at the done record: that waits until
  // the owners know this rank as a borrower of the refs the task left referenced here.
  auto later = std::make_shared<std::pair<Completion, Bytes>>(c, Bytes(c.value.begin(), c.value.end()));
  later->first.value = ByteView(later->second);
  std::move(registered).then([this, owner = j->owner, later](Result<void>&&) { deliver(owner, later->first); });
}

void TaskExecutor::deliver(Rank owner, const Completion& c) {
  if (owner == core_.rank()) return complete_local_(std::span<const Completion>(&c, 1));
  // On an executor thread the worker flushes after the job (or wakes the flusher).
  const bool on_executor = Executor::current() == executor_.get();
  if (on_executor) Executor::want_flush();
  dones_.append(owner, [&](Bytes& out) {
    switch (c.status) {
      case proto::DoneStatus::value: return proto::append_done_value(out, c.id, c.attempt, c.meta, c.value);
      case proto::DoneStatus::stored: return proto::append_done_stored(out, c.id, c.attempt, c.meta, c.offset);
      case proto::DoneStatus::error: return proto::append_done_error(out, c.id, c.attempt, c.error);
    }
  }, !on_executor);
}

Status TaskExecutor::store_result(const ObjectId& id, const detail::ObjectMeta& meta, ByteView bytes, std::uint64_t& offset) {
  auto info = core_.table().create(id, meta.size, meta.type_tag, meta.format, meta.aux);
  if (!info) return info.status();
  if (!bytes.empty()) std::memcpy(core_.arena().at(info.value().payload_offset()), bytes.data(), bytes.size());
  if (Status s = core_.table().seal(id); !s) {
    (void)core_.table().free(id);
    return s;
  }
  offset = info.value().offset;
  if (id.owner() == core_.rank()) return Status::ok();  // our own output: the owner entry takes the block
  // Kept as a copy of an object the submitter owns: freed on its kDropCopy or its death.
  Actions a = core_.ownership().add_copy(id, offset);
  const bool owner_gone = !a.free_local.empty();
  core_.run(std::move(a));
  if (owner_gone)
    return Status(Errc::owner_died, "the submitter " + rank_str(id.owner()) + " of this task died before it finished");
  return Status::ok();
}

}  // namespace ferry::rt
