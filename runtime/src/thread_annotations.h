// thread_annotations.h — clang thread-safety annotations and an annotated mutex (internal).
//
// With clang and -Wthread-safety the compiler checks that every member marked
// FERRY_GUARDED_BY(mu_) is touched only with mu_ held and that FERRY_REQUIRES /
// FERRY_EXCLUDES contracts hold. With GCC the macros expand to nothing; the
// ctest `runtime.thread_safety_analysis` runs clang's analysis over every library
// file that uses these macros (directly or through an included header), so a
// violation fails the tests; without clang the test is reported skipped.
//
// Thread-safety: Mutex is a std::mutex; MutexLock and MutexUniqueLock are scoped locks.
#pragma once

#include <mutex>

#if defined(__clang__)
#define FERRY_TSA(x) __attribute__((x))
#else
#define FERRY_TSA(x)
#endif

#define FERRY_CAPABILITY(x) FERRY_TSA(capability(x))
#define FERRY_SCOPED_CAPABILITY FERRY_TSA(scoped_lockable)
#define FERRY_GUARDED_BY(x) FERRY_TSA(guarded_by(x))
#define FERRY_PT_GUARDED_BY(x) FERRY_TSA(pt_guarded_by(x))
#define FERRY_REQUIRES(...) FERRY_TSA(requires_capability(__VA_ARGS__))
#define FERRY_EXCLUDES(...) FERRY_TSA(locks_excluded(__VA_ARGS__))
#define FERRY_ACQUIRE(...) FERRY_TSA(acquire_capability(__VA_ARGS__))
#define FERRY_RELEASE(...) FERRY_TSA(release_capability(__VA_ARGS__))
#define FERRY_NO_THREAD_SAFETY_ANALYSIS FERRY_TSA(no_thread_safety_analysis)

namespace ferry::rt {

class FERRY_CAPABILITY("mutex") Mutex {
 public:
  void lock() FERRY_ACQUIRE() { mu_.lock(); }
  void unlock() FERRY_RELEASE() { mu_.unlock(); }
  // For std::condition_variable_any / std::unique_lock interop.
  std::mutex& native() noexcept { return mu_; }

 private:
  std::mutex mu_;
};

class FERRY_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) FERRY_ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() FERRY_RELEASE() { mu_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& mu_;
};

// A scoped lock that condition variables wait on (std::condition_variable takes the
// std::unique_lock: native()); unlock()/lock() release and retake it inside the scope.
class FERRY_SCOPED_CAPABILITY MutexUniqueLock {
 public:
  explicit MutexUniqueLock(Mutex& mu) FERRY_ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexUniqueLock() FERRY_RELEASE() {}
  void lock() FERRY_ACQUIRE() { lock_.lock(); }
  void unlock() FERRY_RELEASE() { lock_.unlock(); }
  std::unique_lock<std::mutex>& native() noexcept { return lock_; }
  MutexUniqueLock(const MutexUniqueLock&) = delete;
  MutexUniqueLock& operator=(const MutexUniqueLock&) = delete;

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace ferry::rt
