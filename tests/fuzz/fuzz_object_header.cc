// fuzz_object_header — objstore::validate_header, which checks the 64-byte header a
// reader fetched one-sidedly from a peer's arena before trusting the payload size.
#include <cstdint>
#include <cstring>

#include "ferry/objstore/object_header.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace os = ferry::objstore;
  os::HeaderExpectation expect;
  if (size > 0 && (data[0] & 1)) expect.max_size = 1u << 20;
  auto h = os::validate_header(std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), expect);
  if (h && expect.max_size && h->size > *expect.max_size) __builtin_trap();
  return 0;
}
