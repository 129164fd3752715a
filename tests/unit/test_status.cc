// test_status.cc — Status, Result<T>, Result<void> and ferry::Error (ferry/status.h).
#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>

#include "ferry/status.h"

using ferry::Errc;
using ferry::Result;
using ferry::Status;

TEST_CASE("Status: default is ok with an empty message", "[status]") {
  Status s;
  CHECK(s.is_ok());
  CHECK(static_cast<bool>(s));
  CHECK(s.code() == Errc::ok);
  CHECK(s.message().empty());
  CHECK(s.to_string() == "ok");
  CHECK(Status::ok().is_ok());
}

TEST_CASE("Status: an error keeps code and message", "[status]") {
  Status s(Errc::peer_failed, "rank 3 closed the connection");
  CHECK_FALSE(s.is_ok());
  CHECK_FALSE(static_cast<bool>(s));
  CHECK(s.code() == Errc::peer_failed);
  CHECK(s.message() == "rank 3 closed the connection");
  CHECK(s.to_string() == "peer_failed: rank 3 closed the connection");
  Status copy = s;
  CHECK(copy.code() == Errc::peer_failed);
  CHECK(copy.message() == s.message());
}

TEST_CASE("Errc: every code has its own name", "[status]") {
  std::set<std::string> names;
  for (int c = static_cast<int>(Errc::ok); c <= static_cast<int>(Errc::internal); ++c) {
    std::string name = ferry::to_string(static_cast<Errc>(c));
    INFO("code " << c << " -> " << name);
    CHECK(name != "unknown");
    CHECK_FALSE(name.empty());
    names.insert(name);
  }
  CHECK(names.size() == static_cast<std::size_t>(Errc::internal) + 1);
  CHECK(std::string(ferry::to_string(Errc::invalid_argument)) == "invalid_argument");
  CHECK(std::string(ferry::to_string(Errc::unknown_handler)) == "unknown_handler");
  CHECK(std::string(ferry::to_string(static_cast<Errc>(200))) == "unknown");
}

TEST_CASE("Result<T>: value and error", "[status]") {
  Result<int> good(42);
  CHECK(good.is_ok());
  CHECK(static_cast<bool>(good));
  CHECK(good.status().is_ok());
  CHECK(good.value() == 42);
  CHECK(*good == 42);
  *good = 7;
  CHECK(good.value() == 7);

  Result<int> bad(Status(Errc::not_found, "no such object"));
  CHECK_FALSE(bad.is_ok());
  CHECK(bad.status().code() == Errc::not_found);
  try {
    (void)bad.value();
    FAIL("value() of an error Result must throw");
  } catch (const ferry::Error& e) {
    CHECK(e.code() == Errc::not_found);
    CHECK(e.status().message() == "no such object");
    CHECK(std::string(e.what()) == "not_found: no such object");
  }
}

TEST_CASE("Result<T>: constructed from an ok Status becomes an internal error", "[status]") {
  Result<int> r(Status::ok());
  CHECK_FALSE(r.is_ok());
  CHECK(r.status().code() == Errc::internal);
  CHECK_THROWS_AS(r.value(), ferry::Error);
}

TEST_CASE("Result<T>: move-only values and operator->", "[status]") {
  Result<std::unique_ptr<int>> r(std::make_unique<int>(5));
  REQUIRE(r.is_ok());
  CHECK(**r == 5);
  std::unique_ptr<int> p = std::move(r).value();
  REQUIRE(p);
  CHECK(*p == 5);

  Result<std::string> s(std::string("hello"));
  CHECK(s->size() == 5);
  const Result<std::string>& cs = s;
  CHECK(cs.value() == "hello");
}

TEST_CASE("Result<void>", "[status]") {
  Result<void> ok;
  CHECK(ok.is_ok());
  CHECK_NOTHROW(ok.value());
  Result<void> bad(Status(Errc::timeout, "waited 5 s"));
  CHECK_FALSE(bad.is_ok());
  CHECK(bad.status().code() == Errc::timeout);
  CHECK_THROWS_AS(bad.value(), ferry::Error);
  Result<void> from_ok(Status::ok());
  CHECK(from_ok.is_ok());
}

TEST_CASE("Error is a std::runtime_error carrying the Status", "[status]") {
  ferry::Error e(Status(Errc::owner_died, "owner rank 2 died"));
  const std::runtime_error& base = e;
  CHECK(std::string(base.what()) == "owner_died: owner rank 2 died");
  CHECK(e.code() == Errc::owner_died);
  CHECK(e.status().code() == Errc::owner_died);
}
