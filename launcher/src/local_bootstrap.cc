// local_bootstrap.cc — rendezvous through files in a directory all ranks share.
//
// Used by ferry-run (and the test harness): the launcher creates an empty
// directory and passes it as FERRY_RENDEZVOUS_DIR. Collective number k of rank r
// writes its blob to "<dir>/<k>.<r>" atomically (write "<k>.<r>.tmp", then
// rename), then polls until the files of every rank for round k exist. No server,
// no sockets; works across forked children and across network namespaces on one
// machine. Files are left for the launcher to remove with the directory.
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
    if (auto s = write_blob(round, mine); !s) return s;
    std::vector<Bytes> out(size_);
    std::vector<bool> have(size_, false);
    Rank missing = size_;
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    auto pause = std::chrono::microseconds(50);
    while (missing > 0) {
      for (Rank r = 0; r < size_; ++r) {
        if (have[r]) continue;
        std::ifstream in(path(round, r), std::ios::binary);
        if (!in) continue;
        std::vector<char> buf((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        out[r].resize(buf.size());
        if (!buf.empty()) std::memcpy(out[r].data(), buf.data(), buf.size());
        have[r] = true;
        --missing;
      }
      if (missing == 0) break;
      if (std::chrono::steady_clock::now() >= deadline) {
        std::string who;
        for (Rank r = 0; r < size_; ++r)
          if (!have[r]) who += (who.empty() ? "" : ",") + std::to_string(r);
        return Status(Errc::bootstrap_failed,
                      "local rendezvous in " + dir_ + ": ranks [" + who + "] did not arrive within " +
                          std::to_string(timeout_.count()) + " ms (did they crash or start late?)");
      }
      std::this_thread::sleep_for(pause);
      if (pause < std::chrono::milliseconds(5)) pause *= 2;
    }
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

  Status write_blob(std::uint64_t round, ByteView data) {
    const std::string final_path = path(round, rank_);
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
