// spmd.h — rank 0 drives, the other ranks serve tasks until rank 0 releases them.
//
//   if (rank == 0) { ...drive...; sortrec::release_servers(size); } else sortrec::serve();
//   session.barrier(); session.shutdown();
//
// serve() waits (without a time bound: a long job must not time out a barrier) until a release
// task from rank 0 arrived; if rank 0 dies instead, the launcher (ferry-run, mpirun, srun) ends
// the job.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "ferry/ferry.h"

namespace sortrec {

struct ServeGate {
  std::mutex mu;
  std::condition_variable cv;
  bool released = false;  // guarded by mu
};

inline ServeGate& serve_gate() {
  static ServeGate g;
  return g;
}

inline bool release_here() {
  auto& g = serve_gate();
  std::lock_guard<std::mutex> lock(g.mu);
  g.released = true;
  g.cv.notify_all();
  return true;
}
inline const auto release_fn = ferry::function<&release_here>("ferry.sort.release_server");

inline void serve() {
  auto& g = serve_gate();
  std::unique_lock<std::mutex> lock(g.mu);
  g.cv.wait(lock, [&] { return g.released; });
}

inline void release_servers(std::uint32_t ranks) {
  std::vector<ferry::ObjectRef<bool>> done;
  for (std::uint32_t r = 1; r < ranks; ++r) done.push_back(release_fn.on(ferry::rank{r}).remote());
  (void)ferry::get(done);
}

}  // namespace sortrec
