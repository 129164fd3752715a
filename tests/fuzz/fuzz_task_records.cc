// fuzz_task_records — task/actor submit batches and done batches (task_protocol.h),
// decoded the way TaskExecutor::accept_batch and TaskOwner::on_done loop over them.
// First byte: even = submit batch, odd = done batch.
#include <cstdint>
#include <vector>

#include "task_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace proto = ferry::rt::proto;
  if (size == 0) return 0;
  const ferry::transport::ByteView p(reinterpret_cast<const std::byte*>(data + 1), size - 1);
  proto::Reader r(p, 1, "fuzz");
  if (!proto::read_batch_header(r)) return 0;
  if (data[0] % 2 == 0) {
    std::vector<proto::WireArg> args;
    while (!r.at_end()) {
      proto::SubmitHead h;
      if (!proto::read_submit(r, h, args)) break;
    }
  } else {
    while (!r.at_end()) {
      proto::DoneRecord d;
      if (!proto::read_done(r, d)) break;
    }
  }
  return 0;
}
