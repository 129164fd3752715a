// actor_protocol.cc — encoder and decoder of kActorUpdate (see actor_protocol.h).
#include "actor_protocol.h"

#include <string>

namespace ferry::rt::proto {

namespace {
std::string rank_str(Rank r) { return "rank " + std::to_string(r); }
}  // namespace

Bytes encode(const ActorUpdate& u) {
  const std::string& m = u.why.message();
  Writer w(1 + 4 + 8 + 4 + 8 + 1 + 4 + m.size());
  w.u8(static_cast<std::uint8_t>(u.kind));
  w.u32(u.creator);
  w.u64(u.counter);
  w.u32(u.host);
  w.u64(u.incarnation);
  w.u8(static_cast<std::uint8_t>(u.why.code()));
  w.u32(static_cast<std::uint32_t>(m.size()));
  w.bytes(ByteView(reinterpret_cast<const std::byte*>(m.data()), m.size()));
  return w.take();
}

Result<ActorUpdate> decode_actor_update(ByteView p, Rank src) {
  Reader r(p, src, "actor-update");
  ActorUpdate u;
  std::uint8_t kind = 0, code = 0;
  std::uint32_t len = 0;
  ByteView text;
  if (!r.u8(kind) || !r.u32(u.creator) || !r.u64(u.counter) || !r.u32(u.host) || !r.u64(u.incarnation) ||
      !r.u8(code) || !r.u32(len) || !r.bytes(len, text))
    return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  if (kind != 1 && kind != 2) return r.error("unknown kind " + std::to_string(kind));
  u.kind = static_cast<ActorUpdate::Kind>(kind);
  if (u.creator != src) return r.error("an update of an actor created by " + rank_str(u.creator));
  if (u.kind == ActorUpdate::Kind::died) {
    if (code == 0 || code > static_cast<std::uint8_t>(kLastErrc)) return r.error("invalid error code");
    u.why = Status(static_cast<Errc>(code), std::string(reinterpret_cast<const char*>(text.data()), text.size()));
  } else if (u.incarnation == 0) {
    return r.error("a move to incarnation 0");
  }
  return u;
}

}  // namespace ferry::rt::proto
