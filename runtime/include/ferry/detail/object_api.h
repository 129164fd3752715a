// ferry/detail/object_api.h — the non-template entry points ObjectRef, put,
// get and wait call into (implemented in runtime/src/api.cc). Not for users.
//
// Every function finds the process-wide current runtime (see ferry/runtime.h).
// A runtime "epoch" (1, 2, ... per Runtime created in this process; 0 = none)
// is stored in each ObjectRef so that a ref that outlives its runtime never
// touches a later one: its reference-count updates become no-ops and get()
// fails with Errc::shut_down.
//
// Thread-safety: every function may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "ferry/future.h"
#include "ferry/objstore/object_id.h"
#include "ferry/status.h"

namespace ferry {

using objstore::ObjectId;

namespace detail {

// What the object header / a location reply says about an object's bytes.
struct ObjectMeta {
  std::uint64_t size = 0;      // payload bytes
  std::uint64_t type_tag = 0;  // hash of the stored C++ type's name (serialization.h)
  std::uint64_t aux = 0;       // format-defined (element count of a range)
  std::uint16_t format = 0;    // serialization format (serialization.h, Format)
};

// The bytes of one object, readable while `keep` is alive (a pin on an arena
// block, or a heap buffer). Copies share `keep`.
struct ObjectData {
  ObjectMeta meta;
  std::span<const std::byte> bytes;
  std::shared_ptr<const void> keep;
};

// Epoch of the running runtime; 0 when there is none.
std::uint32_t current_epoch() noexcept;

// Local reference counting (ObjectRef copy / destroy / deserialize). No-ops
// when `epoch` is not the running runtime's.
void add_ref(std::uint32_t epoch, const ObjectId& id) noexcept;
void remove_ref(std::uint32_t epoch, const ObjectId& id) noexcept;
// A ref decoded from a message or a value (ObjectRef::from_id / load). When
// this rank starts borrowing a foreign object, waits (FERRY_GET_TIMEOUT_MS at
// most) until its owner has registered the borrow, so the sender may drop its
// own ref right after; a stale or forged ref fails at get() (not_found).
void add_ref_decoded(std::uint32_t epoch, const ObjectId& id) noexcept;
// Marks, on this thread, the decoding of a running task's arguments (decode_args in
// invoke.h). The submitter holds those refs until the task's done record, so a
// foreign ref decoded meanwhile needs no registration unless it outlives the task.
class ArgumentDecoding {
 public:
  ArgumentDecoding() noexcept;
  ~ArgumentDecoding();
  ArgumentDecoding(const ArgumentDecoding&) = delete;
  ArgumentDecoding& operator=(const ArgumentDecoding&) = delete;
  static bool active() noexcept;
};

struct PutResult {
  ObjectId id;
  std::uint32_t epoch = 0;
};
// Copies `bytes` into a new object of this rank (one copy into the arena);
// the caller receives the first reference. No runtime -> shut_down; arena
// full -> store_full.
// `contained`: refs serialized inside the value; the new object keeps them alive.
Result<PutResult> put_bytes(const ObjectMeta& meta, std::span<const std::byte> bytes,
                            std::span<const ObjectId> contained = {});

// A new object of this rank of meta.size bytes, written by fill(payload) in the arena (no copy);
// if fill throws, nothing is stored and the exception propagates. Errors as put_bytes.
Result<PutResult> put_in_place(const ObjectMeta& meta, const std::function<void(std::span<std::byte>)>& fill);

// Starts (or joins) reading object `id`; the future never throws by itself.
// Local objects complete at once; remote ones after the location protocol.
Future<ObjectData> fetch(std::uint32_t epoch, const ObjectId& id);

// The object's bytes if this rank can read them right now without waiting or
// messaging (owned and ready, a failed task output, or cached here); nullopt
// otherwise (use fetch()). Never blocks.
std::optional<Result<ObjectData>> try_local(std::uint32_t epoch, const ObjectId& id);

// Busy progress mode only: waits for an object this rank owns that is still
// being computed (a task output) by driving progress on the calling thread
// and re-reading its entry — no future, no message. Blocking semantics as
// get() (flushes batched task messages first; timeout as await_data). nullopt
// when it does not apply (another owner, blocking mode, unknown id): use fetch().
std::optional<Result<ObjectData>> wait_owned(std::uint32_t epoch, const ObjectId& id,
                                             std::optional<std::chrono::milliseconds> timeout);

// Reads object `id` as get() does: try_local, then wait_owned, then fetch() and
// await_data (one check of the local tables, not two). Never throws.
Result<ObjectData> read(std::uint32_t epoch, const ObjectId& id, std::optional<std::chrono::milliseconds> timeout);

// This process's rank in the running runtime `epoch`; 0xFFFFFFFF when none.
std::uint32_t this_rank(std::uint32_t epoch) noexcept;

// FERRY_GET_TIMEOUT_MS of the running runtime (0 = wait forever).
std::chrono::milliseconds default_get_timeout() noexcept;
// The Errc::timeout status get() reports for `id`.
Status get_timeout_error(const ObjectId& id, std::chrono::milliseconds waited);

// Type names for error messages: every type used with put/get registers its
// name at static-initialisation time, so (same binary everywhere) any rank can
// name the type behind a tag it receives.
bool register_type_name(std::uint64_t tag, std::string_view name) noexcept;
// "std::vector<int>" or "unknown type (tag 0x...)".
std::string type_name_of(std::uint64_t tag);

}  // namespace detail
}  // namespace ferry
