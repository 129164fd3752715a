// test_options.cc — RuntimeOptions::from_env: defaults, FERRY_INLINE_BYTES,
// FERRY_GET_TIMEOUT_MS, FERRY_SHUTDOWN_TIMEOUT_MS and invalid values.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "ferry/runtime.h"
#include "ferry_test/env_guard.h"
#include "malloc_tuning.h"

namespace {

using ferry::test::EnvGuard;

}  // namespace

TEST_CASE("options: defaults and FERRY_* overrides", "[options]") {
  EnvGuard a("FERRY_INLINE_BYTES", std::nullopt), b("FERRY_GET_TIMEOUT_MS", std::nullopt),
      c("FERRY_SHUTDOWN_TIMEOUT_MS", std::nullopt);
  auto d = ferry::RuntimeOptions::from_env();
  REQUIRE(d.is_ok());
  CHECK(d.value().inline_bytes == 64u * 1024u);
  CHECK(d.value().get_timeout == std::chrono::milliseconds(600000));
  CHECK(d.value().store_bytes == 0u);
  {
    EnvGuard x("FERRY_INLINE_BYTES", "4K"), y("FERRY_GET_TIMEOUT_MS", "0"), z("FERRY_SHUTDOWN_TIMEOUT_MS", "1500");
    auto o = ferry::RuntimeOptions::from_env();
    REQUIRE(o.is_ok());
    CHECK(o.value().inline_bytes == 4096u);
    CHECK(o.value().get_timeout.count() == 0);
    CHECK(o.value().shutdown_timeout.count() == 1500);
  }
  {
    EnvGuard x("FERRY_INLINE_BYTES", "0");
    CHECK(ferry::RuntimeOptions::from_env().value().inline_bytes == 0u);
  }
  {
    EnvGuard x("FERRY_SHUTDOWN_TIMEOUT_MS", "0");  // 0: shutdown waits for slower peers forever
    CHECK(ferry::RuntimeOptions::from_env().value().shutdown_timeout.count() == 0);
  }
  for (auto [name, bad] : {std::pair{"FERRY_GET_TIMEOUT_MS", "soon"}, std::pair{"FERRY_GET_TIMEOUT_MS", "-5"},
                           std::pair{"FERRY_INLINE_BYTES", "lots"}, std::pair{"FERRY_SHUTDOWN_TIMEOUT_MS", "never"}}) {
    EnvGuard x(name, bad);
    auto o = ferry::RuntimeOptions::from_env();
    INFO(name << "=" << bad);
    REQUIRE(!o.is_ok());
    CHECK(o.status().code() == ferry::Errc::invalid_argument);
    CHECK_THAT(o.status().message(), Catch::Contains(name));
  }
}

TEST_CASE("options: FERRY_LINEAGE_BYTES", "[options]") {
  {
    EnvGuard x("FERRY_LINEAGE_BYTES", std::nullopt);
    CHECK(ferry::RuntimeOptions::from_env().value().lineage_bytes == std::size_t{256} << 20);
  }
  {
    EnvGuard x("FERRY_LINEAGE_BYTES", "64M");
    CHECK(ferry::RuntimeOptions::from_env().value().lineage_bytes == std::size_t{64} << 20);
  }
  {
    EnvGuard x("FERRY_LINEAGE_BYTES", "0");  // no lineage
    CHECK(ferry::RuntimeOptions::from_env().value().lineage_bytes == 0u);
  }
  EnvGuard x("FERRY_LINEAGE_BYTES", "plenty");
  auto o = ferry::RuntimeOptions::from_env();
  REQUIRE(!o.is_ok());
  CHECK(o.status().code() == ferry::Errc::invalid_argument);
  CHECK_THAT(o.status().message(), Catch::Contains("FERRY_LINEAGE_BYTES"));
}

TEST_CASE("options: FERRY_MALLOC_TUNING and the user's own malloc settings", "[options]") {
  {
    EnvGuard x("FERRY_MALLOC_TUNING", std::nullopt);
    CHECK(ferry::RuntimeOptions::from_env().value().malloc_tuning);
  }
  {
    EnvGuard x("FERRY_MALLOC_TUNING", "n");
    CHECK(!ferry::RuntimeOptions::from_env().value().malloc_tuning);
  }
  {
    EnvGuard x("FERRY_MALLOC_TUNING", "y");
    CHECK(ferry::RuntimeOptions::from_env().value().malloc_tuning);
  }
  {
    EnvGuard x("FERRY_MALLOC_TUNING", "sometimes");
    auto o = ferry::RuntimeOptions::from_env();
    REQUIRE(!o.is_ok());
    CHECK(o.status().code() == ferry::Errc::invalid_argument);
    CHECK_THAT(o.status().message(), Catch::Contains("FERRY_MALLOC_TUNING"));
  }
  EnvGuard t("GLIBC_TUNABLES", std::nullopt), m("MALLOC_TRIM_THRESHOLD_", std::nullopt);
  CHECK(!ferry::rt::user_tuned_malloc());
  {
    EnvGuard x("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=1000");
    CHECK(ferry::rt::user_tuned_malloc());
  }
  {  // what ferry-run adds is not the user's tuning; anything beside it is
    EnvGuard x("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1");
    CHECK(!ferry::rt::user_tuned_malloc());
    EnvGuard y("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=4096");
    CHECK(ferry::rt::user_tuned_malloc());
    EnvGuard z("GLIBC_TUNABLES", "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
    CHECK(ferry::rt::user_tuned_malloc());
  }
  {
    EnvGuard x("GLIBC_TUNABLES", "glibc.pthread.rseq=0");
    CHECK(!ferry::rt::user_tuned_malloc());
  }
  {
    EnvGuard x("MALLOC_TRIM_THRESHOLD_", "1000");
    CHECK(ferry::rt::user_tuned_malloc());
    ferry::RuntimeOptions o;
    CHECK(!ferry::rt::tune_malloc(o));  // the user's setting wins
  }
  ferry::RuntimeOptions off;
  off.malloc_tuning = false;
  CHECK(!ferry::rt::tune_malloc(off));
#if defined(__GLIBC__)
  CHECK(ferry::rt::tune_malloc(ferry::RuntimeOptions{}));
#endif
}
