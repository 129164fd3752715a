// startup_hello — the smallest ferry program, for bench/startup.sh: ferry::init (which ends with the
// start-up barrier), one line, shutdown. Rank 0 prints how long its init took.
#include <chrono>
#include <cstdio>

#include "ferry/ferry.h"

int main(int argc, char** argv) {
  const auto t0 = std::chrono::steady_clock::now();
  ferry::Session s = ferry::init(argc, argv);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (s.rank() == 0) std::printf("startup_hello: %u ranks, rank 0 init %.0f ms\n", s.size(), ms);
  s.shutdown();
  return 0;
}
