/* first_touch.c — the machine's floor under a "ready store": writes N MiB of fresh anonymous memory
 * three times and prints each pass's time. The first pass pays the page faults (and, on a VM, the
 * hypervisor backing each fresh page); later passes do not. Usage: ferry_first_touch [MiB] [huge]
 * (default 1024 MiB; huge = 1 advises MADV_HUGEPAGE, 0 leaves 4 KiB pages). No ferry code involved:
 * data-limits.sh prints its first/later ratio beside the store's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 1024;
  const int huge = argc > 2 ? atoi(argv[2]) : 1;
  const size_t n = mib << 20;
  char* p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("first_touch: mmap");
    return 1;
  }
  if (huge) (void)madvise(p, n, MADV_HUGEPAGE);
  double ms[3];
  for (int pass = 0; pass < 3; ++pass) {
    const double t = now_ms();
    memset(p, pass + 1, n);
    ms[pass] = now_ms() - t;
  }
  printf("first_touch mib=%zu huge=%d first_ms=%.1f later_ms=%.1f\n", mib, huge, ms[0], (ms[1] + ms[2]) / 2);
  return 0;
}
