// pipe_pingpong — the floor of a round trip in which both sides sleep: two processes
// pass one byte back and forth over two pipes (each hop is a blocking read woken by
// the other side's write: two wake-ups per round trip). bench/compare-progress.sh runs
// it beside ferry's blocking-mode task round trip.
//   ferry_bench_pipe_pingpong [round_trips=20000]
// Prints "pipe_rtt_us <mean microseconds per round trip>" after a warm-up of 1,000.
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace {

bool hop(int rd, int wr, char& b) { return ::read(rd, &b, 1) == 1 && ::write(wr, &b, 1) == 1; }

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::strtol(argv[1], nullptr, 10) : 20000;
  if (n <= 0) {
    std::fprintf(stderr, "usage: %s [round_trips > 0]\n", argv[0]);
    return 2;
  }
  int ping[2], pong[2];
  if (::pipe(ping) != 0 || ::pipe(pong) != 0) {
    std::perror("pipe");
    return 1;
  }
  const long warm = 1000;
  const pid_t child = ::fork();
  if (child < 0) {
    std::perror("fork");
    return 1;
  }
  if (child == 0) {  // echo every byte back until EOF (its own copy of the write end closed)
    ::close(ping[1]);
    ::close(pong[0]);
    char b = 0;
    while (hop(ping[0], pong[1], b)) {
    }
    ::_exit(0);
  }
  ::close(ping[0]);
  ::close(pong[1]);
  char b = 1;
  std::chrono::steady_clock::time_point t0;
  for (long i = 0; i < warm + n; ++i) {
    if (i == warm) t0 = std::chrono::steady_clock::now();
    if (::write(ping[1], &b, 1) != 1 || ::read(pong[0], &b, 1) != 1) {
      std::fprintf(stderr, "pipe_pingpong: the echo process went away\n");
      return 1;
    }
  }
  const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count();
  ::close(ping[1]);
  int status = 0;
  ::waitpid(child, &status, 0);
  std::printf("pipe_rtt_us %.3f\n", us / static_cast<double>(n));
  return 0;
}
