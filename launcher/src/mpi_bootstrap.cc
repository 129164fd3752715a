// mpi_bootstrap.cc — bootstrap over an existing MPI communicator (target ferry_launcher_mpi).
//
// The communicator is duplicated, so ferry's collectives never match the caller's
// messages; the duplicate uses MPI_ERRORS_RETURN so MPI errors become a Status instead of
// aborting. allgather = MPI_Allgather of the blob sizes + MPI_Allgatherv of the bytes;
// barrier = MPI_Barrier. The destructor frees the duplicate unless MPI is already finalized.
//
// Limits: MPI collectives cannot be bounded by a timeout (a missing rank blocks inside
// MPI; the MPI launcher is expected to abort the job); blobs are limited to INT_MAX bytes
// in total. Thread-safety: call from the thread that owns MPI, one call at a time.
#include <climits>
#include <string>
#include <vector>

#include "ferry/launcher/mpi.h"

namespace ferry::launcher {
namespace {

using transport::ByteView;
using transport::Bytes;

std::string mpi_error(int rc) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) return "MPI error " + std::to_string(rc);
  return std::string(text, static_cast<std::size_t>(len));
}

class MpiBootstrap final : public Bootstrap {
 public:
  MpiBootstrap(MPI_Comm comm, Rank rank, Rank size) : comm_(comm), rank_(rank), size_(size) {}
  ~MpiBootstrap() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }

  Rank rank() const override { return rank_; }
  Rank size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  Result<std::vector<Bytes>> allgather(ByteView mine) override {
    if (mine.size() > static_cast<std::size_t>(INT_MAX))
      return fail("allgather", "blob of " + std::to_string(mine.size()) + " bytes exceeds INT_MAX");
    int my_len = static_cast<int>(mine.size());
    std::vector<int> lens(size_), displs(size_);
    int rc = MPI_Allgather(&my_len, 1, MPI_INT, lens.data(), 1, MPI_INT, comm_);
    if (rc != MPI_SUCCESS) return fail("MPI_Allgather of sizes", mpi_error(rc));
    long long total = 0;
    for (Rank r = 0; r < size_; ++r) {
      displs[r] = static_cast<int>(total);
      total += lens[r];
      if (total > INT_MAX) return fail("allgather", "total of all blobs exceeds INT_MAX bytes");
    }
    std::vector<std::byte> all(static_cast<std::size_t>(total));
    rc = MPI_Allgatherv(mine.data(), my_len, MPI_BYTE, all.data(), lens.data(), displs.data(), MPI_BYTE, comm_);
    if (rc != MPI_SUCCESS) return fail("MPI_Allgatherv", mpi_error(rc));
    std::vector<Bytes> out(size_);
    for (Rank r = 0; r < size_; ++r) out[r].assign(all.begin() + displs[r], all.begin() + displs[r] + lens[r]);
    return out;
  }

  Status barrier() override {
    int rc = MPI_Barrier(comm_);
    return rc == MPI_SUCCESS ? Status::ok() : fail("MPI_Barrier", mpi_error(rc));
  }

 private:
  Status fail(const std::string& what, const std::string& why) const {
    return Status(Errc::bootstrap_failed, "MPI bootstrap, rank " + std::to_string(rank_) + "/" +
                                              std::to_string(size_) + ": " + what + " failed: " + why);
  }

  MPI_Comm comm_;
  Rank rank_, size_;
};

}  // namespace

Result<std::unique_ptr<Bootstrap>> make_mpi_bootstrap(MPI_Comm comm) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized)
    return Status(Errc::invalid_argument, "MPI bootstrap: MPI is not initialized (call MPI_Init first and "
                                          "MPI_Finalize only after ferry has started)");
  if (comm == MPI_COMM_NULL) return Status(Errc::invalid_argument, "MPI bootstrap: the communicator is MPI_COMM_NULL");
  MPI_Comm dup = MPI_COMM_NULL;
  int rc = MPI_Comm_dup(comm, &dup);
  if (rc != MPI_SUCCESS) return Status(Errc::bootstrap_failed, "MPI bootstrap: MPI_Comm_dup failed: " + mpi_error(rc));
  MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
  int rank = 0, size = 0;
  MPI_Comm_rank(dup, &rank);
  MPI_Comm_size(dup, &size);
  return std::unique_ptr<Bootstrap>(new MpiBootstrap(dup, static_cast<Rank>(rank), static_cast<Rank>(size)));
}

}  // namespace ferry::launcher
