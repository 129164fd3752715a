// retire.cc — the owner's half of copy eviction: a holder under store
// pressure asks the owner to retire its secondary copy (see ownership.h
// retire_copy and docs/ARCHITECTURE.md "Store pressure").
//
// Why through the owner: other readers may hold leases on that copy and be
// reading it one-sided; only the owner knows. Retired copies are no longer
// handed out and are dropped (kDropCopy) once their leases end, so a
// one-sided read never sees its block freed under it.
//
// Thread-safety: as ownership.cc (one mutex, no call-outs under it).
#include <algorithm>

#include "ownership.h"

namespace ferry::rt {

Actions Ownership::retire_copy(ObjectId id, Rank holder) {
  Actions out;
  MutexLock lock(mu_);
  auto it = owned_.find(id);
  if (id.owner() != self_ || it == owned_.end() || !it->second.extra) return out;
  Extra& x = *it->second.extra;
  auto c = std::find_if(x.copies.begin(), x.copies.end(), [&](const Location& l) { return l.rank == holder; });
  if (c == x.copies.end()) return out;
  x.retired.push_back(*c);
  x.copies.erase(c);
  settle(it, out);  // drops it now unless a lease is outstanding (may erase `it`)
  return out;
}

}  // namespace ferry::rt
