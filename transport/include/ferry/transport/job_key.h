// job_key.h — the per-job secret that authenticates the TCP backend's connections.
//
// Every connection of the TCP backend proves knowledge of the job key before
// it is bound to a rank (challenge-response with HMAC-SHA-256, see
// transport/src/tcp/tcp_auth.h). The key comes from Options::job_key
// (FERRY_JOB_KEY, hex; ferry-run generates one per job), or, when none is
// given, rank 0 generates one and Bootstrap::allgather distributes it (the
// bootstrap channel — PMIx, MPI, ferry-run's private rendezvous directory — is
// trusted). The key is never logged.
// Thread-safety: pure functions (make_job_key_hex reads the OS random source).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ferry/status.h"

namespace ferry::transport {

// Bytes of a generated key; a given key must have at least kMinJobKeyBytes.
inline constexpr std::size_t kJobKeyBytes = 32;
inline constexpr std::size_t kMinJobKeyBytes = 16;
inline constexpr std::size_t kMaxJobKeyBytes = 64;

// A fresh random key (kJobKeyBytes from the OS CSPRNG) as lowercase hex.
Result<std::string> make_job_key_hex();

// Raw key bytes from hex (2*kMinJobKeyBytes .. 2*kMaxJobKeyBytes digits).
// Errors are invalid_argument and never echo the input.
Result<std::string> parse_job_key_hex(std::string_view hex);

}  // namespace ferry::transport
