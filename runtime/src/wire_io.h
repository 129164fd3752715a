// wire_io.h — little-endian Writer/Reader for the runtime's message encoders
// (protocol.cc, task_protocol.cc). Readers report malformed_message naming the
// sender and the message kind.
//
// Thread-safety: value types, one thread each.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "ferry/objstore/le.h"
#include "ferry/objstore/object_id.h"
#include "ferry/status.h"
#include "ferry/transport/transport.h"

namespace ferry::rt::proto {

using objstore::ObjectId;
using transport::ByteView;
using transport::Bytes;
using transport::Rank;

class Writer {
 public:
  // `expect`: the bytes the caller will write (exact or an upper bound): the
  // buffer is sized once, so a field costs a bounds check and a store. Writing
  // more is still correct (the buffer grows), just slower.
  explicit Writer(std::size_t expect) { out_.resize(expect); }
  // Appends to `into` (its bytes are kept).
  Writer(Bytes&& into, std::size_t expect) : out_(std::move(into)), pos_(out_.size()) { out_.resize(pos_ + expect); }
  std::size_t size() const noexcept { return pos_; }
  void u8(std::uint8_t v) { *grow(1) = static_cast<std::byte>(v); }
  void u16(std::uint16_t v) { objstore::detail::store_le(grow(2), v); }
  void u32(std::uint32_t v) { objstore::detail::store_le(grow(4), v); }
  void u64(std::uint64_t v) { objstore::detail::store_le(grow(8), v); }
  void id(const ObjectId& id) {
    id.encode(std::span<std::byte, ObjectId::kWireBytes>(grow(ObjectId::kWireBytes), ObjectId::kWireBytes));
  }
  void bytes(ByteView b) {
    if (!b.empty()) std::memcpy(grow(b.size()), b.data(), b.size());
  }
  Bytes take() {
    out_.resize(pos_);
    return std::move(out_);
  }

 private:
  std::byte* grow(std::size_t n) {
    if (out_.size() - pos_ < n) out_.resize(pos_ + n);  // more than announced
    std::byte* p = out_.data() + pos_;
    pos_ += n;
    return p;
  }
  Bytes out_;
  std::size_t pos_ = 0;
};

class Reader {
 public:
  Reader(ByteView p, Rank src, const char* what) : p_(p), src_(src), what_(what) {}
  bool u8(std::uint8_t& v) { return le(v); }
  bool u16(std::uint16_t& v) { return le(v); }
  bool u32(std::uint32_t& v) { return le(v); }
  bool u64(std::uint64_t& v) { return le(v); }
  bool id(ObjectId& v) {
    if (p_.size() - pos_ < ObjectId::kWireBytes) return false;
    v = ObjectId::decode(std::span<const std::byte, ObjectId::kWireBytes>(p_.data() + pos_, ObjectId::kWireBytes));
    pos_ += ObjectId::kWireBytes;
    return true;
  }
  ByteView rest() const { return p_.subspan(pos_); }
  bool bytes(std::size_t n, ByteView& v) {
    if (p_.size() - pos_ < n) return false;
    v = p_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  std::size_t pos() const noexcept { return pos_; }
  bool at_end() const { return pos_ == p_.size(); }
  Status error(const std::string& detail) const {
    return Status(Errc::malformed_message, std::string("malformed ") + what_ + " message from rank " +
                                               std::to_string(src_) + " (" + std::to_string(p_.size()) +
                                               " bytes): " + detail + " (are all ranks running the same ferry build?)");
  }
  Status truncated() const { return error("truncated"); }

 private:
  template <class T>
  bool le(T& v) {
    if (p_.size() - pos_ < sizeof(T)) return false;
    v = objstore::detail::load_le<T>(p_.data() + pos_);
    pos_ += sizeof(T);
    return true;
  }
  ByteView p_;
  std::size_t pos_ = 0;
  Rank src_;
  const char* what_;
};

}  // namespace ferry::rt::proto
