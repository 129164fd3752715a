// allocator.cc — best-fit offset allocator with coalescing (see allocator.h).
//
// Invariants and thread-safety: as documented in allocator.h; every member
// function that touches the containers holds mu_.
#include "ferry/objstore/allocator.h"

#include <cstdio>
#include <limits>

namespace ferry::objstore {

std::string format_bytes(std::size_t bytes) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  std::string out = std::to_string(bytes) + " bytes";
  if (bytes < 1024) return out;
  double v = static_cast<double>(bytes);
  int unit = -1;
  while (v >= 1024.0 && unit < 3) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), " (%.1f %s)", v, kUnits[unit]);
  return out + buf;
}

bool Allocator::round_up(std::size_t size, std::size_t& out) noexcept {
  if (size > std::numeric_limits<std::size_t>::max() - (kAlignment - 1)) return false;
  out = (size + kAlignment - 1) & ~(kAlignment - 1);
  return true;
}

Allocator::Allocator(std::size_t capacity, std::string where)
    : capacity_(capacity & ~(kAlignment - 1)), where_(std::move(where)) {
  if (capacity_ > 0) insert_free(0, capacity_);
}

void Allocator::insert_free(std::uint64_t offset, std::size_t size) {
  by_size_.emplace(size, offset);
  by_offset_.emplace(offset, size);
}

void Allocator::erase_free(std::uint64_t offset, std::size_t size) {
  by_size_.erase({size, offset});
  by_offset_.erase(offset);
}

std::size_t Allocator::largest_free_locked() const {
  return by_size_.empty() ? 0 : by_size_.rbegin()->first;
}

namespace {

// A FERRY_STORE_BYTES value comfortably above `bytes`, for error messages.
std::string suggest_size(std::size_t bytes) {
  constexpr std::size_t kGiB = std::size_t{1} << 30;
  if (bytes > (std::size_t{1} << 50)) return "a size the machine can back";
  return "FERRY_STORE_BYTES=" + std::to_string(bytes / kGiB * 2 + 2) + "G";
}

}  // namespace

Status Allocator::full_error(std::size_t requested) const {
  const std::string where = where_.empty() ? std::string() : " on " + where_;
  const std::size_t free_bytes = capacity_ - used_bytes_;
  if (requested > capacity_) {
    return Status(Errc::store_full, "object store" + where + ": a request of " + format_bytes(requested) +
                                        " is larger than the whole store (" + format_bytes(capacity_) +
                                        "); raise FERRY_STORE_BYTES above the largest object (e.g. " +
                                        suggest_size(requested) + ")");
  }
  return Status(Errc::store_full,
                "object store full" + where + ": requested " + format_bytes(requested) + ", free " +
                    format_bytes(free_bytes) + ", largest free block " + format_bytes(largest_free_locked()) +
                    " (capacity " + format_bytes(capacity_) + ", " + std::to_string(used_.size()) +
                    " allocations); free objects (drop references) or raise FERRY_STORE_BYTES "
                    "(plain bytes or K/M/G suffix, e.g. " + suggest_size(capacity_) + ")");
}

Result<std::uint64_t> Allocator::allocate(std::size_t size) {
  if (size == 0) return Status(Errc::invalid_argument, "object store allocator: cannot allocate 0 bytes");
  std::size_t rounded = 0;
  std::lock_guard<std::mutex> lock(mu_);
  if (!round_up(size, rounded) || rounded > capacity_) return full_error(size);
  auto it = by_size_.lower_bound({rounded, 0});
  if (it == by_size_.end()) return full_error(size);
  const auto [block_size, offset] = *it;
  by_size_.erase(it);
  by_offset_.erase(offset);
  if (block_size > rounded) insert_free(offset + rounded, block_size - rounded);
  used_.emplace(offset, rounded);
  used_bytes_ += rounded;
  if (used_bytes_ > high_water_) high_water_ = used_bytes_;
  return static_cast<std::uint64_t>(offset);
}

Status Allocator::free(std::uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  auto used_it = used_.find(offset);
  if (used_it == used_.end()) {
    return Status(Errc::invalid_argument, "object store allocator: free of offset " + std::to_string(offset) +
                                              " which is not a live block (double free or corrupted offset)");
  }
  std::uint64_t start = offset;
  std::size_t size = used_it->second;
  used_.erase(used_it);
  used_bytes_ -= size;

  auto right = by_offset_.lower_bound(offset);  // first free block after us
  if (right != by_offset_.end() && right->first == start + size) {
    const std::size_t rsize = right->second;
    erase_free(right->first, rsize);
    size += rsize;
  }
  auto left = by_offset_.lower_bound(offset);
  if (left != by_offset_.begin()) {
    --left;
    if (left->first + left->second == start) {
      start = left->first;
      const std::size_t lsize = left->second;
      erase_free(start, lsize);
      size += lsize;
    }
  }
  insert_free(start, size);
  return Status::ok();
}

Result<std::size_t> Allocator::block_size(std::uint64_t offset) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = used_.find(offset);
  if (it == used_.end()) {
    return Status(Errc::not_found, "object store allocator: no live block at offset " + std::to_string(offset));
  }
  return it->second;
}

AllocatorStats Allocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  AllocatorStats s;
  s.capacity = capacity_;
  s.used = used_bytes_;
  s.free = capacity_ - used_bytes_;
  s.largest_free = largest_free_locked();
  s.allocations = used_.size();
  s.free_blocks = by_offset_.size();
  s.high_water = high_water_;
  return s;
}

Status Allocator::check_invariants() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto fail = [](const std::string& what) { return Status(Errc::internal, "allocator invariant: " + what); };
  if (by_size_.size() != by_offset_.size()) return fail("free-by-size and free-by-offset differ in size");
  std::map<std::uint64_t, std::pair<std::size_t, bool>> blocks;  // offset -> (size, is_free)
  for (const auto& [off, size] : by_offset_) {
    if (!by_size_.count({size, off})) return fail("free block " + std::to_string(off) + " missing by size");
    blocks.emplace(off, std::make_pair(size, true));
  }
  std::size_t used_sum = 0;
  for (const auto& [off, size] : used_) {
    if (!blocks.emplace(off, std::make_pair(size, false)).second) {
      return fail("offset " + std::to_string(off) + " is both free and used");
    }
    used_sum += size;
  }
  if (used_sum != used_bytes_) return fail("used byte count drifted");
  std::uint64_t expect = 0;
  bool prev_free = false;
  for (const auto& [off, info] : blocks) {
    const auto [size, is_free] = info;
    if (off % kAlignment || size % kAlignment || size == 0) return fail("misaligned block at " + std::to_string(off));
    if (off != expect) return fail("gap or overlap at offset " + std::to_string(off));
    if (is_free && prev_free) return fail("adjacent free blocks at " + std::to_string(off));
    prev_free = is_free;
    expect = off + size;
  }
  if (expect != capacity_) return fail("blocks do not cover the capacity");
  return Status::ok();
}

}  // namespace ferry::objstore
