// tcp_auth.cc — challenge-response handshake of the TCP backend (tcp_auth.h).
#include "tcp/tcp_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

namespace ferry::transport::tcp {
namespace {

constexpr std::string_view kContext = "ferry-tcp-hello-1";
constexpr std::string_view kAckContext = "ferry-tcp-ack-1";

std::array<std::byte, kMacBytes> hello_mac(std::string_view key, const Nonce& nonce, const std::byte* header,
                                           std::uint32_t size, std::uint32_t target) {
  std::array<std::byte, kContext.size() + kNonceBytes + sizeof(wire::FrameHeader) + 8> msg{};
  std::byte* p = msg.data();
  std::memcpy(p, kContext.data(), kContext.size());
  p += kContext.size();
  std::memcpy(p, nonce.data(), kNonceBytes);
  p += kNonceBytes;
  std::memcpy(p, header, sizeof(wire::FrameHeader));
  p += sizeof(wire::FrameHeader);
  std::memcpy(p, &size, 4);
  std::memcpy(p + 4, &target, 4);
  std::array<std::byte, kMacBytes> mac{};
  unsigned int mac_len = 0;
  const unsigned char* ok =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
           msg.size(), reinterpret_cast<unsigned char*>(mac.data()), &mac_len);
  if (!ok || mac_len != kMacBytes) mac.fill(std::byte{0});  // never matches a real MAC's check below
  return mac;
}

}  // namespace

Result<Nonce> make_nonce() {
  Nonce n{};
  if (RAND_bytes(reinterpret_cast<unsigned char*>(n.data()), static_cast<int>(n.size())) != 1)
    return Status(Errc::transport_error, "the OS random source failed (connection nonce)");
  return n;
}

HelloFrame make_hello(std::string_view key, const Nonce& nonce, Rank src, Rank size, Rank target) {
  HelloFrame f{};
  const auto h = wire::make_header(wire::kHello, src, 0, kHelloBodyBytes);
  std::memcpy(f.data(), &h, sizeof h);
  std::byte* body = f.data() + sizeof h;
  std::memcpy(body, &size, 4);
  std::memcpy(body + 4, &target, 4);
  const auto mac = hello_mac(key, nonce, f.data(), size, target);
  std::memcpy(body + 8, mac.data(), kMacBytes);
  return f;
}

Result<Rank> check_hello(std::string_view key, const Nonce& nonce, const std::byte* frame, std::size_t len,
                         Rank self, Rank size) {
  if (len != kHelloFrameBytes)
    return Status(Errc::malformed_message, "hello of " + std::to_string(len) + " bytes, expected " +
                                               std::to_string(kHelloFrameBytes));
  auto h = wire::parse_header(frame, sizeof(wire::FrameHeader), size, kHelloBodyBytes);
  if (!h) return h.status();
  if (h->handler != wire::kHello || h->payload_len != kHelloBodyBytes)
    return Status(Errc::malformed_message, "first frame is not a hello");
  if (h->src >= self)
    return Status(Errc::malformed_message,
                  "rank " + std::to_string(h->src) + " should be accepting, not connecting");
  const std::byte* body = frame + sizeof(wire::FrameHeader);
  std::uint32_t fields[2];
  std::memcpy(fields, body, 8);
  if (fields[0] != size || fields[1] != self)
    return Status(Errc::malformed_message, "hello for a job of " + std::to_string(fields[0]) +
                                               " ranks addressed to rank " + std::to_string(fields[1]));
  const auto mac = hello_mac(key, nonce, frame, fields[0], fields[1]);
  if (key.empty() || CRYPTO_memcmp(mac.data(), body + 8, kMacBytes) != 0)
    return Status(Errc::malformed_message, "hello claiming rank " + std::to_string(h->src) +
                                               " is not signed with this job's key (a stranger, or another job)");
  return Rank{h->src};
}

Ack make_ack(std::string_view key, const Nonce& nonce, const HelloFrame& hello) {
  std::array<std::byte, kAckContext.size() + kNonceBytes + kHelloFrameBytes> msg{};
  std::memcpy(msg.data(), kAckContext.data(), kAckContext.size());
  std::memcpy(msg.data() + kAckContext.size(), nonce.data(), kNonceBytes);
  std::memcpy(msg.data() + kAckContext.size() + kNonceBytes, hello.data(), kHelloFrameBytes);
  Ack ack{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(msg.data()),
            msg.size(), reinterpret_cast<unsigned char*>(ack.data()), &len) ||
      len != kMacBytes)
    ack.fill(std::byte{0});
  return ack;
}

bool check_ack(std::string_view key, const Nonce& nonce, const HelloFrame& hello, const Ack& ack) {
  const Ack want = make_ack(key, nonce, hello);
  return !key.empty() && CRYPTO_memcmp(want.data(), ack.data(), kMacBytes) == 0;
}

}  // namespace ferry::transport::tcp
