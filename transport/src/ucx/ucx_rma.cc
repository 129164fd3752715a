// ucx_rma.cc — memory registration, packed/unpacked remote keys and one-sided get.
//
// register_memory maps the caller's existing buffer with ucp_mem_map (no copy,
// no allocation) and packs its rkey; allocate_memory lets ucp_mem_map allocate
// (shared memory when UCX can: same-node gets become copies from a mapped
// segment) and falls back to the generic anonymous mapping. The packed key is self-describing:
//   [base u64][length u64][UCX rkey bytes ...][rkey length u32][FNV-1a u32]
// (little-endian; the trailer lets unpack_key reject a truncated or garbled blob
// before UCX parses it — ucp_ep_rkey_unpack takes no length and trusts its input).
// unpack_key(peer, blob) unpacks on that peer's endpoint; get() is ucp_get_nbx,
// bounds-checked against the key's region. Keys and regions of this rank are
// served in software: a self-get memcpy's from a region that must still be
// registered.
//
// Lifetime: UcxRegion / UcxRemoteKey hold a shared_ptr to the Engine and are
// tracked in Engine::regions_ / keys_; teardown releases their UCX handles, after
// which their destructors do nothing (so a key may outlive the transport).
//
// Thread-safety: all UCX calls and the registries are under Engine::mu_.
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "ucx/ucx_engine.h"
#include "ucx/ucx_key.h"

namespace ferry::transport::ucx {

class UcxRegion final : public MemoryRegion {
 public:
  UcxRegion(std::shared_ptr<Engine> engine, void* base, std::size_t length, ucp_mem_h memh, Bytes blob)
      : engine_(std::move(engine)), base_(base), length_(length), memh_(memh), blob_(std::move(blob)) {}
  ~UcxRegion() override { engine_->release_region(this); }
  void* base() const noexcept override { return base_; }
  std::size_t length() const noexcept override { return length_; }
  ByteView packed_key() const noexcept override { return ByteView(blob_); }

  std::shared_ptr<Engine> engine_;
  void* base_;
  std::size_t length_;
  ucp_mem_h memh_;  // guarded by Engine::mu_; null once released
  Bytes blob_;
};

class UcxRemoteKey final : public RemoteKey {
 public:
  UcxRemoteKey(std::shared_ptr<Engine> engine, Rank peer, std::uint64_t base, std::size_t length, ucp_rkey_h rkey)
      : engine_(std::move(engine)), peer_(peer), base_(base), length_(length), rkey_(rkey) {}
  ~UcxRemoteKey() override { engine_->release_key(this); }
  Rank peer() const noexcept override { return peer_; }
  std::uint64_t remote_base() const noexcept override { return base_; }
  std::size_t remote_length() const noexcept override { return length_; }

  std::shared_ptr<Engine> engine_;
  Rank peer_;
  std::uint64_t base_;
  std::size_t length_;
  ucp_rkey_h rkey_;  // guarded by Engine::mu_; null for self keys and once released
};

Result<std::unique_ptr<MemoryRegion>> Engine::register_memory(void* base, std::size_t length) {
  if (base == nullptr || length == 0)
    return Status(Errc::invalid_argument, "register_memory: cannot register an empty range (base " +
                                              std::string(base ? "set" : "null") + ", length " +
                                              std::to_string(length) + ") on rank " + std::to_string(self_));
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) return shut_down_status();
  ucp_mem_map_params_t mp{};
  mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
  mp.address = base;
  mp.length = length;
  ucp_mem_h memh = nullptr;
  if (ucs_status_t st = ucp_mem_map(context_, &mp, &memh); st != UCS_OK)
    return ucx_failure(Errc::transport_error, "ucp_mem_map of " + std::to_string(length) + " bytes failed", self_, st);
  return make_region_locked(memh, base, length);
}

namespace {

// min(kernel.shmmax, physical memory): the largest System V segment worth asking for.
std::size_t shm_segment_limit() {
  std::size_t limit = static_cast<std::size_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  if (std::FILE* f = std::fopen("/proc/sys/kernel/shmmax", "r")) {
    unsigned long long v = 0;
    if (std::fscanf(f, "%llu", &v) == 1 && v < limit) limit = static_cast<std::size_t>(v);
    std::fclose(f);
  }
  return limit;
}

}  // namespace

// UCP_MEM_MAP_ALLOCATE: UCX picks the memory (UCX_ALLOC_PRIO, System V or
// POSIX shared memory first on a node with shm transports) and registers it.
// Any failure -> Errc::unsupported, and the caller falls back to an anonymous
// mapping + register_memory. FERRY_UCX_ALLOCATE=n skips this path.
Result<std::unique_ptr<MemoryRegion>> Engine::allocate_memory(std::size_t length) {
  if (const char* v = std::getenv("FERRY_UCX_ALLOCATE"); v && (*v == 'n' || *v == '0'))
    return Status(Errc::unsupported, "FERRY_UCX_ALLOCATE=" + std::string(v));
  if (length == 0) return Status(Errc::invalid_argument, "allocate_memory: cannot allocate 0 bytes");
  // UCX tries System V shared memory first and logs an ERROR when the kernel
  // refuses: stay quiet (and fall back) when the size cannot fit anyway.
  if (length > shm_segment_limit()) return Status(Errc::unsupported, "larger than the shared-memory limits");
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) return shut_down_status();
  ucp_mem_map_params_t mp{};
  mp.field_mask = UCP_MEM_MAP_PARAM_FIELD_LENGTH | UCP_MEM_MAP_PARAM_FIELD_FLAGS;
  mp.length = length;
  mp.flags = UCP_MEM_MAP_ALLOCATE;
  ucp_mem_h memh = nullptr;
  if (ucs_status_t st = ucp_mem_map(context_, &mp, &memh); st != UCS_OK) {
    spdlog::debug("ferry[{}]: ucp_mem_map cannot allocate {} bytes ({}); using an anonymous mapping", self_, length,
                  ucs_status_string(st));
    return Status(Errc::unsupported, "ucp_mem_map ALLOCATE failed");
  }
  ucp_mem_attr_t attr{};
  attr.field_mask = UCP_MEM_ATTR_FIELD_ADDRESS | UCP_MEM_ATTR_FIELD_LENGTH;
  if (ucs_status_t st = ucp_mem_query(memh, &attr); st != UCS_OK || attr.address == nullptr || attr.length < length) {
    ucp_mem_unmap(context_, memh);
    return Status(Errc::unsupported, "ucp_mem_query after ALLOCATE failed");
  }
  return make_region_locked(memh, attr.address, length);
}

// Packs the rkey of `memh` (covering [base, base+length)) and tracks the region.
Result<std::unique_ptr<MemoryRegion>> Engine::make_region_locked(ucp_mem_h memh, void* base, std::size_t length) {
  void* packed = nullptr;
  std::size_t packed_len = 0;
  if (ucs_status_t st = ucp_rkey_pack(context_, memh, &packed, &packed_len); st != UCS_OK) {
    ucp_mem_unmap(context_, memh);
    return ucx_failure(Errc::transport_error, "ucp_rkey_pack failed", self_, st);
  }
  Bytes blob = make_blob(base, length, packed, packed_len);
  ucp_rkey_buffer_release(packed);
  auto region = std::make_unique<UcxRegion>(shared_from_this(), base, length, memh, std::move(blob));
  regions_.insert(region.get());
  spdlog::debug("ferry[{}]: registered {} bytes at {} (rkey {} bytes)", self_, length, base, packed_len);
  return std::unique_ptr<MemoryRegion>(std::move(region));
}

void Engine::release_region(UcxRegion* region) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (regions_.erase(region) && region->memh_ && context_) ucp_mem_unmap(context_, region->memh_);
  region->memh_ = nullptr;
}

Result<std::shared_ptr<RemoteKey>> Engine::unpack_key(Rank peer, ByteView packed) {
  if (peer >= size_)
    return Status(Errc::invalid_argument, "unpack_key: rank " + std::to_string(peer) + " is outside the job (size " +
                                              std::to_string(size_) + ")");
  auto parsed = parse_blob(packed, peer);
  if (!parsed) return parsed.status();
  const ParsedKey k = *parsed;
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) return shut_down_status();
  if (peer == self_)
    return std::shared_ptr<RemoteKey>(std::make_shared<UcxRemoteKey>(shared_from_this(), peer, k.base, k.length, nullptr));
  Peer& p = peers_[peer];
  if (p.failed || !p.ep)
    return Status(Errc::peer_failed, "unpack_key: rank " + std::to_string(peer) + " has failed");
  ucp_rkey_h rkey = nullptr;
  if (ucs_status_t st = ucp_ep_rkey_unpack(p.ep, k.rkey, &rkey); st != UCS_OK)
    return ucx_failure(Errc::invalid_argument,
                     "unpack_key: UCX rejected the key of rank " + std::to_string(peer) +
                         " (was it packed by a transport of this job?)",
                     self_, st);
  auto key = std::make_shared<UcxRemoteKey>(shared_from_this(), peer, k.base, k.length, rkey);
  keys_.insert(key.get());
  return std::shared_ptr<RemoteKey>(std::move(key));
}

void Engine::release_key(UcxRemoteKey* key) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  if (keys_.erase(key) && key->rkey_) ucp_rkey_destroy(key->rkey_);
  key->rkey_ = nullptr;
}

void Engine::release_rma_locked() noexcept {
  for (UcxRemoteKey* key : keys_) {
    if (key->rkey_) ucp_rkey_destroy(key->rkey_);
    key->rkey_ = nullptr;
  }
  keys_.clear();
  for (UcxRegion* region : regions_) {
    if (region->memh_ && context_) ucp_mem_unmap(context_, region->memh_);
    region->memh_ = nullptr;
  }
  regions_.clear();
}

Future<void> Engine::get(const RemoteKey& key, std::uint64_t remote_addr, void* local, std::size_t length) {
  const auto* k = dynamic_cast<const UcxRemoteKey*>(&key);
  if (k == nullptr || k->engine_.get() != this)
    return ready_error(Status(Errc::invalid_argument, "get: the key was not unpacked by this UCX transport"));
  const std::uint64_t off = remote_addr - k->base_;
  if (remote_addr < k->base_ || off > k->length_ || length > k->length_ - off)
    return ready_error(Status(Errc::invalid_argument,
                              "get: " + std::to_string(length) + " bytes at offset " +
                                  std::to_string(static_cast<std::int64_t>(remote_addr - k->base_)) +
                                  " fall outside rank " + std::to_string(k->peer_) + "'s region of " +
                                  std::to_string(k->length_) + " bytes"));
  if (length == 0) return make_ready_future();
  if (local == nullptr) return ready_error(Status(Errc::invalid_argument, "get: null local buffer"));
  if (k->peer_ == self_) return self_get(remote_addr, local, length);
  if (events_.is_failed(k->peer_)) return ready_error(failed_peer_status("get", k->peer_));

  Promise<void> promise(shared_from_this());
  auto future = promise.get_future();
  std::lock_guard<std::mutex> lock(mu_);
  Peer& p = peers_[k->peer_];
  if (!usable_locked() || !k->rkey_) {
    promise.set_error(shut_down_status());
    return future;
  }
  if (p.failed || !p.ep) {
    promise.set_error(Status(Errc::peer_failed, "get: rank " + std::to_string(k->peer_) + " has failed"));
    return future;
  }
  Op* op = ops_.take(this, k->peer_, Op::Kind::get);
  op->promise.emplace(std::move(promise));
  ucp_request_param_t prm = op_param(op);
  begin_post_locked(op);
  ucs_status_ptr_t req = ucp_get_nbx(p.ep, local, length, remote_addr, k->rkey_, &prm);
  if (end_post_locked(op, req, "ucp_get_nbx")) wake_locked();
  return future;
}

// A get from one of this rank's own regions: a bounds-checked memcpy, done
// under mu_ so the region cannot be deregistered meanwhile.
Future<void> Engine::self_get(std::uint64_t remote_addr, void* local, std::size_t length) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!usable_locked()) return ready_error(shut_down_status());
  for (const UcxRegion* r : regions_) {
    const auto base = reinterpret_cast<std::uintptr_t>(r->base_);
    if (remote_addr >= base && remote_addr - base <= r->length_ && length <= r->length_ - (remote_addr - base)) {
      std::memmove(local, reinterpret_cast<const void*>(remote_addr), length);
      return make_ready_future();
    }
  }
  return ready_error(Status(Errc::not_found, "get: rank " + std::to_string(self_) +
                                                 "'s own region is no longer registered (key outlived its region)"));
}

}  // namespace ferry::transport::ucx
