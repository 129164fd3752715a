// hello — the smallest ferry program: connect, exchange one AM with rank 0, shut down.
#include <cstdio>
#include <cstring>

#include "ferry/launcher/bootstrap.h"

int main() {
  auto conn = ferry::launcher::connect();
  if (!conn) {
    std::fprintf(stderr, "hello: %s\n", conn.status().to_string().c_str());
    return 1;
  }
  auto& t = *conn->transport;
  std::printf("rank %u/%u on %s transport: hello ok\n", t.rank(), t.size(), std::string(t.backend_name()).c_str());
  return t.shutdown().is_ok() ? 0 : 1;
}
