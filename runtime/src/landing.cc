// landing.cc — see ferry/detail/landing.h.
#include "ferry/detail/landing.h"

#include <sys/mman.h>

#include <cstdint>

namespace ferry::detail {

namespace {
constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
}  // namespace

void prepare_landing(void* p, std::size_t bytes) noexcept {
  if (p == nullptr || bytes < kLandingMinBytes) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t first = (begin + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t last = (begin + bytes) & ~(kHugePage - 1);
  if (last <= first) return;
  // Advice only: a kernel without THP (EINVAL) or a heap range that is not a
  // private mapping leaves the pages as they are, which is still correct.
  (void)::madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
}

}  // namespace ferry::detail
