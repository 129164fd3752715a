// wire.h — the AM frame header shared by all backends (internal).
//
// Every AM carries this fixed header, little-endian, followed by the payload.
// UCX: the header travels as the ucp AM header and the payload as AM data.
// TCP: header and payload are written back to back on the stream.
// The receiver validates every field before trusting it (validate()).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::wire {

inline constexpr std::uint32_t kMagic = 0x59524546;  // "FERY"
inline constexpr std::uint16_t kVersion = 1;

// Reserved handler ids (>= kFirstReservedHandler).
inline constexpr HandlerId kHeartbeat = 0xFF00;
inline constexpr HandlerId kShutdown = 0xFF01;
inline constexpr HandlerId kGetRequest = 0xFF02;   // TCP backend
inline constexpr HandlerId kGetReply = 0xFF03;     // TCP backend
inline constexpr HandlerId kHello = 0xFF04;        // TCP backend connection handshake

struct FrameHeader {
  std::uint32_t magic;
  std::uint16_t version;
  HandlerId handler;
  std::uint32_t src;          // sender's rank
  std::uint32_t flags;        // backend-specific, 0 by default
  std::uint64_t seq;          // per (src,dst) sequence number, starts at 0
  std::uint64_t payload_len;  // bytes following the header
};
static_assert(sizeof(FrameHeader) == 32, "FrameHeader must be 32 bytes with no padding");

inline FrameHeader make_header(HandlerId id, Rank src, std::uint64_t seq, std::uint64_t len,
                               std::uint32_t flags = 0) {
  return FrameHeader{kMagic, kVersion, id, src, flags, seq, len};
}

// Parses and validates a header from raw bytes. `world_size` bounds src;
// `max_payload` bounds payload_len.
inline Result<FrameHeader> parse_header(const void* data, std::size_t size, Rank world_size,
                                        std::uint64_t max_payload) {
  if (size != sizeof(FrameHeader))
    return Status(Errc::malformed_message,
                  "malformed frame: header is " + std::to_string(size) + " bytes, expected " +
                      std::to_string(sizeof(FrameHeader)));
  FrameHeader h;
  std::memcpy(&h, data, sizeof h);
  if (h.magic != kMagic)
    return Status(Errc::malformed_message, "malformed frame: bad magic 0x" + [&] {
      char buf[16];
      std::snprintf(buf, sizeof buf, "%08x", h.magic);
      return std::string(buf);
    }());
  if (h.version != kVersion)
    return Status(Errc::malformed_message, "malformed frame: protocol version " + std::to_string(h.version) +
                                               ", this build speaks " + std::to_string(kVersion) +
                                               " (are all ranks running the same ferry build?)");
  if (h.src >= world_size)
    return Status(Errc::malformed_message, "malformed frame: source rank " + std::to_string(h.src) +
                                               " outside the job (size " + std::to_string(world_size) + ")");
  if (h.payload_len > max_payload)
    return Status(Errc::malformed_message, "malformed frame from rank " + std::to_string(h.src) +
                                               ": payload length " + std::to_string(h.payload_len) +
                                               " exceeds the limit " + std::to_string(max_payload));
  return h;
}

}  // namespace ferry::transport::wire
