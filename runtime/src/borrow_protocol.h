// borrow_protocol.h — wire form of the borrower messages (internal; the
// protocol is in docs/ARCHITECTURE.md "Borrowers").
//
// Handler ids (protocol.h range):
//   kBorrowAdd    borrower -> owner      id, u64 seq
//   kBorrowAck    owner -> borrower      id, u64 seq, u8 errc, u32 length, message
//   kBorrowRemove borrower -> owner      id, u64 seq
//   kContained    sender -> receiver     outer id, u32 n, n ids: the value of `outer`
//                                        (owned by the receiver) holds these refs; the
//                                        sender keeps them until kRelease
//   kRelease      receiver -> sender     u32 n, n ids: the refs kept for us may go
// Integers little-endian, ids 16 bytes. Decoders check lengths and ranges.
//
// Thread-safety: pure functions.
#pragma once

#include <span>
#include <vector>

#include "wire_io.h"

namespace ferry::rt::proto {

inline constexpr transport::HandlerId kBorrowAdd = 0xF005;
inline constexpr transport::HandlerId kBorrowAck = 0xF006;
inline constexpr transport::HandlerId kBorrowRemove = 0xF007;
inline constexpr transport::HandlerId kContained = 0xF008;
inline constexpr transport::HandlerId kRelease = 0xF009;

struct BorrowEpisode {
  ObjectId id;
  std::uint64_t seq = 0;
  Status status;  // kBorrowAck only
};
Bytes encode_episode(const ObjectId& id, std::uint64_t seq);
Bytes encode_borrow_ack(const ObjectId& id, std::uint64_t seq, const Status& s);
Result<BorrowEpisode> decode_episode(ByteView p, Rank src, const char* what);
Result<BorrowEpisode> decode_borrow_ack(ByteView p, Rank src);

Bytes encode_contained(const ObjectId& outer, std::span<const ObjectId> ids);
struct Contained {
  ObjectId outer;
  std::vector<ObjectId> ids;
};
Result<Contained> decode_contained(ByteView p, Rank src);

Bytes encode_release(std::span<const ObjectId> ids);
Result<std::vector<ObjectId>> decode_release(ByteView p, Rank src);

}  // namespace ferry::rt::proto
