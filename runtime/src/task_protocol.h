// task_protocol.h — wire form of task and actor messages (internal).
//
// Handler ids (protocol.h range 0xF000..0xF0FF):
//   kSubmit  submitter -> executor/host   a batch of submit records
//   kDone    executor -> owner            u32 queue length, then done records
// A batch is a u32 header (kDone: the sender's executor load; kSubmit: 0)
// followed by records until the end of the message. Many records share one
// AM (outbox.h coalesces per destination).
//
// Submit record:
//   u8 kind (1 task, 2 actor create, 3 actor call, 4 actor kill)
//   id result (16 B; nil for create/kill)           u64 name hash  u64 signature
//   u32 actor creator  u64 actor counter  u64 seq   (creator/counter: kinds 2-4,
//   0 otherwise; seq: the call's sequence number for kinds 2-4, the attempt
//   number for tasks: 0 first, +1 per resubmission, echoed in the done record)
//   u16 nargs, then per argument:
//     u8 0 (value): u16 format u64 type_tag u64 aux u64 size, size bytes
//     u8 1 (ref):   id (16 B)
// Done record:
//   id (16 B), u32 attempt (the submit record's seq), u8 status:
//     0 value:  u16 format u64 type_tag u64 aux u64 size, size bytes
//     1 stored: u16 format u64 type_tag u64 aux u64 size, u64 header offset in
//               the sender's arena (the sender keeps the block as a copy of an
//               object owned by the receiver until told to drop it)
//     2 error:  u8 errc, u32 length, message
// Integers little-endian. Decoders check lengths and enum ranges.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ferry/detail/task_api.h"
#include "wire_io.h"

namespace ferry::rt::proto {

using detail::ObjectMeta;
using HandlerId = transport::HandlerId;

inline constexpr HandlerId kSubmit = 0xF010;
inline constexpr HandlerId kDone = 0xF011;
inline constexpr std::size_t kBatchHeaderBytes = 4;

enum class RecordKind : std::uint8_t { task = 1, actor_create = 2, actor_call = 3, actor_kill = 4 };

struct SubmitHead {
  RecordKind kind = RecordKind::task;
  ObjectId result;
  std::uint64_t name_hash = 0;
  std::uint64_t signature = 0;
  Rank actor_creator = 0;
  std::uint64_t actor_counter = 0;
  std::uint64_t seq = 0;
};

struct WireArg {
  detail::ArgSpec::Kind kind = detail::ArgSpec::Kind::value;
  ObjectMeta meta;
  ByteView bytes;
  ObjectId ref;
};

// Appends one submit record to `out`.
void append_submit(Bytes& out, const SubmitHead& h, std::span<const detail::ArgSpec> args);

// Parses one record at `r`; args are views into the message.
Status read_submit(Reader& r, SubmitHead& h, std::vector<WireArg>& args);

enum class DoneStatus : std::uint8_t { value = 0, stored = 1, error = 2 };

void append_done_value(Bytes& out, const ObjectId& id, std::uint32_t attempt, const ObjectMeta& meta, ByteView bytes);
void append_done_stored(Bytes& out, const ObjectId& id, std::uint32_t attempt, const ObjectMeta& meta,
                        std::uint64_t offset);
void append_done_error(Bytes& out, const ObjectId& id, std::uint32_t attempt, const Status& error);

// Byte offset of a submit record's seq field (a stored record is re-sent with
// another attempt number: set_record_seq).
inline constexpr std::size_t kSubmitSeqOffset = 1 + ObjectId::kWireBytes + 8 + 8 + 4 + 8;
void set_record_seq(Bytes& record, std::uint64_t seq);

struct DoneRecord {
  ObjectId id;
  std::uint32_t attempt = 0;
  DoneStatus status = DoneStatus::error;
  ObjectMeta meta;
  ByteView value;
  std::uint64_t offset = 0;
  Status error;
};
Status read_done(Reader& r, DoneRecord& d);

// Batch header.
void begin_batch(Bytes& out);
void set_batch_header(Bytes& out, std::uint32_t v);
Result<std::uint32_t> read_batch_header(Reader& r);

}  // namespace ferry::rt::proto
