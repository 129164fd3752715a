// fuzz_keys — packed-key checks of both backends (keys travel inside runtime
// messages from peers): tcp::parse_packed_key and ucx::parse_blob (which must
// reject anything malformed before UCX sees the rkey bytes). First byte picks one.
#include <cstdint>

#include "tcp/tcp_engine.h"
#include "ucx/ucx_key.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const ferry::transport::ByteView blob(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  if (data[0] & 1) {
    auto k = ferry::transport::tcp::parse_packed_key(blob, 1);
    if (k && (k->length == 0 || k->base + k->length < k->base)) __builtin_trap();
  } else {
    auto k = ferry::transport::ucx::parse_blob(blob, 1);
    if (k && (k->length == 0 || k->rkey < blob.data() || k->rkey >= blob.data() + blob.size())) __builtin_trap();
  }
  return 0;
}
