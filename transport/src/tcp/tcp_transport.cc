// STUB — replaced by the TCP backend implementation.
#include "backends.h"
namespace ferry::transport::detail {
Result<std::unique_ptr<Transport>> make_tcp_transport(const Options&, Bootstrap&) {
  return Status(Errc::unsupported, "TCP backend not implemented yet");
}
}  // namespace ferry::transport::detail
