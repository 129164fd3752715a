// test_affinity_plan.cc — the pure half of ferry/transport/affinity.h: FERRY_BIND parsing, the
// launcher's local layout from the environment, make_plan's placement rule, oversubscription and
// the liveness defaults derived from it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "ferry/transport/affinity.h"
#include "ferry/transport/transport.h"
#include "ferry_test/env_guard.h"

namespace af = ferry::transport::affinity;
using af::BindMode;
using af::CpuList;

namespace {

std::vector<CpuList> cores(unsigned n, unsigned pus_per_core = 1) {  // core i = PUs i, i+n, ... (SMT)
  std::vector<CpuList> out(n);
  for (unsigned i = 0; i < n; ++i)
    for (unsigned k = 0; k < pus_per_core; ++k) out[i].push_back(i + k * n);
  return out;
}

af::Getenv env(std::map<std::string, std::string> vars) {
  auto held = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [held](const char* name) -> const char* {
    auto it = held->find(name);
    return it == held->end() ? nullptr : it->second.c_str();
  };
}

af::LocalLayout layout(unsigned rank, unsigned size) { return af::LocalLayout{rank, size, "test"}; }

}  // namespace

TEST_CASE("affinity: FERRY_BIND values", "[affinity]") {
  CHECK(af::parse_bind_mode("").value() == BindMode::automatic);
  CHECK(af::parse_bind_mode("auto").value() == BindMode::automatic);
  CHECK(af::parse_bind_mode("none").value() == BindMode::none);
  CHECK(af::parse_bind_mode("cores").value() == BindMode::cores);
  auto bad = af::parse_bind_mode("core");
  REQUIRE_FALSE(bad);
  CHECK(bad.status().code() == ferry::Errc::invalid_argument);
  CHECK(bad.status().message().find("FERRY_BIND='core'") != std::string::npos);
  CHECK(af::to_string(BindMode::automatic) == "auto");
}

TEST_CASE("affinity: local layout from the launcher environment", "[affinity]") {
  SECTION("none set: one rank") {
    auto l = af::local_layout_from_env(env({}));
    CHECK(l.value().rank == 0);
    CHECK(l.value().size == 1);
  }
  SECTION("ferry-run wins over Open MPI and Slurm") {
    auto l = af::local_layout_from_env(env({{"FERRY_LOCAL_RANK", "1"}, {"FERRY_LOCAL_SIZE", "3"},
                                            {"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
                                            {"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "4"}}));
    CHECK(l.value().rank == 1);
    CHECK(l.value().size == 3);
    CHECK(l.value().source.find("FERRY_LOCAL_RANK") != std::string::npos);
  }
  SECTION("Open MPI wins over Slurm (mpirun inside an allocation)") {
    auto l = af::local_layout_from_env(env({{"OMPI_COMM_WORLD_LOCAL_RANK", "3"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "4"},
                                            {"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "1"}}));
    CHECK(l.value().rank == 3);
    CHECK(l.value().size == 4);
  }
  SECTION("Slurm: the node's entry of SLURM_TASKS_PER_NODE") {
    auto base = std::map<std::string, std::string>{{"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "2(x3),1"}};
    base["SLURM_NODEID"] = "2";
    CHECK(af::local_layout_from_env(env(base)).value().size == 2);
    base["SLURM_NODEID"] = "3";
    CHECK(af::local_layout_from_env(env(base)).value().size == 1);
    base["SLURM_NODEID"] = "4";
    CHECK_FALSE(af::local_layout_from_env(env(base)));
    base.erase("SLURM_NODEID");  // node 0
    CHECK(af::local_layout_from_env(env(base)).value().size == 2);
  }
  SECTION("malformed values are invalid_argument naming the variable") {
    auto check_bad = [](std::map<std::string, std::string> vars, const std::string& names) {
      auto l = af::local_layout_from_env(env(std::move(vars)));
      REQUIRE_FALSE(l);
      CHECK(l.status().code() == ferry::Errc::invalid_argument);
      INFO(l.status().message());
      CHECK(l.status().message().find(names) != std::string::npos);
    };
    check_bad({{"FERRY_LOCAL_RANK", "x"}, {"FERRY_LOCAL_SIZE", "2"}}, "FERRY_LOCAL_RANK='x'");
    check_bad({{"FERRY_LOCAL_RANK", "2"}, {"FERRY_LOCAL_SIZE", "2"}}, "not below FERRY_LOCAL_SIZE");
    check_bad({{"FERRY_LOCAL_RANK", "0"}}, "FERRY_LOCAL_SIZE is not");
    check_bad({{"OMPI_COMM_WORLD_LOCAL_RANK", "0"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "0"}}, "OMPI_COMM_WORLD_LOCAL_SIZE='0'");
    check_bad({{"SLURM_LOCALID", "0"}, {"SLURM_TASKS_PER_NODE", "2(x"}}, "SLURM_TASKS_PER_NODE='2(x'");
    check_bad({{"SLURM_LOCALID", "0"}}, "but SLURM_TASKS_PER_NODE is not");
    check_bad({{"SLURM_LOCALID", "2"}, {"SLURM_TASKS_PER_NODE", "2"}}, "not below");
  }
}

TEST_CASE("affinity: format_cpus compresses ranges", "[affinity]") {
  CHECK(af::format_cpus({}) == "");
  CHECK(af::format_cpus({3}) == "3");
  CHECK(af::format_cpus({0, 1, 2, 3, 8}) == "0-3,8");
  CHECK(af::format_cpus({5, 4, 4, 10, 11}) == "4-5,10-11");
}

TEST_CASE("affinity: none and an unknown topology never bind", "[affinity]") {
  CHECK_FALSE(af::make_plan(BindMode::none, cores(64), layout(0, 1), 2).bind);
  auto p = af::make_plan(BindMode::cores, {}, layout(0, 1), 2);
  CHECK_FALSE(p.bind);
  CHECK(p.slots.empty());
}

TEST_CASE("affinity: not oversubscribed: every thread of every rank gets its own core", "[affinity]") {
  const unsigned ranks = 4, threads = 3;
  const auto all = cores(16, 2);  // 16 cores x 2 hardware threads
  std::set<CpuList> used;
  for (BindMode mode : {BindMode::automatic, BindMode::cores}) {
    used.clear();
    for (unsigned r = 0; r < ranks; ++r) {
      auto p = af::make_plan(mode, all, layout(r, ranks), threads);
      REQUIRE(p.bind);
      REQUIRE(p.slots.size() == threads);
      for (const auto& s : p.slots) {
        CHECK(s.size() == 2);  // the whole core: both hardware threads
        CHECK(used.insert(s).second);
      }
      // Rank r's threads sit in its own block of 16/4 = 4 consecutive cores.
      CHECK(p.slots[0] == all[r * 4]);
      CHECK(p.slots[2] == all[r * 4 + 2]);
    }
  }
  // Exactly full: 2 ranks x 2 threads on 4 cores.
  auto p = af::make_plan(BindMode::automatic, cores(4), layout(1, 2), 2);
  REQUIRE(p.bind);
  CHECK(p.slots == std::vector<CpuList>{{2}, {3}});
}

TEST_CASE("affinity: auto leaves an oversubscribed node unbound, cores shares cores", "[affinity]") {
  // This machine's shape: 2 cores, 2 ranks x (1 progress + 1 executor).
  auto a = af::make_plan(BindMode::automatic, cores(2), layout(0, 2), 2);
  CHECK_FALSE(a.bind);
  CHECK(a.slots.empty());
  CHECK(a.reason.find("oversubscribed") != std::string::npos);
  // One rank with as many executors as cores: 1 + C threads > C cores.
  CHECK_FALSE(af::make_plan(BindMode::automatic, cores(8), layout(0, 1), 9).bind);

  // cores: each rank keeps to its own block; its threads cycle inside it.
  auto c0 = af::make_plan(BindMode::cores, cores(2), layout(0, 2), 2);
  auto c1 = af::make_plan(BindMode::cores, cores(2), layout(1, 2), 2);
  REQUIRE(c0.bind);
  REQUIRE(c1.bind);
  CHECK(c0.slots == std::vector<CpuList>{{0}, {0}});
  CHECK(c1.slots == std::vector<CpuList>{{1}, {1}});
  auto c = af::make_plan(BindMode::cores, cores(4), layout(0, 1), 6);
  CHECK(c.slots == std::vector<CpuList>{{0}, {1}, {2}, {3}, {0}, {1}});
  // More ranks than cores: rank r on core r % C.
  auto m = af::make_plan(BindMode::cores, cores(2), layout(3, 5), 2);
  CHECK(m.slots == std::vector<CpuList>{{1}, {1}});
}

TEST_CASE("affinity: describe() names the mode and each slot", "[affinity]") {
  auto p = af::make_plan(BindMode::automatic, cores(4), layout(0, 1), 3);
  const std::string d = p.describe();
  CHECK(d.find("FERRY_BIND=auto: binding") != std::string::npos);
  CHECK(d.find("progress thread -> PU 0") != std::string::npos);
  CHECK(d.find("executor thread 1 -> PU 2") != std::string::npos);
  auto q = af::make_plan(BindMode::automatic, cores(2), layout(0, 2), 2);
  CHECK(q.describe().find("not binding") != std::string::npos);
}

TEST_CASE("affinity: the process plan reads FERRY_BIND and the layout", "[affinity]") {
  auto bad = af::compute_process_plan(env({{"FERRY_BIND", "sockets"}}));
  REQUIRE_FALSE(bad);
  CHECK(bad.status().message().find("FERRY_BIND='sockets'") != std::string::npos);
  auto bad_layout = af::compute_process_plan(env({{"FERRY_LOCAL_RANK", "5"}, {"FERRY_LOCAL_SIZE", "2"}}));
  CHECK_FALSE(bad_layout);

  // The real topology: at least one usable core, threads = 1 + FERRY_EXECUTOR_THREADS.
  auto none = af::compute_process_plan(env({{"FERRY_BIND", "none"}, {"FERRY_EXECUTOR_THREADS", "3"}}));
  REQUIRE(none);
  CHECK_FALSE(none.value().cores.empty());
  CHECK(none.value().threads == 4);
  CHECK_FALSE(none.value().plan.bind);
  auto forced = af::compute_process_plan(env({{"FERRY_BIND", "cores"}, {"FERRY_EXECUTOR_THREADS", "1"}}));
  REQUIRE(forced);
  CHECK(forced.value().plan.bind);
  CHECK(forced.value().plan.slots.size() == 2);
}

TEST_CASE("affinity: oversubscription is local ranks per online CPU, rounded up", "[affinity]") {
  const auto cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  REQUIRE(cpus > 0);
  CHECK(af::oversubscription(env({})) == 1);
  CHECK(af::oversubscription(env({{"FERRY_LOCAL_RANK", "0"}, {"FERRY_LOCAL_SIZE", std::to_string(cpus)}})) == 1);
  CHECK(af::oversubscription(env({{"FERRY_LOCAL_RANK", "0"}, {"FERRY_LOCAL_SIZE", std::to_string(cpus + 1)}})) == 2);
  CHECK(af::oversubscription(env({{"FERRY_LOCAL_RANK", "0"}, {"FERRY_LOCAL_SIZE", std::to_string(64 * cpus)}})) == 64);
  CHECK(af::oversubscription(env({{"FERRY_LOCAL_RANK", "x"}, {"FERRY_LOCAL_SIZE", "5"}})) == 1);  // malformed: 1
}

using ferry::test::EnvGuard;

TEST_CASE("transport options: liveness defaults scale above 2 ranks per CPU, the variables win",
          "[affinity][liveness]") {
  using namespace std::chrono_literals;
  using ferry::transport::Options;
  const auto cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  EnvGuard hb("FERRY_HEARTBEAT_MS", std::nullopt), to("FERRY_PEER_TIMEOUT_MS", std::nullopt),
      r("FERRY_LOCAL_RANK", "0");
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) ::unsetenv(v);
  {
    EnvGuard n("FERRY_LOCAL_SIZE", std::to_string(cpus));
    auto o = Options::from_env().value();
    CHECK(o.heartbeat_interval == 500ms);
    CHECK(o.peer_timeout == 2500ms);
  }
  {
    EnvGuard n("FERRY_LOCAL_SIZE", std::to_string(Options::kLivenessRanksPerCpu * cpus));  // not scaled yet
    auto o = Options::from_env().value();
    CHECK(o.heartbeat_interval == 500ms);
    CHECK(o.peer_timeout == 2500ms);
  }
  {
    EnvGuard n("FERRY_LOCAL_SIZE", std::to_string(Options::kLivenessRanksPerCpu * cpus + 1));
    auto o = Options::from_env().value();
    CHECK(o.heartbeat_interval == 1000ms);
    CHECK(o.peer_timeout == 5000ms);
  }
  {
    EnvGuard n("FERRY_LOCAL_SIZE", std::to_string(3 * Options::kLivenessRanksPerCpu * cpus));
    auto o = Options::from_env().value();
    CHECK(o.heartbeat_interval == 1500ms);
    CHECK(o.peer_timeout == 7500ms);
  }
  {
    EnvGuard n("FERRY_LOCAL_SIZE", std::to_string(64 * cpus));  // 32 x: capped
    auto o = Options::from_env().value();
    CHECK(o.heartbeat_interval == 500ms * Options::kLivenessScaleMax);
    CHECK(o.peer_timeout == 2500ms * Options::kLivenessScaleMax);
    EnvGuard t("FERRY_PEER_TIMEOUT_MS", "3000");  // given: not scaled; the heartbeat follows it
    o = Options::from_env().value();
    CHECK(o.peer_timeout == 3000ms);
    CHECK(o.heartbeat_interval == 600ms);
    EnvGuard h("FERRY_HEARTBEAT_MS", "100");
    o = Options::from_env().value();
    CHECK(o.heartbeat_interval == 100ms);
    CHECK(o.peer_timeout == 3000ms);
  }
}

TEST_CASE("transport options: FERRY_TCP_CONNECT_TIMEOUT_MS sets the TCP start-up budget", "[affinity][options]") {
  using namespace std::chrono_literals;
  using ferry::transport::Options;
  {
    EnvGuard c("FERRY_TCP_CONNECT_TIMEOUT_MS", std::nullopt);
    CHECK(Options::from_env().value().tcp_connect_timeout == 0ms);  // max(peer timeout, 30 s)
  }
  {
    EnvGuard c("FERRY_TCP_CONNECT_TIMEOUT_MS", "4000");
    CHECK(Options::from_env().value().tcp_connect_timeout == 4000ms);
  }
  {
    EnvGuard c("FERRY_TCP_CONNECT_TIMEOUT_MS", "soon");
    auto o = Options::from_env();
    REQUIRE_FALSE(o);
    CHECK(o.status().code() == ferry::Errc::invalid_argument);
    CHECK(o.status().message().find("FERRY_TCP_CONNECT_TIMEOUT_MS") != std::string::npos);
  }
}
