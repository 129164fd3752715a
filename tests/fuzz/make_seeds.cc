// make_seeds — writes the seed corpus (tests/fuzz/corpus/<target>/) with the real encoders,
// so every target starts from well-formed messages. Run by hand after a wire-format change:
//   build-fuzz/tests/fuzz/make_seeds tests/fuzz/corpus
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/wire.h"
#include "ferry/objstore/object_header.h"
#include "protocol.h"
#include "task_protocol.h"
#include "tcp/tcp_auth.h"
#include "ucx/ucx_key.h"

namespace fs = std::filesystem;
using ferry::transport::Bytes;

namespace {

fs::path root;

void put(const std::string& target, const std::string& name, std::uint8_t selector, const void* p, std::size_t n,
         bool with_selector = true) {
  fs::create_directories(root / target);
  std::ofstream out(root / target / name, std::ios::binary);
  if (with_selector) out.put(static_cast<char>(selector));
  out.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
}
void put(const std::string& target, const std::string& name, std::uint8_t selector, const Bytes& b) {
  put(target, name, selector, b.data(), b.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds CORPUS_DIR\n");
    return 2;
  }
  root = argv[1];
  namespace wire = ferry::transport::wire;
  namespace proto = ferry::rt::proto;
  namespace tcp = ferry::transport::tcp;
  const ferry::objstore::ObjectId id(1, 42, 0);

  const auto h = wire::make_header(0x10, 2, 7, 100);
  std::vector<unsigned char> hb(sizeof h + 4);
  std::memcpy(hb.data(), &h, sizeof h);
  const std::uint32_t world = 4;
  std::memcpy(hb.data() + sizeof h, &world, 4);
  put("frame_header", "am", 0, hb.data(), hb.size(), false);

  tcp::Nonce nonce;
  nonce.fill(std::byte{0x11});
  const auto hello = tcp::make_hello(std::string(32, '\x5a'), nonce, 1, 8, 3);  // the target's key and nonce
  put("hello", "hello", 0, hello.data(), hello.size(), false);

  std::vector<unsigned char> tk(32);
  const std::uint32_t magic = 0x4b544652, owner = 1;
  const std::uint64_t rid = 1, base = 4096, len = 1 << 20;
  std::memcpy(tk.data(), &magic, 4);
  std::memcpy(tk.data() + 4, &owner, 4);
  std::memcpy(tk.data() + 8, &rid, 8);
  std::memcpy(tk.data() + 16, &base, 8);
  std::memcpy(tk.data() + 24, &len, 8);
  put("keys", "tcp", 1, tk.data(), tk.size());
  const unsigned char rkey[24] = {1, 2, 3};
  put("keys", "ucx", 0, ferry::transport::ucx::make_blob(reinterpret_cast<void*>(4096), 1 << 20, rkey, sizeof rkey));

  put("runtime_msgs", "locate", 0, proto::encode(proto::Locate{7, id, 2}));
  ferry::rt::Reply reply;
  reply.request = 7;
  reply.id = id;
  reply.body.kind = ferry::rt::ReplyKind::at_holder;
  reply.body.meta.size = 100;
  reply.body.where = {2, 4096};
  reply.body.lease = 3;
  put("runtime_msgs", "reply-at-holder", 1, proto::encode_reply(reply, {}));
  reply.body.kind = ferry::rt::ReplyKind::error;
  reply.body.error = ferry::Status(ferry::Errc::not_found, "no such object");
  put("runtime_msgs", "reply-error", 1, proto::encode_reply(reply, {}));
  put("runtime_msgs", "read-done", 2, proto::encode(proto::ReadDone{id, 3, true, 8192}));
  put("runtime_msgs", "drop", 3, proto::encode_drop(id));
  put("runtime_msgs", "shutdown", 4, proto::encode_shutdown());

  Bytes submit;
  proto::begin_batch(submit);
  ferry::detail::ArgSpec value_arg;
  const std::byte v[8] = {};
  value_arg.meta.size = 8;
  value_arg.bytes = std::span<const std::byte>(v, 8);
  ferry::detail::ArgSpec ref_arg;
  ref_arg.kind = ferry::detail::ArgSpec::Kind::ref;
  ref_arg.ref = id;
  const ferry::detail::ArgSpec args[2] = {value_arg, ref_arg};
  proto::SubmitHead head;
  head.result = ferry::objstore::ObjectId(2, 9, 0);
  proto::append_submit(submit, head, args);
  head.kind = proto::RecordKind::actor_call;
  proto::append_submit(submit, head, args);
  proto::set_batch_header(submit, 2);
  put("task_records", "submit", 0, submit);
  Bytes done;
  proto::begin_batch(done);
  ferry::rt::ObjectMeta meta;
  meta.size = 8;
  proto::append_done_value(done, id, 0, meta, ferry::transport::ByteView(v, 8));
  proto::append_done_stored(done, id, 1, meta, 4096);
  proto::append_done_error(done, id, 2, ferry::Status(ferry::Errc::task_failed, "boom"));
  proto::set_batch_header(done, 3);
  put("task_records", "done", 1, done);

  ferry::objstore::ObjectHeader oh;
  oh.id = id;
  oh.size = 100;
  oh.type_tag = 5;
  const auto ohb = ferry::objstore::encode_header(oh);
  put("object_header", "header", 0, ohb.data(), ohb.size(), false);
  return 0;
}
