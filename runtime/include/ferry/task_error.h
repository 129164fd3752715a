// ferry/task_error.h — placement (ferry::rank), the unit result (ferry::none)
// and ferry::task_error, the exception get() throws when a task or an actor
// method threw (Errc::task_failed).
//
// A failed task's status travels as Errc::task_failed with the message
//   "<what> '<name>' failed on rank <r>: <remote message>"
// (what = "task", "actor method", "actor class"); task_error parses the name
// and the rank back out of it, so the error needs no extra wire fields.
//
// Thread-safety: value types.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <type_traits>

#include "ferry/status.h"

namespace ferry {

// Explicit placement: `fn.on(ferry::rank{1}).remote(...)`.
struct rank {
  std::uint32_t value = 0;
  constexpr rank() noexcept = default;
  // Implicit from any integer (on(1), on(this_rank() + 1)); a negative one names no rank
  // (the submission fails with invalid_argument).
  template <class I>
    requires std::is_integral_v<I>
  constexpr rank(I v) noexcept
      : value(v < 0 ? std::numeric_limits<std::uint32_t>::max() : static_cast<std::uint32_t>(v)) {}
};

// What a void function (or method) returns: an empty, trivially copyable value,
// so callers can wait on ObjectRef<ferry::none>.
struct none {
  friend bool operator==(none, none) noexcept { return true; }
};

// Thrown by get() of a task output whose function threw.
class task_error : public Error {
 public:
  explicit task_error(Status status) : Error(std::move(status)) { parse(); }
  // The remote function (or "Class::method", or actor class) name.
  const std::string& function() const noexcept { return function_; }
  // The rank it ran on (~0u if unknown).
  std::uint32_t rank() const noexcept { return rank_; }

 private:
  void parse() {
    const std::string& m = status().message();
    auto open = m.find('\'');
    auto close = m.find("' failed on rank ");
    if (open == std::string::npos || close == std::string::npos || close <= open) return;
    function_ = m.substr(open + 1, close - open - 1);
    std::size_t at = close + 17;
    std::uint64_t r = 0;
    bool any = false;
    while (at < m.size() && m[at] >= '0' && m[at] <= '9') {
      r = r * 10 + static_cast<std::uint64_t>(m[at++] - '0');
      any = true;
    }
    if (any) rank_ = static_cast<std::uint32_t>(r);
  }
  std::string function_;
  std::uint32_t rank_ = ~0u;
};

namespace detail {

// The message format above (used by the runtime when a task fails).
inline std::string task_failure_message(std::string_view what, std::string_view name, std::uint32_t rank,
                                        std::string_view remote) {
  return std::string(what) + " '" + std::string(name) + "' failed on rank " + std::to_string(rank) + ": " +
         std::string(remote);
}

// Throws task_error for Errc::task_failed, ferry::Error otherwise.
[[noreturn]] inline void throw_status(Status s) {
  if (s.code() == Errc::task_failed) throw task_error(std::move(s));
  throw Error(std::move(s));
}

}  // namespace detail
}  // namespace ferry
