// ferry/transport/affinity.h — binding ferry's own threads (transport progress thread, runtime
// executor threads) to cores: FERRY_BIND = none | cores | auto (default auto).
//
// Two parts:
//   * Pure planning (unit-tested, no I/O): make_plan(cores, local layout, threads per rank, mode)
//     gives the PUs each thread slot of this rank is bound to, or "no binding" and why.
//     Slot 0 = the transport progress thread, slots 1..T-1 = executor threads.
//   * The process-wide plan (process_plan(): hwloc topology + this process's CPU mask + launcher
//     environment, computed once) and bind_this_thread(role), the one-line call each thread makes
//     when it starts.
//
// Placement rule (make_plan): C usable cores, L local ranks, T threads per rank, local rank r.
//   * L <= C: rank r owns the block of B = C / L consecutive cores starting at r * B; its thread t
//     runs on core block[t % B]. So when L * T <= C every thread of every rank has its own core.
//   * L > C: rank r runs all its threads on core r % C.
//   * auto binds only when L * T <= C (not oversubscribed); cores always binds; none never does.
// If the launcher already restricted this process (its CPU mask is smaller than the allowed set,
// e.g. Slurm --cpu-bind or mpirun's default --bind-to core), that mask is this rank's share:
// planning then uses L = 1, r = 0 within it.
// Threads per rank T = 1 (progress) + executor threads (FERRY_EXECUTOR_THREADS, default: the
// CPUs of the process mask, as the executor does), whether or not the program starts a Runtime.
//
// Thread-safety: the pure functions are reentrant; process_plan() and bind_this_thread() are
// thread-safe (the plan is computed once, under std::call_once).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ferry/status.h"

namespace ferry::transport::affinity {

enum class BindMode { none, cores, automatic };

// "none" | "cores" | "auto" ("" = auto). Anything else: invalid_argument naming FERRY_BIND.
Result<BindMode> parse_bind_mode(std::string_view text);
std::string_view to_string(BindMode mode) noexcept;

// Where this process sits among the ranks of its node.
struct LocalLayout {
  unsigned rank = 0;
  unsigned size = 1;
  std::string source = "single process";  // which variables said so
};

// From the launcher environment, first match wins: FERRY_LOCAL_RANK/FERRY_LOCAL_SIZE (ferry-run),
// OMPI_COMM_WORLD_LOCAL_RANK/_SIZE (mpirun), SLURM_LOCALID + SLURM_TASKS_PER_NODE[SLURM_NODEID]
// (srun; "2(x3),1" form), else one rank. A present but malformed set is invalid_argument.
using Getenv = std::function<const char*(const char*)>;
Result<LocalLayout> local_layout_from_env(const Getenv& getenv);

// Ranks on this node per online CPU of the node, rounded up, at least 1 (the node's CPUs, not this
// process's mask: a launcher that binds each rank to its own core has not oversubscribed the node).
// The layout comes from local_layout_from_env (1 rank when it says nothing or is malformed).
unsigned oversubscription(const Getenv& getenv);

// The OS indexes of the PUs (hardware threads) of one core.
using CpuList = std::vector<unsigned>;
std::string format_cpus(const CpuList& cpus);  // "0-3,8"

struct Plan {
  BindMode mode = BindMode::automatic;
  bool bind = false;
  std::string reason;          // why (not) binding, one line
  std::vector<CpuList> slots;  // bind: slot t -> PUs (size = threads per rank)
  std::string describe() const;  // multi-line, for ferry-info and logs
};

Plan make_plan(BindMode mode, const std::vector<CpuList>& cores, const LocalLayout& layout, unsigned threads);

// ---- process-wide -----------------------------------------------------------------------------

struct ProcessPlan {
  Plan plan;
  LocalLayout layout;           // as the launcher says (planning uses 1 rank if launcher_bound)
  std::vector<CpuList> cores;   // usable cores (hwloc cores within the process CPU mask)
  bool launcher_bound = false;  // the process mask was already smaller than the allowed set
  unsigned threads = 1;
};

// Reads FERRY_BIND, FERRY_EXECUTOR_THREADS, the launcher layout and the hwloc topology once per
// process. Errors (bad FERRY_BIND, malformed layout variables) are returned on every call.
const Result<ProcessPlan>& process_plan();
// The same, for explicit inputs (ferry-info, tests): no caching.
Result<ProcessPlan> compute_process_plan(const Getenv& getenv);

enum class ThreadRole { progress, executor };

// Names the calling thread ("ferry-progress" / "ferry-exec") and, if the process plan binds,
// binds it to its slot's PUs (executor threads take slots 1..T-1 in start order, cycling).
// Never fails the caller: a problem is logged once per process.
void bind_this_thread(ThreadRole role) noexcept;

}  // namespace ferry::transport::affinity
