// spill.cc — the spill store: one file per spilled object under a
// per-process directory (layout, naming, clean-up and errors in spill.h).
//
// Thread-safety: file I/O runs without mu_; mu_ guards the directory flag and
// the counters.
#include "ferry/objstore/spill.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ferry/objstore/allocator.h"

namespace ferry::objstore {

namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "host";
  std::string h(buf);
  for (char& c : h)
    if (c == '/' || c == '.') c = '_';  // the name is split on '.'
  return h;
}

std::string prefix_of_host() { return "ferry-spill." + host_name() + "."; }

// Removes `dir` and the plain files in it (spill directories hold nothing else).
void remove_tree(const std::string& dir) {
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
      (void)::unlink((dir + "/" + e->d_name).c_str());
    }
    ::closedir(d);
  }
  (void)::rmdir(dir.c_str());
}

std::string errno_text(int err) { return std::strerror(err); }

}  // namespace

std::string default_spill_base() {
  for (const char* name : {kSpillDirEnv, "TMPDIR"}) {
    const char* v = std::getenv(name);
    if (v && *v) return v;
  }
  return "/tmp";
}

std::unique_ptr<SpillStore> SpillStore::open(std::string base) {
  if (base.empty()) base = default_spill_base();
  (void)remove_stale(base);
  return std::unique_ptr<SpillStore>(new SpillStore(std::move(base)));
}

SpillStore::SpillStore(std::string base)
    : base_(std::move(base)), dir_(base_ + "/" + prefix_of_host() + std::to_string(::getpid())) {}

SpillStore::~SpillStore() {
  {
    std::lock_guard<std::mutex> lock(gone_mu_);
    gone_stop_ = true;
  }
  gone_cv_.notify_all();
  if (remover_.joinable()) remover_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (dir_made_) remove_tree(dir_);  // also what the removal thread had not reached
}

void SpillStore::discard(const std::string& path, std::uint64_t bytes) {
  std::string gone;
  {
    std::lock_guard<std::mutex> lock(gone_mu_);
    gone = path + ".gone." + std::to_string(++gone_seq_);
  }
  if (::rename(path.c_str(), gone.c_str()) != 0) {
    (void)::unlink(path.c_str());
  } else {
    std::lock_guard<std::mutex> lock(gone_mu_);
    gone_.push_back(std::move(gone));
    if (!remover_.joinable()) remover_ = std::thread([this] { remove_loop(); });
  }
  gone_cv_.notify_one();
  forget(bytes);
}

void SpillStore::forget(std::uint64_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (files_ > 0) --files_;
  bytes_ -= std::min<std::uint64_t>(bytes_, bytes);
}

void SpillStore::remove_loop() {
  (void)::pthread_setname_np(::pthread_self(), "ferry-spill-rm");
  std::unique_lock<std::mutex> lock(gone_mu_);
  for (;;) {
    gone_cv_.wait(lock, [this] { return gone_stop_ || !gone_.empty(); });
    if (gone_.empty()) return;  // stopping: the destructor removes the directory
    std::string path = std::move(gone_.front());
    gone_.pop_front();
    lock.unlock();
    (void)::unlink(path.c_str());
    lock.lock();
  }
}

bool SpillStore::remove_queued() {
  std::deque<std::string> queued;
  {
    std::lock_guard<std::mutex> lock(gone_mu_);
    queued.swap(gone_);
  }
  for (const std::string& path : queued) (void)::unlink(path.c_str());
  return !queued.empty();
}

std::size_t SpillStore::remove_stale(const std::string& base) {
  const std::string prefix = prefix_of_host();
  std::vector<std::string> stale;
  if (DIR* d = ::opendir(base.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name.compare(0, prefix.size(), prefix) != 0) continue;
      const std::string pid_text = name.substr(prefix.size());
      char* end = nullptr;
      const long pid = std::strtol(pid_text.c_str(), &end, 10);
      if (pid_text.empty() || *end != '\0' || pid <= 0) continue;
      if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to judge)
      stale.push_back(base + "/" + name);
    }
    ::closedir(d);
  }
  for (const auto& dir : stale) remove_tree(dir);
  return stale.size();
}

Status SpillStore::ensure_dir() {
  std::lock_guard<std::mutex> lock(mu_);
  if (dir_made_) return Status::ok();
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    const int err = errno;
    return Status(Errc::store_full, "cannot spill: cannot create the spill directory " + dir_ + ": " +
                                        errno_text(err) + " (set " + kSpillDirEnv + " to a writable directory)");
  }
  dir_made_ = true;
  return Status::ok();
}

std::string SpillStore::path_of(ObjectId id) const {
  return dir_ + "/obj-" + std::to_string(id.owner()) + "-" + std::to_string(id.counter()) + "-" +
         std::to_string(id.index());
}

Status SpillStore::full_error(const std::string& path, std::size_t wanted) const {
  struct statvfs v {};
  std::string free_text = "unknown";
  if (::statvfs(dir_.c_str(), &v) == 0)
    free_text = format_bytes(static_cast<std::size_t>(v.f_bavail) * static_cast<std::size_t>(v.f_frsize));
  return Status(Errc::store_full, "cannot spill " + format_bytes(wanted) + " to " + path + ": the spill directory " +
                                      dir_ + " is full (" + free_text + " free; set " + kSpillDirEnv +
                                      " to a larger file system)");
}

int SpillStore::write_file(const std::string& path, std::span<const std::byte> payload) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return errno;
  std::size_t done = 0;
  int err = 0;
  while (done < payload.size()) {
    const ssize_t n = ::pwrite(fd, payload.data() + done, payload.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) (void)::unlink(path.c_str());
  return err;
}

Status SpillStore::write(ObjectId id, std::span<const std::byte> payload) {
  if (Status s = ensure_dir(); !s) return s;
  const std::string path = path_of(id);
  int err = write_file(path, payload);
  // Files of restored objects not yet removed may be what fills the disk.
  if ((err == ENOSPC || err == EDQUOT) && remove_queued()) err = write_file(path, payload);
  if (err == EEXIST) return Status(Errc::invalid_argument, "spill: " + id.to_string() + " is already spilled");
  if (err == ENOSPC || err == EDQUOT) return full_error(path, payload.size());
  if (err != 0) return Status(Errc::store_full, "cannot spill to " + path + ": " + errno_text(err));
  std::lock_guard<std::mutex> lock(mu_);
  ++files_;
  bytes_ += payload.size();
  return Status::ok();
}

Status SpillStore::read_and_remove(ObjectId id, std::span<std::byte> dst) {
  const std::string path = path_of(id);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Status(Errc::internal, "restore of " + id.to_string() + ": cannot open its spill file " + path + ": " +
                                      errno_text(err) + " (the spilled copy is lost)");
  }
  std::size_t done = 0;
  int err = 0;
  while (done < dst.size()) {
    const ssize_t n = ::pread(fd, dst.data() + done, dst.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : 0;
      break;
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done != dst.size())
    return Status(Errc::internal, "restore of " + id.to_string() + ": its spill file " + path + " holds " +
                                      std::to_string(done) + " of " + std::to_string(dst.size()) + " bytes" +
                                      (err ? ": " + errno_text(err) : std::string(" (truncated)")));
  discard(path, dst.size());
  return Status::ok();
}

bool SpillStore::remove(ObjectId id) {
  const std::string path = path_of(id);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  if (::unlink(path.c_str()) != 0) return false;
  forget(static_cast<std::uint64_t>(st.st_size));
  return true;
}

std::uint64_t SpillStore::files() const {
  std::lock_guard<std::mutex> lock(mu_);
  return files_;
}

std::uint64_t SpillStore::bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace ferry::objstore
