// test_borrowing_sim.cc — in-process simulation of the borrower protocol.
//
// Eight simulated ranks, each with an arena + ObjectTable, an Ownership and an
// inbox (per-sender FIFO, the next sender picked at random, like the
// transport). Four threads pick random ranks and either process one message
// or act as the application, mirroring runtime/src/borrow_core.cc, tasks.cc
// and api.cc:
//   put          a small object, possibly holding some of the rank's refs
//                (add_contained, as put() of a std::vector<ObjectRef<T>>)
//   pass         a ref to another rank as a task argument: the sender holds it
//                (pending entry); the receiver decodes it (add_ref_decoded),
//                waits for its registration, keeps it ("actor state") and
//                answers done; the sender then drops its hold
//   task         a task whose result holds some of the executor's refs: the
//                executor keeps them (hold_for), sends kContained then the done
//                record; the owner of the result holds them (add_contained) and
//                releases the executor's hold once registered
//   get          locate at the owner (value copied from its arena); decoding
//                the value's contained refs registers them while the read hold
//                on the outer object is kept
//   copy / drop  local refs, in random order
// Checks: (a) no read or registration of a ref the reader holds ever gets
// not_found; (b) after every ref is dropped and every inbox drained, every
// Ownership is empty and every arena block free (leak check); (c) no block is
// freed twice (ObjectTable::free fails on a double free).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>

#include "ferry/objstore/objstore.h"
#include "ownership.h"

using namespace ferry::rt;
using ferry::Errc;
using ferry::Status;
namespace os = ferry::objstore;

namespace {

constexpr std::size_t kInline = 4096;
constexpr std::uint64_t kTag = 0x99;

struct Msg {
  enum Kind { locate, reply, add, ack, remove, contained, release, arg, arg_done, task, task_done } kind = locate;
  Rank src = kInvalidRank;
  ObjectId id;
  std::uint64_t num = 0;  // request / seq / token
  Status status;
  LocateReply body;
  std::vector<ObjectId> ids;
};

struct SimRank {
  Rank rank;
  std::unique_ptr<os::Arena> arena;
  std::unique_ptr<os::ObjectTable> table;
  std::unique_ptr<Ownership> own;
  os::ObjectIdGenerator ids;
  std::atomic<bool> dead{false};
  std::mutex inbox_mu;
  std::deque<Msg> inbox;  // guarded by inbox_mu
  std::mutex progress_mu;
  std::mutex mu;  // guards the rest
  std::vector<ObjectId> refs;                                            // one entry = one handle
  std::unordered_map<std::uint64_t, std::function<void()>> waits;        // seq -> continuation
  std::unordered_map<std::uint64_t, ObjectId> reads;                     // request -> id (read hold)
  std::unordered_map<std::uint64_t, std::pair<Rank, ObjectId>> carried;  // token -> (receiver, held arg)
  std::unordered_map<ObjectId, Rank> tasks;                              // output -> executor
  std::uint64_t next = 1;

  explicit SimRank(Rank r) : rank(r), ids(r) {
    arena = os::Arena::create({4u << 20, r}).value();
    table = std::make_unique<os::ObjectTable>(*arena);
    own = std::make_unique<Ownership>(r, kInline);
  }
};

class Sim {
 public:
  explicit Sim(Rank n) {
    for (Rank r = 0; r < n; ++r) ranks_.push_back(std::make_unique<SimRank>(r));
  }
  std::atomic<std::uint64_t> puts{0}, nested_puts{0}, passes{0}, registrations{0}, reads{0}, nested_reads{0},
      tasks_done{0}, contained_results{0}, not_found{0}, owner_died{0};
  bool kill_mode = false;

  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(fail_mu_);
    if (failures_.size() < 20) failures_.push_back(what);
  }
  std::vector<std::string> failures() {
    std::lock_guard<std::mutex> lock(fail_mu_);
    return failures_;
  }
  SimRank& rank(Rank r) { return *ranks_[r]; }
  Rank size() const { return static_cast<Rank>(ranks_.size()); }

  // Contents (contained refs) of every object ever made: what decoding its value yields.
  std::vector<ObjectId> contents(ObjectId id) {
    std::lock_guard<std::mutex> lock(contents_mu_);
    auto it = contents_.find(id);
    return it == contents_.end() ? std::vector<ObjectId>{} : it->second;
  }
  void set_contents(ObjectId id, std::vector<ObjectId> c) {
    std::lock_guard<std::mutex> lock(contents_mu_);
    contents_[id] = std::move(c);
  }
  // Creation order: a result only holds refs older than itself (no reference
  // cycles, which reference counting cannot free, here as in Ray).
  void born(ObjectId id) {
    std::lock_guard<std::mutex> lock(contents_mu_);
    birth_[id] = next_birth_++;
  }
  bool older(ObjectId a, ObjectId than) {
    std::lock_guard<std::mutex> lock(contents_mu_);
    return birth_.at(a) < birth_.at(than);
  }

  // ------------------------------------------------------------ messaging
  void send(Rank dst, Msg m) {
    SimRank& d = rank(dst);
    if (d.dead) return;  // the transport drops it; peer_failed cleans up
    std::lock_guard<std::mutex> lock(d.inbox_mu);
    d.inbox.push_back(std::move(m));
  }
  Msg msg(Msg::Kind k, Rank src, ObjectId id, std::uint64_t num = 0) {
    Msg m;
    m.kind = k;
    m.src = src;
    m.id = id;
    m.num = num;
    return m;
  }

  bool process_one(SimRank& s, std::uint64_t pick) {
    std::lock_guard<std::mutex> progress(s.progress_mu);
    Msg m;
    {
      std::lock_guard<std::mutex> lock(s.inbox_mu);
      if (s.inbox.empty()) return false;
      auto it = s.inbox.begin() + static_cast<std::ptrdiff_t>(pick % s.inbox.size());
      const Rank sender = it->src;
      it = std::find_if(s.inbox.begin(), s.inbox.end(), [&](const Msg& x) { return x.src == sender; });
      m = std::move(*it);
      s.inbox.erase(it);
    }
    if (s.dead || rank(m.src).dead) return true;
    handle(s, m);
    return true;
  }

  void handle(SimRank& s, Msg& m) {
    switch (m.kind) {
      case Msg::locate: return run(s, s.own->locate(m.id, m.src, m.num));
      case Msg::reply: return on_reply(s, m.num, m.id, std::move(m.body));
      case Msg::add: return run(s, s.own->borrow_add(m.id, m.src, m.num));
      case Msg::ack: return run(s, s.own->borrow_acked(m.id, m.num, m.status));
      case Msg::remove: return run(s, s.own->borrow_remove(m.id, m.src, m.num));
      case Msg::contained: return run(s, s.own->add_contained(m.id, m.ids, m.src));
      case Msg::release: return run(s, s.own->release_for(m.src, m.ids));
      case Msg::arg: return on_arg(s, m.src, m.id, m.num);
      case Msg::arg_done: return on_arg_done(s, m.num);
      case Msg::task: return execute(s, m.src, m.id);
      case Msg::task_done: return complete(s, m.id, std::move(m.ids));
    }
  }

  void run(SimRank& s, Actions&& a) {
    // No lineage in the simulation: a lost task output cannot be re-made.
    for (ObjectId id : a.reconstruct) run(s, s.own->set_failed(id, Status(Errc::object_lost, "simulated: lost")));
    for (ObjectId id : a.free_local) {
      Status st = s.table->free(id);
      if (!st) fail("rank " + std::to_string(s.rank) + ": free of " + id.to_string() + ": " + st.to_string());
    }
    for (const Drop& d : a.drop_copies) {
      if (d.holder == s.rank) run(s, s.own->drop_copy(d.id));
    }
    for (Reply& r : a.replies) {
      if (r.body.kind == ReplyKind::from_arena) {
        auto info = s.table->pin(r.id);
        if (!info) {
          r.body.kind = ReplyKind::error;
          r.body.error = Status(Errc::not_found, "freed while being read");
        } else {
          const std::byte* p = s.arena->at(info.value().payload_offset());
          r.body.value = std::make_shared<const ferry::transport::Bytes>(p, p + info.value().size);
          r.body.kind = ReplyKind::value;
          (void)s.table->unpin(r.id);
        }
      }
      Msg m = msg(Msg::reply, s.rank, r.id, r.request);
      m.body = std::move(r.body);
      if (r.reader == s.rank) on_reply(s, r.request, r.id, std::move(m.body));
      else send(r.reader, std::move(m));
    }
    for (const BorrowMsg& b : a.borrow_adds) send(b.id.owner(), msg(Msg::add, s.rank, b.id, b.seq));
    for (const BorrowMsg& b : a.borrow_removes) send(b.id.owner(), msg(Msg::remove, s.rank, b.id, b.seq));
    for (const BorrowAck& k : a.borrow_acks) {
      Msg m = msg(Msg::ack, s.rank, k.id, k.seq);
      m.status = k.status;
      send(k.borrower, std::move(m));
    }
    std::map<Rank, std::vector<ObjectId>> rel;
    for (const Release& r : a.releases) rel[r.holder].push_back(r.id);
    for (auto& [h, ids] : rel) {
      if (h == s.rank) {
        run(s, s.own->release_for(s.rank, ids));
      } else {
        Msg m = msg(Msg::release, s.rank, ObjectId());
        m.ids = std::move(ids);
        send(h, std::move(m));
      }
    }
    for (const Registered& r : a.registered) {
      if (!r.status.is_ok()) {
        if (r.status.code() == Errc::owner_died) ++owner_died;
        else if (kill_mode) ++not_found;
        else fail("rank " + std::to_string(s.rank) + ": registration of a held ref " + r.id.to_string() +
                  " refused: " + r.status.to_string());
      }
      std::function<void()> k;
      {
        std::lock_guard<std::mutex> lock(s.mu);
        auto it = s.waits.find(r.seq);
        if (it == s.waits.end()) continue;
        k = std::move(it->second);
        s.waits.erase(it);
      }
      k();
    }
  }

  // Decodes `id` on s (add_ref_decoded); `then` runs once it is registered.
  void decode(SimRank& s, ObjectId id, std::function<void()> then) {
    Ownership::Decoded d = s.own->add_ref_decoded(id);
    if (d.wait) {
      ++registrations;
      std::lock_guard<std::mutex> lock(s.mu);
      s.waits.emplace(d.seq, std::move(then));
    }
    run(s, std::move(d.actions));
    if (!d.wait) then();
  }
  // Decodes every id, then runs `then` (all registered).
  void decode_all(SimRank& s, const std::vector<ObjectId>& ids, std::function<void()> then) {
    if (ids.empty()) return then();
    auto left = std::make_shared<std::atomic<std::size_t>>(ids.size());
    for (ObjectId id : ids)
      decode(s, id, [this, &s, id, left, then] {
        give(s, id);
        if (left->fetch_sub(1) == 1) then();
      });
  }

  void give(SimRank& s, ObjectId id) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.refs.push_back(id);
  }
  std::optional<ObjectId> take(SimRank& s, std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.refs.empty()) return std::nullopt;
    std::size_t i = rng() % s.refs.size();
    ObjectId id = s.refs[i];
    s.refs[i] = s.refs.back();
    s.refs.pop_back();
    return id;
  }
  // Up to n of s's refs, each copied (add_ref): the caller owns one more handle each.
  std::vector<ObjectId> pick_copies(SimRank& s, std::mt19937_64& rng, std::size_t n) {
    std::vector<ObjectId> out;
    for (std::size_t i = 0; i < n; ++i) {
      auto id = take(s, rng);
      if (!id) break;
      s.own->add_ref(*id);
      out.push_back(*id);
      give(s, *id);
    }
    return out;
  }
  void drop_all(SimRank& s, const std::vector<ObjectId>& ids) { run(s, s.own->remove_refs(ids)); }

  // ------------------------------------------------------------ application
  void put(SimRank& s, std::mt19937_64& rng) {
    const ObjectId id = s.ids.next();
    auto info = s.table->create(id, 16, kTag, 0, 0);
    if (!info) return;
    born(id);
    std::memcpy(s.arena->at(info.value().payload_offset()), &id, sizeof id);
    if (!s.table->seal(id)) fail("seal");
    if (Status st = s.own->add_owned(id, ObjectMeta{16, kTag, 0, 0}, {s.rank, info.value().offset}); !st)
      fail(st.to_string());
    std::vector<ObjectId> inner = pick_copies(s, rng, rng() % 3);  // handles alive while "encoding"
    set_contents(id, inner);
    run(s, s.own->add_contained(id, inner, kInvalidRank));
    drop_all(s, inner);  // the value's handles die after put()
    give(s, id);
    ++puts;
    if (!inner.empty()) ++nested_puts;
  }

  void pass(SimRank& s, std::mt19937_64& rng) {
    auto id = take(s, rng);
    if (!id) return;
    const Rank d = static_cast<Rank>(rng() % size());
    if (d == s.rank) return give(s, *id);
    s.own->add_ref(*id);  // the pending entry's hold
    std::uint64_t token;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      token = s.next++;
      s.carried[token] = {d, *id};
    }
    send(d, msg(Msg::arg, s.rank, *id, token));
    // The application drops its handle at once, half of the time.
    if (rng() % 2) run(s, s.own->remove_ref(*id));
    else give(s, *id);
    ++passes;
  }

  void on_arg(SimRank& s, Rank from, ObjectId id, std::uint64_t token) {
    decode(s, id, [this, &s, from, id, token] {
      give(s, id);  // kept (actor state)
      send(from, msg(Msg::arg_done, s.rank, ObjectId(), token));
    });
  }
  void on_arg_done(SimRank& s, std::uint64_t token) {
    std::vector<ObjectId> held;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      auto it = s.carried.find(token);
      if (it == s.carried.end()) return;
      held.push_back(it->second.second);
      s.carried.erase(it);
    }
    drop_all(s, held);
  }

  void submit(SimRank& s, std::mt19937_64& rng) {
    const Rank e = static_cast<Rank>(rng() % size());
    const ObjectId out = s.ids.next();
    born(out);
    if (Status st = s.own->add_pending(out); !st) fail(st.to_string());
    give(s, out);
    if (rank(e).dead) return run(s, s.own->set_failed(out, Status(Errc::peer_failed, "executor died")));
    {
      std::lock_guard<std::mutex> lock(s.mu);
      s.tasks[out] = e;
    }
    if (e == s.rank) return execute(s, s.rank, out);
    send(e, msg(Msg::task, s.rank, out));
  }

  // Executor: the result holds up to two of this rank's refs.
  void execute(SimRank& x, Rank owner, ObjectId out) {
    std::mt19937_64 rng(out.counter() * 7919 + x.rank);
    std::vector<ObjectId> inner = pick_copies(x, rng, rng() % 3);
    std::vector<ObjectId> younger;
    for (ObjectId id : inner)
      if (!older(id, out)) younger.push_back(id);
    inner.erase(std::remove_if(inner.begin(), inner.end(), [&](ObjectId id) { return !older(id, out); }), inner.end());
    drop_all(x, younger);
    if (!inner.empty()) {
      x.own->hold_for(owner, inner);
      Msg c = msg(Msg::contained, x.rank, out);
      c.ids = inner;
      if (owner == x.rank) run(x, x.own->add_contained(out, inner, x.rank));
      else send(owner, std::move(c));
      ++contained_results;
    }
    drop_all(x, inner);  // the function's locals die
    Msg d = msg(Msg::task_done, x.rank, out);
    d.ids = inner;
    if (owner == x.rank) return complete(x, out, std::move(d.ids));
    send(owner, std::move(d));
  }

  void complete(SimRank& o, ObjectId out, std::vector<ObjectId> inner) {
    {
      std::lock_guard<std::mutex> lock(o.mu);
      if (o.tasks.erase(out) == 0) return;
    }
    set_contents(out, std::move(inner));
    auto v = std::make_shared<ferry::transport::Bytes>(16);
    std::memcpy(v->data(), &out, sizeof out);
    run(o, o.own->set_ready(out, ObjectMeta{16, kTag, 0, 0}, std::nullopt, v));
    ++tasks_done;
  }

  void get(SimRank& s, std::mt19937_64& rng) {
    auto id = take(s, rng);
    if (!id) return;
    if (rank(id->owner()).dead) {
      ++owner_died;
      return give(s, *id);
    }
    s.own->add_ref(*id);  // the read's hold (the ObjectRef get() is called on)
    give(s, *id);
    std::uint64_t req;
    {
      std::lock_guard<std::mutex> lock(s.mu);
      req = s.next++;
      s.reads[req] = *id;
    }
    if (id->owner() == s.rank) return run(s, s.own->locate(*id, s.rank, req));
    send(id->owner(), msg(Msg::locate, s.rank, *id, req));
  }

  void on_reply(SimRank& s, std::uint64_t req, ObjectId id, LocateReply&& body) {
    {
      std::lock_guard<std::mutex> lock(s.mu);
      if (s.reads.erase(req) == 0) return;
    }
    if (body.kind == ReplyKind::error) {
      if (body.error.code() == Errc::owner_died) ++owner_died;
      else if (kill_mode) ++not_found;
      else fail("rank " + std::to_string(s.rank) + ": get of held ref " + id.to_string() + ": " + body.error.to_string());
      return run(s, s.own->remove_ref(id));
    }
    ++reads;
    if (body.kind == ReplyKind::value && body.value && body.value->size() == 16) {
      ObjectId got;
      std::memcpy(&got, body.value->data(), sizeof got);
      if (got != id) fail("get of " + id.to_string() + " returned the bytes of " + got.to_string());
    }
    if (body.kind == ReplyKind::at_holder && body.lease) run(s, s.own->read_done(id, s.rank, body.lease, std::nullopt));
    // Decoding the value: its refs are registered while the read hold lasts.
    std::vector<ObjectId> inner = contents(id);
    if (!inner.empty()) ++nested_reads;
    decode_all(s, inner, [this, &s, id] { run(s, s.own->remove_ref(id)); });
  }

  void app_step(SimRank& s, std::mt19937_64& rng) {
    const unsigned op = rng() % 100;
    if (op < 14) put(s, rng);
    else if (op < 34) pass(s, rng);
    else if (op < 44) submit(s, rng);
    else if (op < 66) get(s, rng);
    else if (op < 72) {
      for (ObjectId id : pick_copies(s, rng, 1)) give(s, id);  // a copied handle
    }
    else if (op < 96) {
      if (auto id = take(s, rng)) run(s, s.own->remove_ref(*id));
    }
  }

  void kill(Rank victim) {
    rank(victim).dead = true;
    for (auto& r : ranks_) {
      if (r->dead) continue;
      std::lock_guard<std::mutex> progress(r->progress_mu);
      run(*r, r->own->peer_failed(victim));
      std::vector<std::vector<ObjectId>> lost;
      std::vector<ObjectId> failed;
      {
        std::lock_guard<std::mutex> lock(r->mu);
        // Tasks sent to the victim never complete: they fail. Reads from it fail (owner_died).
        for (auto it = r->tasks.begin(); it != r->tasks.end();) {
          if (it->second == victim) {
            failed.push_back(it->first);
            it = r->tasks.erase(it);
          } else {
            ++it;
          }
        }
        for (auto it = r->reads.begin(); it != r->reads.end();) {
          if (it->second.owner() == victim) {
            lost.push_back({it->second});
            it = r->reads.erase(it);
          } else {
            ++it;
          }
        }
      }
      for (auto& l : lost) drop_all(*r, l);
      for (ObjectId id : failed) run(*r, r->own->set_failed(id, Status(Errc::peer_failed, "executor died")));
    }
  }

  // Drops every handle and drains every inbox until nothing moves.
  void wind_down() {
    for (bool any = true; any;) {
      any = false;
      for (auto& r : ranks_) {
        if (r->dead) {
          std::lock_guard<std::mutex> lock(r->inbox_mu);
          r->inbox.clear();
          continue;
        }
        while (process_one(*r, 0)) any = true;
        std::vector<ObjectId> refs;
        {
          std::lock_guard<std::mutex> lock(r->mu);
          refs.swap(r->refs);
          // Args held for a dead receiver: it never answers.
          for (auto it = r->carried.begin(); it != r->carried.end();) {
            if (rank(it->second.first).dead) {
              refs.push_back(it->second.second);
              it = r->carried.erase(it);
            } else {
              ++it;
            }
          }
        }
        if (!refs.empty()) any = true;
        drop_all(*r, refs);
      }
    }
  }

 private:
  std::vector<std::unique_ptr<SimRank>> ranks_;
  std::mutex fail_mu_, contents_mu_;
  std::vector<std::string> failures_;
  std::unordered_map<ObjectId, std::vector<ObjectId>> contents_;  // guarded by contents_mu_
  std::unordered_map<ObjectId, std::uint64_t> birth_;              // guarded by contents_mu_
  std::uint64_t next_birth_ = 0;                                   // guarded by contents_mu_
};

void simulate(Sim& sim, std::uint64_t seed, int steps, std::optional<Rank> victim) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + t);
      for (int i = 0; i < steps; ++i) {
        if (victim && t == 0 && i == steps / 2) sim.kill(*victim);
        SimRank& s = sim.rank(static_cast<Rank>(rng() % sim.size()));
        if (s.dead) continue;
        if (rng() % 100 < 45) sim.process_one(s, rng());
        else sim.app_step(s, rng);
      }
    });
  }
  for (auto& th : threads) th.join();
  sim.wind_down();
}

void check_no_leaks(Sim& sim) {
  for (Rank r = 0; r < sim.size(); ++r) {
    SimRank& s = sim.rank(r);
    if (s.dead) continue;
    INFO("rank " << r);
    OwnershipStats st = s.own->stats();
    INFO("ownership: " << st.describe());
    CHECK(st.empty());
    CHECK(s.table->stats().objects == 0);
    CHECK(s.table->stats().arena.used == 0);
    std::lock_guard<std::mutex> lock(s.mu);
    CHECK(s.waits.empty());
    CHECK(s.tasks.empty());
    CHECK(s.carried.empty());
    CHECK(s.reads.empty());
  }
}

void report(Sim& sim) {
  for (const auto& f : sim.failures()) UNSCOPED_INFO(f);
  CHECK(sim.failures().empty());
  INFO("puts " << sim.puts << " (nested " << sim.nested_puts << "), passes " << sim.passes << ", registrations "
               << sim.registrations << ", reads " << sim.reads << " (nested " << sim.nested_reads << "), tasks "
               << sim.tasks_done << " (results holding refs " << sim.contained_results << "), not_found "
               << sim.not_found << ", owner_died " << sim.owner_died);
  // Every path ran (else the test proves nothing).
  CHECK(sim.nested_puts > 200u);
  CHECK(sim.passes > 1000u);
  CHECK(sim.registrations > 1000u);
  CHECK(sim.nested_reads > 200u);
  CHECK(sim.contained_results > 200u);
}

}  // namespace

TEST_CASE("borrowing simulation: 8 ranks, random ref passing, no held ref is lost, nothing leaks",
          "[simulation][borrowing]") {
  for (std::uint64_t seed = 1; seed <= 6; ++seed) {
    INFO("seed " << seed);
    Sim sim(8);
    simulate(sim, seed, 30000, std::nullopt);
    report(sim);
    CHECK(sim.not_found == 0u);
    check_no_leaks(sim);
  }
}

TEST_CASE("borrowing simulation: a rank dies half-way, the survivors leak nothing", "[simulation][borrowing]") {
  for (std::uint64_t seed = 11; seed <= 13; ++seed) {
    INFO("seed " << seed);
    Sim sim(8);
    sim.kill_mode = true;
    simulate(sim, seed, 30000, Rank{5});
    report(sim);
    CHECK(sim.owner_died > 0u);
    check_no_leaks(sim);
  }
}
