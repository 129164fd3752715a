// ucx_buffer.h — receiver-owned payload buffers for the UCX backend.
//
// Tiny payloads (<= kInlineBytes) live inside the Buffer object (no
// allocation on the latency path; data() moves with the object, so only hand
// data() to UCX for buffers that stay put). Medium ones use the heap. Large ones (>= kMappedThreshold) are anonymous
// mmaps advised for transparent huge pages and recycled through a small
// process-wide cache: first-touch page faults of a fresh mapping would
// otherwise cost more than moving the bytes (bench/RESULTS.md has figures).
//
// Thread-safety: a Buffer is owned by one thread at a time; the cache is
// internally synchronized.
#pragma once

#include <cstddef>
#include <span>

namespace ferry::transport::ucx {

class Buffer {
 public:
  static constexpr std::size_t kInlineBytes = 56;
  static constexpr std::size_t kMappedThreshold = std::size_t{1} << 20;

  Buffer() = default;
  // Uninitialized storage for n bytes. Throws std::bad_alloc.
  static Buffer allocate(std::size_t n);
  Buffer(Buffer&& other) noexcept { steal(other); }
  Buffer& operator=(Buffer&& other) noexcept {
    if (this != &other) {
      release();
      steal(other);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  std::byte* data() noexcept { return kind_ == Kind::inline_bytes ? inline_ : data_; }
  const std::byte* data() const noexcept { return kind_ == Kind::inline_bytes ? inline_ : data_; }
  std::size_t size() const noexcept { return size_; }
  std::span<const std::byte> view() const noexcept { return {data(), size_}; }

 private:
  enum class Kind : unsigned char { empty, inline_bytes, heap, mapped };
  void steal(Buffer& other) noexcept;
  void release() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;  // mapped length when mapped
  Kind kind_ = Kind::empty;
  std::byte inline_[kInlineBytes];
};

}  // namespace ferry::transport::ucx
