// temp_dir.h — a fresh directory under $TMPDIR for one test, removed with everything in it.
// Thread-safety: none needed (one test owns it).
#pragma once

#include <catch2/catch.hpp>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace ferry::test {

struct TempDir {
  // `stem` names the directory (e.g. "ferry-detect-test"); six random characters are appended.
  explicit TempDir(const std::string& stem) {
    std::string t = (std::filesystem::temp_directory_path() / (stem + ".XXXXXX")).string();
    REQUIRE(::mkdtemp(t.data()) != nullptr);
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path;
};

}  // namespace ferry::test
