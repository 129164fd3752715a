// mpi_bw — the Open MPI limit of bench/data-limits.sh: rank 1 sends rank 0 a message of SIZE bytes,
// ITERS times after WARMUP untimed ones (each receive completes before the next send starts, one
// message in flight, like one get at a time); rank 0 prints "mpi_bw: bytes=... GBps=<median>
// min=... max=..." over the iterations. Use `mpirun --mca btl tcp,self` for the TCP-only figure.
//   mpirun -n 2 ferry_mpi_bw [SIZE] [ITERS] [WARMUP]
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const long bytes = argc > 1 ? std::atol(argv[1]) : 64L << 20;
  const int iters = argc > 2 ? std::atoi(argv[2]) : 10;
  const int warmup = argc > 3 ? std::atoi(argv[3]) : 2;
  if (size != 2 || bytes <= 0 || bytes > (1L << 31) - 1 || iters <= 0) {
    if (rank == 0) std::fprintf(stderr, "mpi_bw: 2 ranks, 0 < SIZE < 2 GiB, ITERS > 0\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  std::vector<char> buf(static_cast<std::size_t>(bytes), 1);
  std::vector<double> gbps;
  char ack = 0;
  for (int i = 0; i < warmup + iters; ++i) {
    MPI_Barrier(MPI_COMM_WORLD);
    const double t = MPI_Wtime();
    if (rank == 1) {
      MPI_Send(buf.data(), static_cast<int>(bytes), MPI_CHAR, 0, 0, MPI_COMM_WORLD);
      MPI_Recv(&ack, 1, MPI_CHAR, 0, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else {
      // The request travels as the ack of the previous round: time = one receive of SIZE bytes.
      MPI_Recv(buf.data(), static_cast<int>(bytes), MPI_CHAR, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      const double dt = MPI_Wtime() - t;
      MPI_Send(&ack, 1, MPI_CHAR, 1, 1, MPI_COMM_WORLD);
      if (i >= warmup) gbps.push_back(static_cast<double>(bytes) / dt / 1e9);
    }
  }
  if (rank == 0) {
    std::sort(gbps.begin(), gbps.end());
    std::printf("mpi_bw: bytes=%ld iters=%d GBps=%.3f min=%.3f max=%.3f\n", bytes, iters, gbps[gbps.size() / 2],
                gbps.front(), gbps.back());
  }
  MPI_Finalize();
  return 0;
}
