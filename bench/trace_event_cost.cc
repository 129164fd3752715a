// trace_event_cost — the cost of one trace event site, with FERRY_TRACE off and on, measured in
// a loop on one thread (no runtime, no transport: insensitive to the other load of a shared
// machine, unlike a task-rate comparison).
//
//   ferry_bench_trace_event [rounds]
//
// Per round: 200,000 sites (in bursts, see ns_per_site) of each kind with tracing off (the flag check only), then on
// (begin() into a temporary directory): a zero-length mark (one clock read) and a span (two).
// Prints ns per site for each round and the median. It includes runtime/src/trace.h: this is a
// benchmark of an internal piece, built beside the runtime.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "trace.h"

namespace {

namespace trace = ferry::rt::trace;
using Clock = std::chrono::steady_clock;
constexpr int kSites = 200000;

// Times kSites sites in bursts of kBurst, pausing 1 ms (untimed) between bursts: the rate of a
// busy program's events, with the helper thread keeping up (a single thread recording flat out
// would outrun the spill file and measure the disk instead).
constexpr int kBurst = 2000;

template <class F>
double ns_per_site(F&& f) {
  double ns = 0;
  for (int b = 0; b < kSites / kBurst; ++b) {
    const auto t0 = Clock::now();
    for (int i = 0; i < kBurst; ++i) f(i);
    ns += std::chrono::duration<double, std::nano>(Clock::now() - t0).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return ns / kSites;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 5;
  const std::string dir = std::filesystem::temp_directory_path() / ("ferry-trace-cost-" + std::to_string(::getpid()));
  ::setenv("FERRY_TRACE", dir.c_str(), 1);
  const ferry::objstore::ObjectId id(0, 1);
  std::vector<double> off, mark, span;
  for (int r = 0; r < rounds; ++r) {
    off.push_back(ns_per_site([&](int i) {
      if (trace::on()) trace::mark("site", id, static_cast<std::uint64_t>(i), trace::kFlowInObj);
    }));
    if (ferry::Status s = trace::begin(0, 1); !s) {
      std::fprintf(stderr, "trace::begin: %s\n", s.to_string().c_str());
      return 1;
    }
    mark.push_back(ns_per_site([&](int i) {
      if (trace::on()) trace::mark("site", id, static_cast<std::uint64_t>(i), trace::kFlowInObj);
    }));
    span.push_back(ns_per_site([&](int i) {
      const std::uint64_t t0 = trace::on() ? trace::now() : 0;
      if (t0) trace::complete("site", t0, static_cast<std::uint64_t>(i), id, trace::kFlowOutObj);
    }));
    ::setenv("FERRY_TRACE", dir.c_str(), 1);
    if (ferry::Status s = trace::write_and_stop(); !s) {
      std::fprintf(stderr, "trace::write_and_stop: %s\n", s.to_string().c_str());
      return 1;
    }
    std::printf("round %d: off %.2f ns, mark %.1f ns, span %.1f ns per site\n", r + 1, off.back(), mark.back(),
                span.back());
  }
  std::filesystem::remove_all(dir);
  std::printf("median of %d rounds: off %.2f ns, mark %.1f ns, span %.1f ns per site\n", rounds, median(off),
              median(mark), median(span));
  return 0;
}
