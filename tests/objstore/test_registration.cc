// test_registration.cc — registers the arena ONCE with a real single-rank
// transport (FERRY_TRANSPORT from the environment, default ucx) and reads an
// object back through the transport's one-sided get from its own arena.
// Both backends are always built: a transport that cannot be made, or a get
// that does not complete, fails the test. Uses a tiny in-test Bootstrap of size 1
// (objstore must not depend on the launcher layer).
#include <catch2/catch.hpp>

#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

#include "ferry/objstore/object_table.h"
#include "ferry/transport/transport.h"
#include "test_util.h"

using ferry::Errc;
using namespace ferry::objstore;
namespace tp = ferry::transport;

namespace {

class SoloBootstrap : public tp::Bootstrap {
 public:
  tp::Rank rank() const override { return 0; }
  tp::Rank size() const override { return 1; }
  ferry::Result<std::vector<tp::Bytes>> allgather(tp::ByteView mine) override {
    return std::vector<tp::Bytes>{tp::Bytes(mine.begin(), mine.end())};
  }
  ferry::Status barrier() override { return ferry::Status::ok(); }
  std::string name() const override { return "objstore-test-solo"; }
};

}  // namespace

TEST_CASE("arena registers once with a real transport and serves a one-sided get", "[arena][transport]") {
  auto options = tp::Options::from_env();
  REQUIRE(options.is_ok());
  SoloBootstrap boot;
  auto made = tp::make_transport(*options, boot);
  INFO(tp::to_string(options->backend) << " transport: " << made.status().to_string());
  REQUIRE(made.is_ok());
  std::unique_ptr<tp::Transport> t = std::move(*made);

  ArenaOptions ao;
  ao.bytes = 8u << 20;
  ao.rank = t->rank();
  auto arena = Arena::create(ao).value();
  REQUIRE(arena->register_with(*t).is_ok());
  REQUIRE(arena->registered());
  CHECK(arena->region()->base() == arena->base());
  CHECK(arena->region()->length() == arena->capacity());
  CHECK_FALSE(arena->packed_key().empty());
  auto again = arena->register_with(*t);
  CHECK(again.code() == Errc::invalid_argument);
  CHECK(test::contains(again.message(), "already registered"));

  {
    ObjectTable table(*arena);
    const ObjectId id(t->rank(), 1);
    const std::size_t size = 100000;
    auto info = table.create(id, size, /*type_tag=*/1234).value();
    auto p = table.payload(id).value();
    for (std::size_t i = 0; i < size; ++i) p[i] = static_cast<std::byte>(i * 7);
    REQUIRE(table.seal(id).is_ok());
    REQUIRE(table.pin(id).is_ok());

    auto key = t->unpack_key(t->rank(), arena->packed_key());
    REQUIRE(key.is_ok());
    CHECK((*key)->remote_base() == reinterpret_cast<std::uint64_t>(arena->base()));
    CHECK((*key)->remote_length() == arena->capacity());
    // Kept alive past a possible timeout: the get may still write into it.
    auto local = std::make_shared<std::vector<std::byte>>(info.total_bytes());
    auto got = t->get(**key, (*key)->remote_base() + info.offset, local->data(), local->size());
    REQUIRE(got.wait_for(std::chrono::seconds(20)));
    auto done = got.result();
    INFO("one-sided get: " << done.status().to_string());
    REQUIRE(done.is_ok());
    auto hdr = validate_header(*local, HeaderExpectation{id, 1234, arena->capacity() - info.offset - kHeaderBytes});
    REQUIRE(hdr.is_ok());
    CHECK(hdr->size == size);
    CHECK(std::memcmp(local->data() + kHeaderBytes, p.data(), size) == 0);
    REQUIRE(table.unpin(id).is_ok());
    REQUIRE(table.free(id).is_ok());
  }
  arena->deregister();
  CHECK_FALSE(arena->registered());
  CHECK(arena->packed_key().empty());
  CHECK(t->shutdown().is_ok());
}

TEST_CASE("create_registered: allocated and registered in one step (shared or anonymous by the node); whole range usable and readable one-sided",
          "[arena][transport]") {
  auto options = tp::Options::from_env();
  REQUIRE(options.is_ok());
  SoloBootstrap boot;
  auto made = tp::make_transport(*options, boot);
  INFO(made.status().to_string());
  REQUIRE(made.is_ok());
  std::unique_ptr<tp::Transport> t = std::move(*made);

  ArenaOptions ao;
  ao.bytes = (4u << 20) + 1;  // rounded up to whole pages
  auto arena = Arena::create_registered(*t, ao);
  REQUIRE(arena.is_ok());
  Arena& a = **arena;
  REQUIRE(a.registered());
  CHECK(a.capacity() >= ao.bytes);
  CHECK(a.region()->base() == a.base());
  CHECK(a.region()->length() >= a.capacity());
  // Registered already: a second registration is refused.
  CHECK(a.register_with(*t).code() == Errc::invalid_argument);
  // Every byte is writable (first and last page), and a get reads it back.
  std::memset(a.base(), 0x5a, 4096);
  std::memset(a.base() + a.capacity() - 4096, 0xa5, 4096);
  auto key = t->unpack_key(t->rank(), a.packed_key());
  REQUIRE(key.is_ok());
  std::vector<std::byte> local(4096);
  auto got = t->get(**key, (*key)->remote_base() + a.capacity() - 4096, local.data(), local.size());
  REQUIRE(got.wait_for(std::chrono::seconds(20)));
  REQUIRE(got.result().is_ok());
  CHECK(local.front() == std::byte{0xa5});
  CHECK(local.back() == std::byte{0xa5});
  arena->reset();  // frees the transport's allocation before the transport goes
  CHECK(t->shutdown().is_ok());
}

TEST_CASE("create_registered: an impossible size is a clear error naming FERRY_STORE_BYTES", "[arena][transport]") {
  auto options = tp::Options::from_env();
  REQUIRE(options.is_ok());
  SoloBootstrap boot;
  auto made = tp::make_transport(*options, boot);
  INFO(made.status().to_string());
  REQUIRE(made.is_ok());
  std::unique_ptr<tp::Transport> t = std::move(*made);
  ArenaOptions ao;
  ao.bytes = std::size_t{1} << 62;  // 4 EiB: neither UCX nor mmap can provide it
  auto arena = Arena::create_registered(*t, ao);
  REQUIRE_FALSE(arena.is_ok());
  CHECK(test::contains(arena.status().message(), "FERRY_STORE_BYTES"));
  CHECK(t->shutdown().is_ok());
}
