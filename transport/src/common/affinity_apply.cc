// affinity_apply.cc — the hwloc half of ferry/transport/affinity.h: the process-wide plan and
// bind_this_thread().
//
// The hwloc topology is loaded once (under std::call_once, with the plan) and deliberately never
// destroyed: a thread may still bind itself while static destructors run at exit.
// The "process mask" is the calling thread's CPU mask when the plan is first computed; the first
// call should come from an application thread (make_tcp_transport calls process_plan() before it
// starts its progress thread), which still has the mask the launcher gave the process.
//
// Invariants: executor slots are handed out in start order, cycling over 1..T-1.
// Thread-safety: process_plan() and bind_this_thread() may be called from any thread.
#include <hwloc.h>
#include <pthread.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "ferry/transport/affinity.h"

namespace ferry::transport::affinity {
namespace {

hwloc_topology_t g_topology = nullptr;  // set once by load_topology(), never destroyed

CpuList to_list(hwloc_const_bitmap_t set) {
  CpuList out;
  unsigned i;
  hwloc_bitmap_foreach_begin(i, set) { out.push_back(i); }
  hwloc_bitmap_foreach_end();
  return out;
}

Status load_topology() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    hwloc_topology_t t = nullptr;
    if (hwloc_topology_init(&t) != 0 || hwloc_topology_load(t) != 0) {
      if (t) hwloc_topology_destroy(t);
      status = Status(Errc::unsupported, "hwloc could not load the machine topology");
      return;
    }
    g_topology = t;
  });
  return status;
}

unsigned executor_threads_from_env(const Getenv& getenv, unsigned mask_cpus) {
  if (const char* v = getenv("FERRY_EXECUTOR_THREADS"); v && *v) {
    char* end = nullptr;
    const unsigned long n = std::strtoul(v, &end, 10);
    if (end && *end == '\0' && n > 0) return static_cast<unsigned>(std::min<unsigned long>(n, 256));
  }
  return std::max(mask_cpus, 1u);  // the executor's default (its affinity mask's CPU count)
}

}  // namespace

Result<ProcessPlan> compute_process_plan(const Getenv& getenv) {
  const char* bind_text = getenv("FERRY_BIND");
  auto mode = parse_bind_mode(bind_text ? bind_text : "");
  if (!mode) return mode.status();
  auto layout = local_layout_from_env(getenv);
  if (!layout) return layout.status();
  ProcessPlan pp;
  pp.layout = layout.value();
  if (Status s = load_topology(); !s) {
    pp.plan = make_plan(mode.value(), {}, pp.layout, 1);
    pp.plan.reason = s.message();
    return pp;
  }
  hwloc_bitmap_t mask = hwloc_bitmap_alloc();
  if (hwloc_get_cpubind(g_topology, mask, HWLOC_CPUBIND_THREAD) != 0)
    hwloc_bitmap_copy(mask, hwloc_topology_get_allowed_cpuset(g_topology));
  hwloc_bitmap_and(mask, mask, hwloc_topology_get_allowed_cpuset(g_topology));
  pp.launcher_bound = !hwloc_bitmap_isincluded(hwloc_topology_get_allowed_cpuset(g_topology), mask);
  // Cores (or PUs, if hwloc found no core level) intersected with the process mask.
  const hwloc_obj_type_t unit =
      hwloc_get_nbobjs_by_type(g_topology, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
  hwloc_bitmap_t part = hwloc_bitmap_alloc();
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_obj_by_type(g_topology, unit, o)) != nullptr;) {
    hwloc_bitmap_and(part, o->cpuset, mask);
    if (!hwloc_bitmap_iszero(part)) pp.cores.push_back(to_list(part));
  }
  const int mask_cpus = hwloc_bitmap_weight(mask);
  hwloc_bitmap_free(part);
  hwloc_bitmap_free(mask);
  pp.threads = 1 + executor_threads_from_env(getenv, mask_cpus > 0 ? static_cast<unsigned>(mask_cpus) : 1);
  LocalLayout effective = pp.layout;
  if (pp.launcher_bound) effective = LocalLayout{0, 1, pp.layout.source};  // the mask is this rank's share
  pp.plan = make_plan(mode.value(), pp.cores, effective, pp.threads);
  return pp;
}

const Result<ProcessPlan>& process_plan() {
  static const Result<ProcessPlan> plan = [] {
    auto p = compute_process_plan([](const char* name) { return std::getenv(name); });
    if (p) spdlog::debug("ferry: thread binding: {}", p.value().plan.describe());
    return p;
  }();
  return plan;
}

void bind_this_thread(ThreadRole role) noexcept {
  static std::atomic<unsigned> executors_started{0};
  static std::once_flag warned;
  try {
    // Named last (also on every early return), so a thread that carries its ferry name is final.
    struct Namer {
      ThreadRole role;
      ~Namer() { pthread_setname_np(pthread_self(), role == ThreadRole::progress ? "ferry-progress" : "ferry-exec"); }
    } namer{role};
    const auto& pp = process_plan();
    if (!pp) {
      std::call_once(warned, [&] { spdlog::error("ferry: threads left unbound: {}", pp.status().message()); });
      return;
    }
    const Plan& plan = pp.value().plan;
    if (!plan.bind || plan.slots.empty() || g_topology == nullptr) return;
    std::size_t slot = 0;
    if (role == ThreadRole::executor && plan.slots.size() > 1)
      slot = 1 + executors_started.fetch_add(1, std::memory_order_relaxed) % (plan.slots.size() - 1);
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    for (unsigned pu : plan.slots[slot]) hwloc_bitmap_set(set, pu);
    const int rc = hwloc_set_cpubind(g_topology, set, HWLOC_CPUBIND_THREAD);
    hwloc_bitmap_free(set);
    if (rc != 0)
      std::call_once(warned, [&] {
        spdlog::warn("ferry: binding a thread to PU {} failed (errno {}); threads may run unbound",
                     format_cpus(plan.slots[slot]), errno);
      });
  } catch (const std::exception& e) {
    std::call_once(warned, [&] { spdlog::error("ferry: thread binding failed: {}", e.what()); });
  }
}

}  // namespace ferry::transport::affinity
