// ferry/detail/task_api.h — the non-template entry points behind
// ferry::function and ferry::actor (implemented in runtime/src/registry.cc,
// task_api.cc). Not for users.
//
// Registry: every ferry::function / actor_class / method handle registers one
// RegistryEntry at static initialisation under its stable name. An entry's
// `signature` is the type tag of its C++ signature; the registry hash (names
// + kinds + signatures) is compared across ranks when a Runtime starts.
// Entries are never removed (except by the testing hook), and pointers to
// them stay valid for the life of the process.
//
// Invokers run on executor threads. They decode arguments from ObjectData
// (the same bytes/format/type-tag rules as get()), call the user code,
// catch every exception (-> Errc::task_failed with the exception's what())
// and hand the encoded result to a ResultSink, which copies it where it
// belongs (inline in the done message, or a block of the executor's arena).
//
// Thread-safety: register/lookup are internally synchronized; invokers are
// reentrant.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ferry/detail/object_api.h"
#include "ferry/status.h"
#include "ferry/task_options.h"

namespace ferry::detail {

// Receives a task's encoded result (called at most once per invocation).
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  // `contained`: refs serialized inside the result (kept alive with it).
  virtual Status emit(const ObjectMeta& meta, std::span<const std::byte> bytes,
                      std::span<const ObjectId> contained = {}) = 0;
  // Coroutine tasks: the invoker takes over the task's completion and returns
  // ok at once; the returned sink lives until finish() is called on it, once
  // (after emit() on success). Null where deferring is not supported.
  virtual ResultSink* defer() { return nullptr; }
  virtual void finish(Status s) { (void)s; }
};

enum class EntryKind : std::uint8_t { function = 0, actor_class = 1, method = 2 };

using FunctionInvoker = Status (*)(std::span<const ObjectData> args, ResultSink& out);
using MethodInvoker = Status (*)(void* self, std::span<const ObjectData> args, ResultSink& out);
using ActorFactory = Status (*)(std::span<const ObjectData> args, std::shared_ptr<void>& out);

struct RegistryEntry {
  EntryKind kind = EntryKind::function;
  std::string name;
  std::uint64_t name_hash = 0;   // FNV-1a of name (the wire key)
  std::uint64_t signature = 0;   // type tag of the C++ signature
  std::uint64_t class_tag = 0;   // actor_class / method: type tag of the class
  std::uint32_t arity = 0;
  FunctionInvoker function = nullptr;
  MethodInvoker method = nullptr;
  ActorFactory factory = nullptr;
};

// Registers `e` (static initialisation). A second entry under the same name
// with a different kind or signature is recorded as a conflict, which makes
// Runtime start fail with a message naming it. Never throws.
const RegistryEntry* register_entry(RegistryEntry e) noexcept;

// One argument of a submission.
struct ArgSpec {
  enum class Kind : std::uint8_t { value = 0, ref = 1 };
  Kind kind = Kind::value;
  // value: encoded bytes (a view into the caller's value, or into `buffer`).
  ObjectMeta meta;
  std::span<const std::byte> bytes;
  std::string buffer;
  // ref: the object the task depends on (its value is passed).
  ObjectId ref;
  std::uint32_t epoch = 0;
  // An ObjectRef passed as a value (parameter of type ObjectRef<T>): kept
  // alive by the submitter until the task finishes.
  ObjectId hold;
  // Refs serialized inside a value argument: kept alive likewise.
  std::vector<ObjectId> contained;
};

struct SubmitResult {
  ObjectId id;
  std::uint32_t epoch = 0;
};

// Submits a task; the caller receives the first reference to the output.
// `where` unset: the scheduler places it. `opts`: retries (task_options.h).
// Errors (no runtime, rank outside the job): Status.
Result<SubmitResult> submit_task(const RegistryEntry& fn, std::optional<std::uint32_t> where,
                                 std::span<ArgSpec> args, const TaskOptions& opts = {});

// Fault-tolerance options of an actor, fixed at creation.
//   max_restarts:     how often the creator re-creates the actor (same
//                     constructor arguments, fresh state) on a live rank
//                     after its host died; 0: the actor dies with its host.
//   max_task_retries: how often a call that was in flight when the host died
//                     is resubmitted to the restarted actor (its result is
//                     delivered once); 0: such calls fail with actor_died.
struct ActorOptions {
  std::uint32_t max_restarts = 0;
  std::uint32_t max_task_retries = 0;
  friend bool operator==(const ActorOptions&, const ActorOptions&) = default;
};

// Actors: (host rank at creation, creator rank, creator's counter) + options.
// (creator, counter) names the actor for its whole life; after a restart it
// lives on another rank than `host` (every rank learns the new one).
struct ActorId {
  std::uint32_t host = ~0u;
  std::uint32_t creator = ~0u;
  std::uint64_t counter = 0;
  ActorOptions options;
  bool is_nil() const noexcept { return counter == 0; }
  friend bool operator==(const ActorId&, const ActorId&) = default;
  std::string to_string() const;
};

Result<ActorId> create_actor(const RegistryEntry& cls, std::optional<std::uint32_t> where, std::span<ArgSpec> args,
                             const ActorOptions& options = {});
Result<SubmitResult> call_actor(const ActorId& actor, const RegistryEntry& method, std::span<ArgSpec> args);
// Orders after this rank's earlier calls to the actor; the instance is
// destroyed on its rank and later calls fail.
Status kill_actor(const ActorId& actor);

namespace testing {
// Removes a registry entry (tests of unregistered functions / registry mismatch).
bool unregister(std::string_view name) noexcept;
}  // namespace testing

}  // namespace ferry::detail
