// ferry_launcher_mpi_probe — checks make_mpi_bootstrap(MPI_COMM_WORLD) (target ferry_launcher_mpi).
//
// MPI_Init, bootstrap over MPI_COMM_WORLD, probe_checks.h's exercise, rank/size compared with
// MPI_Comm_rank/size, a user message on MPI_COMM_WORLD interleaved with the bootstrap's
// collectives (the bootstrap's duplicated communicator must not match it), then the
// bootstrap is destroyed and MPI_Finalize runs. Prints "rank R/N via MPI communicator ok".
#include <mpi.h>

#include <cstdio>
#include <string>

#include "ferry/launcher/mpi.h"
#include "probe_checks.h"

namespace {

int fail(int rank, const std::string& what) {
  std::fprintf(stderr, "mpi probe %d: FAILED: %s\n", rank, what.c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  {
    auto bs = ferry::launcher::make_mpi_bootstrap(MPI_COMM_WORLD);
    if (!bs) return fail(rank, bs.status().to_string());
    if ((*bs)->rank() != unsigned(rank) || (*bs)->size() != unsigned(size) || (*bs)->name() != "mpi")
      return fail(rank, "bootstrap rank/size/name differ from MPI_COMM_WORLD");
    // A pending user message on the world communicator while the bootstrap runs collectives.
    int token = 1000 + rank, got = -1;
    MPI_Request req;
    MPI_Irecv(&got, 1, MPI_INT, (rank + size - 1) % size, 7, MPI_COMM_WORLD, &req);
    MPI_Send(&token, 1, MPI_INT, (rank + 1) % size, 7, MPI_COMM_WORLD);
    if (std::string err = ferry::probe::exercise(**bs, 8); !err.empty()) return fail(rank, err);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    if (got != 1000 + (rank + size - 1) % size) return fail(rank, "user message was disturbed");
  }
  auto null_comm = ferry::launcher::make_mpi_bootstrap(MPI_COMM_NULL);
  if (null_comm || null_comm.status().code() != ferry::Errc::invalid_argument)
    return fail(rank, "make_mpi_bootstrap(MPI_COMM_NULL) did not fail with invalid_argument");
  std::printf("rank %d/%d via MPI communicator ok\n", rank, size);
  std::fflush(stdout);
  MPI_Finalize();
  return 0;
}
