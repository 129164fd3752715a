// ferry/objstore/object_table.h — which objects live in this process's arena.
//
// ObjectId -> Entry {offset, size, state, pin count, type tag, header}. The
// table allocates and releases arena blocks; it knows nothing about owners,
// reference counts or peers (that is the runtime's ownership layer, which
// decides *when* to free; the table decides *whether it is safe yet*).
//
// Life cycle of an entry:
//   create(id, size, ...)  allocates 64 + size bytes        -> creating
//        (the writer fills payload(id) in place; the header magic is 0)
//   seal(id)               writes the header into the arena -> sealed
//        (immutable from now on; readers may pin it)
//   pin(id) / unpin(id)    a reader (local zero-copy view, or a remote
//                          one-sided get the owner has granted) holds it;
//   free(id)               unpinned: block released and entry erased now;
//                          pinned:   entry becomes "free pending" (lookup and
//                          pin report not_found), and the block is released
//                          by the unpin that drops the count to zero.
//   A `creating` entry may be freed too (aborted write).
//
// Invariants (mu_ guards them all):
//   * every entry owns exactly one allocator block at `offset`, of
//     >= kHeaderBytes + size bytes; no two entries share a block;
//   * the arena header at `offset` is valid (kHeaderMagic, checksum) iff the
//     entry is sealed; before a block is returned to the allocator its header
//     is marked freed (mark_header_freed), so stale one-sided reads fail;
//   * pin_count > 0 only for sealed entries; a free-pending entry has
//     pin_count > 0 and is released exactly once, at the last unpin;
//   * stats().objects == number of entries (free-pending ones included until released).
//
// Spilling: a sealed, unpinned object can be moved out of the arena with
// spill(id, write): `write` gets the payload (no lock held; a pin or free
// meanwhile is honoured: a pinned object stays, a freed one is released), then
// the block is released (header marked freed first) and the entry becomes
// `spilled` (size, header fields and pins kept in the table). pin() of a
// spilled object restores it first: a new block is allocated (which may make
// room by spilling others), the installed SpillHandler reads the payload back
// (read_back), the header is written and the entry is sealed again — at a new
// offset, so callers must take the offset from pin()'s answer. Concurrent pins
// of one spilled object wait for the one restore; a free during a spill or a
// restore is deferred to its end. Freeing a spilled object tells the handler
// (forget) so its file goes. When create() (or a restore) cannot allocate, it
// calls make_room(bytes) with no lock held and retries, up to a few rounds
// while the handler still releases bytes. Victims: evictable() lists sealed,
// unpinned objects, least recently used (sealed or pinned) first.
//
// Thread-safety: all methods are thread-safe (one mutex mu_; header writes
// and block releases happen under it, create()'s allocation and payload
// copies do not; lock order mu_ -> allocator mutex). The SpillHandler is
// called without mu_ held, from the thread calling create() or pin(); its
// forget() may be called with mu_ held (it must not call back into the table).
#pragma once

#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/objstore/allocator.h"
#include "ferry/objstore/arena.h"
#include "ferry/objstore/object_header.h"
#include "ferry/objstore/object_id.h"
#include "ferry/status.h"

namespace ferry::objstore {

enum class ObjectState : std::uint8_t { creating, sealed, spilled };
const char* to_string(ObjectState s) noexcept;

// A snapshot of one entry (returned by value; the table may change right after).
struct ObjectInfo {
  ObjectId id;
  std::uint64_t offset = 0;        // header offset inside the arena
  std::uint64_t size = 0;          // payload bytes
  ObjectState state = ObjectState::creating;
  std::uint32_t pin_count = 0;
  std::uint64_t type_tag = 0;
  ObjectHeader header;             // what is (or will be, at seal) in the arena
  std::uint64_t payload_offset() const noexcept { return offset + kHeaderBytes; }
  std::uint64_t total_bytes() const noexcept { return kHeaderBytes + size; }  // header + payload
};

struct TableStats {
  AllocatorStats arena;         // capacity/used/free/largest free block of the arena
  std::size_t objects = 0;      // entries (creating + sealed + free-pending)
  std::size_t sealed = 0;
  std::size_t pinned = 0;       // entries with pin_count > 0
  std::size_t free_pending = 0; // freed while pinned, waiting for the last unpin
  std::uint64_t owned_bytes = 0;   // payload bytes of entries whose id's owner is the arena's rank
  std::uint64_t foreign_bytes = 0; // payload bytes of the other entries (copies of other ranks' objects)
  std::size_t spilled = 0;         // entries whose payload is in the spill store (counted in objects)
  std::uint64_t spilled_bytes = 0; // their payload bytes
};

class ObjectTable;

// Hook for spilling (see the file comment). Must not throw.
class SpillHandler {
 public:
  virtual ~SpillHandler() = default;
  // Should release at least `bytes` of arena space (spill or free objects;
  // it may call any ObjectTable method) and return how much it released
  // (non-zero also when the room is there now: the table allocates again; 0 ends the retries).
  virtual std::size_t make_room(ObjectTable& table, std::size_t bytes) = 0;
  // Reads the payload of spilled object `info.id` into `dst` (size bytes).
  virtual Status read_back(const ObjectInfo& info, std::span<std::byte> dst);
  // The spilled copy of `id` (`size` payload bytes) is no longer needed:
  // `restored` (read back into the arena) or freed unread. Called with the
  // table's lock held: must not call the table.
  virtual void forget(ObjectId id, std::uint64_t size, bool restored);
  // Why the last make_room() released less than asked (e.g. the spill disk
  // is full), appended to the store_full error; empty when nothing to add.
  virtual std::string why_no_room() const { return {}; }
};

class ObjectTable {
 public:
  // `arena` must outlive the table. Object ids are from any owner (secondary
  // copies of remote objects live here too).
  explicit ObjectTable(Arena& arena);
  ~ObjectTable();
  ObjectTable(const ObjectTable&) = delete;
  ObjectTable& operator=(const ObjectTable&) = delete;

  // Allocates room for a `size`-byte payload. Duplicate id -> invalid_argument;
  // nil id -> invalid_argument; arena exhausted -> store_full (after asking the
  // SpillHandler, if any). The entry is `creating`; write via payload().
  Result<ObjectInfo> create(ObjectId id, std::uint64_t size, std::uint64_t type_tag = 0,
                            std::uint16_t format = 0, std::uint64_t aux = 0);

  // Writable payload of a `creating` object (readable of a sealed one).
  // The span stays valid until the object is released.
  Result<std::span<std::byte>> payload(ObjectId id);

  // creating -> sealed: writes the header into the arena. Already sealed -> invalid_argument.
  Status seal(ObjectId id);

  // Adds a reader to a sealed object. Not sealed -> invalid_argument; unknown
  // or free pending -> not_found.
  Result<ObjectInfo> pin(ObjectId id);
  // Drops a reader; releases the block if a free was deferred and this was the
  // last pin. Not pinned / unknown -> invalid_argument / not_found.
  Status unpin(ObjectId id);

  // Frees now if unpinned, else defers to the last unpin (see file comment).
  // Unknown or already freed -> not_found.
  Status free(ObjectId id);

  // Snapshot of a live entry; unknown or free pending -> not_found "... obj:r:x ...".
  Result<ObjectInfo> lookup(ObjectId id) const;
  bool contains(ObjectId id) const;

  // Sealed, unpinned objects (not being spilled), least recently sealed or
  // pinned first, at most `max` (for a SpillHandler).
  std::vector<ObjectInfo> evictable(std::size_t max) const;

  // Moves sealed, unpinned `id` to the spill store: `write(info, payload)` is
  // called without the lock; on its success the block is released and the
  // entry is `spilled`. skipped: not spillable now (unknown, not sealed,
  // pinned, being spilled or restored by another thread; nothing written).
  // discard: written, but pinned or freed during the write — the caller must
  // delete what `write` stored. write's error is returned as is.
  enum class SpillOutcome : std::uint8_t { spilled, skipped, discard };
  using SpillWrite = Status (*)(void* ctx, const ObjectInfo& info, std::span<const std::byte> payload);
  Result<SpillOutcome> spill(ObjectId id, SpillWrite write, void* ctx);

  void set_spill_handler(std::shared_ptr<SpillHandler> handler);

  TableStats stats() const;
  Arena& arena() const noexcept { return arena_; }

 private:
  struct Entry {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    ObjectState state = ObjectState::creating;
    std::uint32_t pin_count = 0;
    bool free_pending = false;
    bool spilling = false;       // spill() is writing it out (frees are deferred)
    bool restoring = false;      // pin() is reading it back (frees are deferred; pins wait)
    std::uint64_t use_seq = 0;   // last seal or pin, for evictable() (LRU)
    ObjectHeader header;
  };
  using Map = std::unordered_map<ObjectId, Entry>;

  Result<std::uint64_t> allocate_block(ObjectId id, std::size_t bytes);  // no lock held
  Status release_locked(Map::iterator it);                                // mu_ held
  // Reads spilled `id` back into a new block; lock held on entry and exit (released meanwhile).
  Status restore(std::unique_lock<std::mutex>& lock, ObjectId id);
  ObjectInfo info_of(const ObjectId& id, const Entry& e) const;
  Status unknown(ObjectId id, const char* op) const;

  Arena& arena_;
  mutable std::mutex mu_;
  Map entries_;                          // guarded by mu_
  std::condition_variable restored_;     // a restore ended (pins of a spilled object wait on it)
  std::uint64_t next_use_seq_ = 1;       // guarded by mu_
  std::size_t spilled_ = 0;              // guarded by mu_
  std::uint64_t spilled_bytes_ = 0;      // guarded by mu_
  std::size_t free_pending_ = 0;         // guarded by mu_
  std::size_t pinned_ = 0;               // guarded by mu_
  std::size_t sealed_ = 0;               // guarded by mu_
  std::uint64_t owned_bytes_ = 0;        // guarded by mu_: see TableStats
  std::uint64_t foreign_bytes_ = 0;      // guarded by mu_
  std::shared_ptr<SpillHandler> spill_;  // guarded by mu_
};

}  // namespace ferry::objstore
