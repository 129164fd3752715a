// ferry/runtime.h — the per-process ferry runtime: object store + ownership on a transport.
//
//   auto boot = ferry::launcher::make_bootstrap().value();          // (launcher layer)
//   auto rt = ferry::Runtime::create(*boot, transport_options).value();
//   auto ref = ferry::put(42);  ...  rt->shutdown();
//
// A Runtime maps this rank's object-store arena (FERRY_STORE_BYTES), registers
// it with the transport once, installs its active-message handlers, and
// exchanges the arena keys with every peer ONCE (a bootstrap allgather, which
// also guarantees every rank's handlers are installed before anyone sends).
//
// Process-wide instance: the Runtime that was created last and not shut down
// is "current"; ObjectRef/put/get/wait use it (one Runtime per process at a
// time; create() fails while another is running). Each Runtime gets a new
// epoch number, and refs made under an older one are inert.
//
// shutdown() is collective (every live rank calls it) and safe at any point:
// it waits until the tasks this rank submitted completed and its reads ended,
// then announces itself and keeps running the peers' tasks and serving its
// objects until every live peer has announced itself too (bounded by
// shutdown_timeout, 0 = forever; failed peers are skipped). Only then does it
// stop accepting work, free the store, deregister the arena and, if the
// Runtime created the transport, shut the transport down. No barrier is
// needed before it. Object views must not outlive it; refs may (they become
// inert).
//
// serve() is shutdown() for a rank that only works for others (a worker in
// driver mode, ferry::run): it waits for the peers without a time bound and
// fails if a peer failed or aborted instead of shutting down. serve(driver)
// fails only when `driver` failed (or a peer aborted): the death of any other
// peer is skipped, so a worker outlives its fellow workers. abort(why) ends
// the job from this rank: every peer's serve()/barrier()/shutdown() fails with
// `why`, and this rank shuts down without waiting. barrier() synchronizes all
// ranks over the runtime's messages, with no time bound (it fails when a peer
// fails or aborts).
//
// Thread-safety: create/shutdown/destruction from one thread; everything else
// (stats, and the object API) from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry {

namespace rt {
class Core;
}

struct RuntimeOptions {
  // Arena bytes; 0: FERRY_STORE_BYTES, else the objstore default (min(25% RAM, 16 GiB)).
  std::size_t store_bytes = 0;
  // Objects up to this payload size travel inside the owner's reply (one AM
  // round trip); larger ones are read one-sided. FERRY_INLINE_BYTES.
  std::size_t inline_bytes = std::size_t{64} << 10;
  // Default get()/view() timeout; 0 = wait forever. FERRY_GET_TIMEOUT_MS.
  std::chrono::milliseconds get_timeout{600000};
  // Bound on shutdown's waits (submitted tasks, in-flight reads, the peers);
  // 0 = wait forever. FERRY_SHUTDOWN_TIMEOUT_MS.
  std::chrono::milliseconds shutdown_timeout{30000};
  // Executor threads of this rank; 0: FERRY_EXECUTOR_THREADS, else the CPUs of
  // this process's affinity mask (>= 1).
  unsigned executor_threads = 0;
  // Compare the remote function registries of all ranks at start (fail on a
  // difference). Off only for tests of unregistered functions.
  bool check_registry = true;
  // glibc only, once per process, unless the user tuned malloc (GLIBC_TUNABLES
  // or MALLOC_*_ environment): keep freed heap memory (trim threshold 256 MiB)
  // and serve blocks up to 32 MiB from the heap, so memory freed after a batch
  // of gets or tasks is reused warm instead of being returned to the kernel and
  // faulted in again page by page. FERRY_MALLOC_TUNING=n keeps glibc's defaults.
  bool malloc_tuning = true;
  // Bytes of task specs an owner keeps to re-make lost task outputs (lineage;
  // encoded records + a fixed cost per output); the oldest are evicted beyond
  // it, and such an output, once lost, fails with object_lost. 0 keeps none.
  // FERRY_LINEAGE_BYTES (bytes or K/M/G suffix).
  std::size_t lineage_bytes = std::size_t{256} << 20;

  // Defaults overridden by the FERRY_* variables above; invalid values -> invalid_argument.
  static Result<RuntimeOptions> from_env();
};

struct RuntimeStats {
  std::size_t owned = 0;           // objects this rank owns (incl. released ones awaiting reads)
  std::size_t leases = 0;          // one-sided reads of owned objects in progress
  std::size_t secondary = 0;       // copies of owned objects cached on other ranks
  std::size_t borrowed = 0;        // other ranks' objects referenced here
  std::size_t cached_values = 0;   // small values of borrowed objects kept here
  std::size_t copies = 0;          // other ranks' objects cached in this arena
  std::size_t fetches = 0;         // reads in flight from this rank
  std::size_t store_objects = 0;   // blocks in this arena's object table
  std::size_t store_used = 0;      // arena bytes allocated
  std::size_t store_capacity = 0;
  std::size_t store_high_water = 0;  // the largest store_used so far
  std::size_t store_prefault_pending = 0;  // bytes the background prefaulter has yet to fault in
  std::size_t owned_bytes = 0;       // payload bytes of this rank's own objects in its store
  std::size_t cached_bytes = 0;      // payload bytes of other ranks' objects in this store
  std::size_t tasks_pending = 0;   // tasks this rank submitted that have not completed
  std::size_t executor_load = 0;   // tasks queued or running on this rank's executors
  std::string describe() const;
};

class Runtime {
 public:
  // Creates a transport over `bootstrap` (collective) and starts on it; the
  // Runtime owns the transport and shuts it down.
  static Result<std::unique_ptr<Runtime>> create(transport::Bootstrap& bootstrap,
                                                 const transport::Options& transport_options,
                                                 const RuntimeOptions& options);
  static Result<std::unique_ptr<Runtime>> create(transport::Bootstrap& bootstrap,
                                                 const transport::Options& transport_options);
  // Starts on an existing transport (not owned; must outlive the Runtime).
  // `bootstrap` is used during create only (collective key exchange).
  static Result<std::unique_ptr<Runtime>> create(transport::Transport& transport, transport::Bootstrap& bootstrap,
                                                 const RuntimeOptions& options);
  static Result<std::unique_ptr<Runtime>> create(transport::Transport& transport, transport::Bootstrap& bootstrap);

  ~Runtime();  // shutdown() if not done yet (errors are logged)
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Collective; idempotent. See the file comment.
  Status shutdown();
  // Collective with the peers' shutdown(); waits for them without a bound. See the file comment.
  Status serve();
  // serve() that fails on the death of `driver` only (see the file comment).
  Status serve(transport::Rank driver);
  // Ends the job from this rank (see the file comment); returns this rank's shutdown status.
  Status abort(const Status& why);
  // Collective, no time bound; fails on a failed or aborting peer. See the file comment.
  Status barrier();

  transport::Rank rank() const noexcept;
  transport::Rank size() const noexcept;
  // The transport (valid until shutdown when the Runtime created it).
  transport::Transport& transport() const noexcept;
  const RuntimeOptions& options() const noexcept;
  RuntimeStats stats() const;

  // The running Runtime of this process, or null.
  static Runtime* current() noexcept;

 private:
  explicit Runtime(std::shared_ptr<rt::Core> core);
  // Makes a started core the process's current runtime and lets its tasks run (caller holds the create lock).
  static std::unique_ptr<Runtime> publish_locked(std::shared_ptr<rt::Core> core);
  // Stops being the process's current runtime (after shutdown).
  void unpublish();
  std::shared_ptr<rt::Core> core_;
};

// This process's rank and the job's size in the running runtime. Throw
// ferry::Error (shut_down) when no runtime is running.
transport::Rank this_rank();
transport::Rank world_size();

}  // namespace ferry
