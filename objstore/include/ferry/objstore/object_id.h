// ferry/objstore/object_id.h — the 128-bit id of an object in the store.
//
// Layout (16 bytes, no padding, trivially copyable, sent on the wire as is in
// little-endian field order, see encode/decode):
//   owner  (u32)  rank that owns the object (submitted the task or called put);
//                 anyone holding an id therefore knows whom to ask about it.
//   index  (u32)  return index: 0 for put() objects, 1..N for the N outputs of
//                 one task (the task's outputs share owner+counter).
//   counter(u64)  per-owner unique number, from the owner's ObjectIdGenerator;
//                 starts at 1, so counter 0 means "nil id".
//
// Printed as "obj:<owner>:<counter in hex>" and, when index != 0,
// "obj:<owner>:<counter in hex>#<index>"; parse() accepts exactly that form.
//
// Invariants: ids are never reused by an owner within one run (64-bit counter).
// Thread-safety: ObjectId is a value type; ObjectIdGenerator::next() is
// thread-safe and lock-free.
#pragma once

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "ferry/objstore/le.h"

namespace ferry::objstore {

class ObjectId {
 public:
  static constexpr std::size_t kWireBytes = 16;

  constexpr ObjectId() noexcept = default;  // nil
  constexpr ObjectId(std::uint32_t owner, std::uint64_t counter, std::uint32_t index = 0) noexcept
      : owner_(owner), index_(index), counter_(counter) {}

  constexpr std::uint32_t owner() const noexcept { return owner_; }
  constexpr std::uint32_t index() const noexcept { return index_; }
  constexpr std::uint64_t counter() const noexcept { return counter_; }
  constexpr bool is_nil() const noexcept { return counter_ == 0; }

  // The id of output `index` (1-based) of the task whose id is *this.
  constexpr ObjectId with_index(std::uint32_t index) const noexcept { return ObjectId(owner_, counter_, index); }

  friend constexpr bool operator==(const ObjectId&, const ObjectId&) noexcept = default;
  // Orders by owner, then counter, then index.
  friend constexpr std::strong_ordering operator<=>(const ObjectId& a, const ObjectId& b) noexcept {
    if (auto c = a.owner_ <=> b.owner_; c != 0) return c;
    if (auto c = a.counter_ <=> b.counter_; c != 0) return c;
    return a.index_ <=> b.index_;
  }

  // Inline: every ownership-table operation hashes an id. Counters are
  // sequential per owner; the multiply-xorshift spreads them over buckets.
  std::size_t hash() const noexcept {
    std::uint64_t x = counter_ * 0x9e3779b97f4a7c15ull;
    x ^= ((std::uint64_t{owner_} << 32) | index_) * 0xc2b2ae3d27d4eb4full;
    return static_cast<std::size_t>(x ^ (x >> 29));
  }
  // "obj:3:2a" or "obj:3:2a#1".
  std::string to_string() const;
  // Inverse of to_string(); nullopt for anything else.
  static std::optional<ObjectId> parse(std::string_view text);

  // Little-endian wire form (owner, index, counter).
  void encode(std::span<std::byte, kWireBytes> out) const noexcept {
    detail::store_le<std::uint32_t>(out.data(), owner_);
    detail::store_le<std::uint32_t>(out.data() + 4, index_);
    detail::store_le<std::uint64_t>(out.data() + 8, counter_);
  }
  static ObjectId decode(std::span<const std::byte, kWireBytes> in) noexcept {
    return ObjectId(detail::load_le<std::uint32_t>(in.data()), detail::load_le<std::uint64_t>(in.data() + 8),
                    detail::load_le<std::uint32_t>(in.data() + 4));
  }

 private:
  std::uint32_t owner_ = 0;
  std::uint32_t index_ = 0;
  std::uint64_t counter_ = 0;
};

static_assert(sizeof(ObjectId) == 16, "ObjectId must be 16 bytes with no padding");
static_assert(std::is_trivially_copyable_v<ObjectId>, "ObjectId must be trivially copyable");

// Hands out fresh ids for one owner rank. Thread-safe (one atomic increment).
class ObjectIdGenerator {
 public:
  explicit ObjectIdGenerator(std::uint32_t owner) noexcept : owner_(owner) {}
  std::uint32_t owner() const noexcept { return owner_; }
  // A new id with index 0 (for put() objects and as the base id of a task).
  ObjectId next() noexcept { return ObjectId(owner_, next_.fetch_add(1, std::memory_order_relaxed)); }

 private:
  std::uint32_t owner_;
  std::atomic<std::uint64_t> next_{1};
};

}  // namespace ferry::objstore

template <>
struct std::hash<ferry::objstore::ObjectId> {
  std::size_t operator()(const ferry::objstore::ObjectId& id) const noexcept { return id.hash(); }
};
