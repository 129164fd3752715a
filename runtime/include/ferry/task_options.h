// ferry/task_options.h — fault-tolerance options of remote function calls.
//
//   inline const auto f_fn = ferry::function<&f>("f", {.max_retries = 5});   // per function
//   auto r = f_fn.options({.max_retries = 0}).remote(x);                       // per call
//   auto s = f_fn.on(ferry::rank{2}).options({.retry_exceptions = true}).remote(x);
//
// A task is *lost* when the rank executing it fails (peer_failed) before its
// result arrived, or when it failed with peer_failed because an argument's
// holder died while it was being read. A lost task is resubmitted by its owner
// (the submitting rank) to a live rank chosen by the scheduler, up to
// max_retries times; its result is delivered once (each attempt carries a
// number, replies of an earlier attempt are ignored). A task placed with on()
// is pinned: it is never moved to another rank, so its rank's death fails it
// with peer_failed (as Ray's hard node affinity). Exceptions thrown by the
// function are retried (on the same placement rules) only when
// retry_exceptions is set, also up to max_retries. When the retries are used
// up the output fails with the last error. Re-making a lost *output* from
// lineage (a get or a dependent task needs it after its holder died) uses the
// same budget; it runs on the pinned rank if alive, else where the scheduler says.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>

namespace ferry {

struct TaskOptions {
  // Resubmissions after the first attempt; -1: the default (3, as in Ray).
  std::int32_t max_retries = -1;
  // Also retry (up to max_retries) when the function threw.
  bool retry_exceptions = false;

  static constexpr std::int32_t kDefaultMaxRetries = 3;
  // The number of resubmissions these options allow.
  constexpr std::uint32_t retries() const noexcept {
    return max_retries < 0 ? static_cast<std::uint32_t>(kDefaultMaxRetries) : static_cast<std::uint32_t>(max_retries);
  }
};

}  // namespace ferry
