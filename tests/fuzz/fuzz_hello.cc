// fuzz_hello — tcp::check_hello, the TCP backend's start-up handshake as the
// accepting rank sees it (bytes from anyone who can connect). Accepted must mean
// byte-identical to the genuine hello for that rank (the seed is one; any other
// accepted frame is a forgery the check let through).
#include <cstdint>
#include <cstring>

#include "tcp/tcp_auth.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace tcp = ferry::transport::tcp;
  static const std::string key(32, '\x5a');
  tcp::Nonce nonce;
  nonce.fill(std::byte{0x11});
  auto r = tcp::check_hello(key, nonce, reinterpret_cast<const std::byte*>(data), size, 3, 8);
  if (r) {
    const auto genuine = tcp::make_hello(key, nonce, *r, 8, 3);
    if (size != genuine.size() || std::memcmp(data, genuine.data(), size) != 0) __builtin_trap();
  }
  return 0;
}
