// core_services.h — what the task layer (tasks.h) and the store-pressure
// handler (eviction.h) may use of their rank's Core (internal). The Core
// implements it; those layers hold a CoreServices& and never see the Core's
// fetch, shutdown or borrowing internals.
//
// Contract: every method may be called from any thread while the caller holds
// a GateGuard on gate() (handlers and executor jobs do); none takes a lock the
// caller may hold, and none runs a handler or user code inline except run(),
// which executes ownership actions (sends, local frees, lineage callbacks into
// the task layer) with no lock of the Core held.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ferry/detail/object_api.h"
#include "ferry/objstore/arena.h"
#include "ferry/objstore/object_table.h"
#include "ferry/runtime.h"
#include "ferry/transport/transport.h"
#include "gate.h"
#include "ownership.h"

namespace ferry::rt {

// While a task, actor method or actor constructor runs on this thread: where the
// foreign refs its argument decoding left covered (Ownership::add_ref_decoded) are
// listed. The executor ends those covers (CoreServices::uncover) before the task's
// done record leaves. Nests (a waiting task may run another on its thread).
class TaskCover {
 public:
  explicit TaskCover(std::vector<ObjectId>& covered) noexcept : prev_(tl_active_) { tl_active_ = &covered; }
  ~TaskCover() { tl_active_ = prev_; }
  TaskCover(const TaskCover&) = delete;
  TaskCover& operator=(const TaskCover&) = delete;
  // The running task's list, or nullptr outside one.
  static std::vector<ObjectId>* active() noexcept { return tl_active_; }

 private:
  std::vector<ObjectId>* prev_;
  static inline thread_local std::vector<ObjectId>* tl_active_ = nullptr;
};

class CoreServices {
 public:
  // ---- identity and configuration (fixed after start-up)
  virtual Rank rank() const noexcept = 0;
  virtual Rank size() const noexcept = 0;
  virtual std::uint32_t epoch() const noexcept = 0;
  virtual const RuntimeOptions& options() const noexcept = 0;
  virtual transport::Transport& transport() const noexcept = 0;
  virtual Gate& gate() const noexcept = 0;
  // False before start-up completed and once shutdown began: no new work.
  virtual bool accepting() const noexcept = 0;

  // ---- the object API (as ferry::put / get, for values the layers hold)
  virtual Result<ObjectId> put(const detail::ObjectMeta& meta, std::span<const std::byte> bytes,
                               std::span<const ObjectId> contained = {}) = 0;
  virtual Future<detail::ObjectData> fetch(const ObjectId& id, bool local_checked = false) = 0;
  virtual std::optional<Result<detail::ObjectData>> try_local(const ObjectId& id) = 0;
  virtual void add_ref(const ObjectId& id) = 0;
  virtual void remove_ref(const ObjectId& id) = 0;
  // A value about to be sent holds refs `contained` (see Core::hold_contained).
  virtual void hold_contained(const ObjectId& outer, std::span<const ObjectId> contained) = 0;
  // A task that covered `covered` (TaskCover) ended. Refs it leaves referenced here
  // start their registration: the returned future (invalid when there is none)
  // completes once every owner answered; the task's done record must wait for it.
  virtual Future<void> uncover(std::span<const ObjectId> covered) = 0;

  // ---- the ownership core, and the actions its calls return
  virtual Ownership& ownership() noexcept = 0;
  virtual void run(Actions&& actions) = 0;
  virtual ObjectId new_object_id() = 0;

  // ---- this rank's store (valid until shutdown releases it)
  virtual objstore::ObjectTable& table() noexcept = 0;
  virtual objstore::Arena& arena() noexcept = 0;

  // ---- messages and errors
  // Sends a runtime message; a failure is reported, never thrown.
  virtual void send(Rank dst, transport::HandlerId id, transport::Bytes payload) = 0;
  // Logs an error that has no caller to return to (malformed input, a failed send).
  virtual void report(const Status& s) = 0;

 protected:
  ~CoreServices() = default;
};

}  // namespace ferry::rt
