// backends.h — factory functions of the concrete backends (internal).
#pragma once

#include <memory>

#include "ferry/transport/transport.h"

namespace ferry::transport::detail {

Result<std::unique_ptr<Transport>> make_ucx_transport(const Options& options, Bootstrap& bootstrap);
Result<std::unique_ptr<Transport>> make_tcp_transport(const Options& options, Bootstrap& bootstrap);

}  // namespace ferry::transport::detail
