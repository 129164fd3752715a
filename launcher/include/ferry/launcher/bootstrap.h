// ferry/launcher/bootstrap.h — how a ferry process finds its peers.
//
// make_bootstrap() detects the launcher and returns a transport::Bootstrap:
//   1. FERRY_BOOTSTRAP=local|pmix|single forces a kind (mpi needs make_mpi_bootstrap()).
//   2. FERRY_RENDEZVOUS_DIR (+ FERRY_RANK, FERRY_SIZE), set by ferry-run -> local rendezvous.
//   3. PMIX_NAMESPACE set (srun --mpi=pmix, Open MPI mpirun)          -> PMIx.
//   4. OMPI_COMM_WORLD_SIZE / SLURM_NTASKS > 1 without PMIx           -> error with a remedy.
//   5. nothing                                                        -> single rank (size 1).
// SLURM_PROCID is never trusted for the rank (mpirun inside sbatch leaves it 0 in every rank).
//
// Every collective is bounded by a timeout (FERRY_BOOTSTRAP_TIMEOUT_MS, default 60000) and
// fails with Errc::bootstrap_failed naming the ranks that did not arrive.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::launcher {

using transport::Bootstrap;
using transport::Rank;

enum class LauncherKind { ferry_run, pmix, single };

// What started this process, from the environment only (no side effects).
struct Detected {
  LauncherKind kind;
  std::string description;  // e.g. "ferry-run (local rendezvous)", "PMIx (srun)", "PMIx (mpirun)"
};
Result<Detected> detect_launcher();

// Builds the bootstrap for the detected (or forced) launcher.
Result<std::unique_ptr<Bootstrap>> make_bootstrap();

// Rendezvous through files in a directory shared by all ranks (ferry-run, tests).
Result<std::unique_ptr<Bootstrap>> make_local_bootstrap(const std::string& dir, Rank rank, Rank size,
                                                        std::chrono::milliseconds timeout);
// PMIx_Init + Put/Commit/Fence/Get. Fails with bootstrap_failed when no PMIx server is reachable.
Result<std::unique_ptr<Bootstrap>> make_pmix_bootstrap(std::chrono::milliseconds timeout);
// A job of one rank.
std::unique_ptr<Bootstrap> make_single_bootstrap();
// Called by ferry::init once start-up is complete: releases what `b` holds only for start-up.
// PMIx: finalizes the PMIx client at once (its later collectives fail with bootstrap_failed),
// so that srun --mpi=pmix no longer cancels the whole step when a rank dies (Slurm's PMIx
// plugin treats a lost, unfinalized client as a job failure). Other bootstraps: nothing.
void end_startup(Bootstrap& b);

std::chrono::milliseconds bootstrap_timeout_from_env();

// Bootstrap + transport, configured from FERRY_* variables: what examples and tools use.
struct Connection {
  std::unique_ptr<Bootstrap> bootstrap;
  std::unique_ptr<transport::Transport> transport;
};
Result<Connection> connect();
Result<Connection> connect(std::unique_ptr<Bootstrap> bootstrap, const transport::Options& options);

}  // namespace ferry::launcher
