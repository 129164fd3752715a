// tcp_key.cc — the TCP backend's packed-key check (tcp_engine.h: PackedKey).
//
// Packed form: u32 kKeyMagic, u32 owner rank, u64 region id, u64 base address, u64 length.
// Kept apart from the Engine so the fuzz target links only this file.
#include <cstring>
#include <string>

#include "tcp/tcp_engine.h"

namespace ferry::transport::tcp {

Result<PackedKey> parse_packed_key(ByteView packed, Rank peer) {
  PackedKey k;
  std::uint32_t magic = 0;
  if (packed.size() == kPackedKeyBytes) {
    std::memcpy(&magic, packed.data(), 4);
    std::memcpy(&k.owner, packed.data() + 4, 4);
    std::memcpy(&k.id, packed.data() + 8, 8);
    std::memcpy(&k.base, packed.data() + 16, 8);
    std::memcpy(&k.length, packed.data() + 24, 8);
  }
  if (packed.size() != kPackedKeyBytes || magic != kKeyMagic || k.id == 0 || k.length == 0 ||
      k.base + k.length < k.base)
    return Status(Errc::invalid_argument, "unpack_key: the packed key of rank " + std::to_string(peer) + " (" +
                                              std::to_string(packed.size()) +
                                              " bytes) is not a TCP-backend key (truncated, garbled, or from "
                                              "another backend)");
  return k;
}

}  // namespace ferry::transport::tcp
