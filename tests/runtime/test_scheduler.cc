// test_scheduler.cc — in-process tests of the task layer's pure parts: the
// placement policy (scheduler.h), the registry comparison run at start-up
// (registry.h), task_error parsing, and the task wire format.
#include <catch2/catch.hpp>

#include "ferry/ferry.h"
#include "registry.h"
#include "scheduler.h"
#include "task_protocol.h"

using namespace ferry::rt;

namespace {
std::vector<RankLoad> loads(std::initializer_list<std::uint64_t> outstanding) {
  std::vector<RankLoad> v;
  for (auto o : outstanding) v.push_back(RankLoad{true, 1, o, 0});
  return v;
}
}  // namespace

TEST_CASE("scheduler: least loaded rank wins, ties rotate", "[scheduler]") {
  auto l = loads({3, 1, 2});
  CHECK(place_task(0, l, {}, kDefaultLocalityBytes, 0) == 1u);
  l = loads({0, 0, 0});
  CHECK(place_task(0, l, {}, kDefaultLocalityBytes, 0) == 0u);
  CHECK(place_task(0, l, {}, kDefaultLocalityBytes, 1) == 1u);
  CHECK(place_task(0, l, {}, kDefaultLocalityBytes, 5) == 2u);
}

TEST_CASE("scheduler: reported queue lengths and thread counts count", "[scheduler]") {
  auto l = loads({0, 0});
  l[0].reported = 8;  // busy with other submitters' tasks
  CHECK(place_task(0, l, {}, kDefaultLocalityBytes, 0) == 1u);
  l = loads({4, 3});
  l[0].threads = 4;  // 4 per 4 threads beats 3 on one thread
  CHECK(place_task(1, l, {}, kDefaultLocalityBytes, 1) == 0u);
}

TEST_CASE("scheduler: dead ranks are never chosen", "[scheduler]") {
  auto l = loads({5, 0, 5});
  l[1].alive = false;
  CHECK(place_task(0, l, {}, kDefaultLocalityBytes, 1) != 1u);
  std::vector<ArgBytes> args{{1, 100 << 20}};
  CHECK(place_task(0, l, args, kDefaultLocalityBytes, 1) != 1u);
}

TEST_CASE("scheduler: locality above the threshold beats load", "[scheduler]") {
  auto l = loads({0, 9, 0});
  std::vector<ArgBytes> big{{1, 8 << 20}, {2, 1 << 20}};
  CHECK(place_task(0, l, big, kDefaultLocalityBytes, 0) == 1u);
  std::vector<ArgBytes> split{{1, 600 << 10}, {1, 600 << 10}, {2, 1 << 20}};  // 1.2 MiB on rank 1 in total
  CHECK(place_task(0, l, split, kDefaultLocalityBytes, 0) == 1u);
  std::vector<ArgBytes> small{{1, 1000}};
  CHECK(place_task(0, l, small, kDefaultLocalityBytes, 0) != 1u);  // below the threshold: load decides
}

TEST_CASE("registry: listings compare and name the first difference", "[registry]") {
  std::vector<ListingItem> a{{"add", 0, 1}, {"mul", 0, 2}};
  auto b = a;
  CHECK(compare_listings(a, 0, b, 1).is_ok());
  CHECK(listing_hash(a) == listing_hash(b));
  b.erase(b.begin());
  auto s = compare_listings(a, 0, b, 3);
  CHECK_FALSE(s.is_ok());
  CHECK(s.message().find("'add' is registered on rank 0 but not on rank 3") != std::string::npos);
  b = a;
  b[1].signature = 7;
  s = compare_listings(a, 0, b, 2);
  CHECK(s.message().find("'mul' has another signature on rank 2") != std::string::npos);
  CHECK(listing_hash(a) != listing_hash(b));
  auto round = decode_listing(encode_listing(a));
  REQUIRE(round.is_ok());
  CHECK(round.value() == a);
  // The real registry of this binary round-trips too.
  auto mine = registry_listing();
  CHECK(decode_listing(encode_listing(mine)).value() == mine);
}

TEST_CASE("task_error: function and rank parsed from the message", "[tasks]") {
  ferry::task_error e(ferry::Status(ferry::Errc::task_failed,
                                    ferry::detail::task_failure_message("task", "ns::f", 12, "boom: it's bad")));
  CHECK(e.function() == "ns::f");
  CHECK(e.rank() == 12u);
  CHECK(std::string(e.what()).find("boom: it's bad") != std::string::npos);
  try {
    ferry::detail::throw_status(e.status());
  } catch (const ferry::task_error& t) {
    CHECK(t.rank() == 12u);
  }
}

TEST_CASE("task protocol: submit and done records round-trip; truncation is malformed", "[tasks]") {
  using namespace ferry::rt::proto;
  ferry::transport::Bytes msg;
  begin_batch(msg);
  SubmitHead h;
  h.kind = RecordKind::actor_call;
  h.result = ferry::ObjectId(3, 99);
  h.name_hash = 5;
  h.signature = 6;
  h.actor_creator = 2;
  h.actor_counter = 8;
  h.seq = 41;
  std::vector<ferry::detail::ArgSpec> args(2);
  int v = 1234;
  args[0].meta.size = sizeof v;
  args[0].meta.type_tag = ferry::type_tag<int>();
  args[0].bytes = std::as_bytes(std::span<const int>(&v, 1));
  args[1].kind = ferry::detail::ArgSpec::Kind::ref;
  args[1].ref = ferry::ObjectId(1, 7);
  append_submit(msg, h, args);
  append_submit(msg, h, {});
  Reader r(msg, 3, "test");
  REQUIRE(read_batch_header(r).is_ok());
  SubmitHead got;
  std::vector<WireArg> wa;
  REQUIRE(read_submit(r, got, wa).is_ok());
  CHECK(got.seq == 41u);
  CHECK(got.actor_counter == 8u);
  CHECK(got.result == h.result);
  REQUIRE(wa.size() == 2u);
  CHECK(wa[0].bytes.size() == sizeof v);
  CHECK(wa[1].ref == ferry::ObjectId(1, 7));
  REQUIRE(read_submit(r, got, wa).is_ok());
  CHECK(wa.empty());
  CHECK(r.at_end());
  ferry::transport::Bytes cut(msg.begin(), msg.begin() + 30);
  Reader rc(cut, 3, "test");
  REQUIRE(read_batch_header(rc).is_ok());
  CHECK(read_submit(rc, got, wa).code() == ferry::Errc::malformed_message);

  ferry::transport::Bytes done;
  begin_batch(done);
  append_done_error(done, ferry::ObjectId(1, 2), 0, ferry::Status(ferry::Errc::task_failed, "x"));
  append_done_stored(done, ferry::ObjectId(1, 3), 0, {}, 4096);
  Reader rd(done, 1, "test");
  REQUIRE(read_batch_header(rd).is_ok());
  DoneRecord d;
  REQUIRE(read_done(rd, d).is_ok());
  CHECK(d.error.code() == ferry::Errc::task_failed);
  REQUIRE(read_done(rd, d).is_ok());
  CHECK(d.offset == 4096u);
}
