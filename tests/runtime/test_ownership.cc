// test_ownership.cc — deterministic single-threaded tests of the ownership core
// (runtime/src/ownership.h): reference counting, locate answers (inline vs
// holder + lease), leases delaying frees, secondary copies and round robin,
// bad holders, pending objects, peer failure, the holder and reader sides.
#include <catch2/catch.hpp>

#include <algorithm>

#include "ownership.h"

using namespace ferry::rt;
using ferry::Errc;

namespace {

constexpr Rank kOwner = 0;
constexpr std::size_t kInline = 1024;

ObjectMeta meta_of(std::uint64_t size) { return ObjectMeta{size, 0x1234, 0, 0}; }

Reply only_reply(const Actions& a) {
  REQUIRE(a.replies.size() == 1);
  return a.replies.front();
}

bool frees(const Actions& a, ObjectId id) {
  return std::find(a.free_local.begin(), a.free_local.end(), id) != a.free_local.end();
}

bool drops(const Actions& a, Rank holder, ObjectId id) {
  return std::any_of(a.drop_copies.begin(), a.drop_copies.end(),
                     [&](const Drop& d) { return d.holder == holder && d.id == id; });
}

}  // namespace

TEST_CASE("ownership: the last local reference frees the primary", "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId id(kOwner, 1);
  REQUIRE(o.add_owned(id, meta_of(10), {kOwner, 128}).is_ok());
  CHECK(o.ref_count(id) == 1);
  o.add_ref(id);
  CHECK(o.ref_count(id) == 2);
  CHECK(o.remove_ref(id).empty());
  Actions a = o.remove_ref(id);
  CHECK(frees(a, id));
  CHECK(o.stats().empty());
  // A late ref (e.g. deserialized) cannot revive it; locate says not_found.
  o.add_ref(id);
  CHECK(o.ref_count(id) == 0);
  CHECK(only_reply(o.locate(id, 1, 7)).body.error.code() == Errc::not_found);
  CHECK(o.remove_ref(id).empty());
}

TEST_CASE("ownership: rejects foreign, nil and duplicate ids", "[ownership]") {
  Ownership o(kOwner, kInline);
  CHECK(o.add_owned(ObjectId(1, 1), meta_of(1), {1, 0}).code() == Errc::invalid_argument);
  CHECK(o.add_owned(ObjectId(), meta_of(1), {0, 0}).code() == Errc::invalid_argument);
  REQUIRE(o.add_owned(ObjectId(kOwner, 1), meta_of(1), {0, 0}).is_ok());
  CHECK(o.add_owned(ObjectId(kOwner, 1), meta_of(1), {0, 0}).code() == Errc::invalid_argument);
}

TEST_CASE("ownership: small objects are answered inline, large ones with a holder and a lease", "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId small(kOwner, 1), large(kOwner, 2);
  REQUIRE(o.add_owned(small, meta_of(kInline), {kOwner, 0}).is_ok());
  REQUIRE(o.add_owned(large, meta_of(kInline + 1), {kOwner, 4096}).is_ok());

  const Reply& s = only_reply(o.locate(small, 1, 11));
  CHECK(s.reader == 1);
  CHECK(s.request == 11);
  CHECK(s.body.kind == ReplyKind::from_arena);
  CHECK(s.body.lease == 0);

  Actions la = o.locate(large, 1, 12);
  const Reply& l = only_reply(la);
  CHECK(l.body.kind == ReplyKind::at_holder);
  CHECK(l.body.where == Location{kOwner, 4096});
  CHECK(l.body.lease != 0);
  CHECK(l.body.meta.size == kInline + 1);
  CHECK(o.stats().leases == 1);

  // The owner reading its own object: its own arena, no lease.
  const Reply& self = only_reply(o.locate(large, kOwner, 13));
  CHECK(self.body.kind == ReplyKind::at_holder);
  CHECK(self.body.lease == 0);
  CHECK(o.stats().leases == 1);
}

TEST_CASE("ownership: a lease delays the free until the read is done", "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId id(kOwner, 1);
  REQUIRE(o.add_owned(id, meta_of(1 << 20), {kOwner, 0}).is_ok());
  std::uint64_t lease = only_reply(o.locate(id, 2, 1)).body.lease;
  Actions drop_last = o.remove_ref(id);
  CHECK(drop_last.empty());  // a reader is still reading the block
  CHECK(o.stats().released == 1);
  // Readers arriving now are told it is gone.
  CHECK(only_reply(o.locate(id, 3, 2)).body.error.code() == Errc::not_found);
  // The reader finishes and had cached a copy: primary freed here, its copy dropped.
  Actions done = o.read_done(id, 2, lease, 8192);
  CHECK(frees(done, id));
  CHECK(drops(done, 2, id));
  CHECK(o.stats().empty());
}

TEST_CASE("ownership: cached copies become holders (round robin) and are dropped with the object",
          "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId id(kOwner, 1);
  REQUIRE(o.add_owned(id, meta_of(1 << 20), {kOwner, 0}).is_ok());
  std::uint64_t l1 = only_reply(o.locate(id, 1, 1)).body.lease;
  CHECK(o.read_done(id, 1, l1, 640).empty());
  CHECK(o.stats().secondary == 1);

  // Readers 2 and 3 are spread over the primary and rank 1's copy.
  Reply r2 = only_reply(o.locate(id, 2, 2));
  Reply r3 = only_reply(o.locate(id, 3, 3));
  CHECK(r2.body.where.rank != r3.body.where.rank);
  std::vector<Rank> holders{r2.body.where.rank, r3.body.where.rank};
  std::sort(holders.begin(), holders.end());
  CHECK(holders == std::vector<Rank>{0, 1});
  Location copy = r2.body.where.rank == 1 ? r2.body.where : r3.body.where;
  CHECK(copy.offset == 640);

  // Rank 1 asking again reads its own copy without a lease.
  const Reply& own = only_reply(o.locate(id, 1, 4));
  CHECK(own.body.where.rank == 1);
  CHECK(own.body.lease == 0);

  CHECK(o.read_done(id, 2, r2.body.lease, std::nullopt).empty());
  CHECK(o.read_done(id, 3, r3.body.lease, std::nullopt).empty());
  Actions a = o.remove_ref(id);
  CHECK(frees(a, id));
  CHECK(drops(a, 1, id));
  CHECK(a.drop_copies.size() == 1);
  CHECK(o.stats().empty());
}

TEST_CASE("ownership: a bad holder is no longer handed out and dropped after its leases", "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId id(kOwner, 1);
  REQUIRE(o.add_owned(id, meta_of(1 << 20), {kOwner, 0}).is_ok());
  std::uint64_t l1 = only_reply(o.locate(id, 1, 1)).body.lease;
  REQUIRE(o.read_done(id, 1, l1, 64).empty());
  // Find a reader that is sent to rank 1's copy and keep its lease open.
  Reply on_copy;
  for (Rank reader = 2; reader < 6; ++reader) {
    Reply r = only_reply(o.locate(id, reader, reader));
    if (r.body.where.rank == 1 && on_copy.reader == kInvalidRank) on_copy = r;
    else REQUIRE(o.read_done(id, reader, r.body.lease, std::nullopt).empty());
  }
  REQUIRE(on_copy.body.where.rank == 1);
  // Reader 7 could not read rank 1: from now on only the primary is handed out...
  Actions retry = o.locate(id, 7, 99, /*bad_holder=*/1);
  CHECK(only_reply(retry).body.where.rank == kOwner);
  CHECK(retry.drop_copies.empty());  // ...but the copy is still being read by on_copy.reader
  for (Rank reader = 8; reader < 11; ++reader) CHECK(only_reply(o.locate(id, reader, reader)).body.where.rank == kOwner);
  Actions last = o.read_done(id, on_copy.reader, on_copy.body.lease, std::nullopt);
  CHECK(drops(last, 1, id));
}

TEST_CASE("ownership: pending objects queue readers until ready or failed", "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId a(kOwner, 1), b(kOwner, 2);
  REQUIRE(o.add_pending(a).is_ok());
  REQUIRE(o.add_pending(b).is_ok());
  CHECK(o.locate(a, 1, 5).empty());
  CHECK(o.locate(a, kOwner, 6).empty());
  CHECK(o.locate(b, 2, 7).empty());
  CHECK(o.stats().waiters == 3);
  auto value = std::make_shared<const ferry::transport::Bytes>(8, std::byte{7});
  Actions ready = o.set_ready(a, meta_of(8), std::nullopt, value);
  REQUIRE(ready.replies.size() == 2);
  for (const Reply& r : ready.replies) {
    CHECK(r.body.kind == ReplyKind::value);
    CHECK(r.body.value == value);
  }
  Actions failed = o.set_failed(b, ferry::Status(Errc::internal, "task failed"));
  CHECK(only_reply(failed).body.error.code() == Errc::internal);
  CHECK(only_reply(o.locate(b, 3, 8)).body.error.message() == "task failed");
  CHECK(o.stats().waiters == 0);
}

TEST_CASE("ownership: peer failure releases the reader's leases and the holder's copies", "[ownership]") {
  Ownership o(kOwner, kInline);
  ObjectId id(kOwner, 1);
  REQUIRE(o.add_owned(id, meta_of(1 << 20), {kOwner, 0}).is_ok());
  std::uint64_t l1 = only_reply(o.locate(id, 1, 1)).body.lease;
  REQUIRE(o.read_done(id, 1, l1, 64).empty());
  REQUIRE(only_reply(o.locate(id, 2, 2)).body.lease != 0);  // rank 2 reads and dies
  CHECK(o.remove_ref(id).empty());                          // held by rank 2's lease
  Actions a = o.peer_failed(2);
  CHECK(frees(a, id));
  CHECK(drops(a, 1, id));
  CHECK(o.stats().empty());
  CHECK(o.is_dead(2));
  // A late message from the dead rank creates nothing.
  ObjectId other(kOwner, 2);
  REQUIRE(o.add_owned(other, meta_of(1 << 20), {kOwner, 0}).is_ok());
  CHECK(o.locate(other, 2, 3).empty());
  CHECK(o.stats().leases == 0);
}

TEST_CASE("ownership: holder side copies and reader side values", "[ownership]") {
  Ownership o(/*self=*/1, kInline);
  ObjectId from0(0, 5), from2(2, 6);
  CHECK(o.add_copy(from0, 4096).empty());
  CHECK(o.add_copy(from2, 8192).empty());
  CHECK(o.add_copy(from2, 8192).empty());  // same block again: no-op
  CHECK(o.copy_offset(from0) == std::optional<std::uint64_t>(4096));
  CHECK(frees(o.drop_copy(from0), from0));
  CHECK(o.drop_copy(from0).empty());
  CHECK(!o.copy_offset(from0));
  CHECK(frees(o.add_copy(ObjectId(1, 9), 0), ObjectId(1, 9)));  // own objects are never copies

  // Small values are kept only while referenced.
  auto v = std::make_shared<const ferry::transport::Bytes>(3, std::byte{1});
  o.cache_value(from0, meta_of(3), v);
  CHECK(!o.cached_value(from0));
  o.add_ref(from0);
  o.add_ref(from0);
  o.cache_value(from0, meta_of(3), v);
  REQUIRE(o.cached_value(from0));
  CHECK(o.remove_ref(from0).empty());
  CHECK(o.cached_value(from0));
  CHECK(o.remove_ref(from0).empty());
  CHECK(!o.cached_value(from0));

  // The owner of from2 dies: its copy is freed here, new copies are refused.
  o.add_ref(from2);
  Actions a = o.peer_failed(2);
  CHECK(frees(a, from2));
  CHECK(frees(o.add_copy(ObjectId(2, 7), 0), ObjectId(2, 7)));
  CHECK(o.remove_ref(from2).empty());
  CHECK(o.stats().empty());
}

TEST_CASE("ownership: clear frees every local block and fails local waiters", "[ownership]") {
  Ownership o(kOwner, kInline);
  REQUIRE(o.add_owned(ObjectId(kOwner, 1), meta_of(8), {kOwner, 0}).is_ok());
  REQUIRE(o.add_pending(ObjectId(kOwner, 2)).is_ok());
  CHECK(o.locate(ObjectId(kOwner, 2), kOwner, 1).empty());
  REQUIRE(o.add_copy(ObjectId(3, 1), 64).empty());
  Actions a = o.clear();
  CHECK(frees(a, ObjectId(kOwner, 1)));
  CHECK(frees(a, ObjectId(3, 1)));
  CHECK(only_reply(a).body.error.code() == Errc::shut_down);
  CHECK(o.stats().empty());
}

TEST_CASE("ownership: local_read says what this rank can read without a message", "[ownership]") {
  using Kind = Ownership::LocalRead::Kind;
  Ownership o(kOwner, kInline);
  // Owned: an inline value, a primary in this arena, one elsewhere, a pending and a failed task output.
  const ObjectId value(kOwner, 1), here(kOwner, 2), there(kOwner, 3), pending(kOwner, 4), failed(kOwner, 5);
  auto bytes = std::make_shared<const ferry::transport::Bytes>(3, std::byte{7});
  REQUIRE(o.add_owned_value(value, meta_of(3), bytes).is_ok());
  REQUIRE(o.add_owned(here, meta_of(5000), {kOwner, 64}).is_ok());
  REQUIRE(o.add_pending(there).is_ok());
  (void)o.set_ready(there, meta_of(5000), Location{2, 128}, nullptr);
  REQUIRE(o.add_pending(pending).is_ok());
  REQUIRE(o.add_pending(failed).is_ok());
  (void)o.set_failed(failed, ferry::Status(Errc::task_failed, "boom"));

  auto v = o.local_read(value);
  CHECK(v.kind == Kind::value);
  CHECK(v.value == bytes);
  CHECK(v.meta.size == 3);
  CHECK(o.local_read(here).kind == Kind::arena);
  CHECK(o.local_read(there).kind == Kind::none);    // read one-sided from rank 2: the fetch path
  CHECK(o.local_read(pending).kind == Kind::pending);  // still running
  auto f = o.local_read(failed);
  CHECK(f.kind == Kind::failed);
  CHECK(f.error.code() == Errc::task_failed);
  CHECK(f.error.message() == "boom");
  // Released: not readable (the fetch path reports not_found).
  (void)o.remove_ref(value);
  CHECK(o.local_read(value).kind == Kind::none);
  CHECK(o.local_read(ObjectId(kOwner, 99)).kind == Kind::none);

  // Foreign ids: a cached copy in this arena, a cached small value, neither.
  const ObjectId copy(1, 1), small(1, 2), unknown(1, 3);
  CHECK(o.add_copy(copy, 4096).empty());
  CHECK(o.local_read(copy).kind == Kind::arena);
  o.add_ref(small);
  CHECK(o.local_read(small).kind == Kind::none);  // referenced, not fetched yet
  o.cache_value(small, meta_of(3), bytes);
  CHECK(o.local_read(small).kind == Kind::value);
  CHECK(o.local_read(unknown).kind == Kind::none);
  // The owner dies: its copies and values are gone.
  (void)o.peer_failed(1);
  CHECK(o.local_read(copy).kind == Kind::none);
  // A ref to a dead owner's object fails at once (owner_died), without a message.
  CHECK(o.local_read(small).kind == Kind::failed);
  CHECK(o.local_read(small).error.code() == ferry::Errc::owner_died);
}

TEST_CASE("ownership: refs kept for a receiver that already died are not kept (hold_for after peer_failed)",
          "[ownership]") {
  // Rank 1 executes a task for rank 2, whose result holds a ref (owned by rank 0) that rank 1
  // borrows; rank 2 dies before the task finishes.
  Ownership o(1, kInline);
  const ObjectId id(kOwner, 7);
  (void)o.add_ref_decoded(id);
  (void)o.peer_failed(2);
  const ObjectId ids[] = {id};
  o.hold_for(2, ids);
  CHECK(o.stats().transfers == 0u);
  (void)o.remove_ref(id);  // the task's own handle goes: nothing is left
  INFO(o.stats().describe());
  CHECK(o.stats().empty());
}

TEST_CASE("ownership: a lost primary waits for the reads in flight: a copy they made becomes the primary",
          "[ownership][peer]") {
  auto made_at_2 = [](Ownership& o, ObjectId id) {
    REQUIRE(o.add_pending(id).is_ok());
    (void)o.set_ready(id, meta_of(1 << 20), Location{2, 128}, nullptr);
  };
  auto in_list = [](const std::vector<ObjectId>& v, ObjectId id) { return std::find(v.begin(), v.end(), id) != v.end(); };

  SECTION("the reader's copy arrives after the holder's death: no re-make, waiters are sent to it") {
    Ownership o(kOwner, kInline);
    const ObjectId id(kOwner, 1);
    made_at_2(o, id);
    const Reply r = only_reply(o.locate(id, 1, 1));  // rank 1 reads from rank 2
    REQUIRE(r.body.where.rank == 2);
    Actions died = o.peer_failed(2);
    CHECK(!in_list(died.reconstruct, id));               // rank 1's read may have finished
    CHECK(o.locate(id, 3, 2).empty());                   // rank 3 waits meanwhile
    Actions done = o.read_done(id, 1, r.body.lease, 4096);  // it had: a copy at rank 1
    CHECK(!in_list(done.reconstruct, id));
    const Reply to3 = only_reply(done);
    CHECK(to3.reader == 3);
    CHECK(to3.body.where.rank == 1);
    CHECK(to3.body.where.offset == 4096);
    CHECK(only_reply(o.locate(id, 4, 3)).body.where.rank == 1);
  }
  SECTION("the read failed: the output is re-made once the lease ended") {
    Ownership o(kOwner, kInline);
    const ObjectId id(kOwner, 1);
    made_at_2(o, id);
    const Reply r = only_reply(o.locate(id, 1, 1));
    CHECK(!in_list(o.peer_failed(2).reconstruct, id));
    CHECK(in_list(o.read_done(id, 1, r.body.lease, std::nullopt).reconstruct, id));
  }
  SECTION("the reader dies too: re-made") {
    Ownership o(kOwner, kInline);
    const ObjectId id(kOwner, 1);
    made_at_2(o, id);
    (void)only_reply(o.locate(id, 1, 1));
    CHECK(!in_list(o.peer_failed(2).reconstruct, id));
    CHECK(in_list(o.peer_failed(1).reconstruct, id));
  }
  SECTION("no read in flight: re-made at once") {
    Ownership o(kOwner, kInline);
    const ObjectId id(kOwner, 1);
    made_at_2(o, id);
    CHECK(in_list(o.peer_failed(2).reconstruct, id));
  }
}
