// ferry_test/check.h — assertion macros for code running inside forked test ranks.
//
// Catch2's REQUIRE must not be used in a forked child (its results would land in
// the child's copy of the Catch2 session and never reach the parent). Instead:
//   FERRY_REQUIRE(a == b)        fatal: prints "rank R: file:line: a == b (3 == 4)", _exit(1)
//   FERRY_CHECK(a < b)           non-fatal: prints the same, the rank exits 1 at the end
//   FERRY_REQUIRE_OK(status)     Status or Result<T>; prints status.to_string()
//   FERRY_VALUE(result)          returns the value of a Result<T>, fatal if it holds an error
//   FERRY_WAIT(future, timeout)  waits (bounded) and returns the future's Result<T>;
//                                fatal if it is not ready in time (no test may hang)
//   FERRY_FAIL(msg)              unconditional fatal failure with a message
//   FERRY_FAIL_CHECK(msg)        unconditional non-fatal failure (the rank exits 1 at the end)
// Comparisons are decomposed like Catch2's (`Decomposer{} <= a == b`), so both
// operands are printed; use extra parentheses around && / || expressions.
//
// Thread-safety: every macro may be used from any thread of a rank (handlers,
// continuations, application threads). A fatal failure ends the process with
// _exit(1) at once, so a failing handler cannot leave peers half-checked.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>

#include "ferry/future.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::test {

// Set by the harness in each child; used to prefix messages ("rank 2: ...").
void set_current_rank(int rank) noexcept;
int current_rank() noexcept;
// True once any non-fatal FERRY_CHECK failed in this process.
bool any_check_failed() noexcept;

// Prints the failure; _exit(1) when `fatal`, otherwise records it.
void report_failure(const char* file, int line, const char* expr, const std::string& detail, bool fatal);
// Informational line on stderr, prefixed with the rank (never fails anything).
void note(const std::string& message);

namespace detail {

template <class T, class = void>
struct is_streamable : std::false_type {};
template <class T>
struct is_streamable<T, std::void_t<decltype(std::declval<std::ostream&>() << std::declval<const T&>())>>
    : std::true_type {};

template <class T, class = void>
struct has_status : std::false_type {};
template <class T>
struct has_status<T, std::void_t<decltype(std::declval<const T&>().status().to_string())>> : std::true_type {};

}  // namespace detail

template <class T>
std::string stringify(const T& v) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, bool>) {
    return v ? "true" : "false";
  } else if constexpr (std::is_same_v<D, Errc>) {
    return ferry::to_string(v);
  } else if constexpr (std::is_same_v<D, Status>) {
    return v.to_string();
  } else if constexpr (detail::has_status<D>::value) {
    return v.is_ok() ? std::string("ok") : v.status().to_string();
  } else if constexpr (std::is_same_v<D, std::byte>) {
    return std::to_string(static_cast<unsigned>(v));
  } else if constexpr (std::is_same_v<D, char> || std::is_same_v<D, signed char> ||
                       std::is_same_v<D, unsigned char>) {
    return std::to_string(static_cast<int>(v));
  } else if constexpr (std::is_enum_v<D>) {
    return std::to_string(static_cast<long long>(v));
  } else if constexpr (std::is_pointer_v<D> && !std::is_convertible_v<D, const char*>) {
    std::ostringstream os;
    os << static_cast<const void*>(v);
    return os.str();
  } else if constexpr (detail::is_streamable<D>::value) {
    std::ostringstream os;
    os << v;
    return os.str();
  } else {
    return "{?}";
  }
}

namespace detail {

template <class T>
inline constexpr bool plain_int_v = std::is_integral_v<T> && !std::is_same_v<T, bool> &&
                                    !std::is_same_v<T, char> && !std::is_same_v<T, char8_t> &&
                                    !std::is_same_v<T, char16_t> && !std::is_same_v<T, char32_t> &&
                                    !std::is_same_v<T, wchar_t>;

// Integer comparisons are done with std::cmp_* (no signed/unsigned surprises).
enum class Op { eq, ne, lt, le, gt, ge };
template <class L, class R>
bool compare(Op op, const L& l, const R& r) {
  if constexpr (plain_int_v<L> && plain_int_v<R>) {
    switch (op) {
      case Op::eq: return std::cmp_equal(l, r);
      case Op::ne: return std::cmp_not_equal(l, r);
      case Op::lt: return std::cmp_less(l, r);
      case Op::le: return std::cmp_less_equal(l, r);
      case Op::gt: return std::cmp_greater(l, r);
      case Op::ge: return std::cmp_greater_equal(l, r);
    }
    return false;
  } else {
    switch (op) {
      case Op::eq: return l == r;
      case Op::ne: return l != r;
      case Op::lt: return l < r;
      case Op::le: return l <= r;
      case Op::gt: return l > r;
      case Op::ge: return l >= r;
    }
    return false;
  }
}

struct Outcome {
  bool ok;
  std::string detail;
};

template <class L>
struct Lhs {
  const L& lhs;

  template <class R>
  Outcome binary(Op op, const char* name, const R& rhs) const {
    bool ok = compare(op, lhs, rhs);
    return {ok, ok ? std::string() : stringify(lhs) + " " + name + " " + stringify(rhs)};
  }
  template <class R> Outcome operator==(const R& r) const { return binary(Op::eq, "==", r); }
  template <class R> Outcome operator!=(const R& r) const { return binary(Op::ne, "!=", r); }
  template <class R> Outcome operator<(const R& r) const { return binary(Op::lt, "<", r); }
  template <class R> Outcome operator<=(const R& r) const { return binary(Op::le, "<=", r); }
  template <class R> Outcome operator>(const R& r) const { return binary(Op::gt, ">", r); }
  template <class R> Outcome operator>=(const R& r) const { return binary(Op::ge, ">=", r); }

  // Unary use: FERRY_REQUIRE(flag) / FERRY_REQUIRE(status).
  Outcome unary() const {
    bool ok = static_cast<bool>(lhs);
    return {ok, ok ? std::string() : stringify(lhs)};
  }
};

struct Decomposer {
  template <class L>
  Lhs<L> operator<=(const L& l) const { return Lhs<L>{l}; }
};

inline Outcome to_outcome(const Outcome& o) { return o; }
template <class L>
Outcome to_outcome(const Lhs<L>& l) { return l.unary(); }

}  // namespace detail

template <class R>
void require_ok(const R& r, const char* file, int line, const char* expr) {
  if (!r.is_ok()) {
    if constexpr (std::is_same_v<R, Status>) report_failure(file, line, expr, r.to_string(), true);
    else report_failure(file, line, expr, r.status().to_string(), true);
  }
}

template <class T>
T require_value(Result<T>&& r, const char* file, int line, const char* expr) {
  require_ok(r, file, line, expr);
  if constexpr (!std::is_void_v<T>) return std::move(r).value();
}

template <class T, class Rep, class Period>
Result<T> wait_result(Future<T>&& f, std::chrono::duration<Rep, Period> timeout, const char* file, int line,
                      const char* expr) {
  if (!f.valid()) report_failure(file, line, expr, "future is not valid", true);
  if (!f.wait_for(timeout)) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count();
    report_failure(file, line, expr, "future not ready within " + std::to_string(ms) + " ms (hang?)", true);
  }
  return f.result();
}

}  // namespace ferry::test

// The decomposition `Decomposer{} <= a == b` is intended; silence GCC's -Wparentheses for it.
#define FERRY_TEST_ASSERT_IMPL(fatal, ...)                                                           \
  do {                                                                                               \
    _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wparentheses\"")              \
    auto ferry_outcome_ = ::ferry::test::detail::to_outcome(::ferry::test::detail::Decomposer{} <= __VA_ARGS__); \
    _Pragma("GCC diagnostic pop")                                                                    \
    if (!ferry_outcome_.ok)                                                                          \
      ::ferry::test::report_failure(__FILE__, __LINE__, #__VA_ARGS__, ferry_outcome_.detail, fatal); \
  } while (0)

#define FERRY_REQUIRE(...) FERRY_TEST_ASSERT_IMPL(true, __VA_ARGS__)
#define FERRY_CHECK(...) FERRY_TEST_ASSERT_IMPL(false, __VA_ARGS__)
#define FERRY_REQUIRE_OK(expr) ::ferry::test::require_ok((expr), __FILE__, __LINE__, #expr)
#define FERRY_VALUE(expr) ::ferry::test::require_value((expr), __FILE__, __LINE__, #expr)
#define FERRY_WAIT(future, timeout) \
  ::ferry::test::wait_result(std::move(future), (timeout), __FILE__, __LINE__, #future)
#define FERRY_FAIL(msg) ::ferry::test::report_failure(__FILE__, __LINE__, "FERRY_FAIL", (msg), true)
#define FERRY_FAIL_CHECK(msg) ::ferry::test::report_failure(__FILE__, __LINE__, "FERRY_FAIL_CHECK", (msg), false)
