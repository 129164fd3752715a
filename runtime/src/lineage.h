// lineage.h — task specs kept by the owner of task outputs (internal), for
// retries of lost tasks and re-execution of lost outputs.
//
// A TaskSpec is the encoded submit record of a task (function, value
// arguments, ref arguments; task_protocol.h) plus its retry options and the
// refs it holds (ref arguments, large value arguments stored as objects,
// refs inside value arguments). While the task runs, its Pending entry owns
// the spec (task_owner.h); when it completed, the Lineage table keeps it as long
// as the output's owner entry exists (Actions::forget_lineage ends it), so
// the output can be re-made with the same id when every copy of it is lost.
// Keeping a spec keeps its ref arguments alive (their values, not only their
// lineage: a simplification of Ray's lineage pinning), so a lost output can be
// re-run at once, and a lost argument is itself re-made by its owner.
//
// The table is bounded by FERRY_LINEAGE_BYTES (record bytes + a fixed cost
// per entry); beyond it the oldest specs are evicted (their refs dropped) and
// their ids remembered, so a later loss fails with object_lost naming the
// budget. Not thread-safe: Tasks guards it with its pending-table mutex.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ferry/detail/task_api.h"
#include "ferry/objstore/object_id.h"
#include "ferry/transport/transport.h"

namespace ferry::rt {

using objstore::ObjectId;
using transport::Bytes;
using transport::Rank;

struct TaskSpec {
  const detail::RegistryEntry* entry = nullptr;
  Bytes record;                      // one submit record (its seq = the attempt, patched per send)
  std::vector<ObjectId> held;        // refs this spec keeps (one each)
  std::vector<ObjectId> arg_refs;    // ObjectRef arguments (placement hints)
  std::optional<Rank> where;         // the caller's placement (first attempt only)
  std::uint32_t retries_left = 0;
  bool retry_exceptions = false;
  std::uint32_t attempt = 0;         // of the current / last execution
  std::size_t cost() const noexcept { return record.size() + 16 * held.size() + kEntryBytes; }
  static constexpr std::size_t kEntryBytes = 128;
};

class Lineage {
 public:
  explicit Lineage(std::size_t budget) : budget_(budget) {}

  bool enabled() const noexcept { return budget_ > 0; }
  // Keeps `spec` for `id`; returns the specs evicted to stay within budget
  // (possibly `spec` itself when it alone is larger): the caller drops their refs.
  std::vector<std::shared_ptr<TaskSpec>> keep(const ObjectId& id, std::shared_ptr<TaskSpec> spec);
  // Takes the spec of `id` out (to re-run it); null if none is kept.
  std::shared_ptr<TaskSpec> take(const ObjectId& id);
  // The output is gone: its spec (or null) for the caller to drop.
  std::shared_ptr<TaskSpec> forget(const ObjectId& id);
  // Whether `id`'s spec was evicted for the budget.
  bool evicted(const ObjectId& id) const { return evicted_.count(id) != 0; }
  // Everything (shutdown).
  std::vector<std::shared_ptr<TaskSpec>> clear();

  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t size() const noexcept { return map_.size(); }
  std::size_t budget() const noexcept { return budget_; }

 private:
  struct Node {
    std::shared_ptr<TaskSpec> spec;
    std::list<ObjectId>::iterator age;
  };
  const std::size_t budget_;
  std::size_t bytes_ = 0;
  std::list<ObjectId> order_;  // oldest first
  std::unordered_map<ObjectId, Node> map_;
  std::unordered_set<ObjectId> evicted_;
};

}  // namespace ferry::rt
