// arena.cc — the mmap'ed object-store arena, FERRY_STORE_BYTES parsing, and
// its one-time registration with the transport (see arena.h).
//
// Thread-safety: as documented in arena.h (registration is a start-up /
// shutdown step; everything else is immutable or the allocator's business).
#include "ferry/objstore/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>

namespace ferry::objstore {

namespace {

constexpr std::size_t kGiB = std::size_t{1} << 30;
constexpr std::size_t kMinDefault = std::size_t{64} << 20;
constexpr std::size_t kMaxDefault = 16 * kGiB;

Status bad_size(std::string_view variable, std::string_view text, const std::string& why) {
  return Status(Errc::invalid_argument,
                std::string(variable) + "='" + std::string(text) + "' is invalid (" + why +
                    "); expected a positive byte count, optionally with a K, M, G or T suffix "
                    "(binary multiples, e.g. 1048576, 512M, 16G, 16GiB)");
}

// Multiplier for a suffix ("", "k", "kb", "kib", ...), 0 if unknown. `s` is lower-cased.
std::size_t suffix_multiplier(std::string s) {
  if (s.empty() || s == "b") return 1;
  if (s.size() == 3 && s.substr(1) == "ib") s.resize(1);
  else if (s.size() == 2 && s[1] == 'b') s.resize(1);
  if (s.size() != 1) return 0;
  switch (s[0]) {
    case 'k': return std::size_t{1} << 10;
    case 'm': return std::size_t{1} << 20;
    case 'g': return std::size_t{1} << 30;
    case 't': return std::size_t{1} << 40;
    default: return 0;
  }
}

// cgroup v2 memory limit of this process, or SIZE_MAX when unlimited/unknown.
std::size_t cgroup_memory_limit() {
  std::ifstream in("/sys/fs/cgroup/memory.max");
  std::string value;
  if (!(in >> value) || value == "max") return std::numeric_limits<std::size_t>::max();
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || n == 0) return std::numeric_limits<std::size_t>::max();
  return n;
}

std::size_t page_size() {
  long p = ::sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<std::size_t>(p) : 4096;
}

// Best effort: transparent huge pages for the arena (fewer, cheaper first-touch
// faults); the kernel ignores it where THP is off for this kind of memory.
void advise_huge_pages(void* base, std::size_t bytes) noexcept { (void)::madvise(base, bytes, MADV_HUGEPAGE); }

std::string rank_label(transport::Rank rank) {
  return rank == transport::kInvalidRank ? std::string() : "rank " + std::to_string(rank);
}

}  // namespace

Result<std::size_t> parse_byte_size(std::string_view text, std::string_view variable) {
  if (text.empty()) return bad_size(variable, text, "empty");
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return bad_size(variable, text, "does not start with a digit");
  std::size_t number = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + digits, number);
  if (ec != std::errc()) return bad_size(variable, text, "number out of range");
  std::string suffix(text.substr(digits));
  for (char& c : suffix) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const std::size_t mult = suffix_multiplier(suffix);
  if (mult == 0) return bad_size(variable, text, "unknown suffix '" + std::string(text.substr(digits)) + "'");
  if (number == 0) return bad_size(variable, text, "must be greater than zero");
  if (number > std::numeric_limits<std::size_t>::max() / mult) return bad_size(variable, text, "too large");
  return number * mult;
}

std::size_t default_store_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  std::size_t physical = pages > 0 ? static_cast<std::size_t>(pages) * page_size() : 4 * kGiB;
  physical = std::min(physical, cgroup_memory_limit());
  std::size_t bytes = std::min(physical / 4, kMaxDefault);
  bytes = std::max(bytes, kMinDefault);
  return bytes & ~(kAlignment - 1);
}

Result<std::size_t> resolve_store_bytes(const ArenaOptions& options) {
  if (options.bytes != 0) return options.bytes;
  if (const char* v = std::getenv(kStoreBytesEnv); v && *v) return parse_byte_size(v, kStoreBytesEnv);
  return default_store_bytes();
}

namespace {

// The arena's size: resolve_store_bytes() rounded up to whole pages.
Result<std::size_t> arena_capacity(const ArenaOptions& options) {
  auto bytes = resolve_store_bytes(options);
  if (!bytes) return bytes.status();
  const std::size_t page = page_size();
  if (*bytes > std::numeric_limits<std::size_t>::max() - page) {
    return Status(Errc::invalid_argument, std::string(kStoreBytesEnv) + ": store size too large");
  }
  return (*bytes + page - 1) / page * page;
}

}  // namespace

Result<std::unique_ptr<Arena>> Arena::create(const ArenaOptions& options) {
  auto capacity_or = arena_capacity(options);
  if (!capacity_or) return capacity_or.status();
  const std::size_t capacity = *capacity_or;
  void* p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    const int err = errno;
    return Status(Errc::invalid_argument,
                  "object store: cannot map a " + format_bytes(capacity) + " arena (mmap: " + std::strerror(err) +
                      "); lower " + kStoreBytesEnv + " (e.g. " + kStoreBytesEnv + "=1G) or raise the address-space "
                      "limit (ulimit -v)");
  }
  advise_huge_pages(p, capacity);
  return std::unique_ptr<Arena>(new Arena(static_cast<std::byte*>(p), capacity, options.rank, rank_label(options.rank)));
}

bool shared_store_preferred(const char* sysfs_root) {
  // Read as the UCX transport's allocate_memory reads it: `n...` or `0...` refuses, anything else allows.
  if (const char* v = std::getenv("FERRY_UCX_ALLOCATE"); v && *v) return !(*v == 'n' || *v == '0');
  const auto selected = [&](const char* file) {  // the [bracketed] word of a THP setting, "" if unreadable
    std::ifstream in(std::string(sysfs_root) + "/" + file);
    std::string line;
    std::getline(in, line);
    const auto open = line.find('['), close = line.find(']');
    return open != std::string::npos && close > open ? line.substr(open + 1, close - open - 1) : std::string();
  };
  const std::string anon = selected("enabled"), shmem = selected("shmem_enabled");
  const bool anon_huge = anon == "always" || anon == "madvise";
  const bool shmem_huge = !(shmem == "never" || shmem == "deny" || shmem.empty());
  return !anon_huge || shmem_huge;
}

Result<std::unique_ptr<Arena>> Arena::create_registered(transport::Transport& t, const ArenaOptions& options) {
  auto capacity_or = arena_capacity(options);
  if (!capacity_or) return capacity_or.status();
  const std::size_t capacity = *capacity_or;
  // The base class's allocate_memory is the anonymous mapping, registered.
  auto region = shared_store_preferred() ? t.allocate_memory(capacity) : t.transport::Transport::allocate_memory(capacity);
  if (!region) {
    const Status& s = region.status();
    return Status(s.code(), "object store: allocating a " + format_bytes(capacity) + " registered arena with the " +
                                std::string(t.backend_name()) + " transport failed: " + s.message() + "; lower " +
                                kStoreBytesEnv + " (e.g. " + kStoreBytesEnv + "=1G)");
  }
  auto* base = static_cast<std::byte*>((*region)->base());
  advise_huge_pages(base, capacity);
  std::unique_ptr<Arena> arena(new Arena(base, capacity, options.rank, rank_label(options.rank), false));
  arena->region_ = std::move(*region);
  return arena;
}

Arena::Arena(std::byte* base, std::size_t capacity, transport::Rank rank, std::string where, bool owns_mapping)
    : base_(base), owns_mapping_(owns_mapping), capacity_(capacity), rank_(rank), allocator_(capacity, std::move(where)) {}

Arena::~Arena() {
  prefaulter_.reset();
  deregister();
  if (owns_mapping_) ::munmap(base_, capacity_);
}

Status Arena::register_with(transport::Transport& t) {
  if (!owns_mapping_) return Status(Errc::invalid_argument, "object store arena was allocated registered");
  if (region_) {
    return Status(Errc::invalid_argument, "object store arena is already registered (register once per process)");
  }
  auto region = t.register_memory(base_, capacity_);
  if (!region) {
    const Status& s = region.status();
    return Status(s.code(), "object store: registering the " + format_bytes(capacity_) + " arena with the " +
                                std::string(t.backend_name()) + " transport failed: " + s.message() +
                                " (a smaller " + kStoreBytesEnv + " may help)");
  }
  region_ = std::move(*region);
  return Status::ok();
}

void Arena::deregister() noexcept {
  prefaulter_.reset();  // it must not touch memory the region is about to free
  region_.reset();
}

void Arena::start_prefault(const PrefaultOptions& options) {
  if (prefaulter_ || options.ahead == 0) return;
  prefaulter_ = std::make_unique<Prefaulter>(base_, capacity_, allocator_, options);
}

transport::ByteView Arena::packed_key() const noexcept {
  return region_ ? region_->packed_key() : transport::ByteView();
}

}  // namespace ferry::objstore
