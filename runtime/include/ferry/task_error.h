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
#include <vector>

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
  // One task in the chain of failures: a task fails when its function threw,
  // or when an argument it depended on failed (the argument's error nests).
  struct frame {
    std::string function;    // remote function, "Class::method" or actor class name
    std::uint32_t rank = ~0u;  // where it ran (~0u if unknown)
  };

  explicit task_error(Status status) : Error(std::move(status)) { parse(); }
  // The task whose output was read (the outermost frame).
  const std::string& function() const noexcept { return chain_.empty() ? empty_ : chain_.front().function; }
  std::uint32_t rank() const noexcept { return chain_.empty() ? ~0u : chain_.front().rank; }
  // The root cause: the task that threw (the innermost frame) and its exception's message.
  const std::string& root_function() const noexcept { return chain_.empty() ? empty_ : chain_.back().function; }
  std::uint32_t root_rank() const noexcept { return chain_.empty() ? ~0u : chain_.back().rank; }
  const std::string& root_message() const noexcept { return root_message_; }
  // Outermost first.
  const std::vector<frame>& chain() const noexcept { return chain_; }

 private:
  static constexpr std::string_view kFailedOn = "' failed on rank ";
  void parse() {
    const std::string& m = status().message();
    std::size_t from = 0, rest = 0;
    for (std::size_t close = m.find(kFailedOn); close != std::string::npos; close = m.find(kFailedOn, from)) {
      const std::size_t open = m.rfind('\'', close == 0 ? 0 : close - 1);
      if (open == std::string::npos || open < from) break;
      frame f;
      f.function = m.substr(open + 1, close - open - 1);
      std::size_t at = close + kFailedOn.size();
      std::uint64_t r = 0;
      bool any = false;
      while (at < m.size() && m[at] >= '0' && m[at] <= '9') {
        r = r * 10 + static_cast<std::uint64_t>(m[at++] - '0');
        any = true;
      }
      if (any) f.rank = static_cast<std::uint32_t>(r);
      chain_.push_back(std::move(f));
      if (m.compare(at, 2, ": ") == 0) at += 2;
      from = rest = at;
    }
    root_message_ = chain_.empty() ? m : m.substr(rest);
  }
  std::vector<frame> chain_;
  std::string root_message_;
  inline static const std::string empty_;
};

// Thrown by get() when every copy of the object is gone and it cannot be
// re-made (Errc::object_lost): its lineage was evicted (FERRY_LINEAGE_BYTES)
// or never kept (put objects, actor method results, lineage disabled), or its
// re-execution failed. what() names the object and the reason.
class object_lost_error : public Error {
 public:
  explicit object_lost_error(Status status) : Error(std::move(status)) {}
};

namespace detail {

// The message format above (used by the runtime when a task fails).
inline std::string task_failure_message(std::string_view what, std::string_view name, std::uint32_t rank,
                                        std::string_view remote) {
  return std::string(what) + " '" + std::string(name) + "' failed on rank " + std::to_string(rank) + ": " +
         std::string(remote);
}

// Throws task_error for Errc::task_failed, object_lost_error for
// Errc::object_lost, ferry::Error otherwise.
[[noreturn]] inline void throw_status(Status s) {
  if (s.code() == Errc::task_failed) throw task_error(std::move(s));
  if (s.code() == Errc::object_lost) throw object_lost_error(std::move(s));
  throw Error(std::move(s));
}

}  // namespace detail
}  // namespace ferry
