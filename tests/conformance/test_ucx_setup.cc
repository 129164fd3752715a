// test_ucx_setup.cc — which error-handling mode and which UCX transports the
// UCX backend's endpoints get, observed through its debug log line
// "endpoint to rank R: error handling <peer|none>, transports <a,b,...>".
//
// UCX 1.13's shared-memory transports support UCP_ERR_HANDLING_MODE_PEER only
// with UCX_MM_ERROR_HANDLING=y, which the backend requests unless the user set
// it: same-node endpoints must then use shared memory (not TCP loopback) with
// peer-failure handling, whether UCX_TLS is unset or lists shm transports; an
// explicit UCX_MM_ERROR_HANDLING=n is obeyed. Tagged [ucx-only]: under another
// backend a case is reported skipped (conformance.tcp leaves them out).
// Each group also moves a small and a rendezvous-sized AM and a get both ways.
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "common.h"

using namespace conf;

namespace {

constexpr ft::HandlerId kData = 70;

std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> g_log;  // per forked rank

// Runs in the forked rank before the transport exists: captures debug lines,
// still prints warnings and errors.
void capture_log() {
  g_log = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(4096);
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  err->set_level(spdlog::level::warn);
  auto logger = std::make_shared<spdlog::logger>("capture", spdlog::sinks_init_list{g_log, err});
  logger->set_level(spdlog::level::debug);
  spdlog::set_default_logger(logger);
}

struct EpInfo {
  std::string mode;        // "peer" or "none"
  std::string transports;  // comma-separated
  bool uses(const std::string& tl) const { return ("," + transports + ",").find("," + tl + ",") != std::string::npos; }
};

EpInfo endpoint_info(Rank peer) {
  const std::string key = "endpoint to rank " + std::to_string(peer) + ": error handling ";
  for (const std::string& line : g_log->last_formatted()) {
    auto at = line.find(key);
    if (at == std::string::npos) continue;
    std::string rest = line.substr(at + key.size());
    auto comma = rest.find(", transports ");
    FERRY_REQUIRE(comma != std::string::npos);
    std::string tls = rest.substr(comma + 13);
    while (!tls.empty() && (tls.back() == '\n' || tls.back() == '\r')) tls.pop_back();
    return EpInfo{rest.substr(0, comma), tls};
  }
  FERRY_FAIL("no endpoint log line for rank " + std::to_string(peer));
  return {};
}

RunOptions setup_group(std::function<void()> env_change) {
  auto o = group(2, 60);
  o.factory = [env_change](const ft::Options& opts, ft::Bootstrap& boot) {
    if (opts.backend == ft::Backend::ucx) {
      if (env_change) env_change();
      capture_log();
    }
    return ft::make_transport(opts, boot);
  };
  return o;
}

// Moves data both ways on the endpoint whose set-up is being checked.
void exchange(RankEnv& env) {
  auto& t = env.transport();
  const Rank peer = 1 - env.rank();
  auto regions = make_regions(env, 2 * MiB, 70);
  Counter got;
  FERRY_REQUIRE_OK(t.set_handler(kData, [&](Rank src, ft::ByteView p) {
    const std::uint64_t k = got.value();
    verify_message(p, k == 0 ? 100 : MiB, k, ferry::test::make_seed(src, k, 70), src);
    got.add();
  }));
  env.barrier();
  require_ok(t.send_owned(peer, kData, make_message(100, 0, ferry::test::make_seed(env.rank(), 0, 70))), "small AM");
  require_ok(t.send_owned(peer, kData, make_message(MiB, 1, ferry::test::make_seed(env.rank(), 1, 70))), "large AM");
  std::vector<std::byte> dst(MiB + 5);
  require_ok(t.get(regions->key(peer), regions->base(peer) + 3, dst.data(), dst.size()), "get");
  FERRY_REQUIRE_PATTERN(dst.data(), dst.size(), regions->seed_of(peer), 3);
  FERRY_REQUIRE(got.wait_for_at_least(2, kOpWait));
  env.barrier();
}

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == value;
}

}  // namespace

TEST_CASE("ucx setup: endpoints get peer-failure handling over the transports UCX_TLS allows",
          "[ucx][setup][ucx-only]") {
  if (!ferry::test::configured_backend_is(ft::Backend::ucx)) FERRY_SKIP_CASE("needs FERRY_TRANSPORT=ucx");
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(setup_group(nullptr), [](RankEnv& env) {
    FERRY_REQUIRE(is_ucx(env));
    const EpInfo ep = endpoint_info(1 - env.rank());
    ferry::test::note("UCX_TLS=" + std::string(std::getenv("UCX_TLS") ? std::getenv("UCX_TLS") : "(unset)") +
                      ": error handling " + ep.mode + ", transports " + ep.transports);
    if (env_is("UCX_TLS", "tcp")) {
      FERRY_CHECK(ep.mode == "peer");
      FERRY_CHECK(ep.transports == "tcp");
    } else if (env_is("UCX_TLS", "posix,sysv,cma,self")) {
      FERRY_CHECK(ep.mode == "peer");
      FERRY_CHECK((ep.uses("sysv") || ep.uses("posix")));
      FERRY_CHECK(!ep.uses("tcp"));
    }
    exchange(env);
  }));
}

TEST_CASE("ucx setup: with UCX_TLS unset, same-node endpoints use shared memory with peer-failure handling",
          "[ucx][setup][ucx-only]") {
  if (!ferry::test::configured_backend_is(ft::Backend::ucx)) FERRY_SKIP_CASE("needs FERRY_TRANSPORT=ucx");
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(setup_group([] { ::unsetenv("UCX_TLS"); }), [](RankEnv& env) {
    FERRY_REQUIRE(is_ucx(env));
    const EpInfo ep = endpoint_info(1 - env.rank());
    ferry::test::note("UCX_TLS unset: error handling " + ep.mode + ", transports " + ep.transports);
    FERRY_CHECK(ep.mode == "peer");
    FERRY_CHECK((ep.uses("sysv") || ep.uses("posix")));
    FERRY_CHECK(!ep.uses("tcp"));
    exchange(env);
  }));
}

TEST_CASE("ucx setup: an explicit UCX_MM_ERROR_HANDLING=n is obeyed (TCP loopback keeps peer handling)",
          "[ucx][setup][ucx-only]") {
  if (!ferry::test::configured_backend_is(ft::Backend::ucx)) FERRY_SKIP_CASE("needs FERRY_TRANSPORT=ucx");
  auto change = [] {
    ::unsetenv("UCX_TLS");
    ::setenv("UCX_MM_ERROR_HANDLING", "n", 1);
  };
  FERRY_REQUIRE_RANKS_OK(ferry::test::run_ranks(setup_group(change), [](RankEnv& env) {
    FERRY_REQUIRE(is_ucx(env));
    const EpInfo ep = endpoint_info(1 - env.rank());
    ferry::test::note("UCX_TLS unset, UCX_MM_ERROR_HANDLING=n: error handling " + ep.mode + ", transports " +
                      ep.transports);
    FERRY_CHECK(ep.mode == "peer");
    FERRY_CHECK(!ep.uses("sysv"));
    FERRY_CHECK(!ep.uses("posix"));
    FERRY_CHECK(ep.uses("tcp"));
    exchange(env);
  }));
}
