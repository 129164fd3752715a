// current.h — the process-wide current runtime core (internal; runtime.cc).
//
// Cores are retained for the life of the process once started (see core.h),
// so a pointer obtained here never dangles; a shut-down core answers every
// call through its closed Gate.
//
// Thread-safety: lock-free reads; set by Runtime::create/shutdown.
#pragma once

#include "ferry/objstore/object_id.h"
#include "ferry/status.h"

namespace ferry::rt {

class Core;

// The running core, or null.
Core* current_core() noexcept;

namespace testing {
// Damages the header checksum of object `id` in this rank's arena, so remote
// readers see a corrupted header (tests only).
Status corrupt_header(const objstore::ObjectId& id);

// In-process ranks (tests that run N runtimes in one process, e.g. over a
// loopback transport). While enabled, Runtime::create does not make the new
// runtime process-wide: it is the current runtime of the threads acting as its
// rank — threads that called act_as_rank(rank) and its executor threads — and
// ferry::Runtime::current() answers the same way. Enable before creating the
// runtimes, disable after they are shut down; the production path (disabled)
// is one atomic load, as before.
void set_in_process_ranks(bool enabled) noexcept;
// The calling thread acts as `rank` (-1: as none).
void act_as_rank(int rank) noexcept;
}  // namespace testing

}  // namespace ferry::rt
