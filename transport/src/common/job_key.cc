// job_key.cc — generation and parsing of the job key (ferry/transport/job_key.h).
#include "ferry/transport/job_key.h"

#include <openssl/rand.h>

#include <array>

namespace ferry::transport {

Result<std::string> make_job_key_hex() {
  std::array<unsigned char, kJobKeyBytes> raw{};
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1)
    return Status(Errc::transport_error, "cannot generate a job key: the OS random source failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * raw.size());
  for (unsigned char b : raw) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

Result<std::string> parse_job_key_hex(std::string_view hex) {
  if (hex.size() % 2 != 0 || hex.size() < 2 * kMinJobKeyBytes || hex.size() > 2 * kMaxJobKeyBytes)
    return Status(Errc::invalid_argument, "the job key (FERRY_JOB_KEY) must be " + std::to_string(2 * kMinJobKeyBytes) +
                                              ".." + std::to_string(2 * kMaxJobKeyBytes) +
                                              " hex digits, an even count; got " + std::to_string(hex.size()) +
                                              " characters");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Status(Errc::invalid_argument, "the job key (FERRY_JOB_KEY) is not hex");
    out[i] = static_cast<char>(hi << 4 | lo);
  }
  return out;
}

}  // namespace ferry::transport
