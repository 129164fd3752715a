// task_owner.h — the submitter / owner role of a rank's task layer
// (internal): submission, placement, ownership of task outputs, their
// completion, retries and lineage, and the caller side of actors.
// Files: task_owner.cc (submission, completion, failures, drain), retry.cc
// (retries, lineage), actor_calls.cc (create / call / kill), actor_restart.cc
// (the caller side of actor fault tolerance).
//
// submit() creates a pending object (Ownership::add_pending; the caller gets
// the first reference), records a Pending entry (function, executor rank,
// refs the task holds: its ObjectRef arguments and large value arguments
// stored as objects), picks the executor (scheduler.h) and appends a submit
// record to that rank's outbox (or hands it to the local executor role).
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
//
// Thread-safety: submit from any thread; handlers on the progress thread;
// completions of local records on executor threads. pend_mu_ guards
// pending_ and lineage_, seq_mu_ the actor tables (lock order: seq_mu_ ->
// pend_mu_); no lock is held while calling the Core, the transport or the
// executor role.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "core_services.h"
#include "lineage.h"
#include "outbox.h"
#include "scheduler.h"
#include "task_executor.h"
#include "task_protocol.h"
#include "thread_annotations.h"

namespace ferry::rt {

struct ActorBook;
struct ActorCall;
struct ActorWhere;
namespace proto {
struct ActorUpdate;
}
using ActorKey = std::pair<transport::Rank, std::uint64_t>;  // an actor: (creator, counter)

class TaskOwner {
 public:
  // `submits`: the outbox of submit records; `local`: the executor role that runs this rank's own records.
  TaskOwner(CoreServices& core, Outbox& submits, TaskExecutor& local);
  ~TaskOwner();
  TaskOwner(const TaskOwner&) = delete;
  TaskOwner& operator=(const TaskOwner&) = delete;

  Result<detail::SubmitResult> submit(const RegistryEntry& fn, std::optional<Rank> where, std::span<ArgSpec> args,
                                      const TaskOptions& opts = {});
  Result<ActorId> create_actor(const RegistryEntry& cls, std::optional<Rank> where, std::span<ArgSpec> args,
                               const detail::ActorOptions& options = {});
  Result<detail::SubmitResult> call_actor(const ActorId& a, const RegistryEntry& m, std::span<ArgSpec> args);
  Status kill_actor(const ActorId& a);

  // Handlers (kDone, kActorUpdate).
  void on_done(Rank src, ByteView p);
  void on_actor_update(Rank src, ByteView p);
  // Completes every record of `batch` (all from `executor`; the local executor role's too).
  void complete(Rank executor, std::span<const Completion> batch);

  void set_peer_threads(Rank r, std::uint32_t threads) { board_.set_threads(r, threads); }
  // Placement stops choosing `peer` (called before the ownership core
  // handles its death, so re-made outputs go elsewhere).
  void mark_dead(Rank peer) { board_.dead(peer); }
  void peer_failed(Rank peer, const Status& why);
  // Task messages to `dst` could not be sent: its pending tasks fail (or retry elsewhere).
  void send_failed(Rank dst, const Status& why);
  // ---- lineage (retry.cc): outputs lost (pending again) -> re-run or object_lost;
  // outputs erased -> their lineage goes.
  void reconstruct(std::span<const ObjectId> ids);
  void forget_lineage(std::span<const ObjectId> ids);
  std::size_t lineage_bytes() const;
  // Waits until every task this rank submitted has completed (or the deadline);
  // `flush` sends batched records meanwhile.
  bool drain(std::chrono::steady_clock::time_point deadline, const std::function<void()>& flush);
  std::size_t pending() const;

  struct Pending {
    const RegistryEntry* entry = nullptr;
    Rank executor = 0;               // kInvalidRank while a retry is being placed
    std::vector<ObjectId> held;      // local refs owned by this entry (none when spec is set)
    std::uint32_t attempt = 0;       // done records of other attempts are ignored
    std::shared_ptr<TaskSpec> spec;  // retries / lineage (owns its held refs)
    bool forgotten = false;          // the output was erased: keep no lineage
    bool remaking = false;           // re-made from lineage: a final failure is object_lost
    std::shared_ptr<ActorCall> call = nullptr;  // actor calls and creates (actor_restart.h)
  };
  struct Reroute {  // a pending actor call taken out of pending_ (actor_restart.cc)
    ObjectId id;
    Pending p;
  };

 private:
  // task_owner.cc
  Status check_accepting(const char* what) const;
  // Value arguments above the inline size are stored here like put() (the executor reads them
  // one-sided) and become refs held in `held`; on failure what was stored is released again.
  Status store_large_args(std::span<ArgSpec> args, std::vector<ObjectId>& held);
  // The opening of a task submission or an actor creation: accepting (`what` names it for the
  // error), `where` inside the job (`subject` names the function or class), large arguments stored.
  Status begin_submission(const char* what, const std::string& subject, std::optional<Rank> where,
                          std::span<ArgSpec> args, std::vector<ObjectId>& held);
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
  void fail_pending_on(Rank executor, const Status& why);
  Status decorate(const Pending& p, Rank executor, const Status& s) const;

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

  CoreServices& core_;
  Outbox& submits_;
  TaskExecutor& local_;
  LoadBoard board_;

  mutable Mutex pend_mu_;
  std::unordered_map<ObjectId, Pending> pending_ FERRY_GUARDED_BY(pend_mu_);
  std::condition_variable pend_cv_;  // signalled when pending_ shrinks
  Lineage lineage_ FERRY_GUARDED_BY(pend_mu_);

  // caller side of actors: next sequence number per actor (actor_calls.cc)
  Mutex seq_mu_;
  std::map<std::pair<Rank, std::uint64_t>, std::uint64_t> next_seq_ FERRY_GUARDED_BY(seq_mu_);
  std::atomic<std::uint64_t> next_actor_{1};
  std::unique_ptr<ActorBook> book_ FERRY_PT_GUARDED_BY(seq_mu_);  // actor_restart.h
};

}  // namespace ferry::rt
