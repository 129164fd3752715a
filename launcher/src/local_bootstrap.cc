// local_bootstrap.cc — rendezvous through files in a directory all ranks share.
//
// Used by ferry-run (and the test harness): the launcher creates an empty
// directory and passes it as FERRY_RENDEZVOUS_DIR. Collective number k of rank r
// writes its blob to "<dir>/<k>.<r>" atomically (write "<k>.<r>.tmp", then
// rename). Rank 0 polls until the files of every rank for round k exist and
// publishes them all in one file "<k>.all" (same atomic rename); the other
// ranks poll for that one file. A round costs O(N) file operations in total
// (every rank polling every file was O(N^2): seconds at -n 64 on a loaded
// node). No server, no sockets; works across forked children and across
// network namespaces on one machine. Files are left for the launcher to
// remove with the directory.
//
// Bounded: each collective fails with bootstrap_failed after `timeout`, naming the
// ranks that did not arrive. Thread-safety: one thread at a time (start-up only).
#include <chrono>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "ferry/launcher/bootstrap.h"

namespace ferry::launcher {
namespace {

using transport::ByteView;
using transport::Bytes;

class LocalBootstrap final : public Bootstrap {
 public:
  LocalBootstrap(std::string dir, Rank rank, Rank size, std::chrono::milliseconds timeout)
      : dir_(std::move(dir)), rank_(rank), size_(size), timeout_(timeout) {}

  Rank rank() const override { return rank_; }
  Rank size() const override { return size_; }
  std::string name() const override { return "local"; }

  Result<std::vector<Bytes>> allgather(ByteView mine) override {
    const std::uint64_t round = round_++;
    if (auto s = write_blob(path(round, rank_), mine); !s) return s;
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    if (rank_ != 0) return read_gathered(round, deadline);
    std::vector<Bytes> out(size_);
    std::vector<bool> have(size_, false);
    Rank missing = size_;
    auto pause = std::chrono::microseconds(50);
    while (missing > 0) {
      for (Rank r = 0; r < size_; ++r) {
        if (have[r] || !read_file(path(round, r), out[r])) continue;
        have[r] = true;
        --missing;
      }
      if (missing == 0) break;
      if (std::chrono::steady_clock::now() >= deadline) return not_arrived(round);
      std::this_thread::sleep_for(pause);
      if (pause < std::chrono::milliseconds(5)) pause *= 2;
    }
    Bytes all;
    append_u64(all, size_);
    for (const Bytes& b : out) {
      append_u64(all, b.size());
      all.insert(all.end(), b.begin(), b.end());
    }
    if (auto s = write_blob(gathered_path(round), all); !s) return s;
    return out;
  }

  Status barrier() override {
    auto r = allgather({});
    return r ? Status::ok() : r.status();
  }

 private:
  std::string path(std::uint64_t round, Rank r) const {
    return dir_ + "/" + std::to_string(round) + "." + std::to_string(r);
  }

  std::string gathered_path(std::uint64_t round) const { return dir_ + "/" + std::to_string(round) + ".all"; }

  static bool read_file(const std::string& p, Bytes& out) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return false;
    std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    out.resize(buf.size());
    if (!buf.empty()) std::memcpy(out.data(), buf.data(), buf.size());
    return true;
  }

  static void append_u64(Bytes& out, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>(v >> (8 * i)));
  }
  static bool take_u64(ByteView& in, std::uint64_t& v) {
    if (in.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<std::uint64_t>(in[i]) << (8 * i);
    in = in.subspan(8);
    return true;
  }

  // Not rank 0: waits for rank 0's "<round>.all" and splits it.
  Result<std::vector<Bytes>> read_gathered(std::uint64_t round, std::chrono::steady_clock::time_point deadline) {
    Bytes all;
    auto pause = std::chrono::microseconds(50);
    while (!read_file(gathered_path(round), all)) {
      if (std::chrono::steady_clock::now() >= deadline) return not_arrived(round);
      std::this_thread::sleep_for(pause);
      if (pause < std::chrono::milliseconds(5)) pause *= 2;
    }
    ByteView in(all);
    std::uint64_t n = 0;
    std::vector<Bytes> out;
    if (!take_u64(in, n) || n != size_) return malformed(round);
    out.resize(size_);
    for (Rank r = 0; r < size_; ++r) {
      std::uint64_t len = 0;
      if (!take_u64(in, len) || len > in.size()) return malformed(round);
      out[r].assign(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(len));
      in = in.subspan(len);
    }
    return out;
  }

  Status malformed(std::uint64_t round) const {
    return Status(Errc::bootstrap_failed, "local rendezvous in " + dir_ + ": " + gathered_path(round) +
                                              " is malformed (two jobs sharing the directory?)");
  }

  Status not_arrived(std::uint64_t round) const {
    std::string who;
    struct stat st {};
    for (Rank r = 0; r < size_; ++r)
      if (::stat(path(round, r).c_str(), &st) != 0) who += (who.empty() ? "" : ",") + std::to_string(r);
    if (who.empty()) who = "0 (it did not publish the gathered round)";
    return Status(Errc::bootstrap_failed, "local rendezvous in " + dir_ + ": ranks [" + who +
                                              "] did not arrive within " + std::to_string(timeout_.count()) +
                                              " ms (did they crash or start late?)");
  }

  Status write_blob(const std::string& final_path, ByteView data) {
    const std::string tmp = final_path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out)
        return Status(Errc::bootstrap_failed, "local rendezvous: cannot write " + tmp +
                                                  " (does FERRY_RENDEZVOUS_DIR exist and is it writable?)");
      out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
      if (!out) return Status(Errc::bootstrap_failed, "local rendezvous: short write to " + tmp);
    }
    if (std::rename(tmp.c_str(), final_path.c_str()) != 0)
      return Status(Errc::bootstrap_failed, "local rendezvous: rename " + tmp + " failed");
    return Status::ok();
  }

  std::string dir_;
  Rank rank_, size_;
  std::chrono::milliseconds timeout_;
  std::uint64_t round_ = 0;
};

}  // namespace

Result<std::unique_ptr<Bootstrap>> make_local_bootstrap(const std::string& dir, Rank rank, Rank size,
                                                        std::chrono::milliseconds timeout) {
  if (size == 0 || rank >= size)
    return Status(Errc::invalid_argument, "local rendezvous: rank " + std::to_string(rank) +
                                              " is not below size " + std::to_string(size));
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    return Status(Errc::bootstrap_failed, "local rendezvous: directory '" + dir + "' does not exist");
  return std::unique_ptr<Bootstrap>(new LocalBootstrap(dir, rank, size, timeout));
}

}  // namespace ferry::launcher
