// protocol.cc — encoders/decoders of the runtime's active messages (see protocol.h).
//
// Thread-safety: pure functions.
#include "protocol.h"

#include "wire_io.h"

#include <cstring>
#include <limits>

namespace ferry::rt::proto {

Bytes encode(const Locate& m) {
  Writer w(8 + 16 + 4);
  w.u64(m.request);
  w.id(m.id);
  w.u32(m.bad_holder);
  return w.take();
}

Result<Locate> decode_locate(ByteView p, Rank src) {
  Reader r(p, src, "locate");
  Locate m;
  if (!r.u64(m.request) || !r.id(m.id) || !r.u32(m.bad_holder)) return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  return m;
}

Bytes encode_reply(const Reply& rep, ByteView payload) {
  const LocateReply& b = rep.body;
  std::string text;
  if (b.kind == ReplyKind::error) {
    text = b.error.message();
    payload = ByteView(reinterpret_cast<const std::byte*>(text.data()), text.size());
  }
  Writer w(kReplyFixedBytes + payload.size());
  w.u64(rep.request);
  w.id(rep.id);
  // from_arena travels as value: the reader just sees bytes.
  w.u8(static_cast<std::uint8_t>(b.kind == ReplyKind::from_arena ? ReplyKind::value : b.kind));
  w.u8(static_cast<std::uint8_t>(b.kind == ReplyKind::error ? b.error.code() : Errc::ok));
  w.u16(b.meta.format);
  w.u64(b.meta.size);
  w.u64(b.meta.type_tag);
  w.u64(b.meta.aux);
  w.u32(b.where.rank);
  w.u64(b.where.offset);
  w.u64(b.lease);
  w.bytes(payload);
  return w.take();
}

Result<DecodedReply> decode_reply(ByteView p, Rank src) {
  Reader r(p, src, "locate-reply");
  DecodedReply d;
  std::uint8_t kind = 0, code = 0;
  LocateReply& b = d.body;
  if (!r.u64(d.request) || !r.id(d.id) || !r.u8(kind) || !r.u8(code) || !r.u16(b.meta.format) ||
      !r.u64(b.meta.size) || !r.u64(b.meta.type_tag) || !r.u64(b.meta.aux) || !r.u32(b.where.rank) ||
      !r.u64(b.where.offset) || !r.u64(b.lease))
    return r.truncated();
  if (kind > static_cast<std::uint8_t>(ReplyKind::at_holder) || kind == static_cast<std::uint8_t>(ReplyKind::from_arena))
    return r.error("unknown reply kind " + std::to_string(kind));
  b.kind = static_cast<ReplyKind>(kind);
  d.payload = r.rest();
  if (b.kind == ReplyKind::error) {
    if (code == 0 || code > static_cast<std::uint8_t>(kLastErrc))
      return r.error("error reply with invalid code " + std::to_string(code));
    b.error = Status(static_cast<Errc>(code),
                     std::string(reinterpret_cast<const char*>(d.payload.data()), d.payload.size()));
    d.payload = {};
  } else if (b.kind == ReplyKind::value) {
    if (d.payload.size() != b.meta.size)
      return r.error("value of " + std::to_string(d.payload.size()) + " bytes, header says " +
                     std::to_string(b.meta.size));
  } else if (!d.payload.empty()) {
    return r.error("location reply with trailing bytes");
  }
  return d;
}

Bytes encode(const ReadDone& m) {
  Writer w(16 + 8 + 1 + 8);
  w.id(m.id);
  w.u64(m.lease);
  w.u8(m.cached ? 1 : 0);
  w.u64(m.offset);
  return w.take();
}

Result<ReadDone> decode_read_done(ByteView p, Rank src) {
  Reader r(p, src, "read-done");
  ReadDone m;
  std::uint8_t cached = 0;
  if (!r.id(m.id) || !r.u64(m.lease) || !r.u8(cached) || !r.u64(m.offset)) return r.truncated();
  if (!r.at_end() || cached > 1) return r.error("bad cached flag or trailing bytes");
  m.cached = cached == 1;
  return m;
}

Bytes encode_drop(const ObjectId& id) {
  Writer w(16);
  w.id(id);
  return w.take();
}

Result<ObjectId> decode_drop(ByteView p, Rank src) {
  Reader r(p, src, "drop-copy");
  ObjectId id;
  if (!r.id(id)) return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  return id;
}

Bytes encode_shutdown() {
  Writer w(8);
  w.u64(kShutdownMagic);
  return w.take();
}

Status check_shutdown(ByteView p, Rank src) {
  Reader r(p, src, "runtime-shutdown");
  std::uint64_t magic = 0;
  if (!r.u64(magic) || !r.at_end() || magic != kShutdownMagic) return r.error("bad magic or length");
  return Status::ok();
}

}  // namespace ferry::rt::proto
