// prefault.cc — see ferry/objstore/prefault.h.
#include "ferry/objstore/prefault.h"

#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>

#include "ferry/objstore/arena.h"
#include "ferry/transport/affinity.h"

namespace ferry::objstore {

namespace {

constexpr std::size_t kStep = std::size_t{2} << 20;  // one huge page; ~0.5 ms of work at 4 GB/s
constexpr auto kIdlePoll = std::chrono::milliseconds(10);
#ifndef MADV_POPULATE_WRITE
constexpr int kPopulateWrite = 23;  // Linux 5.14 uapi value
#else
constexpr int kPopulateWrite = MADV_POPULATE_WRITE;
#endif

}  // namespace

std::size_t default_prefault_bytes(std::size_t capacity) {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const std::size_t physical =
      pages > 0 && page > 0 ? static_cast<std::size_t>(pages) * static_cast<std::size_t>(page) : std::size_t{4} << 30;
  const auto getenv = [](const char* n) { return std::getenv(n); };
  auto layout = transport::affinity::local_layout_from_env(getenv);
  const std::size_t local = layout ? std::max(1u, layout.value().size) : 1;
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  if (online <= 0 || local >= static_cast<std::size_t>(online)) return 0;  // no CPU to spare for it
  return std::min({capacity, kDefaultPrefaultBytes, physical / 8 / local});
}

Result<std::size_t> resolve_prefault_bytes(std::size_t capacity) {
  const std::size_t fallback = default_prefault_bytes(capacity);
  const char* v = std::getenv(kStorePrefaultEnv);
  if (!v || !*v) return fallback;
  std::string t(v);
  for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "0" || t == "n" || t == "no" || t == "off") return std::size_t{0};
  auto bytes = parse_byte_size(v, kStorePrefaultEnv);
  if (!bytes) return bytes.status();
  return std::min(*bytes, capacity);
}

Prefaulter::Prefaulter(std::byte* base, std::size_t capacity, const Allocator& allocator, PrefaultOptions options)
    : base_(base), capacity_(capacity), allocator_(allocator), options_(options) {
  if (options_.ahead > 0 && capacity_ > 0) thread_ = std::thread([this] { run(); });
}

Prefaulter::~Prefaulter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::size_t Prefaulter::target() const {
  const std::size_t used = allocator_.stats().high_water;
  const std::size_t want = used > capacity_ - std::min(capacity_, options_.ahead) ? capacity_ : used + options_.ahead;
  return std::min(capacity_, (want + kStep - 1) / kStep * kStep);
}

std::size_t Prefaulter::pending() const {
  if (!supported()) return 0;
  const std::size_t want = target(), done = faulted();
  return want > done ? want - done : 0;
}

void Prefaulter::run() {
  (void)::pthread_setname_np(::pthread_self(), "ferry-prefault");
  std::size_t done = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (stop_) return;
      if (done >= target()) {
        cv_.wait_for(lock, kIdlePoll);
        continue;
      }
    }
    const std::size_t n = std::min(kStep, capacity_ - done);
    if (::madvise(base_ + done, n, kPopulateWrite) != 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      supported_.store(false, std::memory_order_release);  // old kernel or a mapping it refuses
      return;
    }
    done += n;
    faulted_.store(done, std::memory_order_release);
  }
}

}  // namespace ferry::objstore
