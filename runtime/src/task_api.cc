// task_api.cc — the non-template entry points of ferry/detail/task_api.h:
// find the current core, hold its gate, call the task layer.
//
// Thread-safety: any thread (executor threads included: nested tasks).
#include "core.h"
#include "current.h"
#include "ferry/detail/task_api.h"
#include "tasks.h"

namespace ferry::detail {

namespace {

Status no_runtime(const std::string& what) {
  return Status(Errc::shut_down, what + ": no ferry runtime is running in this process (create a ferry::Runtime "
                                        "or call ferry::init first)");
}

// `what()` names the call in the error (built only on failure).
template <class What, class F>
auto with_core(What&& what, F&& f) -> decltype(f(std::declval<rt::Core&>())) {
  rt::Core* c = rt::current_core();
  if (!c) return no_runtime(what());
  rt::GateGuard g(c->gate());
  if (!g) return no_runtime(what());
  return f(*c);
}

}  // namespace

Result<SubmitResult> submit_task(const RegistryEntry& fn, std::optional<std::uint32_t> where,
                                 std::span<ArgSpec> args, const TaskOptions& opts) {
  return with_core([&] { return "task '" + fn.name + "'"; },
                   [&](rt::Core& c) { return c.tasks().submit(fn, where, args, opts); });
}

Result<ActorId> create_actor(const RegistryEntry& cls, std::optional<std::uint32_t> where, std::span<ArgSpec> args,
                             const ActorOptions& options) {
  return with_core([&] { return "actor class '" + cls.name + "'"; },
                   [&](rt::Core& c) { return c.tasks().create_actor(cls, where, args, options); });
}

Result<SubmitResult> call_actor(const ActorId& actor, const RegistryEntry& method, std::span<ArgSpec> args) {
  return with_core([&] { return "actor method '" + method.name + "'"; },
                   [&](rt::Core& c) { return c.tasks().call_actor(actor, method, args); });
}

Status kill_actor(const ActorId& actor) {
  return with_core([&] { return "kill of " + actor.to_string(); }, [&](rt::Core& c) { return c.tasks().kill_actor(actor); });
}

}  // namespace ferry::detail
