// options.cc — RuntimeOptions::from_env (FERRY_INLINE_BYTES, FERRY_GET_TIMEOUT_MS,
// FERRY_SHUTDOWN_TIMEOUT_MS; FERRY_STORE_BYTES is read by the objstore arena).
//
// Thread-safety: reads the environment only.
#include <cerrno>
#include <cstdlib>
#include <string>

#include "ferry/objstore/arena.h"
#include "ferry/runtime.h"

namespace ferry {

namespace {

Status read_ms(const char* name, std::chrono::milliseconds& out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return Status::ok();
  errno = 0;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0' || v[0] == '-')
    return Status(Errc::invalid_argument, std::string(name) + "='" + v +
                                              "' is not a number of milliseconds (use e.g. 30000; 0 = no limit "
                                              "where allowed)");
  out = std::chrono::milliseconds(n);
  return Status::ok();
}

}  // namespace

Result<RuntimeOptions> RuntimeOptions::from_env() {
  RuntimeOptions o;
  if (const char* v = std::getenv("FERRY_INLINE_BYTES"); v && *v) {
    if (std::string(v) == "0") {
      o.inline_bytes = 0;
    } else {
      auto n = objstore::parse_byte_size(v, "FERRY_INLINE_BYTES");
      if (!n) return n.status();
      o.inline_bytes = n.value();
    }
  }
  if (Status s = read_ms("FERRY_GET_TIMEOUT_MS", o.get_timeout); !s) return s;
  if (const char* v = std::getenv("FERRY_EXECUTOR_THREADS"); v && *v) {
    char* end = nullptr;
    errno = 0;
    unsigned long n = std::strtoul(v, &end, 10);
    if (errno != 0 || *end != '\0' || v[0] == '-' || n > 256)
      return Status(Errc::invalid_argument, std::string("FERRY_EXECUTOR_THREADS='") + v +
                                                "' is not a thread count (1..256; 0 or unset = the CPUs of this "
                                                "process's affinity mask)");
    o.executor_threads = static_cast<unsigned>(n);
  }
  if (Status s = read_ms("FERRY_SHUTDOWN_TIMEOUT_MS", o.shutdown_timeout); !s) return s;
  if (o.shutdown_timeout.count() == 0)
    return Status(Errc::invalid_argument, "FERRY_SHUTDOWN_TIMEOUT_MS=0: shutdown needs a bound (e.g. 30000)");
  return o;
}

}  // namespace ferry
