// ferry-info — what this node offers ferry and what ferry would do here.
//
// Prints: version and build options; RDMA devices (libibverbs); UCX version and the transports/
// devices UCX can use; the hwloc topology summary and NIC locality; the thread-binding plan
// FERRY_BIND would apply (ferry/transport/affinity.h); the launcher ferry detects; the effective
// FERRY_* settings. Exits 1 with a clear message when something needed is missing or misconfigured
// (invalid FERRY_* value, no UCX transport while FERRY_TRANSPORT=ucx, a launcher environment ferry
// cannot bootstrap from), 0 otherwise. Single-threaded; no network traffic.
#include <hwloc.h>
#include <infiniband/verbs.h>
#include <uct/api/uct.h>
#include <ucp/api/ucp.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "ferry/launcher/bootstrap.h"
#include "ferry/transport/affinity.h"

extern char** environ;

namespace {

int problems = 0;

void problem(const std::string& what) {
  std::printf("  PROBLEM: %s\n", what.c_str());
  ++problems;
}

void print_build() {
  std::printf("ferry %s\n", FERRY_VERSION);
  std::printf("  build: backends ucx, tcp; PMIx bootstrap %s; MPI bootstrap %s\n",
#ifdef FERRY_HAVE_PMIX
              "yes",
#else
              "no",
#endif
#ifdef FERRY_HAVE_MPI
              "yes (ferry::launcher_mpi)"
#else
              "no"
#endif
  );
}

void print_verbs() {
  std::printf("RDMA devices (libibverbs):\n");
  int n = 0;
  ibv_device** list = ibv_get_device_list(&n);
  if (!list) {
    std::printf("  none: ibv_get_device_list failed (no RDMA support in this kernel?)\n");
    return;
  }
  if (n == 0) std::printf("  none (UCX will use shared memory/CMA within a node and TCP between nodes)\n");
  for (int i = 0; i < n; ++i)
    std::printf("  %s guid %016llx\n", ibv_get_device_name(list[i]),
                static_cast<unsigned long long>(be64toh(ibv_get_device_guid(list[i]))));
  ibv_free_device_list(list);
}

// Lists "transport/device" pairs of every UCX memory domain; returns how many.
int print_ucx() {
  std::printf("UCX %s (UCX_TLS=%s):\n", ucp_get_version_string(),
              std::getenv("UCX_TLS") ? std::getenv("UCX_TLS") : "<unset: all>");
  uct_component_h* comps = nullptr;
  unsigned ncomps = 0;
  if (uct_query_components(&comps, &ncomps) != UCS_OK) {
    problem("uct_query_components failed: UCX is not usable here");
    return 0;
  }
  int total = 0;
  for (unsigned c = 0; c < ncomps; ++c) {
    uct_component_attr_t attr{};
    attr.field_mask = UCT_COMPONENT_ATTR_FIELD_NAME | UCT_COMPONENT_ATTR_FIELD_MD_RESOURCE_COUNT;
    if (uct_component_query(comps[c], &attr) != UCS_OK) continue;
    std::vector<uct_md_resource_desc_t> mds(attr.md_resource_count);
    attr.field_mask = UCT_COMPONENT_ATTR_FIELD_MD_RESOURCES;
    attr.md_resources = mds.data();
    if (uct_component_query(comps[c], &attr) != UCS_OK) continue;
    for (auto& md_desc : mds) {
      uct_md_config_t* config = nullptr;
      uct_md_h md = nullptr;
      if (uct_md_config_read(comps[c], nullptr, nullptr, &config) != UCS_OK) continue;
      ucs_status_t st = uct_md_open(comps[c], md_desc.md_name, config, &md);
      uct_config_release(config);
      if (st != UCS_OK) continue;
      uct_tl_resource_desc_t* tls = nullptr;
      unsigned ntls = 0;
      if (uct_md_query_tl_resources(md, &tls, &ntls) == UCS_OK) {
        for (unsigned i = 0; i < ntls; ++i, ++total)
          std::printf("  %-10s %-16s (memory domain %s)\n", tls[i].tl_name, tls[i].dev_name, md_desc.md_name);
        uct_release_tl_resource_list(tls);
      }
      uct_md_close(md);
    }
  }
  uct_release_component_list(comps);
  if (total == 0) std::printf("  no usable transport\n");
  return total;
}

void print_topology() {
  std::printf("topology (hwloc %s):\n", HWLOC_VERSION);
  hwloc_topology_t topo;
  if (hwloc_topology_init(&topo) != 0) return problem("hwloc_topology_init failed");
  hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (hwloc_topology_load(topo) != 0) {
    hwloc_topology_destroy(topo);
    return problem("hwloc_topology_load failed");
  }
  std::printf("  %d package(s), %d NUMA node(s), %d core(s), %d hardware thread(s)\n",
              hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE), hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE),
              hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE), hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU));
  int nics = 0;
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_osdev(topo, o));) {
    if (o->attr->osdev.type != HWLOC_OBJ_OSDEV_NETWORK && o->attr->osdev.type != HWLOC_OBJ_OSDEV_OPENFABRICS)
      continue;
    char cpus[256] = "?";
    if (hwloc_obj_t anc = hwloc_get_non_io_ancestor_obj(topo, o); anc && anc->cpuset)
      hwloc_bitmap_list_snprintf(cpus, sizeof cpus, anc->cpuset);
    std::printf("  NIC %-12s %-12s near CPUs %s\n", o->name ? o->name : "?",
                o->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS ? "(RDMA)" : "(network)", cpus);
    ++nics;
  }
  if (nics == 0) std::printf("  no NIC with PCI locality reported (virtual or loopback-only node)\n");
  hwloc_topology_destroy(topo);
}

// The plan FERRY_BIND would apply to this process's threads (ferry/transport/affinity.h).
void print_binding() {
  namespace af = ferry::transport::affinity;
  std::printf("thread binding:\n");
  auto pp = af::compute_process_plan([](const char* name) { return std::getenv(name); });
  if (!pp) return problem(pp.status().to_string());
  const auto& p = pp.value();
  af::CpuList pus;
  for (const auto& c : p.cores) pus.insert(pus.end(), c.begin(), c.end());
  std::printf("  local rank %u of %u (%s); %zu usable core(s) (PUs %s)%s; %u thread(s) per rank "
              "(1 progress + %u executor)\n",
              p.layout.rank, p.layout.size, p.layout.source.c_str(), p.cores.size(), af::format_cpus(pus).c_str(),
              p.launcher_bound ? ", already bound by the launcher: planned as 1 rank within them" : "", p.threads, p.threads - 1);
  std::string plan = p.plan.describe();
  for (std::size_t at = 0; at != std::string::npos;) {
    const auto nl = plan.find('\n', at);
    std::printf("  %s\n", plan.substr(at, nl == std::string::npos ? nl : nl - at).c_str());
    at = nl == std::string::npos ? nl : nl + 1;
  }
}

void print_launcher() {
  std::printf("launcher:\n");
  auto d = ferry::launcher::detect_launcher();
  if (!d) return problem(d.status().to_string());
  std::printf("  %s\n", d->description.c_str());
}

ferry::transport::Backend print_settings() {
  std::printf("settings:\n");
  for (char** e = environ; *e; ++e)
    if (std::string(*e).rfind("FERRY_", 0) == 0) std::printf("  %s\n", *e);
  auto o = ferry::transport::Options::from_env();
  if (!o) {
    problem(o.status().to_string());
    return ferry::transport::Backend::ucx;
  }
  std::printf("  effective: transport=%s progress=%s heartbeat=%lldms peer_timeout=%lldms ucx_err_mode=%s "
              "max_am_bytes=%zu\n",
              ferry::transport::to_string(o->backend), ferry::transport::to_string(o->progress),
              static_cast<long long>(o->heartbeat_interval.count()), static_cast<long long>(o->peer_timeout.count()),
              o->ucx_peer_error_handling ? "peer" : "none", o->max_am_bytes);
  return o->backend;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1) {
    std::printf("usage: ferry-info\n  prints what this node offers ferry; exit 1 if something needed is missing\n");
    return std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ? 0 : 2;
  }
  print_build();
  print_verbs();
  int tls = print_ucx();
  print_topology();
  print_binding();
  print_launcher();
  auto backend = print_settings();
  if (backend == ferry::transport::Backend::ucx && tls == 0)
    problem("FERRY_TRANSPORT=ucx but UCX offers no transport here; set FERRY_TRANSPORT=tcp");
  if (problems) {
    std::printf("ferry-info: %d problem(s) found\n", problems);
    return 1;
  }
  std::printf("ferry-info: ok\n");
  return 0;
}
