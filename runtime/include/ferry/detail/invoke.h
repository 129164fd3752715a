// ferry/detail/invoke.h — compile-time machinery shared by ferry::function
// and ferry::actor: signature traits, the parameter/argument rules (with
// static_asserts that name a remedy), argument encoding at the submitter and
// the type-erased invokers that run on executors. Not for users.
//
// Rules: a parameter is a value `T` or `const T&` where T is a storable type
// (ferry/serialization.h: raw value, raw range, or cereal-serializable) and
// its own stored type (std::vector<U>, not std::span<U>; std::string, not
// std::string_view). An argument is a value convertible to T, or an
// ObjectRef<T> (the task waits for the object and receives its value). A
// parameter of type ObjectRef<T> receives the ref itself.
//
// Thread-safety: stateless templates.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include "ferry/detail/task_api.h"
#include "ferry/object_ref.h"
#include "ferry/serialization.h"
#include "ferry/task.h"
#include "ferry/task_error.h"

namespace ferry::detail {

template <class T>
struct is_object_ref : std::false_type {};
template <class T>
struct is_object_ref<ObjectRef<T>> : std::true_type {};

// ---- signatures
template <class F>
struct fn_traits {
  static constexpr bool valid = false;
};
template <class R, class... P>
struct fn_traits<R (*)(P...)> {
  static constexpr bool valid = true;
  static constexpr bool is_method = false;
  using result = R;
  using params = std::tuple<P...>;
  using cls = void;
};
template <class R, class... P>
struct fn_traits<R (*)(P...) noexcept> : fn_traits<R (*)(P...)> {};
template <class C, class R, class... P>
struct fn_traits<R (C::*)(P...)> {
  static constexpr bool valid = true;
  static constexpr bool is_method = true;
  using result = R;
  using params = std::tuple<P...>;
  using cls = C;
};
template <class C, class R, class... P>
struct fn_traits<R (C::*)(P...) const> : fn_traits<R (C::*)(P...)> {};
template <class C, class R, class... P>
struct fn_traits<R (C::*)(P...) noexcept> : fn_traits<R (C::*)(P...)> {};
template <class C, class R, class... P>
struct fn_traits<R (C::*)(P...) const noexcept> : fn_traits<R (C::*)(P...)> {};

template <class R>
struct is_task : std::false_type {};
template <class T>
struct is_task<task<T>> : std::true_type {};
// What a coroutine returning R eventually returns (R itself for plain functions).
template <class R>
struct unwrap_task {
  using type = R;
};
template <class T>
struct unwrap_task<task<T>> {
  using type = T;
};

// What a task returning R (or task<R>) stores.
template <class R>
using task_result_t = std::conditional_t<std::is_void_v<typename unwrap_task<R>::type>, none,
                                         std::remove_cvref_t<typename unwrap_task<R>::type>>;

template <class R0>
constexpr void check_result() {
  using R = typename unwrap_task<R0>::type;
  static_assert(!std::is_reference_v<R> || std::is_const_v<std::remove_reference_t<R>>,
                "ferry: a remote function returns a non-const reference; it cannot refer to memory of another "
                "rank: return by value");
  using S = task_result_t<R>;
  static_assert(!std::is_pointer_v<S>,
                "ferry: a remote function returns a raw pointer, which means nothing on another rank: return the "
                "value, a std::vector, or an ObjectRef");
  static_assert(std::is_same_v<stored_t<S>, S>,
                "ferry: a remote function returns a view type (std::span, std::string_view, const char*): return "
                "an owning std::vector / std::string instead");
  check_storable<S>();
}

template <class P>
constexpr void check_param() {
  using D = std::remove_cvref_t<P>;
  static_assert(!std::is_pointer_v<D>,
                "ferry: a remote function takes a raw pointer, which means nothing on another rank: take the value, "
                "a std::vector<T>, or an ObjectRef<T>");
  static_assert(!(std::is_lvalue_reference_v<P> && !std::is_const_v<std::remove_reference_t<P>>),
                "ferry: a remote function takes a non-const lvalue reference; the task runs elsewhere and cannot "
                "write back into the caller's variable: take it by value or const&, and return results");
  static_assert(!std::is_rvalue_reference_v<P>,
                "ferry: a remote function takes an rvalue reference: take the parameter by value or const& instead");
  static_assert(std::is_same_v<stored_t<D>, D>,
                "ferry: a remote function takes a view type (std::span, std::string_view, const char*): take an "
                "owning std::vector<T> / std::string (by value or const&) instead");
  check_storable<D>();
}

template <class Tuple>
struct check_params;
template <class... P>
struct check_params<std::tuple<P...>> {
  static constexpr bool value = (check_param<P>(), ..., true);
};

// ---- arguments (submitter side)

// Fills `spec` for parameter P from argument `a`.
template <class P, class A>
void bind_arg(ArgSpec& spec, A&& a) {
  using D = std::remove_cvref_t<P>;
  using AD = std::remove_cvref_t<A>;
  if constexpr (is_object_ref<AD>::value && !is_object_ref<D>::value) {
    static_assert(std::is_same_v<typename AD::value_type, D>,
                  "ferry: an ObjectRef<U> argument is passed for a parameter of another type; the parameter must be "
                  "U or const U& (or ObjectRef<U> to receive the ref itself)");
    spec.kind = ArgSpec::Kind::ref;
    spec.ref = a.id();
    spec.epoch = a.epoch();
    if (a.is_nil()) throw Error(Status(Errc::invalid_argument, "ferry: a nil ObjectRef passed as a task argument"));
  } else {
    static_assert(std::is_constructible_v<D, A>,
                  "ferry: an argument cannot be converted to the remote function's parameter type: pass a value of "
                  "that type (or an ObjectRef of it)");
    spec.kind = ArgSpec::Kind::value;
    if constexpr (is_object_ref<D>::value) spec.hold = a.id();
    if constexpr (std::is_same_v<AD, D>) {
      Encoded e = encode<D>(a);
      spec.meta = e.meta;
      spec.contained = std::move(e.contained);
      if (e.meta.format == static_cast<std::uint16_t>(Format::cereal_binary)) {
        spec.buffer = std::move(e.buffer);
        spec.bytes = std::as_bytes(std::span<const char>(spec.buffer.data(), spec.buffer.size()));
      } else {
        spec.bytes = e.bytes;  // a view into `a`, alive until the submission returns
      }
    } else {
      const D tmp(std::forward<A>(a));
      Encoded e = encode<D>(tmp);
      spec.meta = e.meta;
      spec.contained = std::move(e.contained);
      if (e.meta.format == static_cast<std::uint16_t>(Format::cereal_binary)) spec.buffer = std::move(e.buffer);
      else spec.buffer.assign(reinterpret_cast<const char*>(e.bytes.data()), e.bytes.size());
      spec.bytes = std::as_bytes(std::span<const char>(spec.buffer.data(), spec.buffer.size()));
    }
  }
}

template <class Params, class... A, std::size_t... I>
void bind_args([[maybe_unused]] std::span<ArgSpec> specs, std::index_sequence<I...>, A&&... a) {
  (bind_arg<std::tuple_element_t<I, Params>>(specs[I], std::forward<A>(a)), ...);
}

// Encodes the arguments of a call with parameter tuple Params into `specs`.
template <class Params, class... A>
void bind_all(std::span<ArgSpec> specs, A&&... a) {
  static_assert(sizeof...(A) == std::tuple_size_v<Params>,
                "ferry: wrong number of arguments for this remote function / method / constructor");
  bind_args<Params>(specs, std::make_index_sequence<sizeof...(A)>{}, std::forward<A>(a)...);
}

// ---- invocation (executor side)

template <class S>
Status emit_result(ResultSink& out, const S& value) {
  Encoded e = encode<S>(value);
  if (e.meta.format == static_cast<std::uint16_t>(Format::cereal_binary))
    e.bytes = std::as_bytes(std::span<const char>(e.buffer.data(), e.buffer.size()));
  return out.emit(e.meta, e.bytes, e.contained);
}

// GCC 12 reports optional<vector> members of `vals` as maybe-uninitialized
// (a false positive: each is engaged unless `bad` is set).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
template <class Params, std::size_t... I>
Result<std::tuple<std::remove_cvref_t<std::tuple_element_t<I, Params>>...>> decode_args(
    std::span<const ObjectData> args, std::index_sequence<I...>) {
  if (args.size() != sizeof...(I))
    return Status(Errc::invalid_argument, "received " + std::to_string(args.size()) + " arguments, the function takes " +
                                              std::to_string(sizeof...(I)) + " (mismatched builds?)");
  const ArgumentDecoding decoding;
  Status bad;
  [[maybe_unused]] auto one = [&](auto tag, std::size_t i) {
    using D = typename decltype(tag)::type;
    Result<D> r = decode<D>(args[i], ObjectId());
    if (!r) {
      if (bad.is_ok()) bad = Status(r.status().code(), "argument " + std::to_string(i + 1) + ": " + r.status().message());
      return std::optional<D>();
    }
    return std::optional<D>(std::move(r).value());
  };
  std::tuple<std::optional<std::remove_cvref_t<std::tuple_element_t<I, Params>>>...> vals{
      one(std::type_identity<std::remove_cvref_t<std::tuple_element_t<I, Params>>>{}, I)...};
  if (!bad.is_ok()) return bad;
  return std::tuple<std::remove_cvref_t<std::tuple_element_t<I, Params>>...>(std::move(*std::get<I>(vals))...);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Calls `call(args...)` with decoded arguments, catching exceptions, and emits the result.
template <class R, class Params, class Call>
Status invoke_decoded(std::span<const ObjectData> args, ResultSink& out, Call&& call) {
  constexpr std::size_t n = std::tuple_size_v<Params>;
  auto decoded = decode_args<Params>(args, std::make_index_sequence<n>{});
  if (!decoded) return decoded.status();
  try {
    if constexpr (std::is_void_v<R>) {
      std::apply(call, std::move(decoded).value());
      return emit_result(out, none{});
    } else {
      const task_result_t<R> r = std::apply(call, std::move(decoded).value());
      return emit_result(out, r);
    }
  } catch (const std::exception& e) {
    return Status(Errc::task_failed, e.what());
  } catch (...) {
    return Status(Errc::task_failed, "an exception that is not a std::exception");
  }
}

// A coroutine task: starts it here; its completion finishes the deferred sink later.
template <auto F>
Status invoke_coroutine(std::span<const ObjectData> args, ResultSink& out) {
  using T = fn_traits<decltype(F)>;
  using Params = typename T::params;
  using V = typename unwrap_task<typename T::result>::type;
  auto decoded = decode_args<Params>(args, std::make_index_sequence<std::tuple_size_v<Params>>{});
  if (!decoded) return decoded.status();
  ResultSink* sink = out.defer();
  if (!sink) return Status(Errc::unsupported, "coroutine tasks cannot run here");
  // The decoded arguments live as long as the coroutine (const& parameters refer to them).
  auto held = std::make_shared<typename std::remove_cvref_t<decltype(decoded.value())>>(std::move(decoded).value());
  task<V> t;
  try {
    t = std::apply([](auto&... a) { return F(a...); }, *held);
  } catch (const std::exception& e) {
    sink->finish(Status(Errc::task_failed, e.what()));
    return Status::ok();
  }
  std::move(t).start([sink, held](Result<task_result_t<V>>&& r) {
    Status s = r ? emit_result(*sink, r.value()) : r.status();
    sink->finish(std::move(s));
  });
  return Status::ok();
}

template <auto F>
Status invoke_function(std::span<const ObjectData> args, ResultSink& out) {
  using T = fn_traits<decltype(F)>;
  if constexpr (is_task<typename T::result>::value) return invoke_coroutine<F>(args, out);
  else return invoke_decoded<typename T::result, typename T::params>(
      args, out, [](auto&&... a) -> decltype(auto) { return F(std::forward<decltype(a)>(a)...); });
}

template <auto M>
Status invoke_method(void* self, std::span<const ObjectData> args, ResultSink& out) {
  using T = fn_traits<decltype(M)>;
  static_assert(!is_task<typename T::result>::value,
                "ferry: an actor method cannot be a coroutine (ferry::task<T>); make it a plain method, or use a "
                "coroutine remote function");
  auto* obj = static_cast<typename T::cls*>(self);
  return invoke_decoded<typename T::result, typename T::params>(
      args, out, [obj](auto&&... a) -> decltype(auto) { return (obj->*M)(std::forward<decltype(a)>(a)...); });
}

template <class C, class... CtorArgs>
Status construct_actor(std::span<const ObjectData> args, std::shared_ptr<void>& out) {
  using Params = std::tuple<CtorArgs...>;
  auto decoded = decode_args<Params>(args, std::make_index_sequence<sizeof...(CtorArgs)>{});
  if (!decoded) return decoded.status();
  try {
    out = std::apply([](auto&&... a) { return std::make_shared<C>(std::forward<decltype(a)>(a)...); },
                     std::move(decoded).value());
    return Status::ok();
  } catch (const std::exception& e) {
    return Status(Errc::task_failed, e.what());
  } catch (...) {
    return Status(Errc::task_failed, "an exception that is not a std::exception");
  }
}

// Wraps a submission result into the caller's first reference.
template <class S>
ObjectRef<S> adopt_ref(Result<SubmitResult> r) {
  if (!r) throw_status(r.status());
  return ObjectRef<S>(ObjectRef<S>::adopt, r.value().id, r.value().epoch);
}

}  // namespace ferry::detail
