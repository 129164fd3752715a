// test_stress.cc — 4 threads create, fill, seal, share, pin, read and free
// objects in one table; every payload is verified before it is freed (so an
// overlap between blocks would be caught), and at the end nothing leaks.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "ferry/objstore/object_table.h"

using ferry::Errc;
using namespace ferry::objstore;

namespace {

// The byte pattern of object `id` at position i: a cheap function of both.
std::byte pattern(ObjectId id, std::size_t i) {
  return static_cast<std::byte>((id.counter() * 131 + id.owner() * 7 + i) & 0xFF);
}

bool payload_intact(std::span<const std::byte> p, ObjectId id) {
  for (std::size_t i = 0; i < p.size(); i += 61)
    if (p[i] != pattern(id, i)) return false;
  return p.empty() || p.back() == pattern(id, p.size() - 1);
}

// Objects sealed by one thread, readable by the others.
struct SharedPool {
  std::mutex mu;
  std::deque<ObjectId> ids;
};

struct Counters {
  std::atomic<int> errors{0};
  std::atomic<int> full{0};
  std::atomic<int> remote_reads{0};
};

void worker(unsigned t, ObjectTable& table, SharedPool& pool, Counters& c) {
  std::mt19937_64 rng(1000 + t);
  ObjectIdGenerator gen(t);
  std::vector<ObjectId> mine;
  auto fail = [&c](bool bad) { if (bad) c.errors.fetch_add(1); };
  for (int step = 0; step < 4000; ++step) {
    const int op = static_cast<int>(rng() % 100);
    if (op < 45) {  // create + fill + seal, sometimes publish
      const ObjectId id = gen.next();
      const std::size_t size = rng() % 8 == 0 ? rng() % (128 * 1024) : rng() % 2048;
      auto info = table.create(id, size);
      if (!info) {
        fail(info.status().code() != Errc::store_full);
        c.full.fetch_add(1);
        continue;
      }
      auto p = table.payload(id).value();
      for (std::size_t i = 0; i < p.size(); ++i) p[i] = pattern(id, i);
      fail(!table.seal(id).is_ok());
      mine.push_back(id);
      if (rng() % 3 == 0) {
        std::lock_guard<std::mutex> lock(pool.mu);
        pool.ids.push_back(id);
      }
    } else if (op < 75 && !mine.empty()) {  // verify and free one of mine (deferred if pinned)
      const std::size_t k = rng() % mine.size();
      const ObjectId id = mine[k];
      mine[k] = mine.back();
      mine.pop_back();
      fail(!payload_intact(table.payload(id).value(), id));
      fail(!table.free(id).is_ok());
    } else {  // read someone's object as a "remote" reader would: pin, check, unpin
      ObjectId id;
      {
        std::lock_guard<std::mutex> lock(pool.mu);
        if (pool.ids.empty()) continue;
        id = pool.ids[rng() % pool.ids.size()];
        if (pool.ids.size() > 64) pool.ids.pop_front();
      }
      auto info = table.pin(id);
      if (!info) {  // freed by its owner meanwhile: fine, but must say not_found
        fail(info.status().code() != Errc::not_found);
        continue;
      }
      auto hdr = validate_header(std::span<const std::byte>(table.arena().at(info->offset), kHeaderBytes),
                                 HeaderExpectation{id, std::nullopt, std::nullopt});
      fail(!hdr.is_ok());
      fail(!payload_intact(std::span<const std::byte>(table.arena().at(info->payload_offset()), info->size), id));
      c.remote_reads.fetch_add(1);
      if (rng() % 4 == 0) std::this_thread::yield();  // let the owner free it while pinned
      fail(!table.unpin(id).is_ok());
    }
  }
  for (ObjectId id : mine) fail(!table.free(id).is_ok());
}

}  // namespace

TEST_CASE("4 threads: create/seal/pin/read/free stress leaves no leak", "[table][stress]") {
  ArenaOptions o;
  o.bytes = 8u << 20;  // small enough that store_full happens under load
  auto arena = Arena::create(o).value();
  ObjectTable table(*arena);
  SharedPool pool;
  Counters counters;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) threads.emplace_back(worker, t, std::ref(table), std::ref(pool), std::ref(counters));
  for (auto& th : threads) th.join();

  CHECK(counters.errors.load() == 0);
  CHECK(counters.remote_reads.load() > 100);
  INFO("store_full events: " << counters.full.load());
  const TableStats s = table.stats();
  CHECK(s.objects == 0);
  CHECK(s.pinned == 0);
  CHECK(s.free_pending == 0);
  CHECK(s.sealed == 0);
  CHECK(s.arena.used == 0);
  CHECK(s.arena.allocations == 0);
  CHECK(s.arena.free_blocks == 1);
  CHECK(s.arena.largest_free == s.arena.capacity);
  REQUIRE(arena->allocator().check_invariants().is_ok());
}

TEST_CASE("4 threads hammering the allocator directly keep its invariants", "[allocator][stress]") {
  Allocator a(16u << 20);
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::uint64_t> live;
      for (int i = 0; i < 20000; ++i) {
        if (rng() % 2 == 0 || live.empty()) {
          auto r = a.allocate(1 + rng() % 16384);
          if (r) live.push_back(*r);
          else if (r.status().code() != Errc::store_full) errors.fetch_add(1);
        } else {
          const std::size_t k = rng() % live.size();
          if (!a.free(live[k]).is_ok()) errors.fetch_add(1);
          live[k] = live.back();
          live.pop_back();
        }
      }
      for (auto off : live)
        if (!a.free(off).is_ok()) errors.fetch_add(1);
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors.load() == 0);
  CHECK(a.stats().used == 0);
  CHECK(a.stats().free_blocks == 1);
  REQUIRE(a.check_invariants().is_ok());
}
