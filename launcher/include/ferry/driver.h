// ferry/driver.h — driver mode: one rank runs the program, the others serve its tasks.
//
//   int main(int argc, char** argv) {
//     return ferry::run(argc, argv, [] {            // runs on rank 0 only
//       auto y = add_fn.on(1).remote(40, 2);        // tasks go to any rank
//       std::printf("%d\n", y.get());
//     });
//   }
//
// run() calls ferry::init (collective), then on rank 0 (the driver) calls `driver` while every other
// rank serves tasks (Session::serve) for as long as the driver runs — no time bound, no barrier.
// When the driver returns, the job shuts down (the workers return 0 from run as well). When the
// driver throws, or returns a non-zero int, the job is aborted: every rank's run() returns
// non-zero promptly, the workers after printing the driver's error. A driver that exits the
// process without returning makes the workers' run() fail with peer_failed once the transport sees
// it gone. A worker that dies does not end the others: their serve() skips it (only the driver's
// death or abort fails them), so under a launcher that keeps the job alive (ferry-run --keep-going)
// the driver goes on; its tasks on the dead rank fail with peer_failed. A failure of ferry::init is
// printed and returns 1 on every rank.
//
// Invariants: run() returns an exit status for main (0 = success) and never throws. The driver
// may use ferry::this_rank(), ferry::world_size() and everything in ferry/ferry.h.
#pragma once

#include <concepts>
#include <functional>
#include <type_traits>

namespace ferry {

class Session;

// The rank that runs the driver.
inline constexpr unsigned kDriverRank = 0;

namespace detail {
int run_driver(int& argc, char**& argv, std::function<int(Session&)> driver);
}  // namespace detail

// `driver` is callable as driver(), driver(Session&), returning void or int (non-zero: failure).
template <class F>
int run(int& argc, char**& argv, F&& driver) {
  return detail::run_driver(argc, argv, [&driver](Session& s) -> int {
    if constexpr (std::is_invocable_v<F&, Session&>) {
      if constexpr (std::is_void_v<std::invoke_result_t<F&, Session&>>) {
        driver(s);
        return 0;
      } else {
        return static_cast<int>(driver(s));
      }
    } else {
      static_assert(std::is_invocable_v<F&>,
                    "ferry::run(argc, argv, driver): driver must be callable as driver() or driver(ferry::Session&)");
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        driver();
        return 0;
      } else {
        return static_cast<int>(driver());
      }
    }
  });
}

}  // namespace ferry
