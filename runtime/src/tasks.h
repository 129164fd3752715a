// tasks.h — the task layer of one rank (internal): submission and ownership
// of task outputs (tasks.cc), execution of tasks whose owner is any rank
// (task_exec.cc), and actors (actors.cc). The Core owns one Tasks and hooks
// it into start-up, peer failure and shutdown; Tasks uses the Core through
// CoreServices (core_services.h): the ownership core, the store and fetches.
//
// Submitter / owner side: submit() creates a pending object (Ownership::
// add_pending; the caller gets the first reference), records a Pending entry
// (function, executor rank, refs the task holds: its ObjectRef arguments and
// large value arguments stored as objects), picks the executor (scheduler.h)
// and appends a submit record to that rank's outbox (or runs the local path).
// A done record completes it: set_ready (inline value, or Location{executor,
// offset} for results kept in the executor's arena) or set_failed; the held
// refs are dropped then. Retries and lineage (retry.cc, lineage.h): a task
// submitted with retries or lineage keeps its TaskSpec (encoded record +
// held refs) in its Pending entry; peer failure of the executor (or a
// peer_failed / retriable error in its done record) resubmits it to a live
// rank with the next attempt number, and done records of other attempts are
// ignored; without retries left its output fails. A completed task's spec
// moves to the Lineage table while its output exists; an output whose every
// copy was lost is re-run from it (Actions::reconstruct).
// Executor side: a Job per record; ObjectRef arguments are fetched with
// Core::fetch (continuations, no executor thread waits); when all are here
// the job goes to the Executor pool (tasks) or its actor's serial queue.
// Results <= inline_bytes travel in the done record; larger ones are stored in
// this arena as a copy of an object owned by the submitter (Ownership::
// add_copy), freed when the owner says drop (kDropCopy) or dies.
//
// Thread-safety: submit/flush from any thread; handlers on the progress
// thread; jobs on executor threads. pend_mu_ guards pending_; the actor
// tables have their own mutexes; no lock is held while calling the Core,
// the transport or user code.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "executor.h"
#include "lineage.h"
#include "ferry/detail/task_api.h"
#include "outbox.h"
#include "scheduler.h"
#include "task_protocol.h"
#include "thread_annotations.h"

namespace ferry::rt {

class CoreServices;
class Tasks;
struct HostedActor;
struct ActorBook;
struct ActorCall;
struct ActorWhere;
namespace proto {
struct ActorUpdate;
}
using ActorKey = std::pair<transport::Rank, std::uint64_t>;  // an actor: (creator, counter)

using detail::ActorId;
using transport::ByteView;
using detail::ArgSpec;
using detail::ObjectData;
using detail::RegistryEntry;

// One received task / actor record, executed here.
struct Job final : Runnable {
  Tasks* tasks = nullptr;
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
  ResultBuffer(Tasks& t, CoreServices& c, const ObjectId& id, Job* job = nullptr) : tasks(t), core(c), id(id), job(job) {}
  Status emit(const detail::ObjectMeta& m, std::span<const std::byte> bytes,
              std::span<const ObjectId> contained) override;
  // A coroutine task took over its job (task_exec.cc): the job completes later.
  detail::ResultSink* defer() override;
  // Completes `j` with this buffer's result (DeferredResult, task_exec.cc).
  void finish_job(Job* j, Status s);

  Tasks& tasks;
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

class Tasks {
 public:
  Tasks(CoreServices& core, unsigned threads);
  ~Tasks();
  Tasks(const Tasks&) = delete;
  Tasks& operator=(const Tasks&) = delete;

  void install_handlers();
  // Lets the executors run (called once the runtime is the process's current one).
  // Submits that arrived while this rank was still starting (a peer finished
  // start-up first) are held and handled here, not refused.
  void resume();
  unsigned threads() const noexcept { return threads_; }
  void set_peer_threads(Rank r, std::uint32_t threads) { board_.set_threads(r, threads); }

  // ---- submitter (tasks.cc, actors.cc)
  Result<detail::SubmitResult> submit(const RegistryEntry& fn, std::optional<Rank> where, std::span<ArgSpec> args,
                                      const TaskOptions& opts = {});
  Result<ActorId> create_actor(const RegistryEntry& cls, std::optional<Rank> where, std::span<ArgSpec> args,
                               const detail::ActorOptions& options = {});
  Result<detail::SubmitResult> call_actor(const ActorId& a, const RegistryEntry& m, std::span<ArgSpec> args);
  Status kill_actor(const ActorId& a);
  void flush_all();

  // ---- lifecycle
  void peer_failed(Rank peer, const Status& why);
  // Placement stops choosing `peer` (called before the ownership core
  // handles its death, so re-made outputs go elsewhere).
  void mark_dead(Rank peer) { board_.dead(peer); }
  // ---- lineage (retry.cc): outputs lost (pending again) -> re-run or object_lost;
  // outputs erased -> their lineage goes.
  void reconstruct(std::span<const ObjectId> ids);
  void forget_lineage(std::span<const ObjectId> ids);
  std::size_t lineage_bytes() const;
  // Waits until every task this rank submitted has completed (or the deadline).
  bool drain(std::chrono::steady_clock::time_point deadline);
  // Stops the executor and flusher threads, destroys actors, discards queued jobs.
  void stop();
  std::size_t pending() const;
  std::uint32_t executor_load() const { return executor_ ? executor_->load() : 0; }
  // Runs `r` on this rank's executors (coroutine resumptions, future continuations).
  void post(Runnable* r) { executor_->post(r); }

  // ---- executor side (task_exec.cc), used by Job and the actor host
  void execute(Job* j);
  // Drops (deletes) a job whose submitter died; true if it did.
  bool owner_gone(Job* j);
  void dependency_ready(Job* j);

 private:
  friend class ActorHost;
  friend struct ActorBook;
  friend struct ResultBuffer;
  struct Pending {
    const RegistryEntry* entry = nullptr;
    Rank executor = 0;               // kInvalidRank while a retry is being placed
    std::vector<ObjectId> held;      // local refs owned by this entry (none when spec is set)
    std::uint32_t attempt = 0;       // done records of other attempts are ignored
    std::shared_ptr<TaskSpec> spec;  // retries / lineage (owns its held refs)
    bool forgotten = false;          // the output was erased: keep no lineage
    bool remaking = false;           // re-made from lineage: a final failure is object_lost
    std::shared_ptr<ActorCall> call;  // actor calls and creates (actor_restart.h)
  };
  struct Reroute {  // a pending actor call taken out of pending_ (actor_restart.cc)
    ObjectId id;
    Pending p;
  };
  struct Completion {
    ObjectId id;
    std::uint32_t attempt = 0;
    proto::DoneStatus status = proto::DoneStatus::error;
    detail::ObjectMeta meta;
    ByteView value;
    std::uint64_t offset = 0;
    Status error;
  };

  // tasks.cc
  Status check_accepting(const char* what) const;
  Status store_large_args(std::span<ArgSpec> args, std::vector<ObjectId>& held);
  // Ref arguments this rank owns whose value is ready here and small (<= inline
  // bytes) become value arguments (no locate round trip for the executor); the
  // ref stays held (ArgSpec::hold) until the task completes, so refs inside the
  // value live while the executor decodes them. `keep` holds the bytes until
  // the record is written.
  void inline_ready_args(std::span<ArgSpec> args, std::vector<ObjectData>& keep);
  Rank choose(std::span<const ArgSpec> args);
  // Registers the pending output and holds the refs; returns the output id.
  ObjectId add_pending(const RegistryEntry& e, Rank executor, std::span<const ArgSpec> args,
                       std::vector<ObjectId> held, bool owned_output, std::shared_ptr<TaskSpec> spec = nullptr,
                       std::shared_ptr<ActorCall> call = nullptr);
  void send_record(Rank dst, const proto::SubmitHead& h, std::span<const ArgSpec> args);
  void drive_progress_while_submitting();
  void on_done(Rank src, ByteView p);
  // Completes every record of `batch` (all from `executor`).
  void complete(Rank executor, std::span<const Completion> batch);
  void fail_pending_on(Rank executor, const Status& why);
  Status decorate(const Pending& p, Rank executor, const Status& s) const;
  void on_send_failed(Rank dst, const Status& why);

  // retry.cc
  // Reads only the lineage budget, which is fixed at construction (no lock needed).
  std::shared_ptr<TaskSpec> make_spec(const RegistryEntry& fn, std::optional<Rank> where, std::span<const ArgSpec> args,
                                      const TaskOptions& opts) const FERRY_NO_THREAD_SAFETY_ANALYSIS;
  // Encodes the spec's record for output `id` and sends it to `dst`.
  void send_spec(Rank dst, const ObjectId& id, TaskSpec& spec, std::span<const ArgSpec> args);
  // Whether a done record's error lets the task run again (retries left).
  static bool retriable(const Pending& p, const Status& error);
  // object_lost: the lost object `id` could not be re-made because of `why`.
  static Status remake_failed(const ObjectId& id, const Status& why);
  // Re-places and re-sends the pending task `id` (its executor is kInvalidRank).
  void resubmit(const ObjectId& id, const Status& why);
  // Moves a completed task's spec to the lineage table (under pend_mu_);
  // appends refs to drop (evicted specs, or the spec itself when not kept).
  void keep_lineage_locked(const ObjectId& id, Pending& p, std::vector<ObjectId>& drop) FERRY_REQUIRES(pend_mu_);
  // actor_restart.cc (caller side of actor fault tolerance; book_ guarded by seq_mu_)
  ActorWhere actor_where_locked(const ActorId& a) const FERRY_REQUIRES(seq_mu_);
  void remember_owned(const RegistryEntry& cls, const ActorId& id, std::span<const ArgSpec> args);
  void forget_owned(const ActorId& a);
  std::vector<Reroute> take_calls_locked(const ActorKey& key, std::uint64_t older_than) FERRY_REQUIRES(seq_mu_);
  void assign_locked(std::vector<Reroute>& calls, const ActorWhere& w, const ActorKey& key,
                     std::vector<Reroute>& resend, std::vector<std::pair<Reroute, Status>>& fail,
                     const std::string& no_retry) FERRY_REQUIRES(seq_mu_);
  void resend_calls(std::vector<Reroute>& resend);
  void fail_calls(std::vector<std::pair<Reroute, Status>>& fail);
  void broadcast(const proto::ActorUpdate& u);
  // The creator decides (restart or actor_died) for its actors hosted on `dead`.
  void creator_hosts_died(Rank dead, const Status& why);
  void creator_host_died(const ActorKey& key, Rank dead, const Status& why);
  // A call whose executor failed: resubmit, fail, or park until the creator's verdict.
  void call_lost(const ObjectId& id, Pending p, const Status& why);
  // Parked calls of actors created by `peer` fail (no verdict will come).
  void creator_died(Rank peer);
  void on_actor_update(Rank src, ByteView p);

  // task_exec.cc
  void on_submit(Rank src, ByteView p);
  void accept_batch(Rank src, std::shared_ptr<const Bytes> msg, std::size_t offset);
  Job* make_job(Rank src, const proto::SubmitHead& h, const std::vector<proto::WireArg>& args,
                const std::shared_ptr<const Bytes>& msg);
  // Starts fetching the job's ObjectRef arguments; true when none is missing.
  bool start_dependencies(Job* j, const std::vector<proto::WireArg>& args);
  // compose: wrap a task_failed status into "<what> '<name>' failed on rank R: ...".
  void finish(Job* j, Status s, ResultBuffer* out, bool compose = true);
  void deliver(Rank owner, const Completion& c);
  Status store_result(const ObjectId& id, const detail::ObjectMeta& meta, ByteView bytes, std::uint64_t& offset);

  CoreServices& core_;
  const unsigned threads_;
  LoadBoard board_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<Outbox> submits_;
  std::unique_ptr<Outbox> dones_;
  std::unique_ptr<Flusher> flusher_;
  std::unique_ptr<class ActorHost> host_;

  // Local hand-off (task_exec.cc): outputs of task jobs accepted here and not
  // yet finished, with the argument slots of later jobs here that wait for
  // them. A job whose argument is such an output takes the value from the
  // producing job when it finishes instead of asking the owner (a locate the
  // owner would park until the done record arrives).
  struct LocalWait {
    Job* job;
    std::size_t arg;
  };
  bool wait_local(const ObjectId& id, Job* j, std::size_t arg);
  void hand_off(const Completion& c, bool contained);
  void arg_arrived(Job* j, std::size_t i, const ObjectId& id, Result<ObjectData>&& r);
  Mutex local_mu_;
  std::unordered_map<ObjectId, std::vector<LocalWait>> local_ FERRY_GUARDED_BY(local_mu_);

  Mutex early_mu_;
  bool started_ FERRY_GUARDED_BY(early_mu_) = false;
  std::vector<std::pair<Rank, Bytes>> early_ FERRY_GUARDED_BY(early_mu_);  // submits received before start
  mutable Mutex pend_mu_;
  std::unordered_map<ObjectId, Pending> pending_ FERRY_GUARDED_BY(pend_mu_);
  std::condition_variable pend_cv_;  // signalled when pending_ shrinks
  Lineage lineage_ FERRY_GUARDED_BY(pend_mu_);

  // caller side of actors: next sequence number per actor (actors.cc)
  Mutex seq_mu_;
  std::map<std::pair<Rank, std::uint64_t>, std::uint64_t> next_seq_ FERRY_GUARDED_BY(seq_mu_);
  std::atomic<std::uint64_t> next_actor_{1};
  std::unique_ptr<ActorBook> book_ FERRY_PT_GUARDED_BY(seq_mu_);  // actor_restart.h
  std::atomic<bool> hook_cleared_{false};  // stop() removed the transport progress hook (once: the
                                          // transport may be gone by the destructor's stop())
};

}  // namespace ferry::rt
