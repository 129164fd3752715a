// ferry/objstore/spill.h — files that hold spilled objects (the spill store).
//
// Where: FERRY_SPILL_DIR, else $TMPDIR (Slurm points it at node-local
// storage), else /tmp — the *base*. Each process spills into its own
// directory  <base>/ferry-spill.<host>.<pid>  (mode 0700), made at its first
// spill and removed with everything in it when the SpillStore is destroyed
// (runtime shutdown). A process that crashed leaves its directory behind:
// open() removes every ferry-spill.<host>.<pid> of this host whose pid is no
// longer alive (kill(pid, 0) == ESRCH), so the next job on the node cleans up.
//
// Layout: one file per object, named by the id (obj-<owner>-<counter>),
// holding exactly the payload (the table keeps the header fields). A spill is
// open(O_EXCL) + pwrite of the whole payload + close; a read-back is pread of
// the whole file, after which the file is renamed out of the way (obj-...
// .gone.<n>) and unlinked by a background thread (`ferry-spill-rm`, started
// at the first restore): an unlink frees the file's page cache and extents,
// which costs about as much as the read, and the reader need not wait for it
// (restored objects live in the arena again; nothing is cached on disk). A
// spill that finds the disk full first removes what is still queued, then
// retries once. No fsync: spilled bytes need not survive the process, only
// leave RAM (the page cache writes them back).
//
// Errors: a full disk (ENOSPC/EDQUOT) -> Errc::store_full naming the
// directory and its free bytes (statvfs); other I/O errors -> Errc::io_error
// ... naming the file and errno text. A short or missing file on read ->
// Errc::internal naming the file (the spilled copy is lost).
//
// Thread-safety: all methods are thread-safe; different objects' files are
// written and read concurrently (only the directory creation and the byte
// counters take mu_).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>

#include "ferry/objstore/object_id.h"
#include "ferry/status.h"

namespace ferry::objstore {

inline constexpr const char* kSpillDirEnv = "FERRY_SPILL_DIR";

// FERRY_SPILL_DIR, else $TMPDIR, else "/tmp" (empty values are skipped).
std::string default_spill_base();

class SpillStore {
 public:
  // `base` empty: default_spill_base(). Removes stale directories of dead
  // processes of this host under `base` (a missing or unreadable base is not
  // an error here: the first spill reports it). Never creates anything yet.
  static std::unique_ptr<SpillStore> open(std::string base = {});
  ~SpillStore();  // stops the removal thread; removes this process's directory and its files
  SpillStore(const SpillStore&) = delete;
  SpillStore& operator=(const SpillStore&) = delete;

  // Writes `payload` as the spilled copy of `id` (replacing none: a second
  // write of a live id -> invalid_argument). Errors as in the file comment;
  // on error nothing is left on disk.
  Status write(ObjectId id, std::span<const std::byte> payload);
  // Reads the spilled copy of `id` into `dst` (its size must be the
  // payload size) and deletes the file.
  Status read_and_remove(ObjectId id, std::span<std::byte> dst);
  // Deletes the spilled copy of `id` (freed unread); false: there was none.
  bool remove(ObjectId id);

  const std::string& base() const noexcept { return base_; }
  // <base>/ferry-spill.<host>.<pid> (it exists only after the first write).
  const std::string& dir() const noexcept { return dir_; }
  std::uint64_t files() const;
  std::uint64_t bytes() const;  // payload bytes on disk now

  // Removes <base>/ferry-spill.<host>.<pid> directories of this host whose
  // process is gone; returns how many. Exposed for tests.
  static std::size_t remove_stale(const std::string& base);

 private:
  explicit SpillStore(std::string base);
  Status ensure_dir();                          // takes mu_
  std::string path_of(ObjectId id) const;
  Status full_error(const std::string& path, std::size_t wanted) const;
  // One attempt of write(): 0, or the errno that failed it (nothing left on disk).
  int write_file(const std::string& path, std::span<const std::byte> payload);
  // A restored object's file: renamed and queued for the removal thread (unlinked here if the rename fails).
  void discard(const std::string& path, std::uint64_t bytes);
  // One file of `bytes` payload bytes no longer counts (files_, bytes_).
  void forget(std::uint64_t bytes);
  // Unlinks every queued file now; false if none was queued.
  bool remove_queued();
  void remove_loop();

  mutable std::mutex gone_mu_;
  std::condition_variable gone_cv_;
  std::deque<std::string> gone_;      // guarded by gone_mu_: renamed files still to unlink
  std::uint64_t gone_seq_ = 0;        // guarded by gone_mu_
  bool gone_stop_ = false;            // guarded by gone_mu_
  std::thread remover_;               // started with the first queued file (under gone_mu_)

  const std::string base_;
  const std::string dir_;
  mutable std::mutex mu_;
  bool dir_made_ = false;        // guarded by mu_
  std::uint64_t files_ = 0;      // guarded by mu_
  std::uint64_t bytes_ = 0;      // guarded by mu_
};

}  // namespace ferry::objstore
