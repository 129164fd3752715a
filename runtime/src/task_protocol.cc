// task_protocol.cc — encoders/decoders of task and actor records (see task_protocol.h).
//
// Thread-safety: pure functions.
#include "task_protocol.h"

#include <cstring>

namespace ferry::rt::proto {

namespace {

constexpr std::size_t kMetaBytes = 2 + 8 + 8 + 8;
constexpr std::size_t kSubmitFixedBytes = 1 + ObjectId::kWireBytes + 8 + 8 + 4 + 8 + 8 + 2;
constexpr std::size_t kDoneFixedBytes = ObjectId::kWireBytes + 1;

void write_meta(Writer& w, const ObjectMeta& m) {
  w.u16(m.format);
  w.u64(m.type_tag);
  w.u64(m.aux);
  w.u64(m.size);
}

bool read_meta(Reader& r, ObjectMeta& m) { return r.u16(m.format) && r.u64(m.type_tag) && r.u64(m.aux) && r.u64(m.size); }

}  // namespace

void begin_batch(Bytes& out) { out.assign(kBatchHeaderBytes, std::byte{0}); }

void set_batch_header(Bytes& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<std::byte>((v >> (8 * i)) & 0xFF);
}

Result<std::uint32_t> read_batch_header(Reader& r) {
  std::uint32_t v = 0;
  if (!r.u32(v)) return r.truncated();
  return v;
}

void append_submit(Bytes& out, const SubmitHead& h, std::span<const detail::ArgSpec> args) {
  std::size_t n = kSubmitFixedBytes;
  for (const auto& a : args) n += 1 + (a.kind == detail::ArgSpec::Kind::ref ? ObjectId::kWireBytes : kMetaBytes + a.bytes.size());
  Writer w(std::move(out), n);
  w.u8(static_cast<std::uint8_t>(h.kind));
  w.id(h.result);
  w.u64(h.name_hash);
  w.u64(h.signature);
  w.u32(h.actor_creator);
  w.u64(h.actor_counter);
  w.u64(h.seq);
  w.u16(static_cast<std::uint16_t>(args.size()));
  for (const auto& a : args) {
    w.u8(static_cast<std::uint8_t>(a.kind));
    if (a.kind == detail::ArgSpec::Kind::ref) {
      w.id(a.ref);
    } else {
      write_meta(w, a.meta);
      w.bytes(a.bytes);
    }
  }
  out = w.take();
}

Status read_submit(Reader& r, SubmitHead& h, std::vector<WireArg>& args) {
  std::uint8_t kind = 0;
  std::uint16_t n = 0;
  if (!r.u8(kind) || !r.id(h.result) || !r.u64(h.name_hash) || !r.u64(h.signature) || !r.u32(h.actor_creator) ||
      !r.u64(h.actor_counter) || !r.u64(h.seq) || !r.u16(n))
    return r.truncated();
  if (kind < 1 || kind > 4) return r.error("unknown submit record kind " + std::to_string(kind));
  h.kind = static_cast<RecordKind>(kind);
  args.clear();
  for (std::uint16_t i = 0; i < n; ++i) {
    WireArg a;
    std::uint8_t k = 0;
    if (!r.u8(k)) return r.truncated();
    if (k == 1) {
      a.kind = detail::ArgSpec::Kind::ref;
      if (!r.id(a.ref)) return r.truncated();
    } else if (k == 0) {
      if (!read_meta(r, a.meta) || !r.bytes(a.meta.size, a.bytes)) return r.truncated();
    } else {
      return r.error("unknown argument kind " + std::to_string(k));
    }
    args.push_back(a);
  }
  return Status::ok();
}

void append_done_value(Bytes& out, const ObjectId& id, const ObjectMeta& meta, ByteView bytes) {
  Writer w(std::move(out), kDoneFixedBytes + kMetaBytes + bytes.size());
  w.id(id);
  w.u8(static_cast<std::uint8_t>(DoneStatus::value));
  write_meta(w, meta);
  w.bytes(bytes);
  out = w.take();
}

void append_done_stored(Bytes& out, const ObjectId& id, const ObjectMeta& meta, std::uint64_t offset) {
  Writer w(std::move(out), kDoneFixedBytes + kMetaBytes + 8);
  w.id(id);
  w.u8(static_cast<std::uint8_t>(DoneStatus::stored));
  write_meta(w, meta);
  w.u64(offset);
  out = w.take();
}

void append_done_error(Bytes& out, const ObjectId& id, const Status& error) {
  Writer w(std::move(out), kDoneFixedBytes + 1 + 4 + error.message().size());
  w.id(id);
  w.u8(static_cast<std::uint8_t>(DoneStatus::error));
  w.u8(static_cast<std::uint8_t>(error.code()));
  const std::string& m = error.message();
  w.u32(static_cast<std::uint32_t>(m.size()));
  w.bytes(ByteView(reinterpret_cast<const std::byte*>(m.data()), m.size()));
  out = w.take();
}

Status read_done(Reader& r, DoneRecord& d) {
  std::uint8_t st = 0;
  if (!r.id(d.id) || !r.u8(st)) return r.truncated();
  if (st > 2) return r.error("unknown done status " + std::to_string(st));
  d.status = static_cast<DoneStatus>(st);
  if (d.status == DoneStatus::error) {
    std::uint8_t code = 0;
    std::uint32_t len = 0;
    ByteView text;
    if (!r.u8(code) || !r.u32(len) || !r.bytes(len, text)) return r.truncated();
    if (code == 0 || code > static_cast<std::uint8_t>(Errc::actor_died))
      return r.error("error record with invalid code " + std::to_string(code));
    d.error = Status(static_cast<Errc>(code), std::string(reinterpret_cast<const char*>(text.data()), text.size()));
    return Status::ok();
  }
  if (!read_meta(r, d.meta)) return r.truncated();
  if (d.status == DoneStatus::value) {
    if (!r.bytes(d.meta.size, d.value)) return r.truncated();
  } else if (!r.u64(d.offset)) {
    return r.truncated();
  }
  return Status::ok();
}

}  // namespace ferry::rt::proto
