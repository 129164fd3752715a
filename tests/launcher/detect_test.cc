// detect_test.cc — launcher detection and make_bootstrap() from the environment, in-process.
//
// Every test clears the variables detection reads (EnvGuard) and sets only its own, so the
// result does not depend on how ctest was started (even inside srun or mpirun).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include <stdlib.h>

#include "env_guard.h"
#include "temp_dir.h"
#include "ferry/launcher/bootstrap.h"

namespace fl = ferry::launcher;
using ferry::Errc;
using ferry::test::EnvGuard;
using ferry::test::TempDir;

namespace {

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("detect.nothing_set_is_single_rank", "[launcher][detect]") {
  EnvGuard env;
  auto d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::single);
  auto bs = fl::make_bootstrap();
  REQUIRE(bs);
  CHECK((*bs)->rank() == 0);
  CHECK((*bs)->size() == 1);
  CHECK((*bs)->name() == "single");
  ferry::transport::Bytes blob{std::byte{1}, std::byte{2}, std::byte{3}};
  auto all = (*bs)->allgather(blob);
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK((*all)[0] == blob);
  CHECK((*bs)->barrier());
}

TEST_CASE("detect.ferry_run_variables_win", "[launcher][detect]") {
  EnvGuard env;
  TempDir dir("ferry-detect-test");
  env.set("FERRY_RENDEZVOUS_DIR", dir.path);
  env.set("FERRY_RANK", "1");
  env.set("FERRY_SIZE", "2");
  env.set("PMIX_NAMESPACE", "12345");  // ferry-run wins over an inherited PMIx job
  env.set("SLURM_STEP_ID", "0");
  env.set("SLURM_NTASKS", "4");
  auto d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::ferry_run);
  CHECK(contains(d->description, "ferry-run"));
  auto bs = fl::make_bootstrap();
  REQUIRE(bs);
  CHECK((*bs)->rank() == 1);
  CHECK((*bs)->size() == 2);
  CHECK((*bs)->name() == "local");
}

TEST_CASE("detect.bad_rank_or_size_rejected", "[launcher][detect]") {
  EnvGuard env;
  TempDir dir("ferry-detect-test");
  env.set("FERRY_RENDEZVOUS_DIR", dir.path);
  env.set("FERRY_SIZE", "2");
  for (const char* bad : {"", "abc", "-1", "+1", " 1", "1x", "2", "3", "99999999999999999999", "0x1"}) {
    INFO("FERRY_RANK='" << bad << "'");
    env.set("FERRY_RANK", bad);
    auto d = fl::detect_launcher();
    REQUIRE_FALSE(d);
    CHECK(d.status().code() == Errc::invalid_argument);
    CHECK(contains(d.status().message(), "FERRY_RANK"));
    auto bs = fl::make_bootstrap();
    CHECK_FALSE(bs);
  }
  env.unset("FERRY_RANK");
  CHECK_FALSE(fl::detect_launcher());
  env.set("FERRY_RANK", "0");
  for (const char* bad : {"0", "", "two", "-2"}) {
    INFO("FERRY_SIZE='" << bad << "'");
    env.set("FERRY_SIZE", bad);
    auto d = fl::detect_launcher();
    REQUIRE_FALSE(d);
    CHECK(contains(d.status().message(), "FERRY_SIZE"));
  }
  env.set("FERRY_SIZE", "1");
  CHECK(fl::detect_launcher());
  env.set("FERRY_RENDEZVOUS_DIR", dir.path + "/does-not-exist");
  auto bs = fl::make_bootstrap();
  REQUIRE_FALSE(bs);
  CHECK(bs.status().code() == Errc::bootstrap_failed);
}

TEST_CASE("detect.pmix_namespace_selects_pmix", "[launcher][detect]") {
  EnvGuard env;
  env.set("PMIX_NAMESPACE", "slurm.pmix.42.0");
  env.set("SLURM_STEP_ID", "0");
  env.set("SLURM_NTASKS", "4");
  auto d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::pmix);
  CHECK(d->description == "PMIx (srun)");
  env.set("PMIX_NAMESPACE", "3735617537");
  env.set("OMPI_COMM_WORLD_SIZE", "4");
  d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::pmix);
  CHECK(d->description == "PMIx (mpirun)");
}

TEST_CASE("detect.srun_without_pmix_is_an_error", "[launcher][detect]") {
  EnvGuard env;
  env.set("SLURM_STEP_ID", "0");
  env.set("SLURM_NTASKS", "4");
  env.set("SLURM_PROCID", "2");
  env.set("SLURM_MPI_TYPE", "none");
  auto d = fl::detect_launcher();
  REQUIRE_FALSE(d);
  CHECK(d.status().code() == Errc::bootstrap_failed);
  CHECK(contains(d.status().message(), "srun --mpi=pmix"));
  CHECK(contains(d.status().message(), "4 tasks"));
  CHECK_FALSE(fl::make_bootstrap());
  SECTION("the step's own task count wins over SLURM_NTASKS") {
    env.set("SLURM_NTASKS", "1");
    env.set("SLURM_STEP_NUM_TASKS", "3");
    CHECK_FALSE(fl::detect_launcher());
  }
  SECTION("a one-task step is a single rank; SLURM_PROCID is never trusted") {
    env.set("SLURM_NTASKS", "1");
    auto one = fl::make_bootstrap();
    REQUIRE(one);
    CHECK((*one)->rank() == 0);
    CHECK((*one)->size() == 1);
  }
  SECTION("a batch script (no SLURM_STEP_ID) is one process") {
    env.unset("SLURM_STEP_ID");
    auto b = fl::detect_launcher();
    REQUIRE(b);
    CHECK(b->kind == fl::LauncherKind::single);
  }
}

TEST_CASE("detect.mpirun_without_pmix_is_an_error", "[launcher][detect]") {
  EnvGuard env;
  env.set("OMPI_COMM_WORLD_SIZE", "2");
  env.set("OMPI_COMM_WORLD_RANK", "1");
  auto d = fl::detect_launcher();
  REQUIRE_FALSE(d);
  CHECK(d.status().code() == Errc::bootstrap_failed);
  CHECK(contains(d.status().message(), "make_mpi_bootstrap"));
  env.set("OMPI_COMM_WORLD_SIZE", "1");
  CHECK(fl::detect_launcher());
}

TEST_CASE("detect.ferry_bootstrap_override", "[launcher][detect]") {
  EnvGuard env;
  env.set("PMIX_NAMESPACE", "slurm.pmix.1.0");
  env.set("SLURM_STEP_ID", "0");
  env.set("SLURM_NTASKS", "4");
  env.set("FERRY_BOOTSTRAP", "single");
  auto d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::single);
  auto bs = fl::make_bootstrap();
  REQUIRE(bs);
  CHECK((*bs)->size() == 1);

  env.set("FERRY_BOOTSTRAP", "local");  // without the ferry-run variables
  d = fl::detect_launcher();
  REQUIRE_FALSE(d);
  CHECK(contains(d.status().message(), "FERRY_RENDEZVOUS_DIR"));
  TempDir dir("ferry-detect-test");
  env.set("FERRY_RENDEZVOUS_DIR", dir.path);
  env.set("FERRY_RANK", "0");
  env.set("FERRY_SIZE", "3");
  d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::ferry_run);

  env.set("FERRY_BOOTSTRAP", "pmix");  // forced, beats FERRY_RENDEZVOUS_DIR
  d = fl::detect_launcher();
  REQUIRE(d);
  CHECK(d->kind == fl::LauncherKind::pmix);

  env.set("FERRY_BOOTSTRAP", "mpi");
  d = fl::detect_launcher();
  REQUIRE_FALSE(d);
  CHECK(d.status().code() == Errc::invalid_argument);
  CHECK(contains(d.status().message(), "make_mpi_bootstrap"));

  env.set("FERRY_BOOTSTRAP", "carrier-pigeon");
  d = fl::detect_launcher();
  REQUIRE_FALSE(d);
  CHECK(d.status().code() == Errc::invalid_argument);
  CHECK(contains(d.status().message(), "FERRY_BOOTSTRAP"));
}

TEST_CASE("pmix.no_server_fails_clearly", "[launcher][pmix]") {
  EnvGuard env;
  env.set("FERRY_BOOTSTRAP", "pmix");
  auto bs = fl::make_bootstrap();
  REQUIRE_FALSE(bs);
#ifdef FERRY_TEST_HAVE_PMIX
  CHECK(bs.status().code() == Errc::bootstrap_failed);
  CHECK(contains(bs.status().message(), "PMIX_NAMESPACE"));
#else
  CHECK(bs.status().code() == Errc::unsupported);
#endif
  CHECK_FALSE(fl::make_pmix_bootstrap(std::chrono::milliseconds(1000)));
}

TEST_CASE("detect.bootstrap_timeout_env", "[launcher][detect]") {
  EnvGuard env;
  CHECK(fl::bootstrap_timeout_from_env() == std::chrono::milliseconds(60000));
  env.set("FERRY_BOOTSTRAP_TIMEOUT_MS", "1500");
  CHECK(fl::bootstrap_timeout_from_env() == std::chrono::milliseconds(1500));
  CHECK(fl::make_bootstrap());
  for (const char* bad : {"soon", "-5", "0", "1.5"}) {
    INFO("FERRY_BOOTSTRAP_TIMEOUT_MS='" << bad << "'");
    env.set("FERRY_BOOTSTRAP_TIMEOUT_MS", bad);
    CHECK(fl::bootstrap_timeout_from_env() == std::chrono::milliseconds(60000));  // warns, default
    auto bs = fl::make_bootstrap();  // refuses
    REQUIRE_FALSE(bs);
    CHECK(contains(bs.status().message(), "FERRY_BOOTSTRAP_TIMEOUT_MS"));
  }
}

TEST_CASE("connect.errors_name_the_rank", "[launcher][connect]") {
  EnvGuard env;
  env.set("FERRY_TRANSPORT", "pigeon");
  auto c = fl::connect();
  REQUIRE_FALSE(c);
  CHECK(c.status().code() == Errc::invalid_argument);
  CHECK(contains(c.status().message(), "FERRY_TRANSPORT"));

  auto null_bs = fl::connect(nullptr, ferry::transport::Options{});
  REQUIRE_FALSE(null_bs);
  CHECK(null_bs.status().code() == Errc::invalid_argument);

  ferry::transport::Options tcp;
  tcp.backend = ferry::transport::Backend::tcp;
  auto single = fl::connect(fl::make_single_bootstrap(), tcp);  // a working backend: one rank talking to itself
  REQUIRE(single);
  CHECK(single->bootstrap->size() == 1);
  CHECK(single->transport->size() == 1);
  CHECK(single->transport->shutdown());

  // A transport that cannot be made (a backend value this build does not know): the error
  // names the rank, the bootstrap and the transport's own reason.
  ferry::transport::Options bogus;
  bogus.backend = static_cast<ferry::transport::Backend>(99);
  auto failed = fl::connect(fl::make_single_bootstrap(), bogus);
  REQUIRE_FALSE(failed);
  INFO(failed.status().to_string());
  CHECK(failed.status().code() == Errc::invalid_argument);
  CHECK(contains(failed.status().message(), "rank 0/1"));
  CHECK(contains(failed.status().message(), "single"));
  CHECK(contains(failed.status().message(), "unknown transport backend"));
}
