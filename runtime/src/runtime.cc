// runtime.cc — ferry::Runtime (public) and the process-wide current core.
//
// Globals: g_core (the running core, lock-free reads by the object API),
// g_runtime (Runtime::current()), g_epoch (one number per Runtime created),
// g_retained (every core ever started: never destroyed, see core.h).
// In-process ranks (testing, current.h): g_in_process, the runtimes by rank in
// g_rank_slots, and each thread's rank in tl_rank.
//
// Thread-safety: create/shutdown serialize on g_mu (with in-process ranks the
// collective start runs unlocked); readers use atomics.
#include "ferry/runtime.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "core.h"
#include "ferry/transport/startup_profile.h"
#include "current.h"
#include "executor.h"
#include "malloc_tuning.h"
#include "tasks.h"

namespace ferry {

namespace {

std::mutex g_mu;
std::atomic<rt::Core*> g_core{nullptr};
std::atomic<Runtime*> g_runtime{nullptr};
std::uint32_t g_epoch = 0;                          // guarded by g_mu
std::vector<std::shared_ptr<rt::Core>> g_retained;  // guarded by g_mu

constexpr int kMaxInProcessRanks = 64;
struct RankSlot {
  std::atomic<rt::Core*> core{nullptr};
  std::atomic<Runtime*> runtime{nullptr};
};
std::atomic<bool> g_in_process{false};
RankSlot g_rank_slots[kMaxInProcessRanks];
thread_local int tl_rank = -1;

// The slot of the rank the calling thread acts as (in-process ranks only), or null.
RankSlot* thread_slot() noexcept {
  int r = tl_rank;
  if (r < 0)
    if (rt::Executor* e = rt::Executor::current()) r = static_cast<int>(e->rank());
  return r >= 0 && r < kMaxInProcessRanks ? &g_rank_slots[r] : nullptr;
}

// create() refuses while another runtime of this process is running (with
// in-process ranks: another runtime of the same rank).
Status none_running_locked(transport::Rank rank) {
  if (g_in_process.load()) {
    if (rank >= static_cast<transport::Rank>(kMaxInProcessRanks))
      return Status(Errc::invalid_argument, "in-process ranks: rank " + std::to_string(rank) + " is too large");
    if (!g_rank_slots[rank].runtime.load()) return Status::ok();
  } else if (!g_runtime.load()) {
    return Status::ok();
  }
  return Status(Errc::invalid_argument, "ferry::Runtime::create on rank " + std::to_string(rank) +
                                            ": a runtime is already running in this process; shut it down first");
}

}  // namespace

namespace rt {

Core* current_core() noexcept {
  if (Core* c = g_core.load(std::memory_order_acquire)) return c;
  if (!g_in_process.load(std::memory_order_relaxed)) return nullptr;
  RankSlot* s = thread_slot();
  return s ? s->core.load(std::memory_order_acquire) : nullptr;
}

void testing::set_in_process_ranks(bool enabled) noexcept { g_in_process.store(enabled); }
void testing::act_as_rank(int rank) noexcept { tl_rank = rank; }

Status testing::corrupt_header(const objstore::ObjectId& id) {
  Core* c = current_core();
  if (!c) return Status(Errc::shut_down, "corrupt_header: no ferry runtime is running");
  GateGuard g(c->gate());
  if (!g) return Status(Errc::shut_down, "corrupt_header: the runtime is shut down");
  return c->debug_corrupt_header(id);
}

}  // namespace rt

std::string RuntimeStats::describe() const {
  return "owned " + std::to_string(owned) + ", leases " + std::to_string(leases) + ", secondary copies " +
         std::to_string(secondary) + ", borrowed " + std::to_string(borrowed) + " (cached values " +
         std::to_string(cached_values) + "), local copies " + std::to_string(copies) + ", fetches in flight " +
         std::to_string(fetches) + ", store objects " + std::to_string(store_objects) + ", store used " +
         std::to_string(store_used) + " of " + std::to_string(store_capacity) + " bytes, tasks pending " +
         std::to_string(tasks_pending) + ", executor load " + std::to_string(executor_load);
}

Runtime::Runtime(std::shared_ptr<rt::Core> core) : core_(std::move(core)) {}

std::unique_ptr<Runtime> Runtime::publish_locked(std::shared_ptr<rt::Core> core) {
  g_retained.push_back(core);
  std::unique_ptr<Runtime> runtime(new Runtime(core));
  if (g_in_process.load()) {
    RankSlot& slot = g_rank_slots[core->rank()];  // rank checked by none_running_locked
    slot.core.store(core.get(), std::memory_order_release);
    slot.runtime.store(runtime.get());
  } else {
    g_core.store(core.get(), std::memory_order_release);
    g_runtime.store(runtime.get());
  }
  core->tasks().resume();  // tasks may run now: they see this runtime as current
  return runtime;
}

Result<std::unique_ptr<Runtime>> Runtime::create(transport::Transport& transport, transport::Bootstrap& bootstrap,
                                                 const RuntimeOptions& options) {
  std::unique_lock<std::mutex> lock(g_mu);
  if (Status s = none_running_locked(transport.rank()); !s) return s;
  (void)rt::tune_malloc(options);
  const std::uint32_t epoch = ++g_epoch;
  if (g_in_process.load()) lock.unlock();  // in-process ranks start together: the start is collective
  auto core = rt::Core::start(transport, nullptr, bootstrap, options, epoch);
  if (!lock.owns_lock()) lock.lock();
  if (!core) return core.status();
  return publish_locked(std::move(core).value());
}

Result<std::unique_ptr<Runtime>> Runtime::create(transport::Transport& transport, transport::Bootstrap& bootstrap) {
  auto options = RuntimeOptions::from_env();
  if (!options) return options.status();
  return create(transport, bootstrap, options.value());
}

Result<std::unique_ptr<Runtime>> Runtime::create(transport::Bootstrap& bootstrap,
                                                 const transport::Options& transport_options,
                                                 const RuntimeOptions& options) {
  std::unique_lock<std::mutex> lock(g_mu);
  if (Status s = none_running_locked(bootstrap.rank()); !s) return s;
  (void)rt::tune_malloc(options);
  const std::uint32_t epoch = ++g_epoch;
  if (g_in_process.load()) lock.unlock();  // in-process ranks start together: the start is collective
  auto t = transport::make_transport(transport_options, bootstrap);
  transport::startup_mark(bootstrap.rank(), "transport_up");
  if (!t) return t.status();
  transport::Transport& ref = *t.value();
  auto core = rt::Core::start(ref, std::move(t).value(), bootstrap, options, epoch);
  if (!lock.owns_lock()) lock.lock();
  if (!core) return core.status();
  return publish_locked(std::move(core).value());
}

Result<std::unique_ptr<Runtime>> Runtime::create(transport::Bootstrap& bootstrap,
                                                 const transport::Options& transport_options) {
  auto options = RuntimeOptions::from_env();
  if (!options) return options.status();
  return create(bootstrap, transport_options, options.value());
}

Runtime::~Runtime() {
  if (Status s = shutdown(); !s)
    spdlog::warn("ferry[{}]: runtime shutdown in the destructor: {}", core_->rank(), s.to_string());
}

Status Runtime::shutdown() {
  Status s = core_->shutdown();
  unpublish();
  return s;
}

Status Runtime::serve() {
  Status s = core_->shutdown(rt::Core::ShutdownMode::serve);
  unpublish();
  return s;
}

Status Runtime::serve(transport::Rank driver) {
  Status s = core_->shutdown(rt::Core::ShutdownMode::serve, driver);
  unpublish();
  return s;
}

Status Runtime::abort(const Status& why) {
  Status s = core_->abort(why);
  unpublish();
  return s;
}

Status Runtime::barrier() { return core_->barrier(); }

void Runtime::unpublish() {
  std::lock_guard<std::mutex> lock(g_mu);
  rt::Core* mine = core_.get();
  g_core.compare_exchange_strong(mine, nullptr);
  Runtime* me = this;
  g_runtime.compare_exchange_strong(me, nullptr);
  if (core_->rank() < static_cast<transport::Rank>(kMaxInProcessRanks)) {
    RankSlot& slot = g_rank_slots[core_->rank()];
    mine = core_.get();
    slot.core.compare_exchange_strong(mine, nullptr);
    me = this;
    slot.runtime.compare_exchange_strong(me, nullptr);
  }
}

namespace {
Runtime& running(const char* what) {
  Runtime* r = Runtime::current();
  if (!r)
    throw Error(Status(Errc::shut_down, std::string(what) + ": no ferry runtime is running in this process "
                                                            "(call ferry::init first)"));
  return *r;
}
}  // namespace

transport::Rank this_rank() { return running("ferry::this_rank").rank(); }
transport::Rank world_size() { return running("ferry::world_size").size(); }

transport::Rank Runtime::rank() const noexcept { return core_->rank(); }
transport::Rank Runtime::size() const noexcept { return core_->size(); }
transport::Transport& Runtime::transport() const noexcept { return core_->transport(); }
const RuntimeOptions& Runtime::options() const noexcept { return core_->options(); }
RuntimeStats Runtime::stats() const { return core_->stats(); }
Runtime* Runtime::current() noexcept {
  if (Runtime* r = g_runtime.load()) return r;
  if (!g_in_process.load(std::memory_order_relaxed)) return nullptr;
  RankSlot* s = thread_slot();
  return s ? s->runtime.load() : nullptr;
}

}  // namespace ferry
