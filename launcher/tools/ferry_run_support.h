// ferry_run_support.h — pieces of ferry-run that do not supervise processes: finding the
// program, building each rank's environment, and forwarding a rank's output line by line.
//
// Invariants: LineForwarder writes whole lines (prefix + text + '\n'), each with one write()
// loop, and ferry-run is the only writer of its stdout/stderr, so lines of different ranks
// never interleave mid-line.
// Thread-safety: none needed; ferry-run is single-threaded.
#pragma once

#include <string>
#include <vector>

namespace ferry::run {

// Resolves `program` like execvp would (PATH search when it has no '/').
// Returns false and sets `error` to a user-facing reason when it cannot be executed.
bool resolve_program(const std::string& program, std::string& path, std::string& error);

// Environment for one rank: ferry-run's own environment minus launcher variables
// (PMIX_*, PMI_*, OMPI_* except OMPI_ALLOW_RUN_AS_ROOT*, FERRY_BOOTSTRAP and the FERRY_*
// variables ferry-run sets), plus FERRY_RENDEZVOUS_DIR/RANK/SIZE/LOCAL_RANK/LOCAL_SIZE,
// FERRY_TRANSPORT when `transport` is non-empty, and add_malloc_huge_pages.
std::vector<std::string> rank_environment(char** base, const std::string& rendezvous_dir, unsigned rank,
                                          unsigned size, const std::string& transport);

// Unless FERRY_MALLOC_TUNING=n (or the user already names glibc.malloc.hugetlb),
// adds glibc.malloc.hugetlb=1 to GLIBC_TUNABLES (glibc >= 2.35; older ones ignore
// it): malloc then asks for transparent huge pages on the memory it maps, so a
// large get() result (a fresh 64 MiB vector) faults in 32 huge pages instead of
// 16384 small ones where THP is "madvise". A tunable is only read at process
// start, hence here and not in ferry::init; under mpirun/srun export it yourself.
void add_malloc_huge_pages(std::vector<std::string>& env);

// True for variables a ferry-run rank must not inherit.
bool is_stripped_variable(const std::string& name, bool transport_given);

// Writes all of `data` to `fd`, retrying on EINTR/short writes. Gives up silently on
// other errors (e.g. EPIPE when the reader of ferry-run's output went away).
void write_all(int fd, const char* data, std::size_t len);

// Forwards one stream of one rank to `out_fd`, each line prefixed with `prefix` (or
// unchanged when the prefix is empty). A line longer than kMaxLine is cut and forwarded
// in pieces; an unterminated last line is completed with '\n' by finish().
class LineForwarder {
 public:
  static constexpr std::size_t kMaxLine = 64 * 1024;
  LineForwarder(int out_fd, std::string prefix) : out_fd_(out_fd), prefix_(std::move(prefix)) {}
  void feed(const char* data, std::size_t len);
  void finish();

 private:
  void emit(const char* data, std::size_t len);
  int out_fd_;
  std::string prefix_;
  std::string pending_;
};

}  // namespace ferry::run
