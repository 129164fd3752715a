// fuzz_actor_update — the actor fault-tolerance update (actor_protocol.h), decoded the way
// TaskOwner::on_actor_update does. Traps on an accepted update that breaks the decoder's contract.
#include <cstdint>
#include <cstdlib>

#include "actor_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace proto = ferry::rt::proto;
  const ferry::transport::ByteView p(reinterpret_cast<const std::byte*>(data), size);
  auto u = proto::decode_actor_update(p, 0);
  if (!u) return 0;
  if (u->creator != 0) std::abort();  // only the creator (the sender) may decide
  if (u->kind == proto::ActorUpdate::Kind::moved && u->incarnation == 0) std::abort();
  if (u->kind == proto::ActorUpdate::Kind::died && u->why.is_ok()) std::abort();
  return 0;
}
