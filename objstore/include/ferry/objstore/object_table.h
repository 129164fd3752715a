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
// Spilling (designed, not implemented): state `spilled` is reserved for an
// object whose bytes were moved to a file and whose arena block was released.
// When create() cannot allocate, it calls the installed SpillHandler's
// make_room(bytes) with no lock held, then retries the allocation once. A
// future handler picks victims from evictable() (sealed, unpinned, oldest
// seal first), writes them out, and calls a future mark_spilled(id, location)
// that releases the block but keeps the entry; pin() of a spilled object will
// then ask the handler to restore it. Today's table never enters `spilled`.
//
// Thread-safety: all methods are thread-safe (one mutex mu_; header writes
// and block releases happen under it, create()'s allocation and payload
// copies do not; lock order mu_ -> allocator mutex). The SpillHandler is
// called without mu_ held, from the thread calling create().
#pragma once

#include <cstddef>
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
};

class ObjectTable;

// Hook for spilling (see the file comment). make_room() should release at
// least `bytes` of arena space (returns how much it released); it may call
// any ObjectTable method. Must not throw.
class SpillHandler {
 public:
  virtual ~SpillHandler() = default;
  virtual std::size_t make_room(ObjectTable& table, std::size_t bytes) = 0;
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

  // Sealed, unpinned objects, oldest seal first, at most `max` (for a SpillHandler).
  std::vector<ObjectInfo> evictable(std::size_t max) const;

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
    std::uint64_t seal_seq = 0;  // order of sealing, for evictable()
    ObjectHeader header;
  };
  using Map = std::unordered_map<ObjectId, Entry>;

  Result<std::uint64_t> allocate_block(ObjectId id, std::size_t bytes);  // no lock held
  Status release_locked(Map::iterator it);                                // mu_ held
  ObjectInfo info_of(const ObjectId& id, const Entry& e) const;
  Status unknown(ObjectId id, const char* op) const;

  Arena& arena_;
  mutable std::mutex mu_;
  Map entries_;                          // guarded by mu_
  std::uint64_t next_seal_seq_ = 1;      // guarded by mu_
  std::size_t free_pending_ = 0;         // guarded by mu_
  std::size_t pinned_ = 0;               // guarded by mu_
  std::size_t sealed_ = 0;               // guarded by mu_
  std::uint64_t owned_bytes_ = 0;        // guarded by mu_: see TableStats
  std::uint64_t foreign_bytes_ = 0;      // guarded by mu_
  std::shared_ptr<SpillHandler> spill_;  // guarded by mu_
};

}  // namespace ferry::objstore
