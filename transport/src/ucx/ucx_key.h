// ucx_key.h — the UCX backend's packed-key format (used by ucx_rma.cc; fuzzed in tests/fuzz).
//
// A packed key is {u64 base, u64 length, rkey bytes, u32 rkey length, u32 FNV-1a
// of everything before it}. parse_blob checks length, trailer and range before
// UCX ever sees the rkey bytes (ucp_ep_rkey_unpack trusts its input).
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::ucx {

struct ParsedKey {
  std::uint64_t base;
  std::uint64_t length;
  const std::byte* rkey;  // points into the blob
};

// The blob MemoryRegion::packed_key() returns for a region and its packed rkey.
Bytes make_blob(const void* base, std::size_t length, const void* rkey, std::size_t rkey_len);

// invalid_argument naming `peer` when the blob is not a well-formed UCX-backend key.
Result<ParsedKey> parse_blob(ByteView blob, Rank peer);

}  // namespace ferry::transport::ucx
