// eviction.cc — store pressure: evicting cached copies and spilling primary
// copies when the arena is full (see eviction.h for the policy and its
// invariants).
//
// Thread-safety: see eviction.h. No lock of this class is held while calling
// the table, the ownership core or the transport.
#include "eviction.h"

#include <spdlog/spdlog.h>

#include <thread>
#include <vector>

#include "core_services.h"
#include "metrics.h"
#include "protocol.h"
#include "trace.h"

namespace ferry::rt {

namespace {

constexpr std::size_t kMaxCandidates = std::size_t{1} << 16;  // victims looked at per make_room

Status write_spill(void* ctx, const objstore::ObjectInfo& info, std::span<const std::byte> payload) {
  auto* store = static_cast<objstore::SpillStore*>(ctx);
  trace::Span span("spill", info.size, info.id);
  Status s = store->write(info.id, payload);
  if (s) {
    metrics::add(metrics::C::spills);
    metrics::add(metrics::C::spilled_bytes, info.size);
  }
  return s;
}

}  // namespace

StorePressure::StorePressure(CoreServices& core) : core_(core), store_(objstore::SpillStore::open()) {}

StorePressure::~StorePressure() = default;

void StorePressure::install_handlers() {
  Status s = core_.transport().set_handler(kRetireCopy, [this](Rank src, transport::ByteView p) {
    HandlerScope in_handler;
    GateGuard g(core_.gate());
    if (g) on_retire(src, p);
  });
  if (!s) core_.report(s);
}

void StorePressure::on_retire(Rank src, transport::ByteView p) {
  auto id = proto::decode_drop(p, src);
  if (!id) return core_.report(id.status());
  if (id.value().owner() != core_.rank())
    return core_.report(Status(Errc::malformed_message, "rank " + std::to_string(src) + " asked rank " +
                                                            std::to_string(core_.rank()) + " to retire its copy of " +
                                                            id.value().to_string() + ", which this rank does not own"));
  core_.run(core_.ownership().retire_copy(id.value(), src));
}

bool StorePressure::has_room(const objstore::ObjectTable& table, std::size_t bytes) {
  std::size_t rounded = bytes;  // the allocator hands out multiples of kAlignment
  if (!objstore::Allocator::round_up(bytes, rounded)) return false;
  return table.stats().arena.largest_free >= rounded;
}

std::size_t StorePressure::make_room(objstore::ObjectTable& table, std::size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_failure_.clear();
  }
  // Another thread may have made room meanwhile: a non-zero answer makes the table allocate again.
  if (has_room(table, bytes)) return bytes;
  std::size_t freed = evict_copies(table, bytes);
  bool room = has_room(table, bytes);
  if (!room && !CachingScope::active()) freed += spill_primaries(table, bytes, room);
  // Room seen once is worth another allocation, even if a concurrent create takes it first:
  // 0 would end the table's retries although victims are left.
  return room || has_room(table, bytes) ? std::max(freed, bytes) : freed;
}

std::size_t StorePressure::evict_copies(objstore::ObjectTable& table, std::size_t bytes) {
  using clock = std::chrono::steady_clock;
  const Rank self = core_.rank();
  std::vector<objstore::ObjectInfo> unreferenced, referenced;
  for (const auto& v : table.evictable(kMaxCandidates)) {
    if (v.id.owner() == self || !core_.ownership().copy_offset(v.id)) continue;  // not a secondary copy here
    (core_.ownership().ref_count(v.id) == 0 ? unreferenced : referenced).push_back(v);
  }
  unreferenced.insert(unreferenced.end(), referenced.begin(), referenced.end());
  std::vector<objstore::ObjectInfo> asked, to_send;
  std::size_t planned = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto now = clock::now();
    for (auto it = retire_asked_.begin(); it != retire_asked_.end();)  // forget answered requests
      it = table.contains(it->first) ? std::next(it) : retire_asked_.erase(it);
    for (const auto& v : unreferenced) {
      if (planned >= bytes) break;
      auto [it, fresh] = retire_asked_.emplace(v.id, now);
      // Asked long ago and still here: the owner keeps it (e.g. a task output's primary).
      if (!fresh && now - it->second > kRetireWait) continue;
      if (fresh) to_send.push_back(v);
      asked.push_back(v);
      planned += v.total_bytes();
    }
  }
  for (const auto& v : to_send) core_.send(v.id.owner(), kRetireCopy, proto::encode_drop(v.id));
  if (asked.empty() || HandlerScope::active()) return 0;  // a handler cannot wait for the drops
  const auto deadline = clock::now() + kRetireWait;
  std::size_t gone = 0;
  for (;;) {
    gone = 0;
    for (const auto& v : asked)
      if (!table.contains(v.id)) gone += v.total_bytes();
    if (gone >= planned || has_room(table, bytes) || clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return gone;
}

std::size_t StorePressure::spill_primaries(objstore::ObjectTable& table, std::size_t bytes, bool& room) {
  std::size_t freed = 0;
  for (const auto& v : table.evictable(kMaxCandidates)) {
    if (v.id.owner() != core_.rank()) continue;
    if ((room = has_room(table, bytes))) break;
    auto spilled = table.spill(v.id, &write_spill, store_.get());
    if (!spilled) {  // the disk is full (or unusable): more attempts would fail alike
      std::lock_guard<std::mutex> lock(mu_);
      last_failure_ = spilled.status().message();
      break;
    }
    using Outcome = objstore::ObjectTable::SpillOutcome;
    if (spilled.value() == Outcome::spilled) {
      freed += v.total_bytes();
    } else if (spilled.value() == Outcome::discard && store_->remove(v.id)) {  // pinned or freed meanwhile
      metrics::add(metrics::C::spill_freed_bytes, v.size);
    }
  }
  room = room || has_room(table, bytes);
  if (freed == 0 && !room) {
    const auto st = table.stats();
    std::lock_guard<std::mutex> lock(mu_);
    if (last_failure_.empty())
      last_failure_ = "no object could be spilled or evicted: of its " + std::to_string(st.objects) + " objects " +
                      std::to_string(st.pinned) + " are pinned (being read, or held by a running task), " +
                      std::to_string(st.spilled) + " spilled already, " + std::to_string(st.owned_bytes) +
                      " payload bytes are this rank's and " + std::to_string(st.foreign_bytes) +
                      " other ranks' (copies in use, or outputs of tasks run here for other ranks)";
  }
  return freed;
}

Status StorePressure::read_back(const objstore::ObjectInfo& info, std::span<std::byte> dst) {
  trace::Span span("restore", info.size, info.id);
  Status s = store_->read_and_remove(info.id, dst);
  if (s) {
    metrics::add(metrics::C::restores);
    metrics::add(metrics::C::restored_bytes, info.size);
  } else {
    core_.report(s);
  }
  return s;
}

void StorePressure::forget(ObjectId id, std::uint64_t size, bool restored) {
  if (restored) return;  // read_and_remove deleted the file
  if (store_->remove(id)) metrics::add(metrics::C::spill_freed_bytes, size);
}

std::string StorePressure::why_no_room() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_failure_;
}

Result<objstore::ObjectInfo> StorePressure::pin_for_lease(Rank reader, std::uint64_t lease, ObjectId id) {
  auto info = core_.table().pin(id);
  if (!info) return info;
  std::lock_guard<std::mutex> lock(mu_);
  lease_pins_[reader][lease] = id;
  return info;
}

void StorePressure::lease_done(Rank reader, std::uint64_t lease) {
  ObjectId id;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = lease_pins_.find(reader);
    if (r == lease_pins_.end()) return;
    auto l = r->second.find(lease);
    if (l == r->second.end()) return;
    id = l->second;
    r->second.erase(l);
    if (r->second.empty()) lease_pins_.erase(r);
  }
  (void)core_.table().unpin(id);
}

void StorePressure::reader_failed(Rank reader) {
  std::unordered_map<std::uint64_t, ObjectId> pins;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto r = lease_pins_.find(reader);
    if (r == lease_pins_.end()) return;
    pins.swap(r->second);
    lease_pins_.erase(r);
  }
  for (const auto& [lease, id] : pins) (void)core_.table().unpin(id);
}

}  // namespace ferry::rt
