// object_table.cc — the object table (life cycle, invariants and the spill
// hook are documented in object_table.h).
//
// Thread-safety: every access to entries_ and the counters holds mu_; the
// spill handler is called with mu_ released. Lock order: mu_ -> allocator's
// mutex (the allocator never calls back into the table).
#include "ferry/objstore/object_table.h"

#include <algorithm>
#include <limits>

namespace ferry::objstore {

const char* to_string(ObjectState s) noexcept {
  switch (s) {
    case ObjectState::creating: return "creating";
    case ObjectState::sealed: return "sealed";
    case ObjectState::spilled: return "spilled";
  }
  return "unknown";
}

ObjectTable::ObjectTable(Arena& arena) : arena_(arena) {}

ObjectTable::~ObjectTable() {
  // Give every block back so the arena can be reused; pins still held at this
  // point belong to readers that are gone (shutdown), so they are ignored.
  std::lock_guard<std::mutex> lock(mu_);
  while (!entries_.empty()) (void)release_locked(entries_.begin());
}

Status ObjectTable::unknown(ObjectId id, const char* op) const {
  std::string where = arena_.rank() == transport::kInvalidRank
                          ? std::string("this process")
                          : "rank " + std::to_string(arena_.rank());
  return Status(Errc::not_found, std::string(op) + ": object " + id.to_string() + " is not in the object store of " +
                                     where + " (never created here, already freed, or a corrupted id)");
}

ObjectInfo ObjectTable::info_of(const ObjectId& id, const Entry& e) const {
  ObjectInfo info;
  info.id = id;
  info.offset = e.offset;
  info.size = e.size;
  info.state = e.state;
  info.pin_count = e.pin_count;
  info.type_tag = e.header.type_tag;
  info.header = e.header;
  return info;
}

Status SpillHandler::read_back(const ObjectInfo& info, std::span<std::byte>) {
  return Status(Errc::unsupported, "restore of " + info.id.to_string() + ": this spill handler cannot read back");
}

void SpillHandler::forget(ObjectId, std::uint64_t, bool) {}

Result<std::uint64_t> ObjectTable::allocate_block(ObjectId id, std::size_t bytes) {
  auto describe = [&](const Status& s) {
    return Status(s.code(), "cannot create " + id.to_string() + " (" + std::to_string(bytes - kHeaderBytes) +
                                "-byte payload + " + std::to_string(kHeaderBytes) + "-byte header): " + s.message());
  };
  auto offset = arena_.allocator().allocate(bytes);
  if (!offset && bytes > arena_.allocator().capacity()) return describe(offset.status());  // no room can help
  std::shared_ptr<SpillHandler> spill;
  // Freed space may be fragmented: ask again while the handler still finds something.
  for (int round = 0; round < 16 && !offset && offset.status().code() == Errc::store_full; ++round) {
    if (!spill) {
      std::lock_guard<std::mutex> lock(mu_);
      spill = spill_;
    }
    if (!spill || spill->make_room(*this, bytes) == 0) break;
    offset = arena_.allocator().allocate(bytes);
  }
  if (!offset) {
    Status s = describe(offset.status());
    if (spill && s.code() == Errc::store_full) {
      if (std::string why = spill->why_no_room(); !why.empty()) s = Status(s.code(), s.message() + "; " + why);
    }
    return s;
  }
  return offset;
}

Result<ObjectInfo> ObjectTable::create(ObjectId id, std::uint64_t size, std::uint64_t type_tag, std::uint16_t format,
                                       std::uint64_t aux) {
  if (id.is_nil()) return Status(Errc::invalid_argument, "object table: cannot create the nil object id");
  if (size > std::numeric_limits<std::size_t>::max() - kHeaderBytes - kAlignment) {
    return Status(Errc::store_full, "cannot create " + id.to_string() + ": a payload of " + std::to_string(size) +
                                        " bytes cannot fit in any store (raise FERRY_STORE_BYTES)");
  }
  auto exists = [&] {
    return Status(Errc::invalid_argument, "object table: " + id.to_string() + " already exists in the store");
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.count(id)) return exists();
  }
  auto offset = allocate_block(id, kHeaderBytes + static_cast<std::size_t>(size));
  if (!offset) return offset.status();
  // Fresh block: the header reads as "being rewritten" until seal().
  std::fill_n(arena_.at(*offset), kHeaderBytes, std::byte{0});

  Entry e;
  e.offset = *offset;
  e.size = size;
  e.header = ObjectHeader{id, size, type_tag, format, aux};
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, inserted] = entries_.emplace(id, e);
  if (!inserted) {  // lost a race with another create of the same id
    (void)arena_.allocator().free(*offset);
    return exists();
  }
  (id.owner() == arena_.rank() ? owned_bytes_ : foreign_bytes_) += size;
  return info_of(id, it->second);
}

Result<std::span<std::byte>> ObjectTable::payload(ObjectId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.free_pending) return unknown(id, "payload");
  if (it->second.state == ObjectState::spilled) {
    return Status(Errc::unsupported, "payload: " + id.to_string() + " is spilled (pin() restores it)");
  }
  return std::span<std::byte>(arena_.at(it->second.offset + kHeaderBytes), it->second.size);
}

Status ObjectTable::seal(ObjectId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.free_pending) return unknown(id, "seal");
  Entry& e = it->second;
  if (e.state != ObjectState::creating) {
    return Status(Errc::invalid_argument, "seal: " + id.to_string() + " is already " + to_string(e.state));
  }
  encode_header(e.header, std::span<std::byte, kHeaderBytes>(arena_.at(e.offset), kHeaderBytes));
  e.state = ObjectState::sealed;
  e.use_seq = next_use_seq_++;
  ++sealed_;
  return Status::ok();
}

Result<ObjectInfo> ObjectTable::pin(ObjectId id) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.free_pending) return unknown(id, "pin");
    Entry& e = it->second;
    if (e.restoring) {
      restored_.wait(lock);
      continue;
    }
    if (e.state == ObjectState::spilled) {
      if (Status s = restore(lock, id); !s) return s;
      continue;  // look again: it may have been freed meanwhile
    }
    if (e.state != ObjectState::sealed) {
      return Status(Errc::invalid_argument, "pin: " + id.to_string() + " is " + to_string(e.state) +
                                                "; only sealed objects can be read");
    }
    if (e.pin_count++ == 0) ++pinned_;
    e.use_seq = next_use_seq_++;
    return info_of(id, e);
  }
}

Status ObjectTable::restore(std::unique_lock<std::mutex>& lock, ObjectId id) {
  Entry* e = &entries_.at(id);
  e->restoring = true;
  const ObjectInfo info = info_of(id, *e);
  std::shared_ptr<SpillHandler> spill = spill_;
  lock.unlock();
  auto offset = allocate_block(id, kHeaderBytes + static_cast<std::size_t>(info.size));
  Status s = offset.status();
  if (offset && spill) {
    s = spill->read_back(info, std::span<std::byte>(arena_.at(*offset + kHeaderBytes), info.size));
  } else if (offset) {
    s = Status(Errc::internal, "restore of " + id.to_string() + ": no spill handler is installed");
  }
  lock.lock();
  auto it = entries_.find(id);  // still there: frees are deferred while restoring
  e = &it->second;
  e->restoring = false;
  restored_.notify_all();
  if (!s) {
    if (offset) (void)arena_.allocator().free(*offset);
    if (e->free_pending && e->pin_count == 0) (void)release_locked(it);
    return Status(s.code(), "pin: cannot restore spilled " + id.to_string() + ": " + s.message());
  }
  e->offset = *offset;
  e->state = ObjectState::sealed;
  encode_header(e->header, std::span<std::byte, kHeaderBytes>(arena_.at(e->offset), kHeaderBytes));
  ++sealed_;
  --spilled_;
  spilled_bytes_ -= e->size;
  if (spill) spill->forget(id, e->size, true);
  if (e->free_pending && e->pin_count == 0) (void)release_locked(it);
  return Status::ok();
}

Result<ObjectTable::SpillOutcome> ObjectTable::spill(ObjectId id, SpillWrite write, void* ctx) {
  ObjectInfo info;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.free_pending) return SpillOutcome::skipped;
    Entry& e = it->second;
    if (e.state != ObjectState::sealed || e.pin_count > 0 || e.spilling || e.restoring) return SpillOutcome::skipped;
    e.spilling = true;
    info = info_of(id, e);
  }
  // The block stays allocated while spilling is set (free() defers), so the payload is stable.
  Status s = write(ctx, info, std::span<const std::byte>(arena_.at(info.payload_offset()), info.size));
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  Entry& e = it->second;
  e.spilling = false;
  if (e.free_pending && e.pin_count == 0) {
    (void)release_locked(it);
    if (!s) return s;
    return SpillOutcome::discard;
  }
  if (!s) return s;
  if (e.pin_count > 0 || e.free_pending) return SpillOutcome::discard;  // a reader came meanwhile: keep it
  mark_header_freed(std::span<std::byte, kHeaderBytes>(arena_.at(e.offset), kHeaderBytes));
  const std::uint64_t offset = e.offset;
  e.state = ObjectState::spilled;
  --sealed_;
  ++spilled_;
  spilled_bytes_ += e.size;
  if (Status f = arena_.allocator().free(offset); !f)
    return Status(Errc::internal, "object table: releasing the block of spilled " + id.to_string() + ": " + f.message());
  return SpillOutcome::spilled;
}

Status ObjectTable::unpin(ObjectId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return unknown(id, "unpin");
  Entry& e = it->second;
  if (e.pin_count == 0) {
    return Status(Errc::invalid_argument, "unpin: " + id.to_string() + " is not pinned (unbalanced pin/unpin)");
  }
  if (--e.pin_count > 0) return Status::ok();
  --pinned_;
  return e.free_pending ? release_locked(it) : Status::ok();
}

Status ObjectTable::free(ObjectId id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.free_pending) return unknown(id, "free");
  if (it->second.pin_count > 0 || it->second.spilling || it->second.restoring) {
    it->second.free_pending = true;
    ++free_pending_;
    return Status::ok();
  }
  return release_locked(it);
}

Status ObjectTable::release_locked(Map::iterator it) {
  Entry& e = it->second;
  if (e.state == ObjectState::spilled) {  // no block: the spill store's copy goes
    if (e.free_pending) --free_pending_;
    if (e.pin_count > 0) --pinned_;
    --spilled_;
    spilled_bytes_ -= e.size;
    (it->first.owner() == arena_.rank() ? owned_bytes_ : foreign_bytes_) -= e.size;
    if (spill_) spill_->forget(it->first, e.size, false);
    entries_.erase(it);
    return Status::ok();
  }
  mark_header_freed(std::span<std::byte, kHeaderBytes>(arena_.at(e.offset), kHeaderBytes));
  if (e.state == ObjectState::sealed) --sealed_;
  if (e.free_pending) --free_pending_;
  if (e.pin_count > 0) --pinned_;
  const std::uint64_t offset = e.offset;
  const ObjectId id = it->first;
  (id.owner() == arena_.rank() ? owned_bytes_ : foreign_bytes_) -= e.size;
  entries_.erase(it);
  Status s = arena_.allocator().free(offset);
  if (!s) return Status(Errc::internal, "object table: releasing " + id.to_string() + " failed: " + s.message());
  return s;
}

Result<ObjectInfo> ObjectTable::lookup(ObjectId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.free_pending) return unknown(id, "lookup");
  return info_of(id, it->second);
}

bool ObjectTable::contains(ObjectId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = entries_.find(id);
  return it != entries_.end() && !it->second.free_pending;
}

std::vector<ObjectInfo> ObjectTable::evictable(std::size_t max) const {
  std::vector<std::pair<std::uint64_t, ObjectInfo>> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, e] : entries_) {
      if (e.state == ObjectState::sealed && e.pin_count == 0 && !e.free_pending && !e.spilling) {
        found.emplace_back(e.use_seq, info_of(id, e));
      }
    }
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<ObjectInfo> out;
  for (std::size_t i = 0; i < found.size() && i < max; ++i) out.push_back(found[i].second);
  return out;
}

void ObjectTable::set_spill_handler(std::shared_ptr<SpillHandler> handler) {
  std::lock_guard<std::mutex> lock(mu_);
  spill_ = std::move(handler);
}

TableStats ObjectTable::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  TableStats s;
  s.arena = arena_.allocator().stats();
  s.objects = entries_.size();
  s.sealed = sealed_;
  s.pinned = pinned_;
  s.free_pending = free_pending_;
  s.owned_bytes = owned_bytes_;
  s.foreign_bytes = foreign_bytes_;
  s.spilled = spilled_;
  s.spilled_bytes = spilled_bytes_;
  return s;
}

}  // namespace ferry::objstore
