// test_table.cc — ObjectTable life cycle: create/seal/pin/unpin/free,
// deferred free, errors naming the id, arena headers, store_full, the spill hook.
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>

#include "ferry/objstore/object_table.h"
#include "test_util.h"

using ferry::Errc;
using namespace ferry::objstore;
using ferry::objstore::test::contains;

namespace {

constexpr std::size_t kMiB = std::size_t{1} << 20;

std::unique_ptr<Arena> make_arena(std::size_t bytes, std::uint32_t rank = 0) {
  ArenaOptions o;
  o.bytes = bytes;
  o.rank = rank;
  return Arena::create(o).value();
}

std::span<const std::byte> arena_header(const Arena& a, std::uint64_t offset) {
  return std::span<const std::byte>(a.at(offset), kHeaderBytes);
}

}  // namespace

TEST_CASE("create, write, seal, lookup, free", "[table]") {
  auto arena = make_arena(kMiB, 2);
  ObjectTable table(*arena);
  const ObjectId id(2, 1);
  auto info = table.create(id, 1000, /*type_tag=*/99, /*format=*/1, /*aux=*/125);
  REQUIRE(info.is_ok());
  CHECK(info->state == ObjectState::creating);
  CHECK(info->offset % kAlignment == 0);
  CHECK(info->payload_offset() % kAlignment == 0);
  CHECK(info->size == 1000);
  CHECK(info->total_bytes() == 1064);
  CHECK(table.stats().objects == 1);
  CHECK(table.stats().arena.used >= 1064);

  // Until sealed, the arena header does not validate (a racing reader sees "being rewritten").
  CHECK(validate_header(arena_header(*arena, info->offset)).status().code() == Errc::not_found);
  auto payload = table.payload(id);
  REQUIRE(payload.is_ok());
  REQUIRE(payload->size() == 1000);
  CHECK(payload->data() == arena->at(info->payload_offset()));
  std::memset(payload->data(), 0x7C, payload->size());

  CHECK(table.pin(id).status().code() == Errc::invalid_argument);  // not sealed yet
  REQUIRE(table.seal(id).is_ok());
  CHECK(table.seal(id).code() == Errc::invalid_argument);
  auto sealed = table.lookup(id);
  REQUIRE(sealed.is_ok());
  CHECK(sealed->state == ObjectState::sealed);
  CHECK(sealed->type_tag == 99);
  CHECK(table.stats().sealed == 1);

  auto hdr = validate_header(arena_header(*arena, info->offset), HeaderExpectation{id, 99, kMiB});
  REQUIRE(hdr.is_ok());
  CHECK(hdr->size == 1000);
  CHECK(hdr->format == 1);
  CHECK(hdr->aux == 125);
  CHECK(*hdr == sealed->header);

  REQUIRE(table.free(id).is_ok());
  CHECK_FALSE(table.contains(id));
  // A one-sided reader arriving late sees a stale header, not old contents.
  auto late = validate_header(arena_header(*arena, info->offset), HeaderExpectation{id, {}, {}});
  CHECK(late.status().code() == Errc::not_found);
  CHECK(contains(late.status().message(), "stale header"));
  auto s = table.stats();
  CHECK(s.objects == 0);
  CHECK(s.sealed == 0);
  CHECK(s.arena.used == 0);
}

TEST_CASE("unknown, nil and duplicate ids give clear errors naming the id", "[table]") {
  auto arena = make_arena(kMiB, 5);
  ObjectTable table(*arena);
  const ObjectId ghost(9, 0xbeef, 3);
  for (auto status : {table.lookup(ghost).status(), table.pin(ghost).status(), table.payload(ghost).status(),
                      table.unpin(ghost), table.free(ghost), table.seal(ghost)}) {
    CHECK(status.code() == Errc::not_found);
    CHECK(contains(status.message(), "obj:9:beef#3"));
    CHECK(contains(status.message(), "rank 5"));
  }
  CHECK(table.create(ObjectId(), 10).status().code() == Errc::invalid_argument);
  REQUIRE(table.create(ObjectId(5, 1), 10).is_ok());
  auto dup = table.create(ObjectId(5, 1), 10);
  CHECK(dup.status().code() == Errc::invalid_argument);
  CHECK(contains(dup.status().message(), "obj:5:1 already exists"));
  REQUIRE(table.free(ObjectId(5, 1)).is_ok());
  auto twice = table.free(ObjectId(5, 1));
  CHECK(twice.code() == Errc::not_found);
  CHECK(table.stats().arena.used == 0);
}

TEST_CASE("zero-byte objects and creating objects can be freed", "[table]") {
  auto arena = make_arena(kMiB);
  ObjectTable table(*arena);
  auto empty = table.create(ObjectId(0, 1), 0);
  REQUIRE(empty.is_ok());
  CHECK(table.payload(ObjectId(0, 1))->empty());
  REQUIRE(table.seal(ObjectId(0, 1)).is_ok());
  CHECK(validate_header(arena_header(*arena, empty->offset)).value().size == 0);
  REQUIRE(table.create(ObjectId(0, 2), 500).is_ok());
  REQUIRE(table.free(ObjectId(0, 2)).is_ok());  // aborted write
  REQUIRE(table.free(ObjectId(0, 1)).is_ok());
  CHECK(table.stats().arena.used == 0);
}

TEST_CASE("free of a pinned object is deferred until the last unpin", "[table]") {
  auto arena = make_arena(kMiB);
  ObjectTable table(*arena);
  const ObjectId id(0, 7);
  auto info = table.create(id, 4096).value();
  REQUIRE(table.seal(id).is_ok());
  REQUIRE(table.pin(id).is_ok());
  auto second = table.pin(id);
  REQUIRE(second.is_ok());
  CHECK(second->pin_count == 2);
  CHECK(table.stats().pinned == 1);

  REQUIRE(table.free(id).is_ok());  // deferred
  auto s = table.stats();
  CHECK(s.objects == 1);
  CHECK(s.free_pending == 1);
  CHECK(s.arena.used >= 4096);
  CHECK(table.lookup(id).status().code() == Errc::not_found);  // logically gone
  CHECK(table.pin(id).status().code() == Errc::not_found);     // no new readers
  CHECK(table.free(id).code() == Errc::not_found);             // no double free
  // Existing readers still see a valid header and their bytes.
  CHECK(validate_header(arena_header(*arena, info.offset), HeaderExpectation{id, {}, {}}).is_ok());

  REQUIRE(table.unpin(id).is_ok());
  CHECK(table.stats().objects == 1);
  REQUIRE(table.unpin(id).is_ok());  // last reader: released now
  s = table.stats();
  CHECK(s.objects == 0);
  CHECK(s.free_pending == 0);
  CHECK(s.pinned == 0);
  CHECK(s.arena.used == 0);
  CHECK(table.unpin(id).code() == Errc::not_found);
  CHECK(validate_header(arena_header(*arena, info.offset)).status().code() == Errc::not_found);
}

TEST_CASE("unbalanced unpin is an error and changes nothing", "[table]") {
  auto arena = make_arena(kMiB);
  ObjectTable table(*arena);
  const ObjectId id(0, 1);
  REQUIRE(table.create(id, 64).is_ok());
  REQUIRE(table.seal(id).is_ok());
  auto s = table.unpin(id);
  CHECK(s.code() == Errc::invalid_argument);
  CHECK(contains(s.message(), "not pinned"));
  CHECK(table.lookup(id).is_ok());
}

TEST_CASE("table store_full names the object, sizes and FERRY_STORE_BYTES", "[table]") {
  auto arena = make_arena(kMiB, 4);
  ObjectTable table(*arena);
  auto too_big = table.create(ObjectId(4, 1), 2 * kMiB);
  REQUIRE_FALSE(too_big.is_ok());
  CHECK(too_big.status().code() == Errc::store_full);
  CHECK(contains(too_big.status().message(), "cannot create obj:4:1"));
  CHECK(contains(too_big.status().message(), "larger than the whole store"));

  std::uint64_t n = 1;
  while (table.create(ObjectId(4, n), 64 * 1024 - kHeaderBytes).is_ok()) ++n;
  CHECK(n - 1 == 16);
  auto full = table.create(ObjectId(4, 100), 1);
  REQUIRE_FALSE(full.is_ok());
  const std::string& msg = full.status().message();
  INFO(msg);
  CHECK(full.status().code() == Errc::store_full);
  CHECK(contains(msg, "cannot create obj:4:64 (1-byte payload + 64-byte header)"));
  CHECK(contains(msg, "object store full on rank 4"));
  CHECK(contains(msg, "requested 65 bytes"));
  CHECK(contains(msg, "free 0 bytes"));
  CHECK(contains(msg, "largest free block 0 bytes"));
  CHECK(contains(msg, "FERRY_STORE_BYTES"));
}

namespace {

// Frees the oldest evictable objects until `bytes` are released (what a real
// spiller would do after writing them to disk).
class FreeingSpill : public SpillHandler {
 public:
  std::size_t make_room(ObjectTable& table, std::size_t bytes) override {
    ++calls;
    std::size_t released = 0;
    for (const ObjectInfo& victim : table.evictable(1000)) {
      if (released >= bytes) break;
      if (table.free(victim.id).is_ok()) {
        released += victim.total_bytes();
        victims.push_back(victim.id);
      }
    }
    return released;
  }
  int calls = 0;
  std::vector<ObjectId> victims;
};

}  // namespace

TEST_CASE("spill hook: create asks the handler for room once, oldest first", "[table][spill]") {
  auto arena = make_arena(kMiB);
  ObjectTable table(*arena);
  constexpr std::uint64_t kPayload = 256 * 1024 - kHeaderBytes;  // four fill the store
  for (std::uint64_t i = 1; i <= 4; ++i) {
    REQUIRE(table.create(ObjectId(0, i), kPayload).is_ok());
  }
  // Seal in the order 3, 1, 4 (2 stays creating); pin 3.
  REQUIRE(table.seal(ObjectId(0, 3)).is_ok());
  REQUIRE(table.seal(ObjectId(0, 1)).is_ok());
  REQUIRE(table.seal(ObjectId(0, 4)).is_ok());
  REQUIRE(table.pin(ObjectId(0, 3)).is_ok());
  auto order = table.evictable(10);
  REQUIRE(order.size() == 2);  // sealed and unpinned only
  CHECK(order[0].id == ObjectId(0, 1));
  CHECK(order[1].id == ObjectId(0, 4));
  CHECK(table.evictable(1).size() == 1);

  CHECK(table.create(ObjectId(0, 5), 10).status().code() == Errc::store_full);  // no handler yet
  auto spill = std::make_shared<FreeingSpill>();
  table.set_spill_handler(spill);
  REQUIRE(table.create(ObjectId(0, 5), 10).is_ok());
  CHECK(spill->calls == 1);
  REQUIRE(spill->victims.size() == 1);
  CHECK(spill->victims[0] == ObjectId(0, 1));  // the oldest seal went first

  // Nothing evictable left that is big enough: the handler is asked, then store_full.
  REQUIRE(table.pin(ObjectId(0, 4)).is_ok());
  auto r = table.create(ObjectId(0, 6), kPayload);
  CHECK(r.status().code() == Errc::store_full);
  CHECK(spill->calls == 2);
}

TEST_CASE("destroying the table releases every block", "[table]") {
  auto arena = make_arena(kMiB);
  {
    ObjectTable table(*arena);
    REQUIRE(table.create(ObjectId(0, 1), 100).is_ok());
    REQUIRE(table.create(ObjectId(0, 2), 100).is_ok());
    REQUIRE(table.seal(ObjectId(0, 2)).is_ok());
    REQUIRE(table.pin(ObjectId(0, 2)).is_ok());
    CHECK(arena->allocator().stats().allocations == 2);
  }
  CHECK(arena->allocator().stats().used == 0);
  REQUIRE(arena->allocator().check_invariants().is_ok());
}
