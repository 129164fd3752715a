// ferry/init_mpi.h — start ferry inside an MPI program (target ferry::launcher_mpi).
//
//   MPI_Init(&argc, &argv);
//   {
//     ferry::Session s = ferry::init(MPI_COMM_WORLD);  // collective over the communicator
//     ... ferry tasks and objects, and MPI calls on MPI_COMM_WORLD, freely interleaved ...
//     s.shutdown();                                     // collective; before MPI_Finalize
//   }
//   MPI_Finalize();
//
// The ranks of the ferry job are the ranks of `comm` (rank r of ferry = rank r of comm). The
// bootstrap runs over a duplicate of `comm` (ferry's collectives never match the program's
// messages) and only during start-up; ferry's traffic then goes over its own transport
// (FERRY_TRANSPORT, UCX or TCP), so MPI keeps working unchanged. The session releases the
// duplicate at shutdown: shut the session down (or destroy it) before MPI_Finalize.
//
// Invariants and errors as ferry::init() (ferry/init.h): throws ferry::Error naming the rank and
// the failing step (MPI not initialized, MPI_COMM_NULL, transport or runtime start failure).
// Thread-safety: call from the thread that owns MPI (MPI_THREAD_SINGLE suffices: ferry's own
// threads never call MPI).
#pragma once

#include <mpi.h>

#include "ferry/init.h"

namespace ferry {

Session init(MPI_Comm comm);

}  // namespace ferry
