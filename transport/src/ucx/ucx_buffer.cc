// ucx_buffer.cc — see ucx_buffer.h. The cache keeps at most kCacheBytes of
// released large mappings (at most kCacheEntries) and hands one back when its
// length fits a request within a factor of two; everything else is unmapped.
#include "ucx/ucx_buffer.h"

#include <sys/mman.h>

#include <cstring>
#include <mutex>
#include <new>
#include <vector>

namespace ferry::transport::ucx {

namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
constexpr std::size_t kCacheBytes = std::size_t{256} << 20;
constexpr std::size_t kCacheEntries = 4;

struct Mapping {
  void* addr;
  std::size_t length;
};

class MappingCache {
 public:
  // Returns a cached mapping of at least n bytes (and at most 2n), or {nullptr, 0}.
  Mapping take(std::size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].length >= n && entries_[i].length / 2 <= n) {
        Mapping m = entries_[i];
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        bytes_ -= m.length;
        return m;
      }
    }
    return {nullptr, 0};
  }
  // Keeps the mapping if there is room; returns false if the caller must unmap it.
  bool give(Mapping m) {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.size() >= kCacheEntries || bytes_ + m.length > kCacheBytes) return false;
    entries_.push_back(m);
    bytes_ += m.length;
    return true;
  }

 private:
  std::mutex mu_;
  std::vector<Mapping> entries_;  // guarded by mu_
  std::size_t bytes_ = 0;         // guarded by mu_
};

MappingCache& cache() {
  static auto* c = new MappingCache;  // leaked on purpose: usable during static destruction
  return *c;
}

}  // namespace

Buffer Buffer::allocate(std::size_t n) {
  Buffer b;
  b.size_ = n;
  if (n == 0) return b;
  if (n <= kInlineBytes) {
    b.kind_ = Kind::inline_bytes;
    return b;
  }
  if (n < kMappedThreshold) {
    b.data_ = new std::byte[n];
    b.kind_ = Kind::heap;
    return b;
  }
  Mapping m = cache().take(n);
  if (m.addr == nullptr) {
    const std::size_t length = (n + kHugePage - 1) / kHugePage * kHugePage;
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)::madvise(p, length, MADV_HUGEPAGE);  // best effort
    m = {p, length};
  }
  b.data_ = static_cast<std::byte*>(m.addr);
  b.capacity_ = m.length;
  b.kind_ = Kind::mapped;
  return b;
}

void Buffer::steal(Buffer& other) noexcept {
  data_ = other.data_;
  size_ = other.size_;
  capacity_ = other.capacity_;
  kind_ = other.kind_;
  if (kind_ == Kind::inline_bytes) std::memcpy(inline_, other.inline_, size_);
  other.data_ = nullptr;
  other.size_ = other.capacity_ = 0;
  other.kind_ = Kind::empty;
}

void Buffer::release() noexcept {
  if (kind_ == Kind::heap) {
    delete[] data_;
  } else if (kind_ == Kind::mapped && !cache().give({data_, capacity_})) {
    ::munmap(data_, capacity_);
  }
  data_ = nullptr;
  size_ = capacity_ = 0;
  kind_ = Kind::empty;
}

}  // namespace ferry::transport::ucx
