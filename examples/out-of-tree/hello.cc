// hello — the smallest ferry program, built against an installed ferry (find_package or pkg-config):
// ferry::init, put, a remote function on the next rank taking the ref, get, shutdown.
//   ferry-run -n 2 ./hello_ferry      (or mpirun -n 2, srun --mpi=pmix -n 2, or ./hello_ferry alone)
#include <cstdio>
#include <exception>

#include "ferry/ferry.h"
#include "ferry/init.h"

int add(int a, int b) { return a + b; }
inline const auto add_fn = ferry::function<&add>("hello.add");

int main(int argc, char** argv) {
  try {
    ferry::Session s = ferry::init(argc, argv);
    const unsigned me = s.rank(), next = (me + 1) % s.size();
    ferry::ObjectRef<int> x = ferry::put(40 + static_cast<int>(me));
    ferry::ObjectRef<int> y = add_fn.on(ferry::rank{next}).remote(x, 2);  // a ref as an argument
    const int v = y.get();
    if (v != 42 + static_cast<int>(me)) {
      std::fprintf(stderr, "hello: rank %u: add returned %d, expected %d\n", me, v, 42 + static_cast<int>(me));
      return 1;
    }
    s.shutdown();
    std::printf("rank %u/%u: put, add on rank %u and get verified: hello ok\n", me, s.size(), next);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello: %s\n", e.what());
    return 1;
  }
}
