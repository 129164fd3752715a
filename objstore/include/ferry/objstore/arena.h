// ferry/objstore/arena.h — the per-process object-store arena.
//
// One large anonymous mapping per process (mmap MAP_PRIVATE|MAP_ANONYMOUS|
// MAP_NORESERVE: untouched pages cost nothing, so the default size can be
// generous), or one allocation made by the transport (create_registered; the
// runtime's choice: UCX may place it in shared memory). Every object of this process lives inside it; it is registered
// ONCE with the transport (register_with), and peers read objects one-sided
// at   remote_base + offset   using the packed key shipped once per peer.
// There is no per-object registration.
// Huge pages: the whole arena is advised MADV_HUGEPAGE at creation (best
// effort: anonymous memory where THP is `always`/`madvise`, shared memory where
// /sys/kernel/mm/transparent_hugepage/shmem_enabled allows it); start_prefault
// keeps pages faulted in ahead of use (prefault.h).
//
// Size: ArenaOptions::bytes, else FERRY_STORE_BYTES (plain bytes or a K/M/G/T
// suffix, binary multiples, optional "iB"/"B": "512M", "16GiB", "1048576"),
// else default_store_bytes() = min(25% of physical memory (or of the cgroup
// limit, if lower), 16 GiB). Rounded up to the page size.
//
// Invariants:
//   * base() is page aligned and never changes; capacity() is a multiple of
//     kAlignment and of the page size;
//   * at most one MemoryRegion exists; it covers exactly [base, base+capacity);
//   * the region (if any) is released before the mapping is unmapped.
// Registration cost: shm/CMA/TCP transports do not pin memory; RDMA
// registration without on-demand paging pins the whole arena, so on such
// nodes FERRY_STORE_BYTES should be what the node can really back.
// Lifetime: a registered Arena must be destroyed (or deregister()ed) before
// the Transport it was registered with (MemoryRegion contract).
// Thread-safety: base/capacity/allocator are safe from any thread;
// register_with/deregister must not race with each other or with region()/
// packed_key() (call them once at start-up / shutdown).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "ferry/objstore/allocator.h"
#include "ferry/objstore/prefault.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::objstore {

inline constexpr const char* kStoreBytesEnv = "FERRY_STORE_BYTES";

struct ArenaOptions {
  std::size_t bytes = 0;  // 0: FERRY_STORE_BYTES, else default_store_bytes()
  // Rank for error messages ("object store full on rank 3"); kInvalidRank: omitted.
  transport::Rank rank = transport::kInvalidRank;
};

// Parses a size such as "1048576", "64K", "512M", "16G", "16GiB", "1T" (binary
// multiples, case-insensitive suffix). Zero, negative, empty, garbage or
// overflow -> invalid_argument naming `variable` and the accepted forms.
Result<std::size_t> parse_byte_size(std::string_view text, std::string_view variable = kStoreBytesEnv);

// Whether the store should be the transport's shared memory. FERRY_UCX_ALLOCATE=y/n
// decides when set; otherwise true unless this node gives anonymous memory huge
// pages but shared memory none (/sys/kernel/mm/transparent_hugepage: `enabled`
// not [never], `shmem_enabled` [never] or [deny], as on Debian). There every
// fresh 4 KiB page of a shared store costs a page fault to its writer and again
// to each same-node reader (on virtual machines ~25 us each: a 16 MiB read of a
// never-read object ~100 ms), while a huge-page store read by CMA costs a few ms.
// `sysfs_root` is for tests.
bool shared_store_preferred(const char* sysfs_root = "/sys/kernel/mm/transparent_hugepage");

// min(25% of physical memory (cgroup limit if lower), 16 GiB), at least 64 MiB.
std::size_t default_store_bytes();

// ArenaOptions::bytes if non-zero, else FERRY_STORE_BYTES if set, else the default.
Result<std::size_t> resolve_store_bytes(const ArenaOptions& options);

class Arena {
 public:
  // Maps the arena. A size mmap refuses -> invalid_argument naming FERRY_STORE_BYTES.
  static Result<std::unique_ptr<Arena>> create(const ArenaOptions& options = {});
  // Allocates and registers the arena in one step: by the transport
  // (Transport::allocate_memory: with UCX, shared memory that same-node peers
  // read with plain copies) where shared_store_preferred(), else an anonymous
  // mapping with huge pages registered as is (same-node peers read it by CMA).
  // The memory belongs to the registration: it is freed by deregister() or the
  // destructor, after which the arena must not be used. Errors name FERRY_STORE_BYTES.
  static Result<std::unique_ptr<Arena>> create_registered(transport::Transport& t, const ArenaOptions& options = {});
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  std::byte* base() const noexcept { return base_; }
  std::size_t capacity() const noexcept { return capacity_; }
  Allocator& allocator() noexcept { return allocator_; }
  const Allocator& allocator() const noexcept { return allocator_; }
  transport::Rank rank() const noexcept { return rank_; }

  // Pointer to `offset` inside the arena (no bounds check beyond an assert).
  std::byte* at(std::uint64_t offset) const noexcept { return base_ + offset; }

  // Registers the whole arena with `t` (once). A second call -> invalid_argument;
  // a backend failure is returned as is (with the arena size added).
  Status register_with(transport::Transport& t);
  // Releases the registration (no-op if not registered).
  void deregister() noexcept;

  bool registered() const noexcept { return region_ != nullptr; }
  const transport::MemoryRegion* region() const noexcept { return region_.get(); }
  // The region's packed key, to ship to peers once; empty if not registered.
  transport::ByteView packed_key() const noexcept;

  // Starts the background prefaulter (prefault.h; at most once; ahead == 0:
  // nothing). It is stopped by deregister() and the destructor, before the
  // memory goes away. Call at start-up, like register_with.
  void start_prefault(const PrefaultOptions& options);
  // Stops and joins the prefaulter (no-op without one).
  void stop_prefault() noexcept { prefaulter_.reset(); }
  // The running prefaulter, or nullptr.
  const Prefaulter* prefaulter() const noexcept { return prefaulter_.get(); }

 private:
  Arena(std::byte* base, std::size_t capacity, transport::Rank rank, std::string where, bool owns_mapping = true);

  std::byte* const base_;
  const bool owns_mapping_;  // false: the transport allocated the memory (region_ frees it)
  const std::size_t capacity_;
  const transport::Rank rank_;
  Allocator allocator_;
  std::unique_ptr<transport::MemoryRegion> region_;
  std::unique_ptr<Prefaulter> prefaulter_;  // stopped before region_ / the mapping go
};

}  // namespace ferry::objstore
