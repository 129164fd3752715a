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
}  // namespace testing

}  // namespace ferry::rt
