// ucx_node.h — do all ranks share one node? (decides the UCX transports ferry asks for)
//
// When every rank runs on one node and the user did not steer UCX's transport
// choice (UCX_TLS, UCX_{MM,POSIX,SYSV}_ERROR_HANDLING unset), the UCX backend
// restricts UCX to kSingleNodeTls: shared memory, cma and self. UCX then opens
// no TCP port at all (its tcp transport would listen on every interface for
// the whole job, reachable by any process that can reach the node).
// "One node" means the same kernel boot and the same network, IPC and mount
// namespaces (ranks in different namespaces may not share /dev/shm), compared
// through one Bootstrap::allgather.
// Thread-safety: start-up only, on the calling thread.
#pragma once

#include <string>

#include "ferry/transport/transport.h"

namespace ferry::transport::ucx {

inline constexpr const char* kSingleNodeTls = "posix,sysv,cma,self";

// True if the environment leaves UCX's transport choice to ferry.
bool tls_left_to_ferry();

// This process's node identity: boot id plus namespace inodes.
std::string node_identity();

// Collective: true if every rank reports the same node_identity().
Result<bool> all_ranks_on_one_node(Bootstrap& bootstrap);

}  // namespace ferry::transport::ucx
