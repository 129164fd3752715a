// transport.cc — backend-independent parts of the transport API.
#include "ferry/transport/transport.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backends.h"
#include "ferry/transport/affinity.h"
#include "ferry/transport/job_key.h"

namespace ferry {

const char* to_string(Errc code) noexcept {
  switch (code) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::timeout: return "timeout";
    case Errc::peer_failed: return "peer_failed";
    case Errc::malformed_message: return "malformed_message";
    case Errc::unknown_handler: return "unknown_handler";
    case Errc::not_found: return "not_found";
    case Errc::store_full: return "store_full";
    case Errc::owner_died: return "owner_died";
    case Errc::bootstrap_failed: return "bootstrap_failed";
    case Errc::transport_error: return "transport_error";
    case Errc::shut_down: return "shut_down";
    case Errc::type_mismatch: return "type_mismatch";
    case Errc::unsupported: return "unsupported";
    case Errc::internal: return "internal";
    case Errc::task_failed: return "task_failed";
    case Errc::object_lost: return "object_lost";
    case Errc::actor_died: return "actor_died";
  }
  return "unknown";
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  return std::string(ferry::to_string(code_)) + ": " + message_;
}

}  // namespace ferry

namespace ferry::transport {

const char* to_string(Backend b) noexcept { return b == Backend::ucx ? "ucx" : "tcp"; }
const char* to_string(ProgressMode m) noexcept {
  switch (m) {
    case ProgressMode::busy: return "busy";
    case ProgressMode::blocking: return "blocking";
    case ProgressMode::adaptive: return "adaptive";
  }
  return "adaptive";
}

namespace {

Status bad_env(const char* name, const std::string& value, const char* expected) {
  return Status(Errc::invalid_argument,
                std::string(name) + "='" + value + "' is invalid; expected " + expected);
}

// Parses a non-negative integer env var into `out`; leaves it untouched if unset.
template <class T>
Status read_number(const char* name, T& out) {
  const char* v = std::getenv(name);
  if (!v || !*v) return Status::ok();
  char* end = nullptr;
  errno = 0;
  unsigned long long n = std::strtoull(v, &end, 10);
  if (errno != 0 || *end != '\0' || v[0] == '-') return bad_env(name, v, "a non-negative integer");
  out = static_cast<T>(n);
  return Status::ok();
}

}  // namespace

Result<Options> Options::from_env() {
  Options o;
  if (const char* v = std::getenv("FERRY_TRANSPORT"); v && *v) {
    std::string s(v);
    if (s == "ucx") o.backend = Backend::ucx;
    else if (s == "tcp") o.backend = Backend::tcp;
    else return bad_env("FERRY_TRANSPORT", s, "'ucx' or 'tcp'");
  }
  if (const char* v = std::getenv("FERRY_PROGRESS"); v && *v) {
    std::string s(v);
    if (s == "busy" || s == "poll") o.progress = ProgressMode::busy;
    else if (s == "blocking" || s == "sleep") o.progress = ProgressMode::blocking;
    else if (s == "adaptive" || s == "auto") o.progress = ProgressMode::adaptive;
    else return bad_env("FERRY_PROGRESS", s, "'busy', 'blocking' or 'adaptive'");
  }
  if (const char* v = std::getenv("FERRY_UCX_ERR_MODE"); v && *v) {
    std::string s(v);
    if (s == "peer") o.ucx_peer_error_handling = true;
    else if (s == "none") o.ucx_peer_error_handling = false;
    else return bad_env("FERRY_UCX_ERR_MODE", s, "'peer' or 'none'");
  }
  // ceil(ceil(ranks / cpus) / k) == ceil(ranks / (cpus * k))
  const unsigned per_cpu = affinity::oversubscription([](const char* n) { return std::getenv(n); });
  const unsigned scale = std::min(kLivenessScaleMax, (per_cpu + kLivenessRanksPerCpu - 1) / kLivenessRanksPerCpu);
  const auto given = [](const char* name) { const char* v = std::getenv(name); return v && *v; };
  std::uint64_t ms = o.heartbeat_interval.count() * scale;
  if (auto s = read_number("FERRY_HEARTBEAT_MS", ms); !s) return s;
  o.heartbeat_interval = std::chrono::milliseconds(ms);
  ms = o.peer_timeout.count() * scale;
  if (auto s = read_number("FERRY_PEER_TIMEOUT_MS", ms); !s) return s;
  o.peer_timeout = std::chrono::milliseconds(ms);
  if (given("FERRY_PEER_TIMEOUT_MS") && !given("FERRY_HEARTBEAT_MS"))
    o.heartbeat_interval = std::max(std::chrono::milliseconds(1), o.peer_timeout / 5);
  if (auto s = read_number("FERRY_MAX_AM_BYTES", o.max_am_bytes); !s) return s;
  if (const char* v = std::getenv("FERRY_TCP_ADDRESS"); v) o.tcp_listen_address = v;
  ms = o.tcp_connect_timeout.count();
  if (auto s = read_number("FERRY_TCP_CONNECT_TIMEOUT_MS", ms); !s) return s;
  o.tcp_connect_timeout = std::chrono::milliseconds(ms);
  if (const char* v = std::getenv("FERRY_JOB_KEY"); v && *v) {
    auto key = parse_job_key_hex(v);
    if (!key) return key.status();
    o.job_key = std::move(*key);
  }
  return o;
}

Future<void> Transport::send_owned(Rank dst, HandlerId id, Bytes payload) {
  auto inner = send(dst, id, ByteView(payload));
  if (inner.ready()) return inner;  // the bytes went out (or failed) within the call: nothing to keep
  // Still in flight: keep the buffer alive until then. Moving a vector keeps its heap buffer, so the
  // view the transport holds stays valid.
  auto holder = std::make_shared<Bytes>(std::move(payload));
  Promise<void> p;  // no progressor: callers of send_owned rarely wait on it
  auto f = p.get_future();
  std::move(inner).then([holder, p = std::move(p)](Result<void>&& r) mutable { p.set_result(std::move(r)); });
  return f;
}

namespace {

// An anonymous mapping plus its registration; deregisters before unmapping.
class MappedRegion final : public MemoryRegion {
 public:
  MappedRegion(void* base, std::size_t length, std::unique_ptr<MemoryRegion> inner)
      : base_(base), length_(length), inner_(std::move(inner)) {}
  ~MappedRegion() override {
    inner_.reset();
    ::munmap(base_, length_);
  }
  void* base() const noexcept override { return base_; }
  std::size_t length() const noexcept override { return length_; }
  ByteView packed_key() const noexcept override { return inner_->packed_key(); }

 private:
  void* base_;
  std::size_t length_;
  std::unique_ptr<MemoryRegion> inner_;
};

}  // namespace

Result<std::unique_ptr<MemoryRegion>> Transport::allocate_memory(std::size_t length) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (length == 0 || length > SIZE_MAX - page)
    return Status(Errc::invalid_argument, "allocate_memory: cannot allocate " + std::to_string(length) + " bytes");
  length = (length + page - 1) / page * page;
  void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return Status(Errc::invalid_argument, "allocate_memory: mmap of " + std::to_string(length) +
                                              " bytes failed: " + std::strerror(errno));
  auto inner = register_memory(p, length);
  if (!inner) {
    ::munmap(p, length);
    return inner.status();
  }
  return std::unique_ptr<MemoryRegion>(std::make_unique<MappedRegion>(p, length, std::move(*inner)));
}

Result<std::unique_ptr<Transport>> make_transport(const Options& options, Bootstrap& bootstrap) {
  switch (options.backend) {
    case Backend::ucx: return detail::make_ucx_transport(options, bootstrap);
    case Backend::tcp: return detail::make_tcp_transport(options, bootstrap);
  }
  return Status(Errc::invalid_argument, "unknown transport backend");
}

}  // namespace ferry::transport
