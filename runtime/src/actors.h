// actors.h — the host side of actors (internal; caller side: TaskOwner::
// create_actor / call_actor / kill_actor in actor_calls.cc).
//
// One HostedActor per actor whose host is this rank. Records arrive as Jobs
// with a per-(caller, actor) sequence number (the creator's create is its
// seq 0). admit() parks a job in its caller's reorder map; ready() marks its
// arguments present; a caller's jobs move to the actor's serial queue in seq
// order, each only once it is ready (so a call waiting for an argument holds
// back that caller's later calls, not other callers'). The create job goes
// to the front of the serial queue, and nothing runs before it was seen.
// One drain Runnable per actor at a time runs the serial queue on the
// executor pool (at most kDrainBatch jobs, then it re-posts itself).
//
// Invariants (under HostedActor::mu): running => exactly one drain is posted
//   or running; serial jobs have their dependencies; state only moves
//   waiting -> alive | failed -> killed.
// Thread-safety: admit/ready from the progress thread or dependency
//   continuations, drains on executor threads; actors_mu_ guards the table.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "task_executor.h"

namespace ferry::rt {

struct HostedActor {
  enum class State : std::uint8_t { waiting, alive, failed, killed };
  struct Caller {
    std::uint64_t next = 0;
    std::map<std::uint64_t, Job*> parked;
  };
  std::mutex mu;
  ActorId id;
  State state = State::waiting;                 // guarded by mu
  Status error;                                 // guarded by mu: why calls fail (failed / killed)
  const RegistryEntry* cls = nullptr;           // guarded by mu
  std::shared_ptr<void> instance;               // guarded by mu
  std::unordered_map<Rank, Caller> callers;     // guarded by mu
  std::deque<Job*> serial;                      // guarded by mu
  bool created_seen = false;                    // guarded by mu
  bool running = false;                         // guarded by mu
};

class ActorHost {
 public:
  static constexpr int kDrainBatch = 64;
  ActorHost(TaskExecutor& tasks, CoreServices& core) : tasks_(tasks), core_(core) {}

  void admit(Job* j, const ActorId& id);
  void ready(Job* j);
  void peer_failed(Rank peer, const Status& why);
  // Destroys every instance and drops every queued job (shutdown, executors stopped).
  void clear();
  std::size_t size() const;

 private:
  struct Drain;
  void advance_locked(HostedActor& a, Rank caller, std::vector<Job*>& discard);
  void schedule_locked(const std::shared_ptr<HostedActor>& a);
  void drain(const std::shared_ptr<HostedActor>& a);
  void run_one(HostedActor& a, Job* j);
  void fail_job(Job* j, const Status& why);

  TaskExecutor& tasks_;
  CoreServices& core_;
  mutable std::mutex actors_mu_;
  std::map<std::pair<Rank, std::uint64_t>, std::shared_ptr<HostedActor>> actors_;  // guarded by actors_mu_
};

}  // namespace ferry::rt
