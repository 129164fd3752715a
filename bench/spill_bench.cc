// spill_bench — spill write and restore bandwidth of one rank's object store
// (bench/spill-bandwidth.sh runs it beside dd to the same directory).
//   FERRY_STORE_BYTES=512M FERRY_SPILL_DIR=DIR ferry_spill_bench [--object-mib N] [--no-sync]
// Phase A: put objects of N MiB (default 32) until the store is full (faulting the arena in),
//   drop them, and put as many again, timed: the cost of the puts alone.
// Phase B (timed): put as many objects again: each put spills least recently used objects to the
//   spill store; then fdatasync of every spill file (as dd conv=fdatasync), unless --no-sync.
//   write seconds = B - A, bytes = spilled_bytes counter.
// Phase C (timed): drop B's objects (room), then view() every object of A: each is restored
//   from its file into the arena. bytes = restored_bytes counter.
// Prints one line:  spill_write_bytes S spill_write_s T restore_bytes R restore_s U
// Errors: a message on stderr, exit 1.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "ferry/ferry.h"
#include "ferry/init.h"
#include "ferry/objstore/spill.h"
#include "ferry/stats.h"

namespace {

using clock_type = std::chrono::steady_clock;
using Blob = std::vector<std::uint8_t>;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// fdatasync of every file in this process's spill directory (<base>/ferry-spill.<host>.<pid>):
// the spilled bytes on disk, as dd conv=fdatasync does for its file.
void sync_spill_files(const std::string& base) {
  const std::string suffix = "." + std::to_string(::getpid());
  DIR* d = ::opendir(base.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind("ferry-spill.", 0) != 0 || name.size() < suffix.size() ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string dir = base + "/" + name;
    if (DIR* files = ::opendir(dir.c_str())) {
      while (dirent* f = ::readdir(files)) {
        if (f->d_name[0] == '.') continue;
        const int fd = ::open((dir + "/" + f->d_name).c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
          (void)::fdatasync(fd);
          ::close(fd);
        }
      }
      ::closedir(files);
    }
  }
  ::closedir(d);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::size_t object_mib = 32;
    bool sync = true;
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--object-mib") == 0 && i + 1 < argc) object_mib = std::strtoul(argv[++i], nullptr, 10);
      else if (std::strcmp(argv[i], "--no-sync") == 0) sync = false;
    }
    ferry::Session s = ferry::init(argc, argv);
    const std::size_t object = object_mib << 20;
    const std::size_t store = s.runtime().stats().store_capacity;
    const std::size_t fit = store / (object + 4096);
    if (fit < 2) throw std::runtime_error("FERRY_STORE_BYTES must hold at least two objects");
    const Blob value(object, 0x5A);

    std::vector<ferry::ObjectRef<Blob>> first, second;
    for (std::size_t i = 0; i < fit; ++i) first.push_back(ferry::put(value));  // faults the arena in
    first.clear();
    auto t0 = clock_type::now();
    for (std::size_t i = 0; i < fit; ++i) first.push_back(ferry::put(value));  // warm: the cost of the puts alone
    const double put_s = seconds_since(t0);
    if (ferry::stats().spills != 0) throw std::runtime_error("phase A spilled: the store estimate is wrong");

    t0 = clock_type::now();
    for (std::size_t i = 0; i < fit; ++i) second.push_back(ferry::put(value));
    if (sync) sync_spill_files(ferry::objstore::default_spill_base());
    const double write_s = seconds_since(t0) - put_s;
    const auto after_write = ferry::stats();

    second.clear();
    t0 = clock_type::now();
    std::uint64_t sum = 0;
    for (const auto& r : first) {
      auto v = r.view();
      sum += v.size_bytes();
    }
    const double restore_s = seconds_since(t0);
    const auto after_restore = ferry::stats();
    if (after_restore.restores == 0) throw std::runtime_error("nothing was restored");
    std::printf("spill_write_bytes %llu spill_write_s %.4f restore_bytes %llu restore_s %.4f objects %zu sum %llu\n",
                static_cast<unsigned long long>(after_write.spilled_bytes_total), write_s,
                static_cast<unsigned long long>(after_restore.restored_bytes_total), restore_s, fit,
                static_cast<unsigned long long>(sum));
    first.clear();
    s.shutdown();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ferry_spill_bench: %s\n", e.what());
    return 1;
  }
}
