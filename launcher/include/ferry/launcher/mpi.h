// ferry/launcher/mpi.h — bootstrap over an existing MPI communicator.
// MPI must be initialized by the caller and stay initialized while the
// bootstrap is used (only during start-up). Thread-safety: call from the thread
// that owns MPI (MPI_THREAD_SINGLE suffices).
#pragma once

#include <mpi.h>

#include <memory>

#include "ferry/launcher/bootstrap.h"

namespace ferry::launcher {

Result<std::unique_ptr<Bootstrap>> make_mpi_bootstrap(MPI_Comm comm);

}  // namespace ferry::launcher
