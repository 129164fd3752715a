// connect.cc — bootstrap + transport from FERRY_* settings: what examples and tools use.
// Kept apart from detect.cc so that programs using only the bootstrap (probes, tools)
// do not link the transport backends. Thread-safety: as make_bootstrap() (start-up only).
#include <string>

#include "ferry/launcher/bootstrap.h"

namespace ferry::launcher {

Result<Connection> connect(std::unique_ptr<Bootstrap> bootstrap, const transport::Options& options) {
  if (!bootstrap) return Status(Errc::invalid_argument, "connect: the bootstrap is null");
  auto t = transport::make_transport(options, *bootstrap);
  if (!t) {
    const Status& s = t.status();
    return Status(s.code(), "rank " + std::to_string(bootstrap->rank()) + "/" +
                                std::to_string(bootstrap->size()) + ": creating the " +
                                transport::to_string(options.backend) + " transport over the " +
                                bootstrap->name() + " bootstrap failed: " + s.message());
  }
  Connection c;
  c.bootstrap = std::move(bootstrap);
  c.transport = std::move(t).value();
  return c;
}

Result<Connection> connect() {
  auto options = transport::Options::from_env();
  if (!options) return options.status();
  auto bootstrap = make_bootstrap();
  if (!bootstrap) return bootstrap.status();
  return connect(std::move(bootstrap).value(), *options);
}

}  // namespace ferry::launcher
