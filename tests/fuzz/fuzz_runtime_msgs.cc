// fuzz_runtime_msgs — the runtime's object messages (protocol.h): locate,
// locate reply, read-done, drop-copy, shutdown. First byte picks the decoder.
#include <cstdint>

#include "protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace proto = ferry::rt::proto;
  if (size == 0) return 0;
  const proto::ByteView p(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  switch (data[0] % 5) {
    case 0: (void)proto::decode_locate(p, 1); break;
    case 1: {
      auto r = proto::decode_reply(p, 1);
      if (r && !r->payload.empty() && (r->payload.data() < p.data() || r->payload.data() + r->payload.size() > p.data() + p.size()))
        __builtin_trap();  // payload view outside the message
      break;
    }
    case 2: (void)proto::decode_read_done(p, 1); break;
    case 3: (void)proto::decode_drop(p, 1); break;
    default: (void)proto::check_shutdown(p, 1); break;
  }
  return 0;
}
