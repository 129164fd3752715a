// tcp_auth.h — the TCP backend's connection handshake: challenge-response over the job key.
//
// Protocol (one per connection, at start-up only; the listener is closed once
// every peer is connected):
//   1. the accepting rank (the higher one) sends kNonceBytes fresh random bytes;
//   2. the connecting rank answers with a wire::kHello frame, payload
//        {u32 world size, u32 rank being connected to, kMacBytes MAC}
//      where MAC = HMAC-SHA-256(job key, "ferry-tcp-hello-1" || nonce ||
//      the 32 header bytes || size || target);
//   3. the acceptor checks header, fields and MAC (constant-time compare) and
//      only then binds the socket to the rank named in the header, answering
//      with an ack = HMAC-SHA-256(job key, "ferry-tcp-ack-1" || nonce || hello),
//      which proves the key to the connecting rank in turn.
// A fresh nonce per connection makes a recorded hello useless for another
// connection. Everything here is a pure function of its inputs (fuzzed in
// tests/fuzz/fuzz_hello.cc).
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/wire.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::transport::tcp {

inline constexpr std::size_t kNonceBytes = 16;
inline constexpr std::size_t kMacBytes = 32;
inline constexpr std::size_t kHelloBodyBytes = 8 + kMacBytes;
inline constexpr std::size_t kHelloFrameBytes = sizeof(wire::FrameHeader) + kHelloBodyBytes;

using Nonce = std::array<std::byte, kNonceBytes>;
using HelloFrame = std::array<std::byte, kHelloFrameBytes>;

[[nodiscard]] Result<Nonce> make_nonce();

// The connecting rank's answer to `nonce`.
[[nodiscard]] HelloFrame make_hello(std::string_view key, const Nonce& nonce, Rank src, Rank size, Rank target);

// The accepting rank `self` of a job of `size` checks a hello frame answering
// `nonce`. Returns the rank it authenticates, or malformed_message (also for a
// wrong key) with a reason that holds no secret and no address.
[[nodiscard]] Result<Rank> check_hello(std::string_view key, const Nonce& nonce, const std::byte* frame,
                                       std::size_t len, Rank self, Rank size);

// The accepting rank's answer to an accepted `hello`; the connecting rank checks it.
using Ack = std::array<std::byte, kMacBytes>;
[[nodiscard]] Ack make_ack(std::string_view key, const Nonce& nonce, const HelloFrame& hello);
[[nodiscard]] bool check_ack(std::string_view key, const Nonce& nonce, const HelloFrame& hello, const Ack& ack);

}  // namespace ferry::transport::tcp
