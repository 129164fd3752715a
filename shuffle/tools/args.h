// args.h — command-line options of the sort tools: "--name value" pairs and "--flag"s.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sortrec {

class Args {
 public:
  Args(int argc, char** argv) : argc_(argc), argv_(argv) {}
  std::string str(std::string_view name, std::string fallback = {}) const {
    for (int i = 1; i + 1 < argc_; ++i)
      if (name == argv_[i]) return argv_[i + 1];
    return fallback;
  }
  std::string required(std::string_view name) const {
    std::string v = str(name);
    if (v.empty()) throw std::invalid_argument("missing " + std::string(name) + " VALUE");
    return v;
  }
  // Unsigned integer with an optional K/M/G suffix (powers of 1024).
  std::uint64_t num(std::string_view name, std::uint64_t fallback) const {
    std::string v = str(name);
    if (v.empty()) return fallback;
    char* end = nullptr;
    std::uint64_t n = std::strtoull(v.c_str(), &end, 10);
    std::string_view rest(end);
    if (rest == "K" || rest == "k") n <<= 10;
    else if (rest == "M" || rest == "m") n <<= 20;
    else if (rest == "G" || rest == "g") n <<= 30;
    else if (!rest.empty() || end == v.c_str()) throw std::invalid_argument(std::string(name) + ": not a number: " + v);
    return n;
  }
  bool flag(std::string_view name) const {
    for (int i = 1; i < argc_; ++i)
      if (name == argv_[i]) return true;
    return false;
  }

 private:
  int argc_;
  char** argv_;
};

}  // namespace sortrec
