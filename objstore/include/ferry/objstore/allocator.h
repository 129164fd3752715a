// ferry/objstore/allocator.h — offset allocator for the object-store arena.
//
// Manages the byte range [0, capacity) of an arena; it never touches memory,
// it only hands out offsets, so it can be tested without an arena.
//
// Algorithm: best fit with immediate coalescing.
//   * free blocks are kept twice: by_size_ (ordered set of (size, offset)) for
//     best-fit search with lower_bound, and by_offset_ (ordered map offset ->
//     size) to find the neighbours of a freed block;
//   * allocated blocks are in used_ (hash map offset -> size), so free() can
//     check its argument and needs no size;
//   * allocate: smallest free block >= request (ties: lowest offset); the
//     block is split and the tail stays free;
//   * free: the block is merged with a free left and/or right neighbour.
//   allocate and free are O(log n) in the number of free blocks; stats are O(1).
//
// Invariants (checked by check_invariants(), used by the tests):
//   * every offset and size is a multiple of kAlignment (64 bytes);
//   * free and used blocks are disjoint and together tile [0, capacity);
//   * no two free blocks are adjacent (they are always coalesced);
//   * by_size_ and by_offset_ describe the same set of free blocks;
//   * used_bytes_ == sum of used_ sizes.
//   Hence after every block is freed there is exactly one free block, [0, capacity).
//
// Thread-safety: every public method is thread-safe (one mutex; critical
// sections are a few tree operations). Errors are returned, never thrown
// (except std::bad_alloc from the standard containers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "ferry/status.h"

namespace ferry::objstore {

inline constexpr std::size_t kAlignment = 64;

struct AllocatorStats {
  std::size_t capacity = 0;       // bytes managed
  std::size_t used = 0;           // bytes in allocated blocks (after rounding)
  std::size_t free = 0;           // capacity - used
  std::size_t largest_free = 0;   // biggest single allocation that would succeed now
  std::size_t allocations = 0;    // live allocated blocks
  std::size_t free_blocks = 0;    // fragments of free space
  std::size_t high_water = 0;     // the largest `used` since the allocator was made
};

class Allocator {
 public:
  // `capacity` is rounded down to kAlignment. `where` names this store in error
  // messages (e.g. "rank 3"); may be empty.
  explicit Allocator(std::size_t capacity, std::string where = {});
  Allocator(const Allocator&) = delete;
  Allocator& operator=(const Allocator&) = delete;

  // Returns the offset of a block of at least `size` bytes (rounded up to
  // kAlignment), aligned to kAlignment. size == 0 -> invalid_argument.
  // No room -> Errc::store_full with requested/free/largest-free bytes and the
  // FERRY_STORE_BYTES remedy in the message.
  Result<std::uint64_t> allocate(std::size_t size);

  // Frees the block that starts at `offset`. An offset that is not the start
  // of a live block (double free, garbage) -> invalid_argument; nothing changes.
  Status free(std::uint64_t offset);

  // Size of the live block at `offset` (after rounding), or not_found.
  Result<std::size_t> block_size(std::uint64_t offset) const;

  std::size_t capacity() const noexcept { return capacity_; }
  AllocatorStats stats() const;

  // Verifies every invariant listed above (O(n)); internal error naming the
  // first violation. For tests and debugging.
  Status check_invariants() const;

  // Rounds `size` up to kAlignment; false on overflow.
  static bool round_up(std::size_t size, std::size_t& out) noexcept;

 private:
  Status full_error(std::size_t requested) const;                       // mu_ held
  void insert_free(std::uint64_t offset, std::size_t size);              // mu_ held
  void erase_free(std::uint64_t offset, std::size_t size);               // mu_ held
  std::size_t largest_free_locked() const;                               // mu_ held

  const std::size_t capacity_;
  const std::string where_;
  mutable std::mutex mu_;
  std::set<std::pair<std::size_t, std::uint64_t>> by_size_;  // guarded by mu_
  std::map<std::uint64_t, std::size_t> by_offset_;           // guarded by mu_
  std::unordered_map<std::uint64_t, std::size_t> used_;      // guarded by mu_
  std::size_t used_bytes_ = 0;                               // guarded by mu_
  std::size_t high_water_ = 0;                               // guarded by mu_: max of used_bytes_
};

// "1048576 bytes (1.0 MiB)"; used in error messages.
std::string format_bytes(std::size_t bytes);

}  // namespace ferry::objstore
