// ferry/actor.h — actors: a C++ object living on one rank, whose methods run
// there one at a time.
//
//   struct Counter { explicit Counter(int start); int add(int d); int value() const; };
//   inline const auto counter_class = ferry::actor_class<Counter, int>("Counter");  // ctor arg types
//   inline const auto counter_add   = ferry::method<&Counter::add>("Counter::add");
//   ferry::actor<Counter> c = counter_class.on(ferry::rank{1}).create(10);  // or counter_class.create(10)
//   ferry::ObjectRef<int> r = c.call(counter_add, 5);
//   c.kill();                                            // optional; actors die at shutdown otherwise
//   auto r = counter_class.options({.max_restarts = 2, .max_task_retries = 1}).create(10);  // fault tolerant
//   auto s = counter_class.on(ferry::rank{1}).options({.max_restarts = 1}).create(10);
//
// Semantics: the instance lives on its host rank from create() until kill()
// or the Runtime's shutdown. Calls run on an executor thread of the host, one
// at a time (one serial queue per actor), and the calls of one caller rank
// run in the order it submitted them (per-(caller, actor) sequence numbers;
// a call waiting for an ObjectRef argument holds back the later calls of that
// caller). Calls from different ranks interleave in arrival order. Results are
// ObjectRefs owned by the calling rank, like task outputs (same inline /
// one-sided rules). A constructor that throws makes every call fail with a
// ferry::task_error naming the actor class; a method that throws fails its
// own call only. Calls after kill() fail.
//
// Fault tolerance (ActorOptions): when the host rank dies, the creator
// re-creates the actor on a live rank with the same constructor arguments
// (it keeps them, and the refs among them, while the actor may restart), up
// to max_restarts times; state is lost. Every rank learns the new host: later
// calls from any rank go to the new instance. A call in flight on the dead
// host is resubmitted to the new instance if max_task_retries allows
// (so it may run twice: once on the old instance, whose result was lost,
// once on the new one; the result is delivered once), else it fails with
// Errc::actor_died. An actor with no restarts left is dead: calls in flight
// and later fail with actor_died naming the actor class, id and the rank it
// died on. If the creator itself dies, the actor cannot restart any more.
//
// ferry::actor<T> is a copyable handle (its id) and cereal-serializable: it
// can be passed to tasks and other actors, which may call it.
//
// Thread-safety: handles are immutable values; call()/kill() from any thread
// (the order between threads of one rank is the order their calls reach the
// runtime).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>

#include "ferry/detail/invoke.h"
#include "ferry/function.h"
#include "ferry/object_ref.h"
#include "ferry/task_error.h"

namespace ferry {

using ActorOptions = detail::ActorOptions;

template <auto M>
class method {
  using traits = detail::fn_traits<decltype(M)>;
  static_assert(traits::valid && traits::is_method,
                "ferry::method<M>: M must be a pointer to a member function (e.g. ferry::method<&Counter::add>("
                "\"Counter::add\")); for free functions use ferry::function<&f>");
  static constexpr bool params_ok = detail::check_params<typename traits::params>::value;

 public:
  using class_type = typename traits::cls;
  using result_type = detail::task_result_t<typename traits::result>;
  using params = typename traits::params;

  explicit method(std::string_view name) : entry_(register_entry(name)) {
    detail::check_result<typename traits::result>();
  }
  std::string_view name() const noexcept { return entry_->name; }
  const detail::RegistryEntry& entry() const noexcept { return *entry_; }

 private:
  static const detail::RegistryEntry* register_entry(std::string_view name) {
    detail::RegistryEntry e;
    e.kind = detail::EntryKind::method;
    e.name = std::string(name);
    e.signature = type_tag<decltype(M)>();
    e.class_tag = type_tag<class_type>();
    e.arity = std::tuple_size_v<params>;
    e.method = &detail::invoke_method<M>;
    return detail::register_entry(std::move(e));
  }
  const detail::RegistryEntry* entry_;
};

template <class T>
class actor {
 public:
  actor() = default;  // nil
  explicit actor(detail::ActorId id) : id_(id) {}

  // Calls `m` on the actor's rank; the result is a ref owned by this rank.
  template <auto M, class... A>
  ObjectRef<typename method<M>::result_type> call(const method<M>& m, A&&... args) const {
    static_assert(std::is_same_v<typename method<M>::class_type, T>,
                  "ferry::actor<T>::call: the method belongs to another class than T");
    using P = typename method<M>::params;
    std::array<detail::ArgSpec, sizeof...(A)> specs;
    detail::bind_all<P>(std::span<detail::ArgSpec>(specs), std::forward<A>(args)...);
    return detail::adopt_ref<typename method<M>::result_type>(
        detail::call_actor(id_, m.entry(), std::span<detail::ArgSpec>(specs)));
  }

  // Destroys the instance after this rank's earlier calls ran; later calls fail.
  void kill() const {
    if (Status s = detail::kill_actor(id_); !s) detail::throw_status(std::move(s));
  }

  bool is_nil() const noexcept { return id_.is_nil(); }
  explicit operator bool() const noexcept { return !is_nil(); }
  // The rank the instance was created on (a restart moves it elsewhere).
  ferry::rank host() const noexcept { return ferry::rank{id_.host}; }
  const ActorOptions& options() const noexcept { return id_.options; }
  const detail::ActorId& id() const noexcept { return id_; }
  friend bool operator==(const actor& a, const actor& b) noexcept { return a.id_ == b.id_; }

  template <class Archive>
  void serialize(Archive& ar) {
    ar(id_.host, id_.creator, id_.counter, id_.options.max_restarts, id_.options.max_task_retries);
  }

 private:
  detail::ActorId id_;
};

// The class of an actor, with the types of its constructor's parameters.
template <class T, class... CtorArgs>
class actor_class {
  static constexpr bool params_ok = detail::check_params<std::tuple<CtorArgs...>>::value;
  static_assert(std::is_constructible_v<T, CtorArgs...>,
                "ferry::actor_class<T, CtorArgs...>: T is not constructible from CtorArgs...");

 public:
  explicit actor_class(std::string_view name) : entry_(register_entry(name)) {}

  // A creation with a placement and/or options.
  class placed {
   public:
    template <class... A>
    actor<T> create(A&&... args) const {
      return cls_->create_on(where_, opts_, std::forward<A>(args)...);
    }
    placed on(rank r) const { return placed(cls_, r.value, opts_); }
    placed options(const ActorOptions& o) const { return placed(cls_, where_, o); }

   private:
    friend class actor_class;
    placed(const actor_class* cls, std::optional<std::uint32_t> r, const ActorOptions& o)
        : cls_(cls), where_(r), opts_(o) {}
    const actor_class* cls_;
    std::optional<std::uint32_t> where_;
    ActorOptions opts_;
  };

  placed on(rank r) const { return placed(this, r.value, {}); }
  placed options(const ActorOptions& o) const { return placed(this, std::nullopt, o); }
  template <class... A>
  actor<T> create(A&&... args) const {
    return create_on(std::nullopt, {}, std::forward<A>(args)...);
  }
  std::string_view name() const noexcept { return entry_->name; }

 private:
  static const detail::RegistryEntry* register_entry(std::string_view name) {
    detail::RegistryEntry e;
    e.kind = detail::EntryKind::actor_class;
    e.name = std::string(name);
    e.signature = type_tag<void (*)(T*, CtorArgs...)>();
    e.class_tag = type_tag<T>();
    e.arity = sizeof...(CtorArgs);
    e.factory = &detail::construct_actor<T, CtorArgs...>;
    return detail::register_entry(std::move(e));
  }

  template <class... A>
  actor<T> create_on(std::optional<std::uint32_t> where, const ActorOptions& opts, A&&... args) const {
    std::array<detail::ArgSpec, sizeof...(A)> specs;
    detail::bind_all<std::tuple<CtorArgs...>>(std::span<detail::ArgSpec>(specs), std::forward<A>(args)...);
    auto id = detail::create_actor(*entry_, where, std::span<detail::ArgSpec>(specs), opts);
    if (!id) detail::throw_status(id.status());
    return actor<T>(id.value());
  }

  const detail::RegistryEntry* entry_;
};

}  // namespace ferry

// Names an actor method once: FERRY_METHOD(Counter, add) defines the handle
// `Counter_add` (= ferry::method<&Counter::add>("Counter::add")). Use it at
// namespace scope after the class.
#define FERRY_METHOD(cls, m) inline const auto cls##_##m = ::ferry::method<&cls::m>(#cls "::" #m)
