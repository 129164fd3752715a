// ferry/detail/landing.h — preparing the memory a large value is read into
// (implemented in runtime/src/landing.cc). Not for users.
//
// A get() of a large object returns a fresh std::vector / std::string. Its
// storage comes from malloc, which maps blocks of more than 32 MiB anew, so
// every page of it is touched for the first time by the copy. With 4 KiB pages
// that is one fault per page (16,384 for 64 MiB; 10-60 us each on some VMs,
// ~0.5-1.5 s per get), unless the process started with
// GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (ferry-run does that; mpirun and srun
// do not). prepare_landing() asks the kernel for transparent huge pages on the
// destination itself, so the runtime does not depend on that tunable.
//
// Thread-safety: pure functions of their arguments (system calls on memory the
// caller owns).
#pragma once

#include <cstddef>

namespace ferry::detail {

// Destinations of at least this many bytes are prepared (smaller ones cannot
// hold an aligned 2 MiB page and come from malloc's warm heap anyway).
inline constexpr std::size_t kLandingMinBytes = std::size_t{4} << 20;

// Best effort, before the first write to [p, p + bytes): advises transparent
// huge pages for the 2 MiB-aligned part of the range (madvise MADV_HUGEPAGE;
// honoured where /sys/kernel/mm/transparent_hugepage/enabled is `always` or
// `madvise`). Never fails, never touches the memory, never changes its
// contents; a no-op below kLandingMinBytes or where the kernel says no.
void prepare_landing(void* p, std::size_t bytes) noexcept;

}  // namespace ferry::detail
