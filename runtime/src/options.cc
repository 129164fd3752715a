// options.cc — RuntimeOptions::from_env (FERRY_INLINE_BYTES, FERRY_GET_TIMEOUT_MS,
// FERRY_EXECUTOR_THREADS, FERRY_MALLOC_TUNING, FERRY_SHUTDOWN_TIMEOUT_MS,
// FERRY_LINEAGE_BYTES; FERRY_STORE_BYTES is
// read by the objstore arena), and the malloc tuning itself (tune_malloc).
//
// Thread-safety: reads the environment only.
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "ferry/objstore/arena.h"
#include "ferry/runtime.h"
#include "malloc_tuning.h"

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
  if (const char* v = std::getenv("FERRY_MALLOC_TUNING"); v && *v) {
    const std::string t(v);
    if (t == "y" || t == "1" || t == "yes") o.malloc_tuning = true;
    else if (t == "n" || t == "0" || t == "no") o.malloc_tuning = false;
    else return Status(Errc::invalid_argument, "FERRY_MALLOC_TUNING='" + t + "' is not y or n");
  }
  if (Status s = read_ms("FERRY_SHUTDOWN_TIMEOUT_MS", o.shutdown_timeout); !s) return s;
  if (const char* v = std::getenv("FERRY_LINEAGE_BYTES"); v && *v) {
    if (std::string(v) == "0") {
      o.lineage_bytes = 0;
    } else {
      auto n = objstore::parse_byte_size(v, "FERRY_LINEAGE_BYTES");
      if (!n) return n.status();
      o.lineage_bytes = n.value();
    }
  }
  return o;
}

namespace rt {

bool user_tuned_malloc() noexcept {
  // Any glibc.malloc tunable but hugetlb (which ferry-run adds, and which the
  // thresholds set here do not touch) counts as the user's own tuning.
  if (const char* t = std::getenv("GLIBC_TUNABLES")) {
    for (const char* p = t; (p = std::strstr(p, "glibc.malloc.")) != nullptr; ++p)
      if (std::strncmp(p, "glibc.malloc.hugetlb=", 21) != 0) return true;
  }
  for (const char* name : {"MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_"})
    if (std::getenv(name)) return true;
  return false;
}

bool tune_malloc(const RuntimeOptions& o) {
#if defined(__GLIBC__)
  if (!o.malloc_tuning || user_tuned_malloc()) return false;
  static std::once_flag once;
  std::call_once(once, [] {
    (void)::mallopt(M_TRIM_THRESHOLD, 256 << 20);
    (void)::mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's largest allowed value on 64-bit
  });
  return true;
#else
  (void)o;
  return false;
#endif
}

}  // namespace rt
}  // namespace ferry
