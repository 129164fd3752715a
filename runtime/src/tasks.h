// tasks.h — the task layer of one rank (internal), in two roles:
//   TaskOwner (task_owner.h):    submission and ownership of task outputs,
//                                retries, lineage, the caller side of actors;
//   TaskExecutor (task_executor.h): running the records any rank submits here,
//                                the host side of actors (actors.h).
// The roles meet only through records: the owner's submit records reach the
// executor role of the chosen rank (this one without a message), the done
// records come back to the owner. Tasks owns both, their two outboxes and the
// thread that flushes them, installs the handlers, and is what the Core hooks
// into start-up, peer failure and shutdown. Both roles see the Core only as
// CoreServices (core_services.h).
//
// Thread-safety: every method may be called from any thread; the roles lock
// themselves; no lock is held while calling the Core or the transport.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "core_services.h"
#include "executor.h"
#include "ferry/detail/task_api.h"
#include "outbox.h"
#include "task_executor.h"
#include "task_owner.h"

namespace ferry::rt {

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
  void resume() { exec_->resume(); }
  unsigned threads() const noexcept { return exec_->threads(); }
  void set_peer_threads(Rank r, std::uint32_t threads) { owner_->set_peer_threads(r, threads); }

  // ---- submitter (the owner role)
  Result<detail::SubmitResult> submit(const RegistryEntry& fn, std::optional<Rank> where, std::span<ArgSpec> args,
                                      const TaskOptions& opts = {}) {
    return owner_->submit(fn, where, args, opts);
  }
  Result<ActorId> create_actor(const RegistryEntry& cls, std::optional<Rank> where, std::span<ArgSpec> args,
                               const detail::ActorOptions& options = {}) {
    return owner_->create_actor(cls, where, args, options);
  }
  Result<detail::SubmitResult> call_actor(const ActorId& a, const RegistryEntry& m, std::span<ArgSpec> args) {
    return owner_->call_actor(a, m, args);
  }
  Status kill_actor(const ActorId& a) { return owner_->kill_actor(a); }
  // Sends every batched submit and done record now.
  void flush_all();

  // ---- lifecycle
  void peer_failed(Rank peer, const Status& why);
  // Placement stops choosing `peer` (before the ownership core handles its death).
  void mark_dead(Rank peer) { owner_->mark_dead(peer); }
  // ---- lineage: outputs lost (pending again) -> re-run or object_lost; outputs erased -> their lineage goes.
  void reconstruct(std::span<const ObjectId> ids) { owner_->reconstruct(ids); }
  void forget_lineage(std::span<const ObjectId> ids) { owner_->forget_lineage(ids); }
  std::size_t lineage_bytes() const { return owner_->lineage_bytes(); }
  // Waits until every task this rank submitted has completed (or the deadline).
  bool drain(std::chrono::steady_clock::time_point deadline);
  // Stops the executor and flusher threads, destroys actors, discards queued jobs.
  void stop();
  std::size_t pending() const { return owner_->pending(); }
  std::uint32_t executor_load() const { return exec_ ? exec_->load() : 0; }
  // Runs `r` on this rank's executors (coroutine resumptions, future continuations).
  void post(Runnable* r) { exec_->post(r); }

 private:
  void on_send_failed(Rank dst, const Status& why);

  CoreServices& core_;
  std::unique_ptr<Outbox> submits_;
  std::unique_ptr<Outbox> dones_;
  std::unique_ptr<Flusher> flusher_;
  std::unique_ptr<TaskExecutor> exec_;
  std::unique_ptr<TaskOwner> owner_;
  std::atomic<bool> hook_cleared_{false};  // stop() removed the transport progress hook (once: the
                                          // transport may be gone by the destructor's stop())
};

}  // namespace ferry::rt
