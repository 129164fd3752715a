// wire_io.h — little-endian Writer/Reader for the runtime's message encoders
// (protocol.cc, task_protocol.cc). Readers report malformed_message naming the
// sender and the message kind.
//
// Thread-safety: value types, one thread each.
#pragma once

#include <cstdint>
#include <string>

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
  explicit Writer(std::size_t reserve) { out_.reserve(reserve); }
  explicit Writer(Bytes&& into) : out_(std::move(into)) {}
  std::size_t size() const noexcept { return out_.size(); }
  void u8(std::uint8_t v) { out_.push_back(static_cast<std::byte>(v)); }
  void u16(std::uint16_t v) { le(v, 2); }
  void u32(std::uint32_t v) { le(v, 4); }
  void u64(std::uint64_t v) { le(v, 8); }
  void id(const ObjectId& id) {
    std::size_t at = out_.size();
    out_.resize(at + ObjectId::kWireBytes);
    id.encode(std::span<std::byte, ObjectId::kWireBytes>(out_.data() + at, ObjectId::kWireBytes));
  }
  void bytes(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  Bytes take() { return std::move(out_); }

 private:
  void le(std::uint64_t v, int n) {
    const std::size_t at = out_.size();
    out_.resize(at + n);
    for (int i = 0; i < n; ++i) out_[at + i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
  }
  Bytes out_;
};

class Reader {
 public:
  Reader(ByteView p, Rank src, const char* what) : p_(p), src_(src), what_(what) {}
  bool u8(std::uint8_t& v) { return le(v, 1); }
  bool u16(std::uint16_t& v) { return le(v, 2); }
  bool u32(std::uint32_t& v) { return le(v, 4); }
  bool u64(std::uint64_t& v) { return le(v, 8); }
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
  bool le(T& v, int n) {
    if (p_.size() - pos_ < static_cast<std::size_t>(n)) return false;
    std::uint64_t x = 0;
    for (int i = 0; i < n; ++i) x |= static_cast<std::uint64_t>(p_[pos_ + i]) << (8 * i);
    v = static_cast<T>(x);
    pos_ += n;
    return true;
  }
  ByteView p_;
  std::size_t pos_ = 0;
  Rank src_;
  const char* what_;
};

}  // namespace ferry::rt::proto
