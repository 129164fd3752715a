// api.cc — the non-template object API entry points (ferry/detail/object_api.h)
// and the type-name registry.
//
// Every entry point finds the current core, checks the caller's epoch and
// holds a GateGuard while it calls into the core.
//
// Thread-safety: any thread; the registry has its own mutex.
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "core.h"
#include "current.h"
#include "executor.h"
#include "metrics.h"
#include "trace.h"
#include "tasks.h"
#include "ferry/detail/object_api.h"
#include "ferry/object_ref.h"

namespace ferry::detail {

namespace {

using rt::Core;
using rt::GateGuard;

Status no_runtime(const char* what) {
  return Status(Errc::shut_down, std::string(what) +
                                     ": no ferry runtime is running in this process (create a ferry::Runtime "
                                     "first; refs made under a runtime that was shut down are inert)");
}

// Batched task messages leave before a wait (the awaited result may depend on them).
void flush_batched() {
  if (Core* c = rt::current_core()) {
    GateGuard g(c->gate());
    if (g) c->tasks().flush_all();
  }
}

// Around a blocking wait: batched task messages leave first (the awaited
// result may depend on them), and an executor thread that blocks lets the
// pool start a stand-in thread (nested tasks cannot starve the pool).
class BlockScope {
 public:
  BlockScope() {
    if (Core* c = rt::current_core()) {
      GateGuard g(c->gate());
      if (g) c->tasks().flush_all();
    }
    ex_ = rt::Executor::current();
    if (ex_) ex_->block_begin();
  }
  ~BlockScope() {
    if (ex_) ex_->block_end();
  }
  BlockScope(const BlockScope&) = delete;
  BlockScope& operator=(const BlockScope&) = delete;

 private:
  rt::Executor* ex_ = nullptr;
};

Core* core_for(std::uint32_t epoch) {
  Core* c = rt::current_core();
  return c && c->epoch() == epoch ? c : nullptr;
}

struct TypeNames {
  std::mutex mu;
  std::unordered_map<std::uint64_t, std::string> names;  // guarded by mu
};
TypeNames& type_names() {
  static TypeNames* t = new TypeNames();  // never destroyed: used during static init/exit
  return *t;
}

}  // namespace

std::uint32_t current_epoch() noexcept {
  Core* c = rt::current_core();
  return c ? c->epoch() : 0;
}

void add_ref(std::uint32_t epoch, const ObjectId& id) noexcept {
  if (Core* c = core_for(epoch)) {
    GateGuard g(c->gate());
    if (g) c->add_ref(id);
  }
}

void remove_ref(std::uint32_t epoch, const ObjectId& id) noexcept {
  if (Core* c = core_for(epoch)) {
    GateGuard g(c->gate());
    if (g) c->remove_ref(id);
  }
}

void add_ref_decoded(std::uint32_t epoch, const ObjectId& id) noexcept {
  Core* c = core_for(epoch);
  if (!c) return;
  Future<void> registered;
  std::chrono::milliseconds limit{0};
  {
    GateGuard g(c->gate());
    if (!g) return;
    registered = c->add_ref_decoded(id);
    limit = c->options().get_timeout;
  }
  if (!registered.valid()) return;
  // Outside the gate: shutdown fails the wait instead of draining behind it.
  BlockScope blocking;
  if (limit.count() == 0) registered.wait();
  else (void)registered.wait_for(limit);
}

namespace {
thread_local unsigned tl_argument_decoding = 0;
}  // namespace

ArgumentDecoding::ArgumentDecoding() noexcept { ++tl_argument_decoding; }
ArgumentDecoding::~ArgumentDecoding() { --tl_argument_decoding; }
bool ArgumentDecoding::active() noexcept { return tl_argument_decoding > 0; }

namespace {

// put_bytes and put_in_place: `create(core)` makes the object (the caller holds the gate).
template <class Create>
Result<PutResult> put_traced(const char* what, std::uint64_t bytes, const Create& create) {
  Core* c = rt::current_core();
  if (!c) return no_runtime(what);
  GateGuard g(c->gate());
  if (!g) return no_runtime(what);
  const std::uint64_t t0 = rt::trace::on() ? rt::trace::now() : 0;
  Result<ObjectId> id = create(*c);
  if (!id) return id.status();
  rt::metrics::add(rt::metrics::C::puts);
  rt::metrics::add(rt::metrics::C::put_bytes, bytes);
  if (t0) rt::trace::complete("put", t0, bytes, id.value(), rt::trace::kFlowOutObj);
  return PutResult{id.value(), c->epoch()};
}

}  // namespace

Result<PutResult> put_bytes(const ObjectMeta& meta, std::span<const std::byte> bytes,
                            std::span<const ObjectId> contained) {
  return put_traced("ferry::put", bytes.size(), [&](Core& c) { return c.put(meta, bytes, contained); });
}

Result<PutResult> put_in_place(const ObjectMeta& meta, const std::function<void(std::span<std::byte>)>& fill) {
  return put_traced("ferry::put_in_place", meta.size, [&](Core& c) { return c.put_in_place(meta, fill); });
}

namespace {

// fetch(); `local_checked`: the caller has just found the object not readable here (try_local).
Future<ObjectData> start_fetch(std::uint32_t epoch, const ObjectId& id, bool local_checked) {
  if (id.is_nil())
    return make_ready_future<ObjectData>(Status(Errc::invalid_argument, "get of a nil ObjectRef"));
  Core* c = core_for(epoch);
  if (!c) return make_ready_future<ObjectData>(no_runtime(("get of " + id.to_string()).c_str()));
  GateGuard g(c->gate());
  if (!g) return make_ready_future<ObjectData>(no_runtime(("get of " + id.to_string()).c_str()));
  return c->fetch(id, local_checked);
}

}  // namespace

Future<ObjectData> fetch(std::uint32_t epoch, const ObjectId& id) { return start_fetch(epoch, id, false); }

namespace {

// Counts one get of `id` and traces it: a span from t0, or (t0 == 0: it did not
// wait) a zero-length mark, which costs one clock read instead of two.
Result<ObjectData> got(Result<ObjectData>&& d, const ObjectId& id, std::uint64_t t0) {
  const std::size_t bytes = d ? d.value().bytes.size() : 0;
  rt::metrics::add(rt::metrics::C::gets);
  rt::metrics::add(rt::metrics::C::get_bytes, bytes);
  if (t0) rt::trace::complete("get", t0, bytes, id, rt::trace::kFlowInObj);
  else if (rt::trace::on()) rt::trace::mark("get", id, bytes, rt::trace::kFlowInObj);
  return std::move(d);
}

}  // namespace

Result<ObjectData> read(std::uint32_t epoch, const ObjectId& id, std::optional<std::chrono::milliseconds> timeout) {
  if (auto d = try_local(epoch, id)) return got(std::move(*d), id, 0);  // here already: no future
  const std::uint64_t t0 = rt::trace::on() ? rt::trace::now() : 0;
  if (auto d = wait_owned(epoch, id, timeout)) return got(std::move(*d), id, t0);  // busy mode, a task output here
  auto f = start_fetch(epoch, id, true);
  return await_data(f, id, timeout);
}

std::optional<Result<ObjectData>> try_local(std::uint32_t epoch, const ObjectId& id) {
  if (id.is_nil()) return std::nullopt;
  Core* c = core_for(epoch);
  if (!c) return std::nullopt;
  GateGuard g(c->gate());
  if (!g) return std::nullopt;
  return c->try_local(id);
}

std::optional<Result<ObjectData>> wait_owned(std::uint32_t epoch, const ObjectId& id,
                                             std::optional<std::chrono::milliseconds> timeout) {
  Core* c = core_for(epoch);
  if (!c || id.is_nil() || id.owner() != c->rank() || !c->transport().waiters_poll()) return std::nullopt;
  if (rt::Executor* ex = rt::Executor::current(); ex && ex->can_help()) return std::nullopt;  // helps instead
  GateGuard g(c->gate());
  if (!g) return std::nullopt;
  const std::chrono::milliseconds t = timeout ? *timeout : c->options().get_timeout;
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (timeout || t.count() != 0) deadline = std::chrono::steady_clock::now() + t;
  BlockScope blocking;
  return c->wait_owned(id, deadline, t);
}

std::uint32_t this_rank(std::uint32_t epoch) noexcept {
  Core* c = core_for(epoch);
  return c ? c->rank() : 0xFFFFFFFFu;
}

std::chrono::milliseconds default_get_timeout() noexcept {
  Core* c = rt::current_core();
  return c ? c->options().get_timeout : RuntimeOptions().get_timeout;
}

Status get_timeout_error(const ObjectId& id, std::chrono::milliseconds waited) {
  Core* c = rt::current_core();
  std::string where = c ? " on rank " + std::to_string(c->rank()) : std::string();
  return Status(Errc::timeout, "get of " + id.to_string() + where + " (owner rank " + std::to_string(id.owner()) +
                                   ") did not complete within " + std::to_string(waited.count()) +
                                   " ms; the owner may be overloaded or stuck: pass a longer timeout or raise "
                                   "FERRY_GET_TIMEOUT_MS (0 = wait forever)");
}

Result<ObjectData> await_data(Future<ObjectData>& f, const ObjectId& id,
                              std::optional<std::chrono::milliseconds> timeout) {
  std::chrono::milliseconds t = timeout ? *timeout : default_get_timeout();
  if (f.ready()) return got(f.result(), id, 0);
  const std::uint64_t t0 = rt::trace::on() ? rt::trace::now() : 0;
  if (rt::Executor* ex = rt::Executor::current(); ex && ex->can_help()) {
    // Inside a task: this thread runs queued tasks while it waits (executor.h).
    flush_batched();
    Promise<ObjectData> relay;
    Future<ObjectData> relayed = relay.get_future();
    std::move(f).then([relay = std::move(relay), ex](Result<ObjectData>&& r) mutable {
      relay.set_result(std::move(r));
      ex->wake();
    });
    f = std::move(relayed);
    std::optional<std::chrono::steady_clock::time_point> deadline;
    if (timeout || t.count() != 0) deadline = std::chrono::steady_clock::now() + t;
    if (!ex->help_until([&] { return f.ready(); }, deadline) && !f.ready()) {
      if (deadline && std::chrono::steady_clock::now() >= *deadline) return get_timeout_error(id, t);
    }
    if (f.ready()) return got(f.result(), id, t0);
  }
  BlockScope blocking;
  if (!timeout && t.count() == 0) {
    f.wait();
  } else if (!f.wait_for(t)) {
    return get_timeout_error(id, t);
  }
  return got(f.result(), id, t0);
}

std::vector<bool> wait_ids(const std::vector<std::pair<std::uint32_t, ObjectId>>& ids, std::size_t num_ready,
                           std::chrono::milliseconds timeout) {
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<bool> ready;  // guarded by mu
    std::size_t count = 0;    // guarded by mu
    rt::Executor* helper = nullptr;  // guarded by mu: an executor thread helping while it waits
  };
  auto st = std::make_shared<State>();
  st->ready.assign(ids.size(), false);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    fetch(ids[i].first, ids[i].second).then([st, i](Result<ObjectData>&&) {
      rt::Executor* helper = nullptr;
      {
        std::lock_guard<std::mutex> lock(st->mu);
        st->ready[i] = true;
        ++st->count;
        st->cv.notify_all();
        helper = st->helper;
      }
      if (helper) helper->wake();  // outside st->mu: the helper checks it under the executor's lock
    });
  }
  auto enough = [&] {
    std::lock_guard<std::mutex> lock(st->mu);
    return st->count >= num_ready;
  };
  if (rt::Executor* ex = rt::Executor::current(); ex && ex->can_help()) {
    // Inside a task: run queued tasks while waiting; each completion wakes the helper.
    flush_batched();
    {
      std::lock_guard<std::mutex> lock(st->mu);
      st->helper = ex;
    }
    (void)ex->help_until(enough, std::chrono::steady_clock::now() + timeout);
    std::lock_guard<std::mutex> lock(st->mu);
    st->helper = nullptr;
    return st->ready;
  }
  BlockScope blocking;
  std::unique_lock<std::mutex> lock(st->mu);
  st->cv.wait_for(lock, timeout, [&] { return st->count >= num_ready; });
  return st->ready;
}

bool register_type_name(std::uint64_t tag, std::string_view name) noexcept {
  try {
    auto& t = type_names();
    std::lock_guard<std::mutex> lock(t.mu);
    t.names.try_emplace(tag, name);
    return true;
  } catch (...) {
    return false;
  }
}

std::string type_name_of(std::uint64_t tag) {
  auto& t = type_names();
  {
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.names.find(tag);
    if (it != t.names.end()) return it->second;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "unknown type (tag 0x%016llx)", static_cast<unsigned long long>(tag));
  return buf;
}

}  // namespace ferry::detail
