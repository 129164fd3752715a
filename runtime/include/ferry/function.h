// ferry/function.h — remote functions: typed handles registered under a
// stable name at static initialisation.
//
//   int add(int a, int b) { return a + b; }
//   inline const auto add_fn = ferry::function<&add>("add");
//   ferry::ObjectRef<int> y = add_fn.remote(x_ref, 2);        // scheduler places it
//   auto z = add_fn.on(ferry::rank{1}).remote(y, y);           // explicit placement
//
// remote(args...) submits a task and returns at once with a ref to its output
// (ObjectRef<R>; ObjectRef<ferry::none> for void functions). The submitting
// rank owns the output; a task submitted from inside a task is owned by the
// rank executing the outer task. Arguments are values (serialized like put:
// raw bytes or cereal) or ObjectRef<T> for a parameter T / const T& (a
// dataflow edge: the task waits for the object and receives its value; small
// objects come inline in the owner's reply, large ones are read one-sided).
// Refs passed as arguments stay alive until the task finished. Value
// arguments larger than FERRY_INLINE_BYTES are stored as objects of the
// submitter first and read one-sided by the executor.
//
// Placement (no on()): locality (the rank holding the most argument bytes,
// when above a threshold), else the least-loaded rank (queue lengths
// piggybacked on completions + this rank's outstanding tasks per rank).
//
// Errors (at get(), never a hang): the function threw -> ferry::task_error
// (Errc::task_failed; what() names the function, the rank and the message);
// the function is not registered / has another signature on the executor ->
// not_found / type_mismatch naming it; the executor died -> the task is
// retried on a live rank (TaskOptions, ferry/task_options.h; default 3
// retries), then peer_failed; its output lost later (the rank holding it died)
// -> re-made from lineage, or object_lost when that is impossible.
// Every rank must register the same functions (same binary): Runtime start
// compares a hash of the registry and fails naming the first difference.
// Unsupported parameter or return types are compile-time errors with a remedy.
//
// Thread-safety: handles are immutable; remote() may be called from any
// thread, including executor threads (nested tasks).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ferry/detail/invoke.h"
#include "ferry/object_ref.h"
#include "ferry/task_error.h"
#include "ferry/task_options.h"

namespace ferry {

template <auto F>
class function {
  using traits = detail::fn_traits<decltype(F)>;
  static_assert(traits::valid && !traits::is_method,
                "ferry::function<F>: F must be a pointer to a free function (e.g. ferry::function<&add>(\"add\")); "
                "for member functions of actors use ferry::method<&T::m>");
  static constexpr bool params_ok = detail::check_params<typename traits::params>::value;

 public:
  using result_type = detail::task_result_t<typename traits::result>;
  using params = typename traits::params;

  // Registers F under `name` (must be unique and the same on every rank).
  // `defaults`: retry options of every call (ferry/task_options.h).
  explicit function(std::string_view name, TaskOptions defaults = {})
      : entry_(register_entry(name)), defaults_(defaults) {
    detail::check_result<typename traits::result>();
  }
  static_assert(params_ok);  // the static_asserts above name the remedy

  // A handle with a placement and/or options for its calls: fn.on(r),
  // fn.options({...}), chained in either order.
  class placed {
   public:
    template <class... A>
    ObjectRef<result_type> remote(A&&... args) const {
      return fn_->submit(where_, opts_, std::forward<A>(args)...);
    }
    placed on(rank r) const { return placed(fn_, r.value, opts_); }
    // Replaces the options (max_retries = -1 keeps the function's).
    placed options(TaskOptions o) const { return placed(fn_, where_, fn_->merge(o)); }

   private:
    friend class function;
    placed(const function* fn, std::optional<std::uint32_t> r, TaskOptions o) : fn_(fn), where_(r), opts_(o) {}
    const function* fn_;
    std::optional<std::uint32_t> where_;
    TaskOptions opts_;
  };

  template <class... A>
  ObjectRef<result_type> remote(A&&... args) const {
    return submit(std::nullopt, defaults_, std::forward<A>(args)...);
  }
  placed on(rank r) const { return placed(this, r.value, defaults_); }
  placed options(TaskOptions o) const { return placed(this, std::nullopt, merge(o)); }

  std::string_view name() const noexcept { return entry_->name; }
  const TaskOptions& default_options() const noexcept { return defaults_; }

 private:
  TaskOptions merge(TaskOptions o) const {
    if (o.max_retries < 0) o.max_retries = defaults_.max_retries;
    return o;
  }
  static const detail::RegistryEntry* register_entry(std::string_view name) {
    detail::RegistryEntry e;
    e.kind = detail::EntryKind::function;
    e.name = std::string(name);
    e.signature = type_tag<decltype(F)>();
    e.arity = std::tuple_size_v<params>;
    if constexpr (params_ok) e.function = &detail::invoke_function<F>;  // invalid: only the remedy is reported
    return detail::register_entry(std::move(e));
  }

  template <class... A>
  ObjectRef<result_type> submit(std::optional<std::uint32_t> where, const TaskOptions& opts, A&&... args) const {
    if constexpr (!params_ok) {
      return {};  // reported by the static_asserts of check_params
    } else {
      std::array<detail::ArgSpec, sizeof...(A)> specs;
      detail::bind_all<params>(std::span<detail::ArgSpec>(specs), std::forward<A>(args)...);
      return detail::adopt_ref<result_type>(
          detail::submit_task(*entry_, where, std::span<detail::ArgSpec>(specs), opts));
    }
  }

  const detail::RegistryEntry* entry_;
  TaskOptions defaults_;
};

}  // namespace ferry

// Names a remote function once: FERRY_REMOTE(add) defines the handle `add_fn`
// (= ferry::function<&add>("add")), registered under the function's name.
// Use it at namespace scope, where `fn` is declared; an overloaded or
// templated function needs its signature: FERRY_REMOTE_AS(add_ints, add, int (*)(int, int))
// defines `add_ints` registered as "add_ints".
//
// The language gives an overload set no type, so FERRY_REMOTE cannot static_assert on it:
// instead `&fn` goes through detail::one_function, whose deduction fails for an overload set
// or a function template, and the compiler's "couldn't deduce template parameter ..." then
// names the remedy (tests/compile_fail checks the message).
#define FERRY_REMOTE(fn) inline const auto fn##_fn = ::ferry::function<::ferry::detail::one_function(&fn)>(#fn)
#define FERRY_REMOTE_AS(handle, fn, signature) \
  inline const auto handle = ::ferry::function<static_cast<signature>(&fn)>(#handle)

namespace ferry::detail {

// Identity for a pointer to one free function (a noexcept one converts; its signature is
// registered without noexcept). An overloaded or templated name matches no single
// R(*)(A...), so deduction fails naming this parameter: the remedy.
template <class FERRY_REMOTE_needs_one_function__for_an_overloaded_or_templated_name_use_FERRY_REMOTE_AS_handle_fn_signature,
          class... A>
constexpr auto one_function(
    FERRY_REMOTE_needs_one_function__for_an_overloaded_or_templated_name_use_FERRY_REMOTE_AS_handle_fn_signature (*f)(
        A...)) noexcept {
  return f;
}
}  // namespace ferry::detail
