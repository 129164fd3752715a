// ferry_run_support_test.cc — ferry-run's helpers in-process: which variables a rank must not
// inherit, the environment it gets, program lookup, and line-by-line forwarding with prefixes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include "ferry_run_support.h"

using namespace ferry::run;

namespace {

// Runs `body` with a LineForwarder writing into a temporary file (not a pipe: a long line
// would fill the pipe before anyone reads it) and returns everything written.
template <class F>
std::string forwarded(const std::string& prefix, F body) {
  std::FILE* tmp = std::tmpfile();
  REQUIRE(tmp != nullptr);
  const int fd = ::fileno(tmp);
  {
    LineForwarder f(fd, prefix);
    body(f);
  }
  std::string out;
  char buf[4096];
  ::lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  std::fclose(tmp);
  return out;
}

}  // namespace

TEST_CASE("ferry_run.stripped_variables", "[launcher][ferry-run]") {
  for (const char* v : {"PMIX_NAMESPACE", "PMIX_RANK", "PMI_FD", "OMPI_COMM_WORLD_SIZE", "OMPI_MCA_ess_base_jobid",
                        "FERRY_RANK", "FERRY_SIZE", "FERRY_RENDEZVOUS_DIR", "FERRY_LOCAL_RANK", "FERRY_BOOTSTRAP"}) {
    INFO(v);
    CHECK(is_stripped_variable(v, false));
  }
  for (const char* v : {"PATH", "OMPI_ALLOW_RUN_AS_ROOT", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "FERRY_TRANSPORT",
                        "FERRY_PROGRESS", "SLURM_NTASKS", "UCX_TLS", "PMIXER"}) {
    INFO(v);
    CHECK_FALSE(is_stripped_variable(v, false));
  }
  CHECK(is_stripped_variable("FERRY_TRANSPORT", true));
}

TEST_CASE("ferry_run.rank_environment", "[launcher][ferry-run]") {
  std::vector<std::string> base_s = {"PATH=/bin", "PMIX_RANK=3", "FERRY_RANK=9", "FERRY_TRANSPORT=ucx", "A=b=c"};
  std::vector<char*> base;
  for (auto& s : base_s) base.push_back(s.data());
  base.push_back(nullptr);
  auto env = rank_environment(base.data(), "/tmp/rv", 2, 4, "tcp");
  auto has = [&](const std::string& e) { return std::count(env.begin(), env.end(), e) == 1; };
  CHECK(has("PATH=/bin"));
  CHECK(has("A=b=c"));
  CHECK(has("FERRY_RENDEZVOUS_DIR=/tmp/rv"));
  CHECK(has("FERRY_RANK=2"));
  CHECK(has("FERRY_SIZE=4"));
  CHECK(has("FERRY_LOCAL_RANK=2"));
  CHECK(has("FERRY_LOCAL_SIZE=4"));
  CHECK(has("FERRY_TRANSPORT=tcp"));
  CHECK(has("GLIBC_TUNABLES=glibc.malloc.hugetlb=1"));
  CHECK(env.size() == 9);
  auto keep = rank_environment(base.data(), "/tmp/rv", 0, 1, "");
  CHECK(std::count(keep.begin(), keep.end(), "FERRY_TRANSPORT=ucx") == 1);
}

TEST_CASE("ferry_run.add_malloc_huge_pages", "[launcher][ferry-run]") {
  using Env = std::vector<std::string>;
  auto run = [](Env e) {
    add_malloc_huge_pages(e);
    return e;
  };
  CHECK(run({"A=1"}) == Env{"A=1", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"});
  // The user's tunables are kept; hugetlb is added to them unless they name it.
  CHECK(run({"GLIBC_TUNABLES=glibc.malloc.arena_max=2"}) ==
        Env{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"});
  CHECK(run({"GLIBC_TUNABLES="}) == Env{"GLIBC_TUNABLES=glibc.malloc.hugetlb=1"});
  CHECK(run({"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}) == Env{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"});
  // FERRY_MALLOC_TUNING=n: glibc's defaults.
  for (const char* off : {"FERRY_MALLOC_TUNING=n", "FERRY_MALLOC_TUNING=0", "FERRY_MALLOC_TUNING=no"})
    CHECK(run({off}) == Env{off});
  CHECK(run({"FERRY_MALLOC_TUNING=y"}) == Env{"FERRY_MALLOC_TUNING=y", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"});
  CHECK(run({"GLIBC_TUNABLES_X=1"}) == Env{"GLIBC_TUNABLES_X=1", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"});
}

TEST_CASE("ferry_run.resolve_program", "[launcher][ferry-run]") {
  std::string path, error;
  CHECK(resolve_program("sh", path, error));
  CHECK(path.find("/sh") != std::string::npos);
  CHECK(resolve_program("/bin/sh", path, error));
  CHECK(path == "/bin/sh");
  CHECK_FALSE(resolve_program("ferry-no-such-program-xyz", path, error));
  CHECK(error.find("not found in PATH") != std::string::npos);
  CHECK_FALSE(resolve_program("/etc/hostname-does-not-exist", path, error));
  CHECK_FALSE(resolve_program("/tmp", path, error));
  CHECK(error.find("directory") != std::string::npos);
  CHECK_FALSE(resolve_program("", path, error));
}

TEST_CASE("ferry_run.line_forwarding", "[launcher][ferry-run]") {
  CHECK(forwarded("[3] ", [](LineForwarder& f) {
          f.feed("a\nb", 3);
          f.feed("c\n\nd", 4);
          f.finish();
        }) == "[3] a\n[3] bc\n[3] \n[3] d\n");
  CHECK(forwarded("", [](LineForwarder& f) {
          f.feed("raw\npart", 8);
          f.finish();
        }) == "raw\npart");
  std::string longline(LineForwarder::kMaxLine + 10, 'x');
  std::string out = forwarded("[0] ", [&](LineForwarder& f) {
    f.feed(longline.data(), longline.size());
    f.finish();
  });
  CHECK(out == "[0] " + std::string(LineForwarder::kMaxLine, 'x') + "\n[0] xxxxxxxxxx\n");
}
