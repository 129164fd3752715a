// task_executor.h — the executor role of a rank's task layer (internal;
// task_exec.cc, and the actor host in actors.h): it runs the task and actor
// records other ranks (and this one) submit here, whoever owns their outputs.
//
// A Job per record; ObjectRef arguments are fetched with CoreServices::fetch
// (continuations, no executor thread waits); when all are here the job goes
// to the Executor pool (tasks) or its actor's serial queue (ActorHost).
// Results <= inline_bytes travel in the done record; larger ones are stored in
// this arena as a copy of an object owned by the submitter (Ownership::
// add_copy), freed when the owner says drop (kDropCopy) or dies. Done records
// leave through the `dones` outbox, or, for outputs this rank owns, go to the
// local owner role (`complete_local`) without a message.
//
// Thread-safety: on_submit runs on the progress thread; dependency
// continuations on whichever thread completes the fetch; execute() on
// executor threads. A Job is touched by one thread at a time except its
// args[i] slots (one writer each) and `error` (error_mu). local_mu_ and
// early_mu_ are leaves; no lock is held while calling the Core, the
// transport or user code.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core_services.h"
#include "executor.h"
#include "ferry/detail/task_api.h"
#include "outbox.h"
#include "task_protocol.h"
#include "thread_annotations.h"

namespace ferry::rt {

class TaskExecutor;
class ActorHost;
struct HostedActor;

using detail::ActorId;
using detail::ArgSpec;
using detail::ObjectData;
using detail::RegistryEntry;
using transport::ByteView;

// The outcome of one task or actor record, as its done record carries it.
using Completion = proto::DoneRecord;

// One received task / actor record, executed here.
struct Job final : Runnable {
  TaskExecutor* tasks = nullptr;
  proto::RecordKind kind = proto::RecordKind::task;
  Rank owner = 0;                     // submitter (owns the result)
  ObjectId result;
  const RegistryEntry* entry = nullptr;
  Status error;                       // set before running: fail instead of running
  std::shared_ptr<HostedActor> actor; // actor records
  std::uint64_t seq = 0;                // actor records: call sequence; tasks: the attempt
  bool deps_ready = false;            // actor records: guarded by the actor's mutex
  std::shared_ptr<const Bytes> msg;   // keeps value arguments alive
  std::vector<ObjectData> args;
  std::vector<ObjectId> covered;      // foreign refs its argument decoding left covered (TaskCover)
  std::atomic<std::uint32_t> waiting{0};
  Mutex error_mu;                     // guards `error` while dependencies complete

  void run() override;
};

// A task record sent again (a retry after a rank failure, or a lost output re-made): the
// executor runs it before queued work, since others already wait for its result.
inline bool rerun(const Job& j) noexcept { return j.kind == proto::RecordKind::task && j.seq > 0; }

// The sink an invoker writes its result into (task_exec.cc): small results
// are copied into a per-thread scratch buffer (then into the done record),
// large ones straight into a block of this rank's arena.
struct ResultBuffer final : detail::ResultSink {
  ResultBuffer(TaskExecutor& t, CoreServices& c, const ObjectId& id, Job* job = nullptr)
      : tasks(t), core(c), id(id), job(job) {}
  Status emit(const detail::ObjectMeta& m, std::span<const std::byte> bytes,
              std::span<const ObjectId> contained) override;
  // A coroutine task took over its job (task_exec.cc): the job completes later.
  detail::ResultSink* defer() override;
  // Completes `j` with this buffer's result (DeferredResult, task_exec.cc).
  void finish_job(Job* j, Status s);

  TaskExecutor& tasks;
  CoreServices& core;
  ObjectId id;
  bool emitted = false;
  proto::DoneStatus status = proto::DoneStatus::value;
  detail::ObjectMeta meta;
  std::uint64_t offset = 0;
  Bytes* scratch = nullptr;
  Job* job = nullptr;       // set for tasks (coroutines may defer)
  bool deferred = false;
  bool contained = false;   // the result holds refs (no local hand-off: the owner registers them)
};

class TaskExecutor {
 public:
  // Completions of records this rank submitted to itself (owner == this rank).
  using LocalCompletions = std::function<void(std::span<const Completion>)>;
  // `flush`: sends the outboxes' batches (the pool calls it after a run of jobs);
  // `wake`: asks for a flush soon (progress hook or flusher thread).
  TaskExecutor(CoreServices& core, unsigned threads, Outbox& dones, LocalCompletions complete_local,
               std::function<void()> flush, std::function<void()> wake);
  ~TaskExecutor();
  TaskExecutor(const TaskExecutor&) = delete;
  TaskExecutor& operator=(const TaskExecutor&) = delete;

  unsigned threads() const noexcept { return threads_; }
  std::uint32_t load() const { return executor_->load(); }

  // kSubmit handler. Submits that arrive while this rank is still starting
  // (a peer finished start-up first) are held, in order, until resume().
  void on_submit(Rank src, ByteView p);
  // A submit batch (header and records) from `src`; this rank's own records come here directly.
  void accept_batch(Rank src, std::shared_ptr<const Bytes> msg);
  // Lets the executors run and replays the held submits.
  void resume();
  // Drops what `peer` submitted that has not run (hosted actors' queued calls of a dead caller).
  void peer_failed(Rank peer, const Status& why);
  // Stops the executor threads, destroys hosted actors, discards queued jobs.
  void stop();
  // Runs `r` on this rank's executors (coroutine resumptions, future continuations, actor drains).
  void post(Runnable* r) { executor_->post(r); }

  // ---- used by Job, ResultBuffer and the actor host
  void execute(Job* j);
  // Drops (deletes) a job whose submitter died; true if it did.
  bool owner_gone(Job* j);
  void dependency_ready(Job* j);
  // compose: wrap a task_failed status into "<what> '<name>' failed on rank R: ...".
  void finish(Job* j, Status s, ResultBuffer* out, bool compose = true);
  void deliver(Rank owner, const Completion& c);
  // Ends j's covers (CoreServices::uncover), then delivers `c` to j's owner, at once
  // or (with a copy of its value) once the refs j left behind are registered.
  void deliver_job(Job* j, const Completion& c);
  Status store_result(const ObjectId& id, const detail::ObjectMeta& meta, ByteView bytes, std::uint64_t& offset);

 private:
  Job* make_job(Rank src, const proto::SubmitHead& h, const std::vector<proto::WireArg>& args,
                const std::shared_ptr<const Bytes>& msg);
  // Starts fetching the job's ObjectRef arguments; true when none is missing.
  bool start_dependencies(Job* j, const std::vector<proto::WireArg>& args);
  void arg_arrived(Job* j, std::size_t i, const ObjectId& id, Result<ObjectData>&& r);

  // Local hand-off: outputs of task jobs accepted here and not yet finished,
  // with the argument slots of later jobs here that wait for them. A job
  // whose argument is such an output takes the value from the producing job
  // when it finishes instead of asking the owner (a locate the owner would
  // park until the done record arrives).
  struct LocalWait {
    Job* job;
    std::size_t arg;
  };
  bool wait_local(const ObjectId& id, Job* j, std::size_t arg);
  void hand_off(const Completion& c, bool contained);

  CoreServices& core_;
  const unsigned threads_;
  Outbox& dones_;
  const LocalCompletions complete_local_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<ActorHost> host_;

  Mutex local_mu_;
  std::unordered_map<ObjectId, std::vector<LocalWait>> local_ FERRY_GUARDED_BY(local_mu_);

  Mutex early_mu_;
  bool started_ FERRY_GUARDED_BY(early_mu_) = false;
  std::vector<std::pair<Rank, Bytes>> early_ FERRY_GUARDED_BY(early_mu_);  // submits received before start
};

}  // namespace ferry::rt
