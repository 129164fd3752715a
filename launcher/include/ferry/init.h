// ferry/init.h — the entry point of a ferry program: ferry::init and ferry::Session.
//
//   int main(int argc, char** argv) {
//     ferry::Session s = ferry::init(argc, argv);  // ferry-run, mpirun (PMIx), srun --mpi=pmix, or one rank
//     auto x = ferry::put(40);                      // ... objects, tasks, actors (ferry/ferry.h)
//     s.shutdown();                                 // collective; ~Session does it too
//   }
//
// init() detects the launcher (ferry::launcher::make_bootstrap(): FERRY_BOOTSTRAP, ferry-run's
// FERRY_RENDEZVOUS_DIR, PMIX_NAMESPACE, else a single rank), reads the transport settings
// (FERRY_TRANSPORT, FERRY_PROGRESS, ...) and the runtime settings (FERRY_STORE_BYTES, ...),
// creates the transport and starts the process-wide ferry::Runtime on it. It is collective: every
// rank of the job calls it, and it returns only once every rank's runtime is running (a final
// bootstrap barrier), so tasks may be sent to any rank right away. Any failure throws
// ferry::Error whose message names the rank, the detected launcher and the step that failed. An
// MPI program uses ferry::init(MPI_Comm) from ferry/init_mpi.h instead.
//
// Invariants: a Session that is not moved-from owns exactly one Runtime (the process-wide current
// one until shutdown) and the bootstrap it was started with; rank() and size() stay valid after
// shutdown. Only one Session can be live and not shut down per process (a second init throws).
// shutdown() is collective and idempotent; the destructor calls it and logs (never throws) a
// failure. Object refs that outlive the session become inert (get() fails with shut_down).
//
// Thread-safety: init, barrier, shutdown and destruction from one thread (usually main); rank(), size(),
// runtime() from any thread while the session lives.
#pragma once

#include <memory>
#include <string>

#include "ferry/runtime.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry {

class Session {
 public:
  Session() noexcept;  // empty (moved-from state): rank()/runtime() throw, shutdown() does nothing
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session();  // shutdown() if not done yet; errors are logged, not thrown

  transport::Rank rank() const;
  transport::Rank size() const;
  // The running runtime. Throws ferry::Error (shut_down) after shutdown() or on an empty session.
  Runtime& runtime() const;
  // What started this process, e.g. "ferry-run (local rendezvous)", "PMIx (mpirun)", "MPI communicator".
  const std::string& launcher() const;
  bool is_shut_down() const noexcept;

  // Collective: returns when every rank of the job called it as often (over the runtime's
  // messages; no time bound, so phases of any length may separate barriers). For programs that
  // need a point where all ranks are done with a phase; tasks, gets and shutdown need no barrier.
  // Throws ferry::Error (peer_failed: a rank failed before reaching it; a peer's abort; shut_down).
  void barrier();

  // Collective (every live rank calls it; no barrier needed before it): waits until the tasks
  // this rank submitted completed, then keeps running the peers' tasks until every peer called
  // shutdown() or serve() too (bounded by FERRY_SHUTDOWN_TIMEOUT_MS, 0 = forever), stops the
  // runtime and the transport and releases the bootstrap (for ferry::init(MPI_Comm), the
  // duplicated communicator, so MPI_Finalize may follow). Idempotent. Throws ferry::Error if the
  // runtime reported a failure (the session is shut down anyway).
  void shutdown();
  // shutdown() for a worker: runs the peers' tasks for as long as they need it (no time bound)
  // and then shuts down. Throws ferry::Error when a peer failed or aborted instead of shutting down.
  void serve();
  // serve() for a worker of `driver` (ferry::run): throws only when `driver` failed or a peer
  // aborted; other peers that failed are skipped (the job survives a worker's death).
  void serve(transport::Rank driver);
  // Ends the job: every peer's serve(), barrier() and shutdown() fail with `why`; this rank shuts
  // down without waiting for in-flight work. Idempotent with shutdown (does nothing after it).
  void abort(const std::string& why);

  struct State;  // implementation detail (launcher/src/init.cc)
  explicit Session(std::unique_ptr<State> state) noexcept;

 private:
  std::unique_ptr<State> state_;
};

// Detects the launcher and starts ferry (collective). argc/argv are accepted for future ferry
// command-line options; today none are consumed and they are left unchanged.
Session init(int& argc, char**& argv);
Session init();

// Starts ferry over an explicit bootstrap (tests, custom launchers); `launcher` describes it in
// messages. Collective over the bootstrap's ranks. Throws ferry::Error.
Session init(std::unique_ptr<transport::Bootstrap> bootstrap, std::string launcher);

}  // namespace ferry
