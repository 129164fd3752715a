// fuzz_frame_header — wire::parse_header, the first check every received frame passes
// (both backends). Input: 32 header bytes, then optional u32 world size.
#include <cstdint>
#include <cstring>

#include "common/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace wire = ferry::transport::wire;
  std::uint32_t world = 4;
  if (size >= sizeof(wire::FrameHeader) + 4) std::memcpy(&world, data + sizeof(wire::FrameHeader), 4);
  const std::size_t n = size < sizeof(wire::FrameHeader) ? size : sizeof(wire::FrameHeader);
  auto h = wire::parse_header(data, n, world, std::uint64_t{1} << 20);
  if (h && (h->src >= world || h->payload_len > (std::uint64_t{1} << 20) || h->magic != wire::kMagic))
    __builtin_trap();  // parse_header accepted what it must reject
  return 0;
}
