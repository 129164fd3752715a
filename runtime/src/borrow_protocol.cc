// borrow_protocol.cc — encoders/decoders of the borrower messages (see borrow_protocol.h).
#include "borrow_protocol.h"

namespace ferry::rt::proto {

namespace {

constexpr std::uint32_t kMaxIds = 1u << 24;

bool read_ids(Reader& r, std::vector<ObjectId>& out) {
  std::uint32_t n = 0;
  if (!r.u32(n) || n > kMaxIds) return false;
  out.resize(n);
  for (auto& id : out)
    if (!r.id(id)) return false;
  return true;
}

void write_ids(Writer& w, std::span<const ObjectId> ids) {
  w.u32(static_cast<std::uint32_t>(ids.size()));
  for (const ObjectId& id : ids) w.id(id);
}

}  // namespace

Bytes encode_episode(const ObjectId& id, std::uint64_t seq) {
  Writer w(24);
  w.id(id);
  w.u64(seq);
  return w.take();
}

Bytes encode_borrow_ack(const ObjectId& id, std::uint64_t seq, const Status& s) {
  Writer w(32 + s.message().size());
  w.id(id);
  w.u64(seq);
  w.u8(static_cast<std::uint8_t>(s.code()));
  w.u32(static_cast<std::uint32_t>(s.message().size()));
  w.bytes(ByteView(reinterpret_cast<const std::byte*>(s.message().data()), s.message().size()));
  return w.take();
}

Result<BorrowEpisode> decode_episode(ByteView p, Rank src, const char* what) {
  Reader r(p, src, what);
  BorrowEpisode e;
  if (!r.id(e.id) || !r.u64(e.seq)) return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  return e;
}

Result<BorrowEpisode> decode_borrow_ack(ByteView p, Rank src) {
  Reader r(p, src, "borrow-ack");
  BorrowEpisode e;
  std::uint8_t code = 0;
  std::uint32_t len = 0;
  ByteView msg;
  if (!r.id(e.id) || !r.u64(e.seq) || !r.u8(code) || !r.u32(len) || !r.bytes(len, msg)) return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  if (code > static_cast<std::uint8_t>(Errc::actor_died)) return r.error("error code out of range");
  if (code != 0)
    e.status = Status(static_cast<Errc>(code), std::string(reinterpret_cast<const char*>(msg.data()), msg.size()));
  return e;
}

Bytes encode_contained(const ObjectId& outer, std::span<const ObjectId> ids) {
  Writer w(20 + 16 * ids.size());
  w.id(outer);
  write_ids(w, ids);
  return w.take();
}

Result<Contained> decode_contained(ByteView p, Rank src) {
  Reader r(p, src, "contained-refs");
  Contained c;
  if (!r.id(c.outer) || !read_ids(r, c.ids)) return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  return c;
}

Bytes encode_release(std::span<const ObjectId> ids) {
  Writer w(4 + 16 * ids.size());
  write_ids(w, ids);
  return w.take();
}

Result<std::vector<ObjectId>> decode_release(ByteView p, Rank src) {
  Reader r(p, src, "release-refs");
  std::vector<ObjectId> ids;
  if (!read_ids(r, ids)) return r.truncated();
  if (!r.at_end()) return r.error("trailing bytes");
  return ids;
}

}  // namespace ferry::rt::proto
