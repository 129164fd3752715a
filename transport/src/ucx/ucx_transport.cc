// STUB — replaced by the UCX backend implementation.
#include "backends.h"
namespace ferry::transport::detail {
Result<std::unique_ptr<Transport>> make_ucx_transport(const Options&, Bootstrap&) {
  return Status(Errc::unsupported, "UCX backend not implemented yet");
}
}  // namespace ferry::transport::detail
