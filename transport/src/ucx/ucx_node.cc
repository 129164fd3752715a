// ucx_node.cc — node identity and the single-node decision (ucx_node.h).
#include "ucx/ucx_node.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>

namespace ferry::transport::ucx {

bool tls_left_to_ferry() {
  for (const char* v : {"UCX_TLS", "UCX_MM_ERROR_HANDLING", "UCX_POSIX_ERROR_HANDLING", "UCX_SYSV_ERROR_HANDLING"})
    if (std::getenv(v) != nullptr) return false;
  return true;
}

std::string node_identity() {
  std::string id;
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::getline(boot, id);
  if (id.empty()) id = "no-boot-id";
  for (const char* ns : {"/proc/self/ns/net", "/proc/self/ns/ipc", "/proc/self/ns/mnt"}) {
    struct stat st {};
    id += '/';
    id += ::stat(ns, &st) == 0 ? std::to_string(st.st_ino) : std::string("?");
  }
  return id;
}

Result<bool> all_ranks_on_one_node(Bootstrap& bootstrap) {
  const std::string mine = node_identity();
  auto all = bootstrap.allgather(ByteView(reinterpret_cast<const std::byte*>(mine.data()), mine.size()));
  if (!all)
    return Status(Errc::bootstrap_failed, "UCX node-identity exchange failed on rank " +
                                              std::to_string(bootstrap.rank()) + ": " + all.status().message());
  for (const Bytes& b : *all)
    if (std::string(reinterpret_cast<const char*>(b.data()), b.size()) != mine) return false;
  return true;
}

}  // namespace ferry::transport::ucx
