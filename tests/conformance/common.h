// common.h — helpers shared by the conformance test files (ferry_conformance).
//
// Every TEST_CASE runs one or more run_ranks() groups; everything in this file
// runs inside a forked rank. Conventions:
//   * user handler ids used by the tests are < 0x1000; the harness owns 0xFEF0..0xFEFF;
//   * every wait is bounded (kOpWait) so a broken backend fails instead of hanging;
//   * bodies that register memory or install handlers end with env.barrier()
//     before their locals (buffers, counters the handlers capture) go away.
// Thread-safety: Counter and Regions are safe to use from handlers and threads.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ferry/transport/transport.h"
#include "ferry_test/catch_support.h"
#include "ferry_test/check.h"
#include "ferry_test/harness.h"
#include "ferry_test/pattern.h"
#include "ferry_test/volume.h"

namespace conf {

using namespace std::chrono_literals;
namespace ft = ferry::transport;
using ferry::Errc;
using ferry::Status;
using ferry::test::RankEnv;
using ferry::test::RunOptions;
using ft::Rank;
using steady = std::chrono::steady_clock;

inline constexpr auto kOpWait = std::chrono::seconds(30);   // upper bound for any single operation
inline constexpr std::size_t KiB = 1024, MiB = 1024 * 1024;

// A group of n ranks; `mode` overrides FERRY_PROGRESS for tests run in both modes.
inline RunOptions group(int n, int timeout_s, std::optional<ft::ProgressMode> mode = std::nullopt) {
  RunOptions o;
  o.ranks = n;
  o.timeout = std::chrono::seconds(timeout_s);
  if (mode) o.configure = [m = *mode](ft::Options& opts) { opts.progress = m; };
  return o;
}

inline const char* mode_name(ft::ProgressMode m) { return ft::to_string(m); }
inline constexpr ft::ProgressMode kModes[] = {ft::ProgressMode::busy, ft::ProgressMode::blocking,
                                              ft::ProgressMode::adaptive};

inline bool is_ucx(const RankEnv& env) { return env.options().backend == ft::Backend::ucx; }

inline ft::Bytes u64_bytes(std::uint64_t v) {
  ft::Bytes b(sizeof v);
  std::memcpy(b.data(), &v, sizeof v);
  return b;
}

inline std::uint64_t read_u64(ft::ByteView p, std::size_t offset = 0) {
  std::uint64_t v = 0;
  FERRY_REQUIRE(p.size() >= offset + sizeof v);
  std::memcpy(&v, p.data() + offset, sizeof v);
  return v;
}

inline std::unique_ptr<std::byte[]> raw_buffer(std::size_t len) {
  return std::make_unique_for_overwrite<std::byte[]>(len == 0 ? 1 : len);
}

// A monotonically increasing count that threads can wait on with a deadline.
class Counter {
 public:
  void add(std::uint64_t k = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    n_ += k;
    cv_.notify_all();
  }
  std::uint64_t value() const {
    std::lock_guard<std::mutex> lock(mu_);
    return n_;
  }
  bool wait_for_at_least(std::uint64_t target, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return n_ >= target; });
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::uint64_t n_ = 0;
};

// Collects the Status values delivered to on_error (or on_peer_failure).
class StatusLog {
 public:
  void add(Rank peer, const Status& s) {
    std::lock_guard<std::mutex> lock(mu_);
    entries_.push_back({peer, s, steady::now()});
    cv_.notify_all();
  }
  struct Entry {
    Rank peer;
    Status status;
    steady::time_point when;
  };
  std::vector<Entry> snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return entries_;
  }
  // Waits until an entry with `code` arrives (any code if nullopt); returns it.
  std::optional<Entry> wait_for(std::optional<Errc> code, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<Entry> found;
    cv_.wait_for(lock, timeout, [&] {
      for (const auto& e : entries_)
        if (!code || e.status.code() == *code) {
          found = e;
          return true;
        }
      return false;
    });
    return found;
  }
  std::string describe() const {
    std::string s;
    for (const auto& e : snapshot()) s += "[rank " + std::to_string(e.peer) + ": " + e.status.to_string() + "] ";
    return s.empty() ? "none" : s;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<Entry> entries_;
};

// One registered, pattern-filled buffer per rank and every rank's unpacked key.
// Rank r's buffer holds stream seed_of(r) from offset 0.
struct Regions {
  std::unique_ptr<std::byte[]> buf;
  std::size_t len = 0;
  std::uint64_t tag = 0;
  std::unique_ptr<ft::MemoryRegion> region;
  std::vector<std::shared_ptr<ft::RemoteKey>> keys;  // keys[r]: rank r's region (own included)
  std::vector<ft::Bytes> packed;                     // packed[r]: rank r's packed key

  std::uint64_t seed_of(Rank r) const { return ferry::test::make_seed(r, tag, 0x5E610); }
  const ft::RemoteKey& key(Rank r) const { return *keys.at(r); }
  std::uint64_t base(Rank r) const { return keys.at(r)->remote_base(); }
};

// Collective (bootstrap allgather): registers `len` bytes on every rank, exchanges keys.
inline std::unique_ptr<Regions> make_regions(RankEnv& env, std::size_t len, std::uint64_t tag) {
  auto r = std::make_unique<Regions>();
  r->len = len;
  r->tag = tag;
  r->buf = raw_buffer(len);
  ferry::test::fill_pattern(r->buf.get(), len, r->seed_of(env.rank()));
  r->region = FERRY_VALUE(env.transport().register_memory(r->buf.get(), len));
  FERRY_REQUIRE(r->region->base() == static_cast<void*>(r->buf.get()));
  FERRY_REQUIRE(r->region->length() == len);
  FERRY_REQUIRE(r->region->packed_key().size() > 0u);
  r->packed = FERRY_VALUE(env.bootstrap().allgather(r->region->packed_key()));
  FERRY_REQUIRE(r->packed.size() == env.size());
  for (Rank p = 0; p < env.size(); ++p) {
    auto key = FERRY_VALUE(env.transport().unpack_key(p, r->packed[p]));
    FERRY_REQUIRE(key->peer() == p);
    FERRY_REQUIRE(key->remote_length() == len);
    r->keys.push_back(std::move(key));
  }
  FERRY_REQUIRE(r->keys[env.rank()]->remote_base() == reinterpret_cast<std::uintptr_t>(r->buf.get()));
  return r;
}

// A payload whose first 8 bytes (if it has them) are `seq` and the rest pattern(seed, offset 8);
// payloads shorter than 8 bytes are pattern from offset 0.
inline void fill_message(std::byte* p, std::size_t size, std::uint64_t seq, std::uint64_t seed) {
  if (size >= 8) {
    std::memcpy(p, &seq, 8);
    ferry::test::fill_pattern(p + 8, size - 8, seed, 8);
  } else {
    ferry::test::fill_pattern(p, size, seed, 0);
  }
}

inline ft::Bytes make_message(std::size_t size, std::uint64_t seq, std::uint64_t seed) {
  ft::Bytes b(size);
  fill_message(b.data(), size, seq, seed);
  return b;
}

// Fatal unless `p` is the message make_message(expected_size, expected_seq, seed).
inline void verify_message(ft::ByteView p, std::size_t expected_size, std::uint64_t expected_seq,
                           std::uint64_t seed, Rank src) {
  if (p.size() != expected_size)
    FERRY_FAIL("message #" + std::to_string(expected_seq) + " from rank " + std::to_string(src) + ": expected " +
               std::to_string(expected_size) + " bytes, got " + std::to_string(p.size()) +
               " (lost, duplicated or reordered message?)");
  if (p.size() >= 8) {
    std::uint64_t seq = read_u64(p);
    if (seq != expected_seq)
      FERRY_FAIL("message from rank " + std::to_string(src) + " out of order: expected #" +
                 std::to_string(expected_seq) + ", got #" + std::to_string(seq));
    FERRY_REQUIRE_PATTERN(p.data() + 8, p.size() - 8, seed, 8);
  } else {
    FERRY_REQUIRE_PATTERN(p.data(), p.size(), seed, 0);
  }
}

// Waits for a future with kOpWait and requires the given outcome.
inline void require_ok(ferry::Future<void>&& f, const char* what) {
  auto r = FERRY_WAIT(f, kOpWait);
  if (!r.is_ok()) FERRY_FAIL(std::string(what) + ": " + r.status().to_string());
}

inline void require_code(ferry::Future<void>&& f, Errc code, const std::string& what,
                         std::chrono::milliseconds wait = kOpWait) {
  auto r = FERRY_WAIT(f, wait);
  if (r.status().code() != code)
    FERRY_FAIL(what + ": expected " + ferry::to_string(code) + ", got " + r.status().to_string());
}

// Non-fatal variant: reports a wrong outcome and lets the rank continue (exit 1 at the end).
inline void check_code(ferry::Future<void>&& f, Errc code, const std::string& what,
                       std::chrono::milliseconds wait = kOpWait) {
  auto r = FERRY_WAIT(f, wait);
  if (r.status().code() != code)
    FERRY_FAIL_CHECK(what + ": expected " + ferry::to_string(code) + ", got " + r.status().to_string());
}

inline double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

}  // namespace conf
