// actor_protocol.h — wire form of actor fault-tolerance messages (internal).
//
// kActorUpdate (creator -> every live rank), handler 0xF012 (protocol.h range):
//   u8 kind (1 moved, 2 died)  u32 creator  u64 counter  u32 host
//   u64 incarnation  u8 errc  u32 length, message (kind died: the reason)
// moved: the actor (creator, counter) now lives on `host` as `incarnation` (> 0);
// died: it is dead, calls fail with the status (errc, message).
// Integers little-endian. The decoder checks lengths, enum ranges, and that the
// sender is the actor's creator (only the creator decides).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>

#include "ferry/status.h"
#include "wire_io.h"

namespace ferry::rt::proto {

inline constexpr transport::HandlerId kActorUpdate = 0xF012;

struct ActorUpdate {
  enum class Kind : std::uint8_t { moved = 1, died = 2 };
  Kind kind = Kind::moved;
  Rank creator = 0;
  std::uint64_t counter = 0;
  Rank host = 0;
  std::uint64_t incarnation = 0;
  Status why;  // kind died
};
Bytes encode(const ActorUpdate& u);
Result<ActorUpdate> decode_actor_update(ByteView p, Rank src);

}  // namespace ferry::rt::proto
