// mpi_offload — an MPI program that offloads work to ferry tasks and keeps using MPI.
//
//   mpirun -n 2 ferry_mpi_offload [--tasks N]
//
// MPI_Init; ferry::init(MPI_COMM_WORLD) (ranks of ferry = ranks of the communicator); each rank
// offloads N `simulate` tasks spread over all ranks (task i on rank (me + i) % size) and sums
// their results; MPI_Allreduce of the per-rank sums (ferry still running) is compared with the
// closed form over all ranks; ferry shuts down; a ring MPI_Sendrecv of each rank's sum (MPI
// after ferry) is checked against the neighbour's expected value; MPI_Finalize.
// Prints "rank R/S: ... ok" per rank; exits 1 (MPI_Abort) on any wrong result.
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "example_check.h"
#include "ferry/ferry.h"
#include "ferry/init_mpi.h"

namespace {

// A stand-in for a simulation kernel: a deterministic value per (rank, index).
std::int64_t simulate(std::int64_t rank, std::int64_t i) { return rank * 1000000 + i * i - 3 * i; }
inline const auto simulate_fn = ferry::function<&simulate>("mpi_offload.simulate");

std::int64_t expected_sum(std::int64_t rank, std::int64_t n) {
  std::int64_t s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += simulate(rank, i);
  return s;
}

[[noreturn]] void abort_job(const std::string& what) {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "mpi_offload: rank %d: %s\n", rank, what.c_str());
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

void run(int& argc, char**& argv) {
  const std::int64_t n = example::int_arg(argc, argv, "--tasks", 100);
  int me = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::int64_t mine = 0, total = 0, want = 0;
  for (int r = 0; r < size; ++r) want += expected_sum(r, n);
  {
    ferry::Session s = ferry::init(MPI_COMM_WORLD);
    if (s.rank() != unsigned(me) || s.size() != unsigned(size)) abort_job("ferry ranks differ from MPI ranks");
    std::vector<ferry::ObjectRef<std::int64_t>> results;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto where = ferry::rank{static_cast<std::uint32_t>((me + i) % size)};
      results.push_back(simulate_fn.on(where).remote(std::int64_t{me}, i));
    }
    for (std::int64_t v : ferry::get(results)) mine += v;
    if (mine != expected_sum(me, n)) abort_job("offloaded sum is wrong");
    // MPI while ferry runs. Returning from the allreduce also means every rank has all its
    // results, so no task is left anywhere and ferry may shut down.
    MPI_Allreduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (total != want) abort_job("MPI_Allreduce of the task results is wrong");
    s.shutdown();  // collective; releases ferry's duplicate of MPI_COMM_WORLD
  }
  // MPI after ferry: a ring exchange of the per-rank sums.
  std::int64_t from_left = -1;
  MPI_Sendrecv(&mine, 1, MPI_INT64_T, (me + 1) % size, 11, &from_left, 1, MPI_INT64_T, (me + size - 1) % size, 11,
               MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  if (from_left != expected_sum((me + size - 1) % size, n)) abort_job("the ring exchange carried a wrong sum");
  std::printf("rank %d/%d: %lld tasks offloaded through ferry, MPI_Allreduce total %lld verified ok\n", me, size,
              static_cast<long long>(n), static_cast<long long>(total));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  try {
    run(argc, argv);
  } catch (const std::exception& e) {  // e.g. ferry::Error from init or a get
    abort_job(std::string("error: ") + e.what());
  }
  MPI_Finalize();
  return 0;
}
