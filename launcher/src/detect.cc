// detect.cc — which launcher started this process, and the bootstrap built from that.
//
// Detection reads the environment only (no side effects), in the order documented
// in ferry/launcher/bootstrap.h:
//   1. FERRY_BOOTSTRAP=local|pmix|single forces a kind ("mpi" -> error: needs make_mpi_bootstrap()).
//   2. FERRY_RENDEZVOUS_DIR + FERRY_RANK + FERRY_SIZE (ferry-run)  -> local rendezvous.
//   3. PMIX_NAMESPACE (srun --mpi=pmix, Open MPI mpirun)            -> PMIx.
//   4. OMPI_COMM_WORLD_SIZE > 1, or an srun step (SLURM_STEP_ID set) with more than
//      one task, but no PMIx                                        -> bootstrap_failed + remedy.
//      (A batch script itself has SLURM_NTASKS but no SLURM_STEP_ID: that is one process.)
//   5. otherwise                                                    -> one rank.
// SLURM_PROCID is never read: mpirun inside sbatch leaves it 0 in every rank.
//
// Thread-safety: reads getenv(); do not call concurrently with setenv().
#include <cerrno>
#include <cstdlib>
#include <limits>
#include <string>

#include <spdlog/spdlog.h>

#include "ferry/launcher/bootstrap.h"

namespace ferry::launcher {
namespace {

using transport::ByteView;
using transport::Bytes;

constexpr std::chrono::milliseconds kDefaultBootstrapTimeout{60000};

// Non-empty value of an environment variable, or nullptr.
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

// Strict decimal parse: digits only, no sign, no spaces, fits in `max`.
bool parse_unsigned(const char* text, std::uint64_t max, std::uint64_t& out) {
  if (!text || !*text) return false;
  for (const char* p = text; *p; ++p)
    if (*p < '0' || *p > '9') return false;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v > max) return false;
  out = v;
  return true;
}

struct LocalEnv {
  std::string dir;
  Rank rank = 0;
  Rank size = 0;
};

// FERRY_RENDEZVOUS_DIR, FERRY_RANK, FERRY_SIZE as set by ferry-run, validated.
Result<LocalEnv> read_local_env() {
  LocalEnv le;
  const char* dir = env("FERRY_RENDEZVOUS_DIR");
  if (!dir)
    return Status(Errc::invalid_argument,
                  "local rendezvous needs FERRY_RENDEZVOUS_DIR, FERRY_RANK and FERRY_SIZE; "
                  "FERRY_RENDEZVOUS_DIR is not set (start the program with ferry-run -n N)");
  le.dir = dir;
  constexpr std::uint64_t kMaxRanks = std::numeric_limits<Rank>::max() - 1;
  std::uint64_t v = 0;
  const char* size = std::getenv("FERRY_SIZE");
  if (!parse_unsigned(size, kMaxRanks, v) || v == 0)
    return Status(Errc::invalid_argument,
                  std::string("FERRY_SIZE='") + (size ? size : "<unset>") +
                      "' is invalid; expected a positive integer (set by ferry-run together with "
                      "FERRY_RENDEZVOUS_DIR=" + le.dir + ")");
  le.size = static_cast<Rank>(v);
  const char* rank = std::getenv("FERRY_RANK");
  if (!parse_unsigned(rank, kMaxRanks, v) || v >= le.size)
    return Status(Errc::invalid_argument,
                  std::string("FERRY_RANK='") + (rank ? rank : "<unset>") +
                      "' is invalid; expected an integer in [0, " + std::to_string(le.size) +
                      ") (set by ferry-run together with FERRY_RENDEZVOUS_DIR=" + le.dir + ")");
  le.rank = static_cast<Rank>(v);
  return le;
}

std::string pmix_description() {
  const char* ns = env("PMIX_NAMESPACE");
  if (ns && std::string(ns).rfind("slurm.pmix.", 0) == 0) return "PMIx (srun)";
  if (env("OMPI_COMM_WORLD_SIZE") || env("OMPI_COMMAND")) return "PMIx (mpirun)";
  if (env("SLURM_STEP_ID")) return "PMIx (srun)";
  return "PMIx";
}

// Step 4: a multi-process launcher without PMIx. Returns ok if none applies.
Status check_launcher_without_pmix() {
  std::uint64_t n = 0;
  if (parse_unsigned(env("OMPI_COMM_WORLD_SIZE"), ~0ull, n) && n > 1)
    return Status(Errc::bootstrap_failed,
                  "mpirun started " + std::to_string(n) +
                      " ranks (OMPI_COMM_WORLD_SIZE) but no PMIx server is visible (PMIX_NAMESPACE unset); "
                      "use an mpirun with PMIx support, ferry-run -n N, or, in an MPI program, "
                      "ferry::init(MPI_COMM_WORLD) (ferry/init_mpi.h; or ferry::launcher::make_mpi_bootstrap())");
  if (!env("SLURM_STEP_ID")) return Status::ok();  // a batch script or salloc shell: one process
  const char* tasks = env("SLURM_STEP_NUM_TASKS") ? env("SLURM_STEP_NUM_TASKS") : env("SLURM_NTASKS");
  if (parse_unsigned(tasks, ~0ull, n) && n > 1) {
    const char* mpi = env("SLURM_MPI_TYPE");
    return Status(Errc::bootstrap_failed,
                  "srun started " + std::to_string(n) + " tasks without PMIx (PMIX_NAMESPACE unset" +
                      (mpi ? std::string(", SLURM_MPI_TYPE=") + mpi : std::string()) +
                      "), so ferry cannot find its peers; use srun --mpi=pmix (or MpiDefault=pmix in "
                      "slurm.conf), or run ferry-run -n N inside a single task");
  }
  return Status::ok();
}

class SingleBootstrap final : public Bootstrap {
 public:
  Rank rank() const override { return 0; }
  Rank size() const override { return 1; }
  std::string name() const override { return "single"; }
  Result<std::vector<Bytes>> allgather(ByteView mine) override {
    std::vector<Bytes> out(1);
    out[0].assign(mine.begin(), mine.end());
    return out;
  }
  Status barrier() override { return Status::ok(); }
};

// FERRY_BOOTSTRAP_TIMEOUT_MS, strictly parsed (make_bootstrap refuses bad values).
Result<std::chrono::milliseconds> parse_timeout_env() {
  const char* v = env("FERRY_BOOTSTRAP_TIMEOUT_MS");
  if (!v) return kDefaultBootstrapTimeout;
  std::uint64_t ms = 0;
  if (!parse_unsigned(v, std::uint64_t{1} << 40, ms) || ms == 0)
    return Status(Errc::invalid_argument, std::string("FERRY_BOOTSTRAP_TIMEOUT_MS='") + v +
                                              "' is invalid; expected a positive number of milliseconds");
  return std::chrono::milliseconds(ms);
}

}  // namespace

std::chrono::milliseconds bootstrap_timeout_from_env() {
  auto t = parse_timeout_env();
  if (t) return *t;
  spdlog::warn("{}; using the default {} ms", t.status().message(), kDefaultBootstrapTimeout.count());
  return kDefaultBootstrapTimeout;
}

Result<Detected> detect_launcher() {
  if (const char* forced = env("FERRY_BOOTSTRAP")) {
    const std::string kind(forced);
    if (kind == "local") {
      if (auto le = read_local_env(); !le) return le.status();
      return Detected{LauncherKind::ferry_run, "local rendezvous (FERRY_BOOTSTRAP=local)"};
    }
    if (kind == "pmix") return Detected{LauncherKind::pmix, pmix_description() + " (FERRY_BOOTSTRAP=pmix)"};
    if (kind == "single") return Detected{LauncherKind::single, "single rank (FERRY_BOOTSTRAP=single)"};
    if (kind == "mpi")
      return Status(Errc::invalid_argument,
                    "FERRY_BOOTSTRAP=mpi cannot be built from the environment: pass the communicator, "
                    "ferry::launcher::make_mpi_bootstrap(MPI_COMM_WORLD) (or ferry::init(MPI_COMM_WORLD))");
    return Status(Errc::invalid_argument,
                  "FERRY_BOOTSTRAP='" + kind + "' is invalid; expected local, pmix or single (or unset it)");
  }
  if (env("FERRY_RENDEZVOUS_DIR")) {
    if (auto le = read_local_env(); !le) return le.status();
    return Detected{LauncherKind::ferry_run, "ferry-run (local rendezvous)"};
  }
  if (env("PMIX_NAMESPACE")) return Detected{LauncherKind::pmix, pmix_description()};
  if (auto s = check_launcher_without_pmix(); !s) return s;
  return Detected{LauncherKind::single, "single rank (no launcher detected)"};
}

std::unique_ptr<Bootstrap> make_single_bootstrap() { return std::make_unique<SingleBootstrap>(); }

Result<std::unique_ptr<Bootstrap>> make_bootstrap() {
  auto detected = detect_launcher();
  if (!detected) return detected.status();
  auto timeout = parse_timeout_env();
  if (!timeout) return timeout.status();
  switch (detected->kind) {
    case LauncherKind::ferry_run: {
      auto le = read_local_env();
      if (!le) return le.status();
      return make_local_bootstrap(le->dir, le->rank, le->size, *timeout);
    }
    case LauncherKind::pmix: return make_pmix_bootstrap(*timeout);
    case LauncherKind::single: return make_single_bootstrap();
  }
  return Status(Errc::internal, "detect_launcher returned an unknown launcher kind");
}

}  // namespace ferry::launcher
