// registry.cc — the remote function / actor registry (see registry.h).
//
// Thread-safety: one mutex over the table; the table object is never
// destroyed (registration happens during static initialisation and lookups
// may run during static destruction).
#include "registry.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "ferry/objstore/object_header.h"

namespace ferry::rt {

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::unique_ptr<detail::RegistryEntry>> by_hash;  // guarded by mu
  std::vector<std::string> conflicts;                                                  // guarded by mu
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

}  // namespace

const char* entry_kind_name(detail::EntryKind k) noexcept {
  switch (k) {
    case detail::EntryKind::function: return "function";
    case detail::EntryKind::actor_class: return "actor class";
    case detail::EntryKind::method: return "actor method";
  }
  return "entry";
}

const detail::RegistryEntry* lookup_entry(std::uint64_t name_hash) noexcept {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto it = r.by_hash.find(name_hash);
  return it == r.by_hash.end() ? nullptr : it->second.get();
}

std::vector<ListingItem> registry_listing() {
  auto& r = registry();
  std::vector<ListingItem> out;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    for (const auto& [h, e] : r.by_hash) out.push_back({e->name, static_cast<std::uint8_t>(e->kind), e->signature});
  }
  std::sort(out.begin(), out.end(), [](const ListingItem& a, const ListingItem& b) { return a.name < b.name; });
  return out;
}

std::uint64_t listing_hash(const std::vector<ListingItem>& items) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  auto mix = [&](std::uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xFF;
      h *= 0x100000001b3ull;
    }
  };
  for (const auto& it : items) {
    mix(objstore::hash_string(it.name));
    mix(it.kind);
    mix(it.signature);
  }
  return h;
}

transport::Bytes encode_listing(const std::vector<ListingItem>& items) {
  transport::Bytes out;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xFF));
  };
  put(items.size(), 4);
  for (const auto& it : items) {
    put(it.name.size(), 4);
    for (char c : it.name) out.push_back(static_cast<std::byte>(c));
    put(it.kind, 1);
    put(it.signature, 8);
  }
  return out;
}

Result<std::vector<ListingItem>> decode_listing(transport::ByteView b) {
  std::size_t pos = 0;
  auto get = [&](std::uint64_t& v, int n) {
    if (b.size() - pos < static_cast<std::size_t>(n)) return false;
    v = 0;
    for (int i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(b[pos + i]) << (8 * i);
    pos += n;
    return true;
  };
  std::vector<ListingItem> out;
  std::uint64_t n = 0;
  const Status bad(Errc::malformed_message, "registry listing from a peer is truncated");
  if (!get(n, 4)) return bad;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::uint64_t len = 0, kind = 0;
    ListingItem it;
    if (!get(len, 4) || b.size() - pos < len) return bad;
    it.name.assign(reinterpret_cast<const char*>(b.data() + pos), len);
    pos += len;
    if (!get(kind, 1) || !get(it.signature, 8)) return bad;
    it.kind = static_cast<std::uint8_t>(kind);
    out.push_back(std::move(it));
  }
  return out;
}

Status compare_listings(const std::vector<ListingItem>& mine, transport::Rank me,
                        const std::vector<ListingItem>& theirs, transport::Rank them) {
  std::map<std::string, const ListingItem*> a, b;
  for (const auto& it : mine) a[it.name] = &it;
  for (const auto& it : theirs) b[it.name] = &it;
  auto kind = [](std::uint8_t k) { return std::string(entry_kind_name(static_cast<detail::EntryKind>(k))); };
  auto where = [](transport::Rank r) { return "rank " + std::to_string(r); };
  // Walk both sorted maps: the first name that differs.
  auto ia = a.begin();
  auto ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first))
      return Status(Errc::invalid_argument, kind(ia->second->kind) + " '" + ia->first + "' is registered on " +
                                                where(me) + " but not on " + where(them) +
                                                ": every rank must run the same binary with the same ferry::function "
                                                "/ actor_class / method handles");
    if (ia == a.end() || ib->first < ia->first)
      return Status(Errc::invalid_argument, kind(ib->second->kind) + " '" + ib->first + "' is registered on " +
                                                where(them) + " but not on " + where(me) +
                                                ": every rank must run the same binary with the same ferry::function "
                                                "/ actor_class / method handles");
    if (!(*ia->second == *ib->second))
      return Status(Errc::invalid_argument, kind(ia->second->kind) + " '" + ia->first + "' has another signature on " +
                                                where(them) + " than on " + where(me) +
                                                " (different builds?): every rank must run the same binary");
    ++ia;
    ++ib;
  }
  return Status::ok();
}

Status registry_conflicts() {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.conflicts.empty()) return Status::ok();
  std::string all;
  for (const auto& c : r.conflicts) all += (all.empty() ? "" : "; ") + c;
  return Status(Errc::invalid_argument, "ferry registry: " + all);
}

}  // namespace ferry::rt

namespace ferry::detail {

const RegistryEntry* register_entry(RegistryEntry e) noexcept {
  try {
    auto& r = rt::registry();
    e.name_hash = objstore::hash_string(e.name);
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.by_hash.find(e.name_hash);
    if (it != r.by_hash.end()) {
      const RegistryEntry& old = *it->second;
      if (old.name != e.name || old.kind != e.kind || old.signature != e.signature || old.class_tag != e.class_tag)
        r.conflicts.push_back(std::string(rt::entry_kind_name(e.kind)) + " name '" + e.name +
                              "' is registered twice with different functions or signatures (or collides with '" +
                              old.name + "'): give every handle a unique name");
      return it->second.get();
    }
    auto owned = std::make_unique<RegistryEntry>(std::move(e));
    const RegistryEntry* p = owned.get();
    r.by_hash.emplace(p->name_hash, std::move(owned));
    return p;
  } catch (...) {
    static RegistryEntry broken;  // allocation failed during static init: calls fail "not registered"
    return &broken;
  }
}

std::string ActorId::to_string() const {
  return "actor:" + std::to_string(creator) + ":" + std::to_string(counter) + "@" + std::to_string(host);
}

namespace testing {

bool unregister(std::string_view name) noexcept {
  auto& r = rt::registry();
  std::lock_guard<std::mutex> lock(r.mu);
  auto h = objstore::hash_string(name);
  auto it = r.by_hash.find(h);
  if (it == r.by_hash.end()) return false;
  // Entry pointers are held by handles: keep the object alive, forget the name.
  (void)it->second.release();
  r.by_hash.erase(it);
  return true;
}

}  // namespace testing
}  // namespace ferry::detail
