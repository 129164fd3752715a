// init_mpi.cc — ferry::init(MPI_Comm): ferry::init over make_mpi_bootstrap (target ferry_launcher_mpi).
// Thread-safety: as ferry/init_mpi.h (the MPI thread, start-up only).
#include "ferry/init_mpi.h"

#include "ferry/launcher/mpi.h"

namespace ferry {

Session init(MPI_Comm comm) {
  auto bootstrap = launcher::make_mpi_bootstrap(comm);
  if (!bootstrap)
    throw Error(Status(bootstrap.status().code(), "ferry::init(MPI_Comm): " + bootstrap.status().message()));
  return init(std::move(bootstrap).value(), "MPI communicator");
}

}  // namespace ferry
