// registry.h — the process's table of remote functions, actor classes and
// methods (internal side of ferry/detail/task_api.h).
//
// Entries are registered at static initialisation (ferry::function, method,
// actor_class handles) and looked up by the FNV-1a hash of their name, which
// is what travels on the wire. The registry "listing" (sorted name, kind,
// signature triples) and its hash are exchanged when a Runtime starts: every
// rank must have the same table (same binary). compare_listings() names the
// first difference.
//
// Thread-safety: every function is thread-safe (one mutex; lookups after
// start-up are read-mostly). Returned entry pointers live for the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/detail/task_api.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::rt {

const detail::RegistryEntry* lookup_entry(std::uint64_t name_hash) noexcept;

// Sorted (name, kind, signature) of every entry.
struct ListingItem {
  std::string name;
  std::uint8_t kind = 0;
  std::uint64_t signature = 0;
  friend bool operator==(const ListingItem&, const ListingItem&) = default;
};
std::vector<ListingItem> registry_listing();
std::uint64_t listing_hash(const std::vector<ListingItem>& items);
transport::Bytes encode_listing(const std::vector<ListingItem>& items);
Result<std::vector<ListingItem>> decode_listing(transport::ByteView b);

// ok when equal; otherwise invalid_argument naming the first differing entry
// ("function 'add' ... on rank 0 but not on rank 2" / "with another signature").
Status compare_listings(const std::vector<ListingItem>& mine, transport::Rank me,
                        const std::vector<ListingItem>& theirs, transport::Rank them);

// Conflicting registrations seen so far (same name, different kind or
// signature), or ok.
Status registry_conflicts();

const char* entry_kind_name(detail::EntryKind k) noexcept;

}  // namespace ferry::rt
