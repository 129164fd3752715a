// test_ucx_tls.cc — the UCX backend's reading of UCX_TLS (ucx/ucx_tls.h): whole
// names, aliases, ":aux" suffixes and "^" exclusion lists, so that the decision
// to request UCX_MM_ERROR_HANDLING never misfires on a substring such as the
// "sm" inside another transport's name.
#include <catch2/catch.hpp>

#include "ucx/ucx_tls.h"

using ferry::transport::ucx::tls_is_tcp_only;
using ferry::transport::ucx::tls_may_use_shm;

TEST_CASE("ucx tls: unset, empty and 'all' allow shared memory", "[ucx][tls]") {
  for (const char* tls : {static_cast<const char*>(nullptr), "", "all", "^", "all,tcp"}) {
    INFO("UCX_TLS=" << (tls ? tls : "(unset)"));
    CHECK(tls_may_use_shm(tls));
  }
}

TEST_CASE("ucx tls: explicit lists and aliases", "[ucx][tls]") {
  CHECK(tls_may_use_shm("posix,sysv,cma,self"));
  CHECK(tls_may_use_shm("sm"));
  CHECK(tls_may_use_shm("shm,tcp"));
  CHECK(tls_may_use_shm("mm"));
  CHECK(tls_may_use_shm("sysv"));
  CHECK(tls_may_use_shm("tcp,posix:aux"));
  CHECK_FALSE(tls_may_use_shm("tcp"));
  CHECK_FALSE(tls_may_use_shm("cma,self"));
  CHECK_FALSE(tls_may_use_shm("tcp,cma"));
}

TEST_CASE("ucx tls: names are matched whole, never as substrings", "[ucx][tls]") {
  // "sm" and "all" inside other names must not count.
  CHECK_FALSE(tls_may_use_shm("rc_mlx5,dc_mlx5,smsc"));
  CHECK_FALSE(tls_may_use_shm("ud_verbs,tcp"));
  CHECK_FALSE(tls_may_use_shm("xsm"));
  CHECK_FALSE(tls_may_use_shm("allx"));
  CHECK_FALSE(tls_may_use_shm("rc,ud"));
}

TEST_CASE("ucx tls: exclusion lists", "[ucx][tls]") {
  CHECK(tls_may_use_shm("^tcp"));
  CHECK(tls_may_use_shm("^posix"));  // sysv is still allowed
  CHECK_FALSE(tls_may_use_shm("^posix,sysv"));
  CHECK_FALSE(tls_may_use_shm("^sm"));
  CHECK_FALSE(tls_may_use_shm("^shm,tcp"));
  CHECK_FALSE(tls_may_use_shm("^mm"));
}


TEST_CASE("ucx tls: TCP only means tcp (and self) listed, nothing else", "[ucx][tls]") {
  for (const char* tls : {"tcp", "tcp,self", "self,tcp", "tcp:aux", "tcp,"}) {
    INFO("UCX_TLS=" << tls);
    CHECK(tls_is_tcp_only(tls));
  }
  for (const char* tls : {static_cast<const char*>(nullptr), "", "all", "^posix,sysv,cma", "^tcp", "self", "tcp,cma",
                          "tcp,posix", "tcp,sm", "rc,tcp", "tcpx", "ud_verbs"}) {
    INFO("UCX_TLS=" << (tls ? tls : "(unset)"));
    CHECK_FALSE(tls_is_tcp_only(tls));
  }
}
