// malloc_tuning.h — the process-wide glibc malloc settings a Runtime applies at
// start (RuntimeOptions::malloc_tuning; implemented in options.cc).
//
// Why: glibc returns freed memory at the top of a heap to the kernel (trim) and
// serves blocks above a dynamic threshold with fresh mmaps, so memory freed
// after a batch (cached small values of 2000 gets, the maps of 10k tasks) is
// faulted in again page by page by the next batch; on VMs where a page fault is
// expensive that dominates small remote gets (bench/RESULTS.md).
//
// Thread-safety: tune_malloc applies the settings once per process (call_once).
#pragma once

#include "ferry/runtime.h"

namespace ferry::rt {

// True if GLIBC_TUNABLES names a glibc.malloc tunable other than hugetlb, or
// a MALLOC_*_ variable is set: the user's settings win. (ferry-run adds
// glibc.malloc.hugetlb=1 for its ranks; see launcher/tools/ferry_run_support.h.)
bool user_tuned_malloc() noexcept;
// Applies the settings (once per process) unless disabled, not glibc, or the
// user tuned malloc; returns whether they are in effect.
bool tune_malloc(const RuntimeOptions& options);

}  // namespace ferry::rt
