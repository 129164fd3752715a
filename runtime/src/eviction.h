// eviction.h — store pressure (internal): the runtime's SpillHandler. When the
// arena is full, make_room() first evicts cached secondary copies of other
// ranks' objects, then spills this rank's own primary copies to files
// (objstore SpillStore, FERRY_SPILL_DIR); the object table restores a spilled
// object on its next pin. docs/ARCHITECTURE.md "Store pressure" describes it.
//
// Victims, least recently used first (ObjectTable::evictable: sealed, unpinned):
//   1. copies (a foreign id recorded by Ownership as a copy), those this rank
//      holds no ref to before referenced ones: the owner is asked to retire
//      each (kRetireCopy); it drops the copy (kDropCopy) once no read lease on
//      it is left. A caller that may block (not a message handler) waits up
//      to kRetireWait for the drops; a handler does not wait (its allocation
//      fails, e.g. a fetch then reads into a private buffer).
//   2. primaries: objects this rank owns, written to the spill store and
//      released from the arena. Never while pinned: local views pin, and a
//      remote reader's lease on a primary here pins it (pin_for_lease) until
//      its kReadDone (or its death), so a one-sided get never reads a block
//      that was spilled and reused. A cached copy being created (a fetch)
//      never spills primaries for room (CachingScope): a copy is optional.
// Objects of other owners whose primary is here (outputs of tasks executed
// here) are neither spilled nor evicted: the owner keeps them as primaries.
//
// Thread-safety: every method is thread-safe; mu_ guards the lease pins and
// the retire requests. make_room runs on the allocating thread with no lock
// of the table held; forget() runs under the table's lock (it only touches
// the spill store and metrics).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "ferry/objstore/object_table.h"
#include "ferry/objstore/spill.h"
#include "ownership.h"

namespace ferry::rt {

class CoreServices;

inline constexpr transport::HandlerId kRetireCopy = 0xF00A;  // holder -> owner: id (16 bytes)

class StorePressure : public objstore::SpillHandler {
 public:
  static constexpr std::chrono::milliseconds kRetireWait{1000};

  explicit StorePressure(CoreServices& core);
  ~StorePressure() override;

  // Installs the kRetireCopy handler (owner side).
  void install_handlers();

  std::size_t make_room(objstore::ObjectTable& table, std::size_t bytes) override;
  Status read_back(const objstore::ObjectInfo& info, std::span<std::byte> dst) override;
  void forget(ObjectId id, std::uint64_t size, bool restored) override;
  std::string why_no_room() const override;

  // Owner answering `reader` with lease `lease` on its own primary `id`: pins
  // it (restoring it if spilled) until lease_done / reader_failed; the answer
  // must use the returned offset.
  Result<objstore::ObjectInfo> pin_for_lease(Rank reader, std::uint64_t lease, ObjectId id);
  void lease_done(Rank reader, std::uint64_t lease);
  void reader_failed(Rank reader);

  // While alive on a thread, make_room only evicts copies (never spills):
  // used around the creation of a cached copy.
  class CachingScope {
   public:
    CachingScope() noexcept : saved_(flag()) { flag() = true; }
    ~CachingScope() { flag() = saved_; }
    CachingScope(const CachingScope&) = delete;
    CachingScope& operator=(const CachingScope&) = delete;
    static bool active() noexcept { return flag(); }

   private:
    static bool& flag() noexcept {
      thread_local bool caching = false;
      return caching;
    }
    bool saved_;
  };

  const objstore::SpillStore& store() const noexcept { return *store_; }

 private:
  std::size_t evict_copies(objstore::ObjectTable& table, std::size_t bytes);
  // Spills this rank's unpinned objects, least recently used first, until `bytes` fit; sets
  // `room` when they fit (possibly thanks to another thread, which may take the room again).
  std::size_t spill_primaries(objstore::ObjectTable& table, std::size_t bytes, bool& room);
  void on_retire(Rank src, transport::ByteView p);
  static bool has_room(const objstore::ObjectTable& table, std::size_t bytes);

  CoreServices& core_;
  std::unique_ptr<objstore::SpillStore> store_;
  mutable std::mutex mu_;
  // (reader, lease) -> pinned id
  std::unordered_map<Rank, std::unordered_map<std::uint64_t, ObjectId>> lease_pins_;  // guarded by mu_
  // copies whose retirement was asked, and when
  std::unordered_map<ObjectId, std::chrono::steady_clock::time_point> retire_asked_;  // guarded by mu_
  std::string last_failure_;                                                           // guarded by mu_
};

}  // namespace ferry::rt
