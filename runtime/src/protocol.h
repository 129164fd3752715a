// protocol.h — the runtime's active messages and their wire form (internal).
//
// Handler ids 0xF000..0xF0FF belong to the runtime (tests use < 0x1000, the
// test harness 0xFEF0..0xFEFF, the transport >= 0xFF00). Object messages:
//   kLocate      reader -> owner   u64 request, id, u32 bad_holder
//   kLocateReply owner -> reader   u64 request, id, u8 kind, u8 errc, u16 format,
//                                  u64 size, u64 type_tag, u64 aux, u32 holder,
//                                  u64 offset, u64 lease, then the rest of the
//                                  message: error text (kind error) or the
//                                  payload bytes (kind value)
//   kReadDone    reader -> owner   id, u64 lease, u8 cached, u64 cached offset
//   kDropCopy    owner -> holder   id
//   kShutdown    any -> any        u64 kShutdownMagic (runtime shutdown barrier)
// All integers little-endian; ids in ObjectId::encode form (16 bytes).
// Decoders check lengths and enum ranges: anything else is malformed_message
// naming the sender.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "ferry/objstore/object_id.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"
#include "ownership.h"

namespace ferry::rt::proto {

using transport::ByteView;
using transport::Bytes;
using transport::HandlerId;

inline constexpr HandlerId kLocate = 0xF000;
inline constexpr HandlerId kLocateReply = 0xF001;
inline constexpr HandlerId kReadDone = 0xF002;
inline constexpr HandlerId kDropCopy = 0xF003;
inline constexpr HandlerId kShutdown = 0xF004;
inline constexpr std::uint64_t kShutdownMagic = 0x5457444E48535446ull;  // "FTSHNDWT"

struct Locate {
  std::uint64_t request = 0;
  ObjectId id;
  Rank bad_holder = kInvalidRank;
};
Bytes encode(const Locate& m);
Result<Locate> decode_locate(ByteView p, Rank src);

// Fixed part of a reply; `payload` (error text or value bytes) follows it.
inline constexpr std::size_t kReplyFixedBytes = 8 + 16 + 1 + 1 + 2 + 8 + 8 + 8 + 4 + 8 + 8;
// Encodes `r` followed by `payload` (for kind value / from_arena: the object's
// bytes; for kind error the message is taken from r.body.error).
Bytes encode_reply(const Reply& r, ByteView payload);
struct DecodedReply {
  std::uint64_t request = 0;
  ObjectId id;
  LocateReply body;   // kind from_arena arrives as kind value
  ByteView payload;   // view into the message (value bytes)
};
Result<DecodedReply> decode_reply(ByteView p, Rank src);

struct ReadDone {
  ObjectId id;
  std::uint64_t lease = 0;
  bool cached = false;
  std::uint64_t offset = 0;
};
Bytes encode(const ReadDone& m);
Result<ReadDone> decode_read_done(ByteView p, Rank src);

Bytes encode_drop(const ObjectId& id);
Result<ObjectId> decode_drop(ByteView p, Rank src);

Bytes encode_shutdown();
Status check_shutdown(ByteView p, Rank src);

}  // namespace ferry::rt::proto
