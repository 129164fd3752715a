// ferry/objstore/prefault.h — keeping the arena's pages ready ahead of use.
//
// A fresh arena page costs a page fault (and, on some VMs, a hypervisor exit)
// the first time it is written: a job's first 1 GB through the store was ~7x
// slower than its second. A Prefaulter is a background thread that faults the
// arena in with madvise(MADV_POPULATE_WRITE) in 2 MiB steps, from offset 0 up
// to `ahead` bytes past the allocator's high-water mark (the allocator hands
// out the lowest offsets first, so used blocks sit low in the arena). It never
// reads or writes the contents (POPULATE_WRITE only maps pages), so it may run
// beside puts and one-sided gets; it never goes past the arena's capacity
// (FERRY_STORE_BYTES bounds it), and with ahead = 0 it is not started.
// Pages stay faulted once touched (the allocator reuses them), so the thread
// sleeps once it is ahead. Without MADV_POPULATE_WRITE (Linux < 5.14) it stops
// at the first refusal; the store works as before.
//
// It runs at normal priority, not SCHED_IDLE: a populate holds the process's
// mmap lock, and a SCHED_IDLE thread preempted there on busy CPUs kept every
// other thread's page faults and mmaps waiting for seconds (a rank's progress
// thread stopped and its peers timed it out). Its work is bounded by `ahead`.
//
// Size: FERRY_STORE_PREFAULT (bytes with an optional K/M/G/T suffix, or 0/n
// for off, capped by the capacity), default min(capacity, 512 MiB, physical
// memory / 8 / ranks on this node) so that many ranks per node (ferry-run -n
// 256) do not fault in more than an eighth of the node's memory between them;
// 0 unless the node has more CPUs than ranks. The thread only pays off on a CPU
// the ranks leave idle: beside busy ranks it takes their CPU for faults they
// would mostly take themselves (measurements: bench/RESULTS.md).
//
// Thread-safety: faulted() may be called from any thread; construction and
// destruction from one thread (the owner stops and joins the thread before the
// memory goes away).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <thread>

#include "ferry/objstore/allocator.h"
#include "ferry/status.h"

namespace ferry::objstore {

inline constexpr const char* kStorePrefaultEnv = "FERRY_STORE_PREFAULT";
inline constexpr std::size_t kDefaultPrefaultBytes = std::size_t{512} << 20;

// FERRY_STORE_PREFAULT (0, "0", "n", "no" = off), default default_prefault_bytes().
// Bad values -> invalid_argument naming the variable.
Result<std::size_t> resolve_prefault_bytes(std::size_t capacity);
// min(capacity, kDefaultPrefaultBytes, physical memory / 8 / local ranks), the
// local rank count from the launcher (transport::local_layout_from_env); 0 when
// that count is not below the node's online CPUs.
std::size_t default_prefault_bytes(std::size_t capacity);

struct PrefaultOptions {
  std::size_t ahead = kDefaultPrefaultBytes;  // bytes past the high-water mark kept faulted
};

class Prefaulter {
 public:
  // [base, base + capacity) must stay mapped until the destructor returns.
  Prefaulter(std::byte* base, std::size_t capacity, const Allocator& allocator, PrefaultOptions options);
  ~Prefaulter();  // stops and joins the thread
  Prefaulter(const Prefaulter&) = delete;
  Prefaulter& operator=(const Prefaulter&) = delete;

  // Bytes from the arena's start faulted in so far.
  std::size_t faulted() const noexcept { return faulted_.load(std::memory_order_acquire); }
  // False once the kernel refused MADV_POPULATE_WRITE (the thread has stopped).
  bool supported() const noexcept { return supported_.load(std::memory_order_acquire); }
  // Bytes it still means to fault in now (0 once caught up with its target, or unsupported).
  std::size_t pending() const;

 private:
  void run();
  std::size_t target() const;

  std::byte* const base_;
  const std::size_t capacity_;
  const Allocator& allocator_;
  const PrefaultOptions options_;
  std::atomic<std::size_t> faulted_{0};
  std::atomic<bool> supported_{true};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace ferry::objstore
