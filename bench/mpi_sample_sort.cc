// mpi_sample_sort — the MPI baseline for ferry-sort: sample sort of 100-byte records with
// MPI_Alltoallv (no ferry involved).
//
//   mpirun -n 4 ferry_mpi_sample_sort --input DIR --output DIR [--samples N]
//
// Rank r reads input files r, r + ranks, ... (whole files), takes N regularly spaced key
// prefixes of its records (default 1000 x ranks), all ranks allgather the samples and pick
// ranks - 1 split points, each rank sends every record to its partition's rank with one
// MPI_Alltoallv (counts in records of a 100-byte datatype), sorts what it received and writes
// DIR/part-<rank>. Timed file to file: from a barrier before the first read to a barrier after
// the last write; rank 0 prints its phase times and "mpi_sort_seconds S". In memory only: a rank must hold its input
// and what it receives (about 3x its share of the data).
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <vector>

#include "args.h"
#include "records.h"

namespace {

using namespace sortrec;

void run(const Args& a, int rank, int ranks) {
  const std::string out_dir = a.required("--output");
  if (rank == 0) std::filesystem::create_directories(out_dir);
  std::vector<std::string> files = list_files(a.required("--input"));
  MPI_Barrier(MPI_COMM_WORLD);
  const double t0 = MPI_Wtime();

  std::uint64_t bytes = 0;
  for (std::size_t i = rank; i < files.size(); i += ranks) bytes += file_size(files[i]);
  std::unique_ptr<std::byte[]> in(new std::byte[bytes ? bytes : 1]);
  for (std::size_t i = rank, off = 0; i < files.size(); i += ranks) {
    const std::uint64_t n = file_size(files[i]);
    read_range(files[i], 0, in.get() + off, n);
    off += n;
  }
  const std::uint64_t n = bytes / kRecord;
  const double t_read = MPI_Wtime();

  // Regular sampling -> split points.
  const int want = static_cast<int>(a.num("--samples", 1000 * static_cast<std::uint64_t>(ranks)));
  std::vector<std::uint64_t> mine;
  for (std::uint64_t i = 0; n && i < static_cast<std::uint64_t>(want); ++i)
    mine.push_back(prefix(in.get() + (i * n / want) * kRecord));
  int count = static_cast<int>(mine.size());
  std::vector<int> counts(ranks), displs(ranks);
  MPI_Allgather(&count, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  int total = 0;
  for (int r = 0; r < ranks; ++r) displs[r] = total, total += counts[r];
  std::vector<std::uint64_t> all(total);
  MPI_Allgatherv(mine.data(), count, MPI_UINT64_T, all.data(), counts.data(), displs.data(), MPI_UINT64_T,
                 MPI_COMM_WORLD);
  std::sort(all.begin(), all.end());
  std::vector<std::uint64_t> splits;
  for (int p = 1; p < ranks; ++p)
    splits.push_back(all.empty() ? (~std::uint64_t{0} / ranks) * p : all[all.size() * p / ranks]);

  // Partition (counting sort by destination) and exchange.
  std::vector<int> dest(n);
  std::vector<int> send_counts(ranks, 0), send_displs(ranks), recv_counts(ranks), recv_displs(ranks);
  for (std::uint64_t i = 0; i < n; ++i) {
    const std::uint64_t k = prefix(in.get() + i * kRecord);
    dest[i] = static_cast<int>(std::upper_bound(splits.begin(), splits.end(), k) - splits.begin());
    ++send_counts[dest[i]];
  }
  for (int r = 0, s = 0; r < ranks; ++r) send_displs[r] = s, s += send_counts[r];
  std::unique_ptr<std::byte[]> send(new std::byte[bytes ? bytes : 1]);
  {
    std::vector<int> at = send_displs;
    for (std::uint64_t i = 0; i < n; ++i)
      std::memcpy(send.get() + std::size_t(at[dest[i]]++) * kRecord, in.get() + i * kRecord, kRecord);
  }
  in.reset();
  MPI_Alltoall(send_counts.data(), 1, MPI_INT, recv_counts.data(), 1, MPI_INT, MPI_COMM_WORLD);
  std::uint64_t received = 0;
  for (int r = 0; r < ranks; ++r) recv_displs[r] = static_cast<int>(received), received += recv_counts[r];
  MPI_Datatype record;
  MPI_Type_contiguous(static_cast<int>(kRecord), MPI_BYTE, &record);
  MPI_Type_commit(&record);
  std::unique_ptr<std::byte[]> recv(new std::byte[received ? received * kRecord : 1]);
  MPI_Alltoallv(send.get(), send_counts.data(), send_displs.data(), record, recv.get(), recv_counts.data(),
                recv_displs.data(), record, MPI_COMM_WORLD);
  MPI_Type_free(&record);
  send.reset();

  const double t_exchange = MPI_Wtime();
  // Local sort and write.
  std::unique_ptr<std::byte[]> sorted(new std::byte[received ? received * kRecord : 1]);
  sort_records(recv.get(), received, sorted.get());
  recv.reset();
  const double t_sort = MPI_Wtime();
  Writer w(part_name(out_dir, static_cast<std::uint32_t>(rank)));
  w.write(sorted.get(), received * kRecord);
  w.close();
  MPI_Barrier(MPI_COMM_WORLD);
  const double t1 = MPI_Wtime();
  if (rank == 0)
    std::printf("mpi_sample_sort: rank 0: read %.3f, sample+partition+alltoallv %.3f, sort %.3f, write+barrier %.3f s\n"
                "mpi_sort_seconds %.3f\n",
                t_read - t0, t_exchange - t_read, t_sort - t_exchange, t1 - t_sort, t1 - t0);
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, ranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  Args args(argc, argv);
  try {
    run(args, rank, ranks);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_sample_sort: rank %d: error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Finalize();
  return 0;
}
