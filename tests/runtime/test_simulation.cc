// test_simulation.cc — in-process multi-owner simulation of the ownership core.
//
// Six simulated ranks, each with a real object-store arena + ObjectTable, an
// Ownership instance and an inbox. Four threads pick random ranks and either
// process one inbox message (one at a time per rank, like a progress thread)
// or act as the application: put, pass a ref to another rank, get (local read,
// inline value, or a "one-sided get" = memcpy from the holder's arena, then
// maybe cache a copy), copy or drop a ref. The glue mirrors runtime/src/core.cc
// and fetch.cc.
//
// Checks while running: every one-sided read finds a valid header for the
// right id (a lease protocol bug lets the holder free the block under the
// reader: the header would read "freed" or another id) and the right bytes;
// an owner's own get of an object it holds a ref to never fails.
// Checks at the end (after every ref is dropped and every inbox drained):
// every Ownership is empty and every arena block is freed on every live rank.
// The second test kills a rank half-way (peer_failed everywhere).
// Task flows (mirroring runtime/src/tasks.cc and task_exec.cc): a
// rank submits a task to a random executor (add_pending; one argument ref
// held by its pending entry); the executor answers with an inline value or
// keeps a large result in its arena as a copy of the owner's object
// (add_copy) and reports its offset; the owner completes it (set_ready with
// the executor as primary, or set_failed when the executor died) and drops
// the held argument. Outputs are then read, passed and dropped like puts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "ferry/objstore/objstore.h"
#include "ferry_test/pattern.h"
#include "ownership.h"

using namespace ferry::rt;
using ferry::Errc;
using ferry::Status;
namespace os = ferry::objstore;

namespace {

constexpr std::size_t kInline = 1024;
constexpr std::size_t kSizes[] = {0, 8, 200, 1024, 1025, 3000, 20000, 100000};

std::uint64_t seed_of(ObjectId id) { return ferry::test::make_seed(id.owner(), id.counter(), 0x51); }

struct Msg {
  enum Kind { locate, reply, read_done, drop, pass_ref, task, task_done } kind = locate;
  Rank src = kInvalidRank;
  ObjectId id;
  std::uint64_t request = 0;
  Rank bad_holder = kInvalidRank;
  LocateReply body;
  std::uint64_t lease = 0;
  std::optional<std::uint64_t> cached;
  // task / task_done
  std::size_t size = 0;
  std::optional<std::uint64_t> stored;  // task_done: offset of the result in the executor's arena
  SharedBytes value;                    // task_done: inline result
};

Msg make_msg(Msg::Kind kind, Rank src, ObjectId id, std::uint64_t request = 0, Rank bad_holder = kInvalidRank) {
  Msg m;
  m.kind = kind;
  m.src = src;
  m.id = id;
  m.request = request;
  m.bad_holder = bad_holder;
  return m;
}

struct SimRank {
  Rank rank;
  std::unique_ptr<os::Arena> arena;
  std::unique_ptr<os::ObjectTable> table;
  std::unique_ptr<Ownership> own;
  os::ObjectIdGenerator ids;
  std::atomic<bool> dead{false};
  std::mutex inbox_mu;
  std::deque<Msg> inbox;      // guarded by inbox_mu
  std::mutex progress_mu;     // one message at a time, like a progress thread
  std::mutex refs_mu;
  std::vector<ObjectId> refs; // guarded by refs_mu; one entry = one local reference
  std::mutex req_mu;
  std::unordered_map<std::uint64_t, ObjectId> pending;  // guarded by req_mu
  std::uint64_t next_request = 1;                       // guarded by req_mu
  std::mutex task_mu;
  // output -> (executor, held argument or nil): the submitter's pending tasks
  std::unordered_map<ObjectId, std::pair<Rank, ObjectId>> tasks;  // guarded by task_mu
  std::unordered_set<ObjectId> task_outputs;                       // guarded by task_mu: ever submitted

  explicit SimRank(Rank r) : rank(r), ids(r) {
    arena = os::Arena::create({8u << 20, r}).value();
    table = std::make_unique<os::ObjectTable>(*arena);
    own = std::make_unique<Ownership>(r, kInline);
  }
};

class Sim {
 public:
  explicit Sim(Rank n) {
    for (Rank r = 0; r < n; ++r) ranks_.push_back(std::make_unique<SimRank>(r));
  }

  std::atomic<std::uint64_t> puts{0}, inline_reads{0}, one_sided_reads{0}, local_reads{0}, copies_cached{0},
      not_found{0}, owner_died{0}, passed{0}, tasks_done{0}, tasks_stored{0}, tasks_failed{0},
      failed_task_reads{0};

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

  // ------------------------------------------------------------ messaging
  void send(Rank dst, Msg m) {
    SimRank& d = rank(dst);
    if (d.dead) {
      // The transport fails the send; a locate then fails the reader's get.
      if (m.kind == Msg::locate && finish_request(rank(m.src), m.request)) ++owner_died;
      if (m.kind == Msg::task) fail_tasks_on(rank(m.src), dst, &m.id);
      return;
    }
    std::lock_guard<std::mutex> lock(d.inbox_mu);
    d.inbox.push_back(std::move(m));
  }

  // Processes one message of rank r; false if its inbox was empty. Messages
  // from one sender stay in order (like the transport); which sender goes
  // next is random (`pick`), so replies and frees race as they can for real.
  bool process_one(SimRank& s, std::uint64_t pick = 0) {
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
    if (s.dead) return true;
    switch (m.kind) {
      case Msg::locate: run(s, s.own->locate(m.id, m.src, m.request, m.bad_holder)); break;
      case Msg::reply: on_reply(s, m.request, m.id, std::move(m.body)); break;
      case Msg::read_done: run(s, s.own->read_done(m.id, m.src, m.lease, m.cached)); break;
      case Msg::drop: run(s, s.own->drop_copy(m.id)); break;
      case Msg::task: execute(s, m); break;
      case Msg::task_done: complete(s, m.src, m); break;
      case Msg::pass_ref: {
        s.own->add_ref(m.id);
        std::lock_guard<std::mutex> lock(s.refs_mu);
        s.refs.push_back(m.id);
        break;
      }
    }
    return true;
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
      else send(d.holder, make_msg(Msg::drop, s.rank, d.id));
    }
    for (Reply& r : a.replies) {
      if (r.reader == s.rank) {
        on_reply(s, r.request, r.id, std::move(r.body));
        continue;
      }
      if (r.body.kind == ReplyKind::from_arena) {  // owner copies the payload into the reply
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
      Msg m = make_msg(Msg::reply, s.rank, r.id, r.request);
      m.body = std::move(r.body);
      send(r.reader, std::move(m));
    }
  }

  // ------------------------------------------------------------ reader side
  std::uint64_t new_request(SimRank& s, ObjectId id) {
    std::lock_guard<std::mutex> lock(s.req_mu);
    std::uint64_t req = s.next_request++;
    s.pending[req] = id;
    return req;
  }
  bool finish_request(SimRank& s, std::uint64_t req) {
    std::lock_guard<std::mutex> lock(s.req_mu);
    return s.pending.erase(req) > 0;
  }

  void verify(SimRank& s, ObjectId id, const std::byte* p, std::size_t n, const char* how) {
    if (auto mm = ferry::test::find_mismatch(p, n, seed_of(id)))
      fail("rank " + std::to_string(s.rank) + ": " + how + " read of " + id.to_string() + ": " + mm->describe(n));
  }

  void read_local(SimRank& s, ObjectId id, bool must_exist) {
    auto info = s.table->pin(id);
    if (!info) {
      if (must_exist) fail("rank " + std::to_string(s.rank) + ": local read of " + id.to_string() + ": " +
                           info.status().to_string());
      return;
    }
    verify(s, id, s.arena->at(info.value().payload_offset()), info.value().size, "local");
    (void)s.table->unpin(id);
    ++local_reads;
  }

  void on_reply(SimRank& s, std::uint64_t req, ObjectId id, LocateReply&& body) {
    if (!finish_request(s, req)) {
      if (body.kind == ReplyKind::at_holder && body.lease) send_read_done(s, id, body.lease, std::nullopt);
      return;
    }
    switch (body.kind) {
      case ReplyKind::error:
        if (body.error.code() == Errc::not_found) ++not_found;
        else if (body.error.code() == Errc::owner_died) ++owner_died;
        else if (body.error.code() == Errc::peer_failed || body.error.code() == Errc::store_full ||
                 body.error.code() == Errc::object_lost)
          ++failed_task_reads;
        else fail("rank " + std::to_string(s.rank) + ": get of " + id.to_string() + ": " + body.error.to_string());
        if (id.owner() == s.rank && body.error.code() == Errc::not_found && s.own->ref_count(id) > 0)
          fail("rank " + std::to_string(s.rank) + ": own object " + id.to_string() + " not found while referenced");
        return;
      case ReplyKind::value:
        verify(s, id, body.value->data(), body.value->size(), "inline");
        if (id.owner() != s.rank) s.own->cache_value(id, body.meta, body.value);
        ++inline_reads;
        return;
      case ReplyKind::from_arena:
        fail("from_arena reply reached a reader");
        return;
      case ReplyKind::at_holder:
        if (body.where.rank == s.rank) {
          if (body.lease) send_read_done(s, id, body.lease, std::nullopt);
          return read_local(s, id, id.owner() == s.rank);
        }
        return one_sided(s, req, id, body);
    }
  }

  void one_sided(SimRank& s, std::uint64_t, ObjectId id, const LocateReply& body) {
    SimRank& h = rank(body.where.rank);
    const std::size_t total = os::kHeaderBytes + body.meta.size;
    std::vector<std::byte> buf(total);
    std::memcpy(buf.data(), h.arena->at(body.where.offset), total);  // the "one-sided get"
    os::HeaderExpectation expect;
    expect.id = id;
    expect.max_size = body.meta.size;
    auto hdr = os::validate_header(buf, expect);
    if (rank(id.owner()).dead) {  // the runtime fails this fetch with owner_died
      ++owner_died;
      return;
    }
    if (h.dead) {  // the transport would have failed the get; ask again without that holder
      send_read_done(s, id, body.lease, std::nullopt);
      Msg m = make_msg(Msg::locate, s.rank, id, new_request(s, id), body.where.rank);
      return send(id.owner(), std::move(m));
    }
    if (!hdr) {
      fail("rank " + std::to_string(s.rank) + ": one-sided read of " + id.to_string() + " from rank " +
           std::to_string(h.rank) + " under lease " + std::to_string(body.lease) + ": " + hdr.status().to_string());
      return send_read_done(s, id, body.lease, std::nullopt);
    }
    verify(s, id, buf.data() + os::kHeaderBytes, body.meta.size, "one-sided");
    ++one_sided_reads;
    std::optional<std::uint64_t> kept;
    if (id.owner() != s.rank && (id.counter() + s.rank) % 2 == 0) {
      auto info = s.table->create(id, body.meta.size, body.meta.type_tag, body.meta.format, body.meta.aux);
      if (info) {
        std::memcpy(s.arena->at(info.value().payload_offset()), buf.data() + os::kHeaderBytes, body.meta.size);
        if (!s.table->seal(id)) fail("seal failed");
        Actions a = s.own->add_copy(id, info.value().offset);
        if (a.free_local.empty()) {
          kept = info.value().offset;
          ++copies_cached;
        }
        run(s, std::move(a));
      }
    }
    send_read_done(s, id, body.lease, kept);
  }

  void send_read_done(SimRank& s, ObjectId id, std::uint64_t lease, std::optional<std::uint64_t> cached) {
    Msg m = make_msg(Msg::read_done, s.rank, id);
    m.lease = lease;
    m.cached = cached;
    if (id.owner() == s.rank) return run(s, s.own->read_done(id, s.rank, lease, cached));
    send(id.owner(), std::move(m));
  }

  // ------------------------------------------------------------ tasks
  void submit(SimRank& s, std::mt19937_64& rng) {
    const Rank e = static_cast<Rank>(rng() % size());
    const ObjectId out = s.ids.next();
    if (Status st = s.own->add_pending(out); !st) fail(st.to_string());
    ObjectId held;
    if (auto arg = take_ref(s, rng)) {
      s.own->add_ref(*arg);  // held by the pending entry until completion
      held = *arg;
      give_ref(s, *arg);
    }
    {
      std::lock_guard<std::mutex> lock(s.task_mu);
      s.tasks[out] = {e, held};
      s.task_outputs.insert(out);
    }
    give_ref(s, out);  // the application's ref to the output
    Msg m = make_msg(Msg::task, s.rank, out);
    m.size = kSizes[rng() % std::size(kSizes)];
    if (e == s.rank) return execute(s, m);
    send(e, std::move(m));
  }

  bool is_task_output(SimRank& s, ObjectId id) {
    std::lock_guard<std::mutex> lock(s.task_mu);
    return s.task_outputs.count(id) > 0;
  }

  // Executor side: produce the result (pattern of the output id).
  void execute(SimRank& x, const Msg& m) {
    Msg d = make_msg(Msg::task_done, x.rank, m.id);
    if (m.size <= kInline) {
      auto v = std::make_shared<ferry::transport::Bytes>(m.size);
      ferry::test::fill_pattern(v->data(), m.size, seed_of(m.id));
      d.value = std::move(v);
    } else {
      auto info = x.table->create(m.id, m.size, 0x77, 0, 0);
      if (!info) {  // arena full: the task fails (store_full)
        d.value = nullptr;
      } else {
        ferry::test::fill_pattern(x.arena->at(info.value().payload_offset()), m.size, seed_of(m.id));
        if (!x.table->seal(m.id)) fail("seal of a task result");
        if (m.src != x.rank) {
          Actions a = x.own->add_copy(m.id, info.value().offset);
          const bool owner_gone = !a.free_local.empty();
          run(x, std::move(a));
          if (owner_gone) return;
        }
        d.stored = info.value().offset;
      }
    }
    d.size = m.size;
    if (m.src == x.rank) return complete(x, x.rank, d);
    send(m.src, std::move(d));
  }

  // Owner side: the done record.
  void complete(SimRank& o, Rank executor, const Msg& d) {
    ObjectId held;
    {
      std::lock_guard<std::mutex> lock(o.task_mu);
      auto it = o.tasks.find(d.id);
      if (it == o.tasks.end() || it->second.first != executor) {
        // Already failed (executor declared dead): free a stored result where it lives.
        if (d.stored && executor != o.rank) send(executor, make_msg(Msg::drop, o.rank, d.id));
        return;
      }
      held = it->second.second;
      o.tasks.erase(it);
    }
    const ObjectMeta meta{d.size, 0x77, 0, 0};
    if (d.stored) {
      run(o, o.own->set_ready(d.id, meta, Location{executor, *d.stored}, nullptr));
      ++tasks_stored;
    } else if (d.value) {
      run(o, o.own->set_ready(d.id, meta, std::nullopt, d.value));
    } else {
      run(o, o.own->set_failed(d.id, Status(Errc::store_full, "simulated: executor store full")));
    }
    if (!held.is_nil()) run(o, o.own->remove_ref(held));
    ++tasks_done;
  }

  // The executor died: its pending tasks fail (or just `only`, a task whose send failed).
  void fail_tasks_on(SimRank& o, Rank executor, const ObjectId* only = nullptr) {
    std::vector<std::pair<ObjectId, ObjectId>> victims;
    {
      std::lock_guard<std::mutex> lock(o.task_mu);
      for (auto it = o.tasks.begin(); it != o.tasks.end();) {
        if (it->second.first == executor && (!only || it->first == *only)) {
          victims.emplace_back(it->first, it->second.second);
          it = o.tasks.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [id, held] : victims) {
      run(o, o.own->set_failed(id, Status(Errc::peer_failed, "simulated: executor died")));
      if (!held.is_nil()) run(o, o.own->remove_ref(held));
      ++tasks_failed;
    }
  }

  // ------------------------------------------------------------ application side
  std::optional<ObjectId> take_ref(SimRank& s, std::mt19937_64& rng) {
    std::lock_guard<std::mutex> lock(s.refs_mu);
    if (s.refs.empty()) return std::nullopt;
    std::size_t i = rng() % s.refs.size();
    ObjectId id = s.refs[i];
    s.refs[i] = s.refs.back();
    s.refs.pop_back();
    return id;
  }
  void give_ref(SimRank& s, ObjectId id) {
    std::lock_guard<std::mutex> lock(s.refs_mu);
    s.refs.push_back(id);
  }

  void app_step(SimRank& s, std::mt19937_64& rng) {
    unsigned op = rng() % 100;
    if (op < 18) {  // put
      std::size_t size = kSizes[rng() % std::size(kSizes)];
      ObjectId id = s.ids.next();
      auto info = s.table->create(id, size, 0x77, 0, 0);
      if (!info) return;  // arena full for now: fine
      ferry::test::fill_pattern(s.arena->at(info.value().payload_offset()), size, seed_of(id));
      if (!s.table->seal(id)) fail("seal");
      if (Status st = s.own->add_owned(id, ObjectMeta{size, 0x77, 0, 0}, {s.rank, info.value().offset}); !st)
        fail(st.to_string());
      give_ref(s, id);
      ++puts;
    } else if (op < 33) {  // pass a ref to another rank (it gets its own reference)
      auto id = take_ref(s, rng);
      if (!id) return;
      Rank dst = static_cast<Rank>(rng() % size());
      if (dst != s.rank) {
        send(dst, make_msg(Msg::pass_ref, s.rank, *id));
        ++passed;
      }
      give_ref(s, *id);
    } else if (op < 63) {  // get
      auto id = take_ref(s, rng);
      if (!id) return;
      get(s, *id);
      give_ref(s, *id);
    } else if (op < 70) {  // copy a ref
      auto id = take_ref(s, rng);
      if (!id) return;
      s.own->add_ref(*id);
      give_ref(s, *id);
      give_ref(s, *id);
    } else if (op < 88) {  // drop a ref
      auto id = take_ref(s, rng);
      if (id) run(s, s.own->remove_ref(*id));
    } else if (op < 96) {  // submit a task
      submit(s, rng);
    }
  }

  void get(SimRank& s, ObjectId id) {
    if (id.owner() == s.rank) {
      // Same path as a local ferry get: locate from self, answered at once.
      std::uint64_t req = new_request(s, id);
      run(s, s.own->locate(id, s.rank, req));
      // A task output may still be pending: its reply comes with set_ready/set_failed.
      if (is_task_output(s, id)) return;
      if (finish_request(s, req)) fail("local get of " + id.to_string() + " was not answered at once");
      return;
    }
    if (s.own->is_dead(id.owner())) {
      ++owner_died;
      return;
    }
    if (s.own->copy_offset(id)) return read_local(s, id, false);
    if (auto v = s.own->cached_value(id)) {
      verify(s, id, v->value->data(), v->value->size(), "cached value");
      return;
    }
    send(id.owner(), make_msg(Msg::locate, s.rank, id, new_request(s, id)));
  }

  void kill(Rank victim) {
    rank(victim).dead = true;
    for (auto& r : ranks_) {
      if (r->dead) continue;
      std::lock_guard<std::mutex> progress(r->progress_mu);
      run(*r, r->own->peer_failed(victim));
      fail_tasks_on(*r, victim);
      std::lock_guard<std::mutex> lock(r->req_mu);  // the runtime fails these fetches (owner_died)
      for (auto it = r->pending.begin(); it != r->pending.end();)
        it = it->second.owner() == victim ? r->pending.erase(it) : std::next(it);
    }
  }

  // Drops every ref, then drains every inbox (single-threaded).
  void wind_down() {
    for (auto& r : ranks_) {
      if (r->dead) continue;
      std::vector<ObjectId> refs;
      {
        std::lock_guard<std::mutex> lock(r->refs_mu);
        refs.swap(r->refs);
      }
      for (ObjectId id : refs) run(*r, r->own->remove_ref(id));
    }
    for (bool any = true; any;) {
      any = false;
      for (auto& r : ranks_) {
        if (r->dead) {
          std::lock_guard<std::mutex> lock(r->inbox_mu);
          r->inbox.clear();
          continue;
        }
        while (process_one(*r)) any = true;
        // Refs passed in during the drain are dropped as well.
        std::vector<ObjectId> refs;
        {
          std::lock_guard<std::mutex> lock(r->refs_mu);
          refs.swap(r->refs);
        }
        for (ObjectId id : refs) {
          run(*r, r->own->remove_ref(id));
          any = true;
        }
      }
    }
  }

 private:
  std::vector<std::unique_ptr<SimRank>> ranks_;
  std::mutex fail_mu_;
  std::vector<std::string> failures_;
};

void simulate(Sim& sim, int steps_per_thread, std::optional<Rank> victim) {
  std::atomic<int> done_threads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(0xF3EE + t);
      for (int i = 0; i < steps_per_thread; ++i) {
        if (victim && t == 0 && i == steps_per_thread / 2) sim.kill(*victim);
        SimRank& s = sim.rank(static_cast<Rank>(rng() % sim.size()));
        if (s.dead) continue;
        // Messages lag behind the application (inboxes build up), so reads
        // under a lease overlap with the owner dropping its references.
        if (rng() % 100 < 35) {
          sim.process_one(s, rng());
        } else {
          sim.app_step(s, rng);
        }
      }
      ++done_threads;
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
    os::TableStats ts = s.table->stats();
    CHECK(ts.objects == 0);
    CHECK(ts.arena.used == 0);
    CHECK(s.arena->allocator().check_invariants().is_ok());
    {
      std::lock_guard<std::mutex> lock(s.task_mu);
      CHECK(s.tasks.empty());
    }
    std::lock_guard<std::mutex> lock(s.req_mu);
    CHECK(s.pending.empty());
  }
}

void report(Sim& sim) {
  for (const auto& f : sim.failures()) UNSCOPED_INFO(f);
  CHECK(sim.failures().empty());
  INFO("puts " << sim.puts << ", inline " << sim.inline_reads << ", one-sided " << sim.one_sided_reads << ", local "
               << sim.local_reads << ", cached copies " << sim.copies_cached << ", not_found " << sim.not_found
               << ", owner_died " << sim.owner_died << ", refs passed " << sim.passed << ", tasks done "
               << sim.tasks_done << " (stored at the executor " << sim.tasks_stored << ", failed " << sim.tasks_failed
               << ")");
  // The run exercised every path (else the test proves nothing).
  CHECK(sim.puts > 500u);
  CHECK(sim.inline_reads > 100u);
  CHECK(sim.one_sided_reads > 100u);
  CHECK(sim.local_reads > 100u);
  CHECK(sim.copies_cached > 20u);
  CHECK(sim.passed > 500u);
  CHECK(sim.tasks_done > 500u);
  CHECK(sim.tasks_stored > 100u);
}

}  // namespace

TEST_CASE("simulation: 6 ranks, 4 threads, random put/pass/get/drop/task, nothing leaks", "[simulation]") {
  Sim sim(6);
  simulate(sim, 100000, std::nullopt);
  report(sim);
  check_no_leaks(sim);
}

TEST_CASE("simulation: a rank dies half-way, the survivors leak nothing", "[simulation][failure]") {
  Sim sim(6);
  simulate(sim, 100000, Rank{4});
  report(sim);
  CHECK(sim.owner_died > 0u);
  CHECK(sim.tasks_failed > 0u);
  check_no_leaks(sim);
}
