// ferry/objstore/objstore.h — umbrella header of the object-store layer.
//
// ObjectId (object_id.h), Arena + FERRY_STORE_BYTES (arena.h), the offset
// Allocator (allocator.h), the per-object header (object_header.h) and the
// ObjectTable (object_table.h). See objstore/README.md for how they fit.
#pragma once

#include "ferry/objstore/allocator.h"
#include "ferry/objstore/arena.h"
#include "ferry/objstore/object_header.h"
#include "ferry/objstore/object_id.h"
#include "ferry/objstore/object_table.h"
#include "ferry/objstore/spill.h"
