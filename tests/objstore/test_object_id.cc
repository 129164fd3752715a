// test_object_id.cc — ObjectId printing/parsing/ordering/hashing/wire form and
// the generator's uniqueness under concurrency.
#include <catch2/catch.hpp>

#include <array>
#include <set>
#include <thread>
#include <unordered_set>
#include <vector>

#include "ferry/objstore/object_id.h"

using ferry::objstore::ObjectId;
using ferry::objstore::ObjectIdGenerator;

TEST_CASE("ObjectId prints as obj:<rank>:<hex> and parses back", "[id]") {
  CHECK(ObjectId(3, 0x2a).to_string() == "obj:3:2a");
  CHECK(ObjectId(0, 1).to_string() == "obj:0:1");
  CHECK(ObjectId(7, 0xdeadbeefcafe, 2).to_string() == "obj:7:deadbeefcafe#2");
  CHECK(ObjectId(4294967295u, ~0ull, 4294967295u).to_string() == "obj:4294967295:ffffffffffffffff#4294967295");
  for (ObjectId id : {ObjectId(3, 0x2a), ObjectId(7, 0xdeadbeefcafe, 2), ObjectId(~0u, ~0ull, ~0u)}) {
    auto back = ObjectId::parse(id.to_string());
    REQUIRE(back.has_value());
    CHECK(*back == id);
  }
  for (const char* bad : {"", "obj:", "obj:1", "obj:1:", "obj::1", "obj:x:1", "obj:1:xyz", "obj:1:1#", "obj:1:1#0",
                          "obj:1:1#-1", "obj:-1:1", "obj:1:11111111111111111", "obj:4294967296:1", "foo:1:1",
                          "obj:1:1 "}) {
    INFO(bad);
    CHECK_FALSE(ObjectId::parse(bad).has_value());
  }
}

TEST_CASE("ObjectId accessors, nil, ordering and hashing", "[id]") {
  ObjectId nil;
  CHECK(nil.is_nil());
  ObjectId id(5, 9, 0);
  CHECK_FALSE(id.is_nil());
  CHECK(id.owner() == 5);
  CHECK(id.counter() == 9);
  CHECK(id.index() == 0);
  CHECK(id.with_index(3) == ObjectId(5, 9, 3));
  CHECK(ObjectId(1, 100) < ObjectId(2, 1));
  CHECK(ObjectId(1, 1, 5) < ObjectId(1, 2, 0));
  CHECK(ObjectId(1, 1, 1) < ObjectId(1, 1, 2));
  CHECK(ObjectId(1, 1, 1) != ObjectId(1, 1, 2));

  std::unordered_set<ObjectId> set;
  std::set<std::size_t> hashes;
  for (std::uint32_t r = 0; r < 8; ++r)
    for (std::uint64_t c = 1; c <= 64; ++c)
      for (std::uint32_t i = 0; i < 4; ++i) {
        set.insert(ObjectId(r, c, i));
        hashes.insert(std::hash<ObjectId>{}(ObjectId(r, c, i)));
      }
  CHECK(set.size() == 8 * 64 * 4);
  CHECK(hashes.size() == 8 * 64 * 4);  // no collisions on this small dense set
}

TEST_CASE("ObjectId wire form is 16 little-endian bytes", "[id]") {
  ObjectId id(0x01020304, 0x1112131415161718ull, 0x21222324);
  std::array<std::byte, 16> buf{};
  id.encode(buf);
  const unsigned char expected[16] = {0x04, 0x03, 0x02, 0x01, 0x24, 0x23, 0x22, 0x21,
                                      0x18, 0x17, 0x16, 0x15, 0x14, 0x13, 0x12, 0x11};
  for (int i = 0; i < 16; ++i) CHECK(std::to_integer<unsigned>(buf[i]) == expected[i]);
  CHECK(ObjectId::decode(buf) == id);
}

TEST_CASE("ObjectIdGenerator hands out unique ids from many threads", "[id]") {
  ObjectIdGenerator gen(42);
  constexpr int kThreads = 4, kEach = 20000;
  std::vector<std::vector<ObjectId>> got(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) got[t].push_back(gen.next());
    });
  for (auto& th : threads) th.join();
  std::unordered_set<ObjectId> all;
  for (auto& v : got)
    for (auto id : v) {
      CHECK(id.owner() == 42);
      CHECK_FALSE(id.is_nil());
      all.insert(id);
    }
  CHECK(all.size() == std::size_t{kThreads} * kEach);
}
